//! HTTP replay against the demo site: counts cross-checked with the server, CSRF login,
//! load plans, assets and cache, pollers; bad input (`bad_input`), HTTPS (`tls`).

mod bad_input;
mod tls;

use crate::support;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;
use throng::cli::config;
use throng::metrics::{Mode, RunSummary, SampleKind, Sink};
use throng::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
use throng::run::{self, RunSpec};
use tokio_util::sync::CancellationToken;
use url::Url;

fn overrides() -> HashMap<String, String> {
    HashMap::from([("password".to_string(), "wonderland".to_string())])
}

fn closed_plan(users: u32, iterations: Option<u64>, total: Duration, think_scale: f64) -> LoadPlan {
    LoadPlan {
        browsers: None,
        arrival: Arrival::Users(Stages::ramp_and_hold(users, Duration::ZERO, total).unwrap()),
        iterations,
        think: ThinkPolicy::Recorded {
            scale: think_scale,
            jitter: 0.0,
        },
        dwell: Some(Duration::from_millis(2500)),
        grace: Duration::ZERO,
        drain: throng::plan::DEFAULT_DRAIN,
    }
}

async fn run_flow(base: &str, flow_file: &str, plan: LoadPlan) -> RunSummary {
    let target = Url::parse(base).unwrap();
    let flow = config::prepare_flow(&support::flow_path(flow_file), Some(&target), &overrides())
        .expect("flow prepares");
    let spec = RunSpec::single(flow, plan, Mode::Http);
    run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .expect("run completes")
}

/// Requests throng recorded, by "METHOD /path" (the demo's own route key).
fn throng_counts(summary: &RunSummary) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for e in summary.entries.iter().filter(|e| e.kind.is_request()) {
        let (method, url) = e.name.split_once(' ').expect("METHOD URL");
        let path = Url::parse(url).expect("absolute url").path().to_string();
        *counts.entry(format!("{method} {path}")).or_default() += e.count;
    }
    counts
}

fn counter(summary: &RunSummary, name: &str) -> u64 {
    summary.counters.get(name).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_counts_equal_server_counts_and_csrf_login_succeeds() {
    let server = support::demo().await;
    let summary = run_flow(
        &server.base_url(),
        "shop.json",
        closed_plan(6, Some(2), Duration::from_secs(120), 0.05),
    )
    .await;
    let stats = server.stats();
    let ours = throng_counts(&summary);
    assert_eq!(
        ours, stats.routes,
        "throng's per-route counts equal the server's"
    );
    assert_eq!(ours.values().sum::<u64>(), stats.total);
    assert_eq!(
        counter(&summary, "sessions.completed"),
        12,
        "{:?}",
        summary.counters
    );
    assert_eq!(
        counter(&summary, "sessions.failed"),
        0,
        "{:?}",
        summary.counters
    );
    assert_eq!(stats.statuses.get("403"), None, "no CSRF rejections");
    assert_eq!(
        stats.routes.get("POST /login"),
        Some(&12),
        "every user logged in"
    );
    assert_eq!(
        stats.routes.get("GET /account"),
        Some(&12),
        "login redirect followed once"
    );
    // The second page view of a session does not refetch cached assets.
    assert_eq!(stats.routes.get("GET /static/app.js"), Some(&12));
    // Pollers ran while pages were open.
    let polls = summary
        .total(Some(Mode::Http), Some(SampleKind::Polling))
        .count;
    assert!(
        polls >= 12,
        "at least one poll per session during the dwell, got {polls}"
    );
    let page_loads = summary
        .total(Some(Mode::Http), Some(SampleKind::PageLoad))
        .count;
    assert_eq!(
        page_loads,
        12 * 5,
        "home, search, product, login page, account (after the redirect)"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_refetches_assets_on_every_page() {
    let server = support::demo().await;
    let target = Url::parse(&server.base_url()).unwrap();
    let flow = config::prepare_flow(
        &support::flow_path("browse.json"),
        Some(&target),
        &overrides(),
    )
    .unwrap();
    let mut spec = RunSpec::single(
        flow,
        closed_plan(1, Some(1), Duration::from_secs(60), 0.0),
        Mode::Http,
    );
    spec.http.client.cache = false;
    let summary = run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .unwrap();
    let stats = server.stats();
    assert_eq!(throng_counts(&summary), stats.routes);
    let css = stats
        .routes
        .get("GET /static/app.css")
        .copied()
        .unwrap_or(0);
    assert!(
        css >= 2,
        "without a cache every page fetches its stylesheet again, got {css}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_ramp_users_up_and_down() {
    let server = support::demo().await;
    let plan = LoadPlan {
        browsers: None,
        arrival: Arrival::Users(Stages::parse("4@1s,4@1s,0@1s").unwrap()),
        iterations: None,
        think: ThinkPolicy::Recorded {
            scale: 0.02,
            jitter: 0.0,
        },
        dwell: Some(Duration::ZERO),
        grace: Duration::ZERO,
        drain: throng::plan::DEFAULT_DRAIN,
    };
    let summary = run_flow(&server.base_url(), "browse.json", plan).await;
    let peak = summary.series.iter().map(|s| s.users).max().unwrap_or(0);
    assert!((3..=4).contains(&peak), "peak users {peak}");
    assert_eq!(counter(&summary, "users.started"), 4);
    assert_eq!(throng_counts(&summary), server.stats().routes);
    server.shutdown().await;
}

/// Open model: `rate` arrivals per second for `hold`, each running the flow once, no think time.
fn arrivals_running_once(rate: f64, hold: Duration) -> LoadPlan {
    LoadPlan {
        browsers: None,
        arrival: Arrival::Rate {
            stages: Stages::ramp_and_hold_rate(rate, Duration::ZERO, hold).unwrap(),
            max_users: 100,
        },
        iterations: Some(1),
        think: ThinkPolicy::Recorded {
            scale: 0.0,
            jitter: 0.0,
        },
        dwell: Some(Duration::ZERO),
        grace: Duration::from_secs(10),
        drain: throng::plan::DEFAULT_DRAIN,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrival_rate_starts_sessions_at_the_planned_rate() {
    let server = support::demo().await;
    let plan = arrivals_running_once(5.0, Duration::from_secs(2));
    let summary = run_flow(&server.base_url(), "browse.json", plan).await;
    let started = counter(&summary, "users.started");
    assert!(
        (9..=10).contains(&started),
        "5/s for 2 s starts about 10 sessions, got {started}"
    );
    assert_eq!(counter(&summary, "sessions.completed"), started);
    assert_eq!(throng_counts(&summary), server.stats().routes);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_still_returns_what_was_measured() {
    let server = support::demo().await;
    let target = Url::parse(&server.base_url()).unwrap();
    let flow = config::prepare_flow(
        &support::flow_path("shop.json"),
        Some(&target),
        &overrides(),
    )
    .unwrap();
    let spec = RunSpec::single(
        flow,
        closed_plan(5, None, Duration::from_secs(600), 1.0),
        Mode::Http,
    );
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        stopper.cancel();
    });
    let summary = run::execute(spec, Sink::new(), stop).await.unwrap();
    assert_eq!(counter(&summary, "run.interrupted"), 1);
    assert_eq!(counter(&summary, "sessions.abandoned"), 5);
    let ours = throng_counts(&summary);
    assert!(!ours.is_empty());
    assert_eq!(
        ours,
        server.stats().routes,
        "requests in flight at the stop are still counted"
    );
    server.shutdown().await;
}

/// Coordinated omission in the open model: arrivals due while the run's runtime is stalled
/// start late, and their first page is recorded from the planned start as well as raw.
#[test]
fn late_arrivals_record_their_first_page_from_the_planned_start() {
    // The demo site on its own runtime, so the stall below delays throng only.
    let site = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = site.block_on(support::demo());
    let base = server.base_url();
    let run_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let summary = run_rt.block_on(async {
        // A blocked scheduler: nothing on this runtime runs for 400 ms, while about eight
        // arrivals fall due.
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::thread::sleep(Duration::from_millis(400));
        });
        run_flow(
            &base,
            "browse.json",
            arrivals_running_once(20.0, Duration::from_secs(1)),
        )
        .await
    });
    let late = counter(&summary, "arrivals.late");
    assert!(late >= 1, "arrivals due during the stall start late");
    assert_eq!(
        counter(&summary, "sessions.completed"),
        counter(&summary, "users.started")
    );
    let page_load = |step: u32| {
        summary
            .entries
            .iter()
            .find(|e| e.kind == SampleKind::PageLoad && e.step == Some(step))
            .unwrap_or_else(|| panic!("page load of step {step}"))
    };
    let first = page_load(1);
    let corrected = first
        .corrected
        .as_ref()
        .expect("the first page of late arrivals is corrected");
    assert!(
        corrected.mean_ms > first.latency.mean_ms,
        "corrected {corrected:?} vs raw {:?}",
        first.latency
    );
    // Only the first page: after it, a user runs on its own clock.
    assert!(page_load(4).corrected.is_none());
    assert_eq!(throng_counts(&summary), server.stats().routes);
    site.block_on(server.shutdown());
}

/// A flow whose click lands on `landed` while the recording asserted `asserted` (and `title`).
fn asserting_flow(base: &str, landed: &str, asserted: &str, title: &str) -> serde_json::Value {
    serde_json::json!({
        "title": "asserting",
        "origin": base,
        "steps": [
            {"type": "navigate", "url": format!("{base}/")},
            {"type": "click", "selectors": [["a"]],
             "assertedEvents": [{"type": "navigation", "url": format!("{base}{asserted}"), "title": title}],
             "network": {"requests": [
                {"kind": "document", "method": "GET", "url": format!("{base}{landed}"), "status": 200}]}}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_checks_the_asserted_navigation_like_a_browser() {
    let server = support::demo().await;
    let base = server.base_url();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // Where the recording landed, fragment and all: passes.
        ("/", "/#top", "Home · Throng Shop", None),
        // A login answering its form again lands elsewhere: the step fails.
        ("/login", "/", "Home · Throng Shop", Some("navigated to")),
        (
            "/",
            "/",
            "Your account · Throng Shop",
            Some("page title is"),
        ),
    ];
    for (n, (landed, asserted, title, failure)) in cases.into_iter().enumerate() {
        let file = dir.path().join(format!("asserting{n}.json"));
        let flow = asserting_flow(&base, landed, asserted, title);
        std::fs::write(&file, flow.to_string()).unwrap();
        let prepared = config::prepare_flow(&file, None, &HashMap::new()).expect("flow prepares");
        let plan = closed_plan(1, Some(1), Duration::from_secs(30), 1.0);
        let spec = RunSpec::single(prepared, plan, Mode::Http);
        let summary = run::execute(spec, Sink::new(), CancellationToken::new())
            .await
            .expect("run completes");
        let reason = summary
            .counters
            .keys()
            .find(|k| k.starts_with("session failure"))
            .cloned();
        match failure {
            None => assert_eq!(reason, None, "case {n}: {:?}", summary.counters),
            Some(why) => {
                let reason =
                    reason.unwrap_or_else(|| panic!("case {n} passed: {:?}", summary.counters));
                assert!(reason.contains(why), "case {n}: {reason}");
                assert_eq!(counter(&summary, "sessions.failed"), 1);
            }
        }
    }
    server.shutdown().await;
}
