//! Replay runners, one per mode (plain HTTP, headless Chromium), and what they share:
//! the prepared flow and per-user variables.

pub mod browser;
pub mod conditions;
pub mod fake;
pub mod fill;
pub mod handoff;
pub mod hosts;
pub mod http;
mod step_cache;
pub mod trace;
pub mod trusted_certs;
pub mod vars;

pub use step_cache::{fixed_message, CachedUrl, StepCache};

pub use vars::{VarSources, Vars};

use crate::flow::{Flow, Poller, Stream};
use std::sync::Arc;
use url::Url;

/// A flow ready to replay: origin rewritten to the target, name fixed for metrics keys.
#[derive(Debug, Clone)]
pub struct PreparedFlow {
    /// Name used in metric keys (the file stem).
    pub name: Arc<str>,
    pub flow: Flow,
    /// The origin requests go to (after `--target`).
    pub origin: Url,
    /// Every poller of the flow, for recognising polling requests.
    pub pollers: Vec<Poller>,
    /// Every stream read through `fetch()`, for recognising them in browser mode.
    pub streams: Vec<Stream>,
    /// Data values for `${variables}`, shared by all users of the run.
    pub sources: Arc<VarSources>,
    /// The generated data (`${fake.email}`) the flow uses.
    pub fakes: fake::FakeNames,
    /// HTTP mode: scan documents for assets when the recording lists none.
    pub discover_assets: bool,
    /// Step labels and fixed URLs computed once for every iteration.
    pub cache: StepCache,
    /// HTTP mode: where every flow request's answer goes (a verifying replay), if anywhere.
    pub trace: Option<Arc<trace::Trace>>,
    /// This flow's own network conditions (a `--flow` or plan entry's), over the run's
    /// `--network`; its name then carries them (`checkout@slow-4g`) so results keep them apart.
    pub network: Option<conditions::Conditions>,
    /// Static URLs the recording saw answer an error status (a missing favicon): expected
    /// wherever HTTP mode fetches them (a page whose assets it found in the HTML).
    pub static_errors: Vec<(Url, u16)>,
}

impl PreparedFlow {
    /// The longest timeout a step of the flow sets, its own or the flow's.
    pub fn longest_step_timeout(&self) -> Option<std::time::Duration> {
        let steps = self.flow.steps.iter().filter_map(|s| s.timeout);
        (steps.chain(self.flow.timeout).max()).map(std::time::Duration::from_millis)
    }

    /// Collects the flow's pollers; `origin` must already be the replay target.
    pub fn new(name: &str, flow: Flow, origin: Url, sources: Arc<VarSources>) -> Self {
        let flow = answered_elsewhere(flow);
        let pollers = flow
            .steps
            .iter()
            .filter_map(|s| s.network.as_ref())
            .flat_map(|n| n.polling.iter().cloned())
            .collect();
        let streams = flow
            .steps
            .iter()
            .filter_map(|s| s.network.as_ref())
            .flat_map(|n| n.streams.iter().cloned())
            .collect();
        let static_errors = flow
            .steps
            .iter()
            .filter_map(|s| s.network.as_ref())
            .flat_map(|n| n.requests.iter())
            .filter(|r| r.kind == crate::flow::RequestKind::Static)
            .filter_map(|r| Some((Url::parse(&r.url).ok()?, r.status.filter(|s| *s >= 400)?)))
            .collect();
        let fakes = fake::FakeNames::of(&flow);
        PreparedFlow {
            static_errors,
            name: Arc::from(name),
            cache: StepCache::new(&flow, &origin),
            flow,
            origin,
            pollers,
            streams,
            fakes,
            sources,
            discover_assets: true,
            trace: None,
            network: None,
        }
    }
}

/// One virtual user's session: one iteration of a flow, in either mode.
pub struct Session<'a> {
    pub flow: &'a PreparedFlow,
    pub user_id: u64,
    /// This iteration's values: data variables already drawn; extractions fill in more.
    pub vars: &'a mut Vars,
    pub recorder: &'a crate::metrics::Recorder,
    pub think: &'a crate::plan::ThinkPolicy,
    /// Cancelled on ramp-down, at the end of the plan, or on Ctrl-C: the user starts no new
    /// step and leaves at the next pause (the step under way and the requests in flight finish,
    /// bounded by the run's deadline, so every request sent is recorded).
    pub cancel: &'a tokio_util::sync::CancellationToken,
    /// Tab left open after the last step.
    pub dwell: std::time::Duration,
    /// HTTP mode with `--login`: what the user's browser login handed over.
    pub handoff: Option<&'a handoff::Handoff>,
}

/// How a session ended; failures are also recorded as samples and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutcome {
    Completed,
    /// A step failed (message names the step and why).
    Failed(String),
    /// The browser under the session died.
    Lost,
    /// Stopped by ramp-down, end of plan or Ctrl-C.
    Cancelled,
}

impl SessionOutcome {
    /// The outcome's name in metrics: completed, failed, lost or abandoned (the run
    /// counters' `sessions.*` names).
    pub fn label(&self) -> &'static str {
        match self {
            SessionOutcome::Completed => "completed",
            SessionOutcome::Failed(_) => "failed",
            SessionOutcome::Lost => "lost",
            SessionOutcome::Cancelled => "abandoned",
        }
    }
}

/// The metric name of a step (same in both modes): `3 click [data-testid='go']`.
pub fn step_label(index: usize, step: &crate::flow::Step) -> String {
    use crate::flow::Action;
    let first_selector = |s: &crate::flow::Selectors| {
        s.0.first()
            .map(|chain| chain.join(" >> "))
            .unwrap_or_default()
    };
    let detail = match &step.action {
        Action::Navigate { .. } => strip_query(step.action.replay_url().unwrap_or_default()),
        Action::Click(p) | Action::DoubleClick(p) => first_selector(&p.selectors),
        Action::Change { selectors, .. } | Action::Hover { selectors } => first_selector(selectors),
        Action::WaitForElement { selectors, .. } => first_selector(selectors),
        Action::KeyDown { key } | Action::KeyUp { key } => key.clone(),
        Action::CustomStep { name, .. } => name.clone(),
        _ => String::new(),
    };
    let kind = step.action.type_name();
    if detail.is_empty() {
        format!("{} {kind}", index + 1)
    } else {
        format!("{} {kind} {detail}", index + 1)
    }
}

/// The metric name of a page load (same in both modes): the document URL without query,
/// ids in its path grouped as `{id}`.
pub fn page_name(url: &str) -> String {
    crate::metrics::group_ids(&strip_query(url))
}

fn strip_query(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].to_string()
}

/// Whether a browser at `got` is on the document `want` names: compared as parsed URLs without
/// their fragments (a `#section` link lands on the same document; network requests never carry
/// the fragment, `location.href` does).
pub fn same_document(got: &str, want: &str) -> bool {
    let strip = |u: &str| match url::Url::parse(u) {
        Ok(mut p) => {
            p.set_fragment(None);
            p.to_string()
        }
        Err(_) => u.split('#').next().unwrap_or(u).to_string(),
    };
    strip(got) == strip(want)
}

/// `flow` with each request recorded without its answer (the page moved on first) given the
/// status the same request (method and URL) got elsewhere in the recording: what the site
/// answers it (a missing favicon's 404) is then expected, as it is where it was answered.
fn answered_elsewhere(mut flow: Flow) -> Flow {
    let mut known: std::collections::HashMap<(String, String), u16> = Default::default();
    for r in flow
        .steps
        .iter()
        .filter_map(|s| s.network.as_ref())
        .flat_map(|n| n.requests.iter())
    {
        if let Some(status) = r.status {
            known.insert((r.method.clone(), r.url.clone()), status);
        }
    }
    for r in flow
        .steps
        .iter_mut()
        .filter_map(|s| s.network.as_mut())
        .flat_map(|n| n.requests.iter_mut())
        .filter(|r| r.status.is_none())
    {
        r.status = known.get(&(r.method.clone(), r.url.clone())).copied();
    }
    flow
}

#[cfg(test)]
mod page_tests {
    use super::*;

    #[test]
    fn a_request_recorded_without_its_answer_expects_what_it_got_elsewhere() {
        let flow: Flow = serde_json::from_value(serde_json::json!({
            "title": "t",
            "steps": [
                {"type": "navigate", "url": "http://h/", "network": {"requests": [
                    {"method": "GET", "url": "http://h/favicon.ico", "kind": "static"},
                    {"method": "GET", "url": "http://h/a", "kind": "ajax"}
                ]}},
                {"type": "navigate", "url": "http://h/b", "network": {"requests": [
                    {"method": "GET", "url": "http://h/favicon.ico", "kind": "static", "status": 404}
                ]}}
            ]
        }))
        .unwrap();
        let origin = Url::parse("http://h/").unwrap();
        let prepared = PreparedFlow::new("f", flow, origin, Arc::new(VarSources::default()));
        let first = &prepared.flow.steps[0].network.as_ref().unwrap().requests;
        assert_eq!(first[0].status, Some(404));
        assert_eq!(first[1].status, None, "never answered anywhere: unknown");
        // Expected wherever HTTP mode finds it (a page's HTML naming it).
        assert_eq!(
            prepared.static_errors,
            vec![(Url::parse("http://h/favicon.ico").unwrap(), 404); 2]
        );
    }

    #[test]
    fn fragments_do_not_change_the_document() {
        assert!(same_document("http://h/a?x=1#top", "http://h/a?x=1"));
        assert!(same_document("http://h/a", "http://h/a#b"));
        assert!(!same_document("http://h/a?x=2", "http://h/a?x=1"));
        assert!(!same_document("http://h/login", "http://h/"));
    }
}
