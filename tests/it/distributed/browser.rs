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

/// A hybrid run over a browser worker and an HTTP worker: each mode runs only on its own
/// worker (the HTTP one has no browser it could start), and the merged counts per mode equal
/// what the site saw from each kind of client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_worker_and_an_http_worker_split_a_hybrid_run_by_mode() {
    use throng::metrics::{Mode, SampleKind};
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let coord = coordinator(&[
        "flows/browse.json",
        "--target",
        &site.base_url(),
        "-u",
        "20",
        "--browsers",
        "2",
        "-d",
        "90s",
        "--iterations",
        "1",
        "--think-scale",
        "0.1",
        "--dwell",
        "0s",
        "--workers",
        "2",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let b = worker_as(&coord.addr, "b1", tmp.path(), "browser");
    // No browser on this one: launching its "browser" would fail the run.
    let h = throng()
        .args(["worker", "--connect", &coord.addr, "--name", "h1"])
        .args(["--role", "http", "--chrome", "/bin/false"])
        .env("THRONG_TOKEN", TOKEN)
        .env("TMPDIR", tmp.path())
        .spawn()
        .unwrap();
    let (code, stderr) = coord.end().await;
    let (bcode, _, berr) = exit_of(b).await;
    let (hcode, _, herr) = exit_of(h).await;
    assert_eq!((code, bcode, hcode), (0, 0, 0), "{stderr}\n{berr}\n{herr}");
    assert!(berr.contains("users: browser 1 of 1)"), "{berr}");
    assert!(herr.contains("users: http 1 of 1)"), "{herr}");

    let results = throng::report::read_results(&out.join("results.json")).unwrap();
    let s = &results.summary;
    let stats = site.stats();
    site.shutdown().await;
    for (mode, agent) in [(Mode::Http, "throng"), (Mode::Browser, "chrome")] {
        let mut routes: BTreeMap<String, u64> = BTreeMap::new();
        for e in s
            .entries
            .iter()
            .filter(|e| e.mode == mode && e.kind.is_request())
        {
            let (method, url) = e.name.split_once(' ').unwrap();
            let path = Url::parse(url).unwrap().path().to_string();
            *routes.entry(format!("{method} {path}")).or_default() += e.count;
        }
        let seen = &stats.agents[agent];
        // Both modes exactly, route by route (a slow document is never taken for one its
        // page left behind).
        assert_eq!(routes, seen.routes, "{mode}: throng's counts = the site's");
    }
    assert_eq!(stats.agents.len(), 2, "{:?}", stats.agents.keys());
    let pages = |m| s.total(Some(m), Some(SampleKind::PageLoad)).count;
    assert_eq!((pages(Mode::Http), pages(Mode::Browser)), (18 * 3, 2 * 3));
    assert_eq!(s.counters["users.http.peak"], 18);
    assert_eq!(s.counters["users.browser.peak"], 2);
    let mut rows: Vec<(&str, &str, u64)> = results
        .meta
        .workers
        .iter()
        .map(|w| (w.name.as_str(), w.role.as_str(), w.peak_users))
        .collect();
    rows.sort();
    assert_eq!(rows, [("b1", "browser", 2), ("h1", "http", 18)]);
}
