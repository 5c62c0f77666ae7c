//! Hybrid runs (`throng run --browsers`): HTTP users and a few real browsers in one run, one
//! sink, both modes side by side in the report, checked against the demo site's own counts
//! by kind of client; thresholds that name a mode judge that mode alone.

use crate::support;
use std::collections::BTreeMap;
use throng::metrics::{Mode, SampleKind};
use throng::report::compare::Comparison;

/// "METHOD /path" (the demo's route key) of a request name "METHOD URL".
fn route(name: &str) -> String {
    let (method, url) = name.split_once(' ').unwrap();
    format!("{method} {}", url::Url::parse(url).unwrap().path())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_run_matches_the_sites_counts_per_mode_and_judges_each_mode_apart() {
    let server = support::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let base = server.base_url();
    let flow = support::flow_path("browse.json");
    let output = support::throng_async()
        .args(["run", flow.to_str().unwrap(), "--target", &base])
        .args(["--users", "100", "--browsers", "5", "--iterations", "1"])
        .args([
            "--think-scale",
            "0.1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        // Without the prefix the first would pass (110 page loads) and the second fail.
        .args(["--threshold", "http:count(page-load)<100"])
        .args(["--threshold", "browser:count(page-load)<100"])
        .args(["--threshold", "http:errors<1%"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(3),
        "one threshold fails: {stderr}"
    );
    assert!(stderr.contains("hybrid mode"), "{stderr}");
    let results = throng::report::read_results(&out.join("results.json")).unwrap();
    let s = &results.summary;
    let stats = server.stats();
    server.shutdown().await;

    // The site's counts by kind of client equal throng's per mode, route by route.
    for (mode, agent) in [(Mode::Http, "throng"), (Mode::Browser, "chrome")] {
        let mut routes: BTreeMap<String, u64> = BTreeMap::new();
        for e in s
            .entries
            .iter()
            .filter(|e| e.mode == mode && e.kind.is_request())
        {
            *routes.entry(route(&e.name)).or_default() += e.count;
        }
        let seen = &stats.agents[agent];
        assert!(seen.total > 0, "{mode} sent requests");
        // Browsers too: a document slower than half a second on a saturated machine was once
        // taken for one its page had left behind and went uncounted (fixed in netlog).
        let differ: Vec<_> = routes
            .keys()
            .chain(seen.routes.keys())
            .filter(|r| routes.get(*r) != seen.routes.get(*r))
            .map(|r| (r, routes.get(r), seen.routes.get(r)))
            .collect();
        assert!(
            differ.is_empty(),
            "{mode}: throng's counts = the site's; (route, throng, site): {differ:?}; {:?}",
            s.counters
        );
    }
    assert_eq!(
        stats.agents.len(),
        2,
        "no other client: {:?}",
        stats.agents.keys()
    );
    let pages = |m| s.total(Some(m), Some(SampleKind::PageLoad)).count;
    assert_eq!(pages(Mode::Browser), 15, "5 browsers x 3 pages");
    assert_eq!(pages(Mode::Http), 95 * 3, "95 HTTP users x 3 pages");
    assert_eq!(s.counters["users.http.peak"], 95);
    assert_eq!(s.counters["users.browser.peak"], 5);

    // Mode-named thresholds: judged on their mode only.
    let verdicts: Vec<(&str, bool)> = results
        .thresholds
        .iter()
        .map(|t| (t.text.as_str(), t.passed))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("http:count(page-load)<100", false),
            ("browser:count(page-load)<100", true),
            ("http:errors<1%", true)
        ]
    );

    // One report, both modes side by side (rebuilt from results.json as `throng report` does).
    assert_eq!(results.meta.modes, [Mode::Http, Mode::Browser]);
    let c = Comparison::from_merged(s, &results.meta.mode_facts).expect("both modes");
    assert!(c.hybrid);
    assert_eq!(
        (c.http.facts.peak_users, c.browser.facts.peak_users),
        (95, 5)
    );
    assert!(c.browser.facts.user_minutes() > 0.0);
    assert!(c.http.facts.user_minutes() > c.browser.facts.user_minutes());
    assert_eq!(c.browser.page_loads, 15);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Hybrid run: HTTP and browser users side by side"));
}

#[test]
fn browsers_flag_mistakes_are_one_line_naming_the_flag() {
    for (args, hint) in [
        (&["--users", "10", "--browsers", "0"][..], "--browsers `0`"),
        (
            &["--users", "10", "--browsers", "11"],
            "more than the plan's 10 users",
        ),
        (&["--users", "10", "--browsers", "1%"], "no browser among"),
        (&["--arrival-rate", "2", "--browsers", "3"], "give a share"),
        (
            &["--users", "10", "--browsers", "2", "--mode", "browser"],
            "drop --mode browser",
        ),
    ] {
        let out = support::throng()
            .args(["run", "http://127.0.0.1:9/", "--duration", "1s"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(hint), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_file_gives_each_flow_its_mode_and_users() {
    let server = support::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let browse = std::fs::read_to_string(support::flow_path("browse.json")).unwrap();
    for name in ["cheap.json", "real.json"] {
        std::fs::write(dir.path().join(name), &browse).unwrap();
    }
    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"stages": [{"target": 10, "duration": "3s"}], "flows": [
            {"flow": "cheap.json", "users": 9}, {"flow": "real.json", "mode": "browser", "users": 1}]}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = support::throng_async()
        .args([
            "run",
            "--plan",
            plan.to_str().unwrap(),
            "--target",
            &server.base_url(),
        ])
        .args([
            "--think-scale",
            "0.1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let s = throng::report::read_results(&out.join("results.json"))
        .unwrap()
        .summary;
    let stats = server.stats();
    server.shutdown().await;
    // Each flow ran in its own mode only, with its users.
    for e in &s.entries {
        let want = if e.mode == Mode::Http {
            "cheap"
        } else {
            "real"
        };
        assert_eq!(e.flow, want, "{:?} {}", e.mode, e.name);
    }
    assert_eq!(s.counters["users.http.peak"], 9);
    assert_eq!(s.counters["users.browser.peak"], 1);
    for (mode, agent) in [(Mode::Http, "throng"), (Mode::Browser, "chrome")] {
        let sent: u64 = s
            .entries
            .iter()
            .filter(|e| e.mode == mode && e.kind.is_request())
            .map(|e| e.count)
            .sum();
        let seen = stats.agents[agent].total;
        match mode {
            Mode::Http => assert_eq!(sent, seen, "{mode}"),
            // See the test above: a saturated machine's browsers may miss a document.
            Mode::Browser => assert!(sent <= seen && sent * 20 >= seen * 19, "{sent} of {seen}"),
        }
    }
}
