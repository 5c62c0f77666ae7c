//! Distributed runs whose workers drive Chromium (run one at a time with the other browser
//! tests: see .config/nextest.toml).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_workers_stop_within_10s_of_losing_their_coordinator_and_leave_no_chromium() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut coord = coordinator(&[
        "flows/browse.json",
        "--target",
        &site.base_url(),
        "--mode",
        "browser",
        "-u",
        "1",
        "-d",
        "120s",
        "--workers",
        "1",
        "-q",
    ])
    .await;
    let w = worker(&coord.addr, "orphan", tmp.path());
    wait_for("browser load", Duration::from_secs(60), || async {
        (site.stats().total >= 5).then_some(())
    })
    .await;
    assert!(
        !live_with(tmp.path().to_str().unwrap()).is_empty(),
        "Chromium runs under TMPDIR"
    );
    coord.child.start_kill().unwrap();
    let _ = coord.child.wait().await;
    let killed_at = std::time::Instant::now();
    let (code, _, stderr) = exit_of(w).await;
    assert!(
        stderr.contains("coordinator unreachable"),
        "the worker stopped for its coordinator: {stderr}"
    );
    assert!(
        killed_at.elapsed() < Duration::from_secs(60),
        "the worker ended its load soon after its coordinator went away"
    );
    // Its measurements reached no one: an honest exit code says so.
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the final report was not delivered"),
        "{stderr}"
    );
    // Nothing more reaches the site once the worker is gone, and no browser is left.
    let seen = site.stats().total;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(site.stats().total, seen);
    wait_for("no Chromium left", Duration::from_secs(10), || async {
        live_with(tmp.path().to_str().unwrap())
            .is_empty()
            .then_some(())
    })
    .await;
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_browser_workers_add_up_to_exactly_what_the_site_saw() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let coord = coordinator(&[
        "flows/browse.json",
        "--target",
        &site.base_url(),
        "--mode",
        "browser",
        "-u",
        "3",
        "-d",
        "90s",
        "--iterations",
        "1",
        "--think-scale",
        "0.1",
        "--dwell",
        "0s",
        "--workers",
        "3",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let workers: Vec<Child> = (0..3)
        .map(|i| worker(&coord.addr, &format!("b{i}"), tmp.path()))
        .collect();
    let (code, stderr) = coord.end().await;
    for w in workers {
        let (wcode, _, werr) = exit_of(w).await;
        assert_eq!(wcode, 0, "{werr}");
    }
    assert_eq!(code, 0, "{stderr}");
    let results = read_results(&out);
    assert_eq!(
        throng_counts(&results),
        site.stats().routes,
        "merged counts = the site's"
    );
    let rows = results["meta"]["workers"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["peak_users"] == 1), "{rows:?}");
    site.shutdown().await;
}
