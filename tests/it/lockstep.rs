//! No lockstep: users started together drift apart (think-time jitter and spread first steps),
//! so the per-second load has no empty seconds and no bursts; without jitter it has both.

use crate::support;
use std::time::Duration;
use throng::cli::config;
use throng::metrics::{Mode, RunSummary, Sink};
use throng::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
use throng::run::{self, RunSpec};
use tokio_util::sync::CancellationToken;
use url::Url;

/// Three calls, three seconds of reading before each, one request each (no assets, whose
/// first fetch per session would add bursts of their own), no pollers, no dwell.
fn pages_flow(base: &str) -> serde_json::Value {
    let nav = |path: &str, think: u64| serde_json::json!({"type": "navigate", "url": format!("{base}{path}"), "thinkTimeMs": think});
    serde_json::json!({
        "title": "pages",
        "origin": base,
        "steps": [
            nav("/api/cart/count", 3000),
            nav("/api/notifications", 3000),
            nav("/api/cart/count", 3000)
        ]
    })
}

async fn run_together(jitter: f64, total: Duration) -> RunSummary {
    let server = support::demo().await;
    let base = server.base_url();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pages.json");
    std::fs::write(&file, pages_flow(&base).to_string()).unwrap();
    let target = Url::parse(&base).unwrap();
    let flow = config::prepare_flow(&file, Some(&target), &Default::default()).expect("flow");
    let plan = LoadPlan {
        browsers: None,
        // All 20 users at once: no ramp.
        arrival: Arrival::Users(Stages::ramp_and_hold(20, Duration::ZERO, total).unwrap()),
        iterations: None,
        think: ThinkPolicy::Recorded { scale: 1.0, jitter },
        dwell: Some(Duration::ZERO),
        grace: Duration::ZERO,
        drain: throng::plan::DEFAULT_DRAIN,
    };
    let summary = run::execute(
        RunSpec::single(flow, plan, Mode::Http),
        Sink::new(),
        CancellationToken::new(),
    )
    .await
    .expect("run completes");
    server.shutdown().await;
    summary
}

/// Requests in each whole second from `from_s` to `to_s` of the run.
fn per_second(summary: &RunSummary, from_s: u64, to_s: u64) -> Vec<u64> {
    summary
        .series
        .iter()
        .filter(|s| s.t_ms > from_s * 1000 && s.t_ms <= to_s * 1000)
        .map(|s| s.requests)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_users_started_together_do_not_move_in_lockstep() {
    let (varied, exact) = tokio::join!(
        run_together(throng::plan::DEFAULT_THINK_JITTER, Duration::from_secs(30)),
        run_together(0.0, Duration::from_secs(13)),
    );
    // The default: over the last 20 s of 30 s, every second has requests and none is a burst.
    let series = per_second(&varied, 10, 30);
    eprintln!("jitter 0.5, seconds 10-30: {series:?}");
    assert!(series.len() >= 18, "{series:?}");
    let mean = series.iter().sum::<u64>() as f64 / series.len() as f64;
    let busiest = *series.iter().max().unwrap() as f64;
    assert!(series.iter().all(|&n| n > 0), "an empty second: {series:?}");
    assert!(
        busiest <= 3.0 * mean,
        "busiest {busiest} > 3 x mean {mean:.1}: {series:?}"
    );
    // Exactly as recorded (--think-jitter 0), the same users move together: silent seconds
    // between bursts.
    let series = per_second(&exact, 1, 13);
    eprintln!("jitter 0, seconds 1-13: {series:?}");
    assert!(
        series.contains(&0),
        "lockstep leaves silent seconds: {series:?}"
    );
}
