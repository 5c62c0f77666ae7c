//! Replay fidelity against a site of the hard cases ([`site`]): values encoded for where they
//! go, failed API calls that fail their step, what browsers do besides the page itself
//! (workers, popups), responses cut after their head, the end of a plan, HAR redirect chains.

mod browser_targets;
mod end;
mod failures;
mod fonts;
mod har;
pub(crate) mod site;
mod slow_socket;

use std::sync::Arc;
use std::time::Duration;
use throng::flow::Flow;
use throng::metrics::{EntrySummary, Mode, RunSummary, Sink};
use throng::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
use throng::replay::browser::BrowserOptions;
use throng::replay::{PreparedFlow, VarSources};
use throng::run::{self, FlowChoice, RunSpec};
use tokio_util::sync::CancellationToken;
use url::Url;

/// A flow of `steps` on `base`, with `vars` as `--var` values.
pub fn flow(base: &str, steps: serde_json::Value, vars: &[(&str, &str)]) -> Arc<PreparedFlow> {
    let mut value = serde_json::json!({"title": "t", "steps": steps});
    if !vars.is_empty() {
        value["variables"] = vars
            .iter()
            .map(|(name, _)| serde_json::json!({"name": name, "secret": {}}))
            .collect();
    }
    let flow: Flow = serde_json::from_value(value).expect("flow parses");
    let overrides = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sources = VarSources::prepare(&flow, std::path::Path::new("."), &overrides).unwrap();
    Arc::new(PreparedFlow::new(
        "t",
        flow,
        Url::parse(base).unwrap(),
        Arc::new(sources),
    ))
}

/// `users` users running `flow` once each in `mode`, no think time, a 30 s plan (the run ends
/// when every user is done).
pub async fn run_once(flow: Arc<PreparedFlow>, mode: Mode, users: u32) -> RunSummary {
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
                Stages::ramp_and_hold(users, Duration::ZERO, Duration::from_secs(30)).unwrap(),
            ),
            iterations: Some(1),
            think: ThinkPolicy::Recorded {
                scale: 0.0,
                jitter: 0.0,
            },
            dwell: Some(Duration::ZERO),
            grace: Duration::ZERO,
            drain: throng::plan::DEFAULT_DRAIN,
        },
        trace: None,
        mode,
        http: Default::default(),
        browser: BrowserOptions {
            processes: Some(1),
            sessions_per_process: Some(4),
            step_timeout: Duration::from_secs(15),
            ..BrowserOptions::default()
        },
    };
    run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .expect("run completes")
}

/// The request entries named `METHOD URL` (any step).
pub fn requests<'a>(summary: &'a RunSummary, name: &str) -> Vec<&'a EntrySummary> {
    summary
        .entries
        .iter()
        .filter(|e| e.kind.is_request() && e.name == name)
        .collect()
}

/// Count, failures and interrupted requests named `METHOD URL`, over every step.
pub fn tally(summary: &RunSummary, name: &str) -> (u64, u64, u64) {
    requests(summary, name)
        .iter()
        .fold((0, 0, 0), |(n, f, i), e| {
            (n + e.count, f + e.failures, i + e.interrupted)
        })
}

pub fn counter(summary: &RunSummary, name: &str) -> u64 {
    summary.counters.get(name).copied().unwrap_or(0)
}
