//! The end of the plan is no failure: users start no new step, the requests in flight finish
//! within the drain and are measured as answered; what is still open after it is counted as
//! `interrupted`, apart from failures, and flagged when it is more than 1% of the requests.

use super::site::Site;
use super::{flow, tally};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use throng::metrics::{Mode, RunSummary, Sink};
use throng::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
use throng::replay::browser::BrowserOptions;
use throng::replay::PreparedFlow;
use throng::report::{render_summary, RunMeta};
use throng::run::{self, FlowChoice, RunSpec};
use tokio_util::sync::CancellationToken;

/// `users` users for a 1 s plan with recorded think times, then `drain`.
async fn run_plan(flow: Arc<PreparedFlow>, mode: Mode, users: u32, drain: Duration) -> RunSummary {
    let spec = RunSpec {
        keep_sessions: None,
        fake: Default::default(),
        logins: Vec::new(),
        flows: vec![FlowChoice {
            flow,
            weight: 1,
            mode: None,
        }],
        plan: LoadPlan {
            browsers: None,
            arrival: Arrival::Users(
                Stages::ramp_and_hold(users, Duration::ZERO, Duration::from_secs(1)).unwrap(),
            ),
            iterations: None,
            think: ThinkPolicy::Recorded {
                scale: 1.0,
                jitter: 0.0,
            },
            dwell: Some(Duration::ZERO),
            grace: Duration::ZERO,
            drain,
        },
        trace: None,
        mode,
        http: Default::default(),
        browser: BrowserOptions {
            processes: Some(1),
            ..BrowserOptions::default()
        },
    };
    run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .expect("run completes")
}

fn flagged(summary: &RunSummary) -> bool {
    render_summary(summary, &RunMeta::default(), &[]).contains("were still open when the run ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_in_flight_at_the_plans_end_finish_within_the_drain() {
    let site = Site::start().await;
    let base = site.base();
    // One request per user, 1.5 s long, under way when the 1 s plan ends.
    let steps = json!([{"type": "navigate", "url": format!("{base}/slow")}]);
    let started = Instant::now();
    let summary = run_plan(
        flow(&base, steps.clone(), &[]),
        Mode::Http,
        2,
        Duration::from_secs(10),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(tally(&summary, &format!("GET {base}/slow")), (2, 0, 0));
    assert_eq!(site.seen("GET /slow"), 2);
    assert!(
        took < Duration::from_secs(5),
        "the drain ends when they do: {took:?}"
    );
    assert!(!flagged(&summary));

    // A drain shorter than the requests: they are cut, counted apart from failures, flagged.
    let summary = run_plan(
        flow(&base, steps, &[]),
        Mode::Http,
        2,
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(tally(&summary, &format!("GET {base}/slow")), (2, 0, 2));
    assert_eq!(summary.total(None, None).failures, 0);
    assert!(
        flagged(&summary),
        "{}",
        render_summary(&summary, &RunMeta::default(), &[])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browsers_requests_in_flight_at_the_plans_end_finish_and_no_new_step_starts() {
    let site = Site::start().await;
    let base = site.base();
    // The page fetches /slow (1.5 s) after load; the plan ends during the next step's think
    // time, so that step never runs.
    let steps = json!([
        {"type": "navigate", "url": format!("{base}/slow-page")},
        {"type": "navigate", "url": format!("{base}/done"), "thinkTimeMs": 5000}
    ]);
    let summary = run_plan(
        flow(&base, steps.clone(), &[]),
        Mode::Browser,
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(tally(&summary, &format!("GET {base}/slow")), (1, 0, 0));
    assert_eq!(
        site.seen("GET /done"),
        0,
        "no step starts after the plan's end"
    );
    assert_eq!(
        summary.total(None, None).failures,
        0,
        "{:?}",
        summary.counters
    );

    let summary = run_plan(
        flow(&base, steps, &[]),
        Mode::Browser,
        1,
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(tally(&summary, &format!("GET {base}/slow")), (1, 0, 1));
    assert_eq!(
        summary.total(None, None).failures,
        0,
        "{:?}",
        summary.counters
    );
    assert!(flagged(&summary));
}
