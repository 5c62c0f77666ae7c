//! Generated data (`${fake.email.unique}`, `--seed`, `--locale`) through the real binary:
//! values the demo site received, over a coordinator and two worker processes and in one
//! process.

use crate::distributed::{coordinator, exit_of, worker};
use crate::support;
use std::collections::BTreeMap;

/// A one-page flow that types a unique e-mail into the shop's search (the site keeps every
/// term it received).
fn signup_flow(dir: &std::path::Path) -> std::path::PathBuf {
    let url = "http://127.0.0.1:1/search?q=${fake.email.unique}";
    let flow = serde_json::json!({
        "title": "Sign up",
        "origin": "http://127.0.0.1:1",
        "steps": [{"type": "navigate", "url": url, "network": {"requests": [
            {"id": "r1", "kind": "document", "method": "GET", "url": url, "status": 200}
        ]}}]
    });
    let path = dir.join("signup.json");
    std::fs::write(&path, flow.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_fake_emails_are_distinct_over_workers_and_the_same_seed_repeats_them() {
    let site = support::demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let flow = signup_flow(tmp.path());
    let target = site.base_url();
    let plan = ["--users", "1000", "--iterations", "1", "--think-scale", "0"];
    let coord = coordinator(
        &[
            &[flow.to_str().unwrap(), "--target", &target][..],
            &plan,
            &["--seed", "42", "--workers", "2", "-q"],
        ]
        .concat(),
    )
    .await;
    let workers: Vec<_> = (0..2)
        .map(|i| worker(&coord.addr, &format!("w{i}"), tmp.path()))
        .collect();
    let (code, stderr) = coord.end().await;
    for w in workers {
        let (wcode, _, werr) = exit_of(w).await;
        assert_eq!(wcode, 0, "{werr}");
    }
    assert_eq!(code, 0, "{stderr}");
    let distributed: BTreeMap<String, u64> = site.stats().searches;
    assert_eq!(
        distributed.len(),
        1000,
        "1,000 users, 1,000 distinct e-mails"
    );
    assert!(distributed.values().all(|&n| n == 1));
    assert!(distributed.keys().all(|e| e.contains('@')));

    // The same seed in one process: the same e-mails (users are numbered plan-wide).
    let run = |seed: &'static str, users: &'static str| {
        let mut c = support::throng_async();
        c.args(["run", flow.to_str().unwrap(), "--target", &target])
            .args(["--users", users, "--iterations", "1", "--think-scale", "0"])
            .args(["--seed", seed, "-q"]);
        c
    };
    site.reset_stats();
    let out = run("42", "1000").output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(site.stats().searches, distributed, "--seed 42 again");
    // Another seed: other e-mails for the same users (marked .0 to .49 in both runs).
    site.reset_stats();
    let out = run("43", "50").output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = site.stats().searches;
    let first_50: BTreeMap<String, u64> = distributed
        .into_iter()
        .filter(|(e, _)| {
            let tag = e.split('@').next().unwrap().rsplit('.').next().unwrap();
            tag.parse::<u64>().is_ok_and(|n| n < 50)
        })
        .collect();
    assert_eq!((other.len(), first_50.len()), (50, 50));
    assert_ne!(other, first_50, "--seed 43");
    site.shutdown().await;
}
