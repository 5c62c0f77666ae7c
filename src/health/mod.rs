//! The load generator's own health: a /proc sampler run beside every run (throng's CPU, its
//! Chromium processes', the machine's), the cost of a `compare` phase, and the estimate made
//! before a browser run of whether its sessions fit this machine.
//!
//! Samples go to the run's [`crate::metrics::Sink`], which owns the verdict
//! ([`crate::metrics::GeneratorHealth`]).

mod procfs;
mod sampler;

pub use procfs::cores;
pub use sampler::{GeneratorCost, Sampler, SamplerOptions};

use crate::flow::{Action, RequestKind};
use crate::plan::ThinkPolicy;
use crate::replay::browser::BrowserKind;
use crate::replay::PreparedFlow;
use crate::run::RunSpec;

use crate::plan::costs::{
    BROWSER_CPU_PER_PAGE_LOAD_S as CPU_PER_PAGE_LOAD_S, BROWSER_CPU_PER_POLL_S as CPU_PER_POLL_S,
    BROWSER_CPU_PER_SESSION_S as CPU_PER_SESSION_S,
};
/// The full browser costs several times the headless shell per page (Chromium field notes).
const FULL_BROWSER_FACTOR: f64 = 3.0;
/// Time a page load itself takes, for the length of an iteration.
const PAGE_LOAD_S: f64 = 0.3;
/// Time one step of a flow takes at least in a browser (its action and the wait for its
/// effect), for the length of a login run back to back.
const INTERACTION_S: f64 = 0.14;
/// Share of the machine a run may plan to use before the estimate warns.
const FIT_SHARE: f64 = 0.8;

/// How much of the machine a browser run's plan asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct FitEstimate {
    /// Peak concurrent sessions the plan asks for (arrival rate: by Little's law).
    pub sessions: f64,
    /// Cores the plan needs at its peak.
    pub cores_needed: f64,
    pub cores: u32,
    /// Sessions that fit within 80% of the machine.
    pub holds: u64,
}

impl FitEstimate {
    /// True when the plan asks for more than 80% of the machine.
    pub fn overloaded(&self) -> bool {
        self.cores_needed > FIT_SHARE * f64::from(self.cores)
    }

    /// The warning printed before the run.
    pub fn warning(&self) -> String {
        format!(
            "throng: warning: {:.0} browser sessions need about {:.1} cores here (about {:.0} ms \
             of Chromium CPU per page load) and this machine has {}: the generator will \
             saturate and page loads will measure it, not only the site. It holds about {} \
             sessions of this flow; run fewer per machine or spread them over machines.",
            self.sessions,
            self.cores_needed,
            CPU_PER_PAGE_LOAD_S * 1000.0,
            self.cores,
            self.holds
        )
    }
}

/// Estimates a browser run's CPU at its peak from the flows (page loads, pollers, think
/// times) and the measured cost per page load; None for HTTP runs.
pub fn browser_fit(spec: &RunSpec, cores: u32) -> Option<FitEstimate> {
    // A hybrid run's browsers are its part of the users in browsers.
    let hybrid = spec.mode == crate::metrics::Mode::Http && spec.plan.browsers.is_some();
    if (spec.mode != crate::metrics::Mode::Browser && !hybrid) || spec.flows.is_empty() {
        return None;
    }
    let factor = match spec.browser.kind {
        Some(BrowserKind::Chromium) => FULL_BROWSER_FACTOR,
        _ => 1.0,
    };
    // Weighted means over the flow mix: seconds per iteration and CPU per iteration.
    let total_weight: f64 = spec.flows.iter().map(|f| f64::from(f.weight)).sum();
    let (mut iter_s, mut iter_cpu) = (0.0, 0.0);
    for choice in &spec.flows {
        let w = f64::from(choice.weight) / total_weight.max(1.0);
        let dwell = spec.plan.dwell;
        let (seconds, cpu) = iteration_cost(&choice.flow, &spec.plan.think, dwell, factor);
        iter_s += w * seconds;
        iter_cpu += w * cpu;
    }
    let per_session = iter_cpu / iter_s;
    let peak = spec.plan.peak_concurrency(iter_s);
    let sessions = match hybrid {
        true => spec.plan.browsers_of(peak),
        false => peak,
    } as f64;
    let cores_needed = sessions * per_session;
    Some(FitEstimate {
        sessions,
        cores_needed,
        cores,
        holds: (FIT_SHARE * f64::from(cores) / per_session).floor() as u64,
    })
}

/// Browser logins (`--login`) this machine runs at once without saturating: the sessions of
/// `login` that fit within 80% of its `cores` (at least one), as [`browser_fit`] counts them.
pub fn logins_at_once(login: &PreparedFlow, spec: &RunSpec, cores: u32) -> usize {
    let factor = match spec.browser.kind {
        Some(BrowserKind::Chromium) => FULL_BROWSER_FACTOR,
        _ => 1.0,
    };
    let no_dwell = Some(std::time::Duration::ZERO);
    let (seconds, cpu) = iteration_cost(login, &spec.plan.think, no_dwell, factor);
    // A login runs its steps back to back: each interaction takes its own time too (the demo
    // portal's 5-step login, one page load, lasts about 0.7 s alone on 2 cores).
    let steps = login.flow.steps.len() as f64;
    let seconds = seconds.max(steps * INTERACTION_S);
    let per_session = cpu / seconds;
    ((FIT_SHARE * f64::from(cores) / per_session).floor() as usize).max(1)
}

/// One iteration of `flow` in a browser: (seconds it lasts, CPU seconds it costs).
fn iteration_cost(
    prepared: &PreparedFlow,
    think: &ThinkPolicy,
    dwell: Option<std::time::Duration>,
    factor: f64,
) -> (f64, f64) {
    let flow = &prepared.flow;
    let think_s: f64 = flow
        .steps
        .iter()
        .map(|s| mean_think(think, s.think_time_ms))
        .sum();
    let loads = flow
        .steps
        .iter()
        .filter(|s| {
            matches!(s.action, Action::Navigate { .. })
                || s.network
                    .as_ref()
                    .is_some_and(|n| n.requests.iter().any(|r| r.kind == RequestKind::Document))
        })
        .count() as f64;
    let dwell_s = dwell.map_or(flow.dwell_ms.unwrap_or(0) as f64 / 1000.0, |d| {
        d.as_secs_f64()
    });
    let seconds = (think_s + loads * PAGE_LOAD_S + dwell_s).max(PAGE_LOAD_S);
    let polls_per_s: f64 = prepared
        .pollers
        .iter()
        .map(|p| 1000.0 / p.period_ms.max(100) as f64)
        .sum();
    let cpu = factor
        * (loads * CPU_PER_PAGE_LOAD_S
            + CPU_PER_SESSION_S
            + polls_per_s * seconds * CPU_PER_POLL_S);
    (seconds, cpu)
}

fn mean_think(policy: &ThinkPolicy, recorded_ms: Option<u64>) -> f64 {
    match policy {
        ThinkPolicy::Recorded { scale, .. } => {
            recorded_ms.unwrap_or(0) as f64 / 1000.0 * scale.max(0.0)
        }
        ThinkPolicy::Fixed(d) => d.as_secs_f64(),
        ThinkPolicy::Range(lo, hi) => (lo.as_secs_f64() + hi.as_secs_f64()) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Arrival, LoadPlan, Stages};
    use std::sync::Arc;
    use std::time::Duration;

    fn flow(steps: usize) -> PreparedFlow {
        let mut all = vec![serde_json::json!({"type": "navigate", "url": "http://h/login"})];
        all.extend((1..steps).map(|_| serde_json::json!({"type": "click", "selectors": [["#b"]]})));
        let flow = serde_json::from_value(serde_json::json!({"title": "t", "steps": all})).unwrap();
        let origin = url::Url::parse("http://h/").unwrap();
        PreparedFlow::new("login", flow, origin, Arc::default())
    }

    #[test]
    fn logins_at_once_follow_the_cores_and_the_browser() {
        let plan = LoadPlan {
            browsers: None,
            arrival: Arrival::Users(
                Stages::ramp_and_hold(10, Duration::ZERO, Duration::ZERO).unwrap(),
            ),
            iterations: None,
            think: ThinkPolicy::Recorded {
                scale: 0.0,
                jitter: 0.0,
            },
            dwell: None,
            grace: Duration::ZERO,
            drain: crate::plan::DEFAULT_DRAIN,
        };
        let mut spec = RunSpec::single(flow(1), plan, crate::metrics::Mode::Http);
        let login = flow(5);
        // One page load and 4 interactions: about half a core each, 3 on 2 cores.
        assert_eq!(logins_at_once(&login, &spec, 2), 3);
        assert_eq!(logins_at_once(&login, &spec, 16), 25);
        // The full browser costs 3 times as much; never fewer than one.
        spec.browser.kind = Some(BrowserKind::Chromium);
        assert_eq!(logins_at_once(&login, &spec, 2), 1);
        assert_eq!(logins_at_once(&login, &spec, 1), 1);
    }
}
