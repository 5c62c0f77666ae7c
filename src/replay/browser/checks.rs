//! What a step must hold after its action: the navigation it asserted, its document's status,
//! its checks, and the document and AJAX requests the recording saw succeed (a login by `fetch`
//! answered 400 fails its step even when the page reloads as if nothing happened).

use super::netlog::FailedRequest;
use super::steps::{Fail, StepRunner};
use crate::flow::{Check, Flow, RequestKind, Step};
use crate::metrics::{request_name, Outcome};
use crate::replay::fill::{fill, Place};
use crate::replay::Vars;
use crate::sync::Locked;
use std::collections::HashSet;
use std::sync::atomic::Ordering;

impl StepRunner<'_, '_> {
    /// The end of a step's execution: what it asserted and checks.
    pub(super) async fn assertions(
        &self,
        step: &Step,
        loads_before: u64,
        clicked: Option<String>,
        waiting: &mut String,
    ) -> Result<(), Fail> {
        let no_nav = match clicked {
            Some(on) => format!("no navigation happened (the click landed on {on})"),
            None => "no navigation happened".to_string(),
        };
        for event in step
            .asserted_events
            .iter()
            .filter(|e| e.kind == "navigation")
        {
            self.wait_load(loads_before, waiting, &no_nav).await;
            // A URL with a variable the browser run cannot know (extracted from a raw
            // response) is not compared.
            if let Some(want) = event
                .replay_url()
                .and_then(|u| self.fill(u, Place::Url).ok())
            {
                let got = self.eval("location.href").await?;
                if !got
                    .as_str()
                    .is_some_and(|g| crate::replay::same_document(g, &want))
                {
                    return Err(Fail::Check(format!("navigated to {got}, expected {want}")));
                }
            }
            if let Some(want) = &event.title {
                let want = self.fill(want, Place::Text)?;
                let got = self.eval("document.title").await?;
                if got.as_str() != Some(want.as_str()) {
                    return Err(Fail::Check(format!(
                        "page title is {got}, expected {want:?}"
                    )));
                }
            }
        }
        // As in HTTP mode: a document answered with an error status fails its step (and
        // the session), whatever the page shows.
        let last = self.state.last.locked().clone();
        if last.step == self.state.step.load(Ordering::Relaxed) {
            if let Some(status) = last.document.filter(|s| *s >= 400) {
                if !expected_document_status(step, status) {
                    return Err(Fail::Status(status));
                }
            }
        }
        for check in &step.checks {
            self.check(check).await?;
        }
        Ok(())
    }

    async fn check(&self, check: &Check) -> Result<(), Fail> {
        if let Some(want) = check.status {
            let last = self.state.last.locked().clone();
            let got = last.document.or(last.ajax);
            if got != Some(want) {
                let got = got.map_or("none".to_string(), |s| s.to_string());
                return Err(Fail::Check(format!("status {got}, expected {want}")));
            }
        }
        if check.body_contains.is_none() && check.body_not_contains.is_none() {
            return Ok(());
        }
        let body = self.eval("document.documentElement.outerHTML").await?;
        let body = body.as_str().unwrap_or("");
        if let Some(s) = &check.body_contains {
            let s = self.fill(s, Place::Text)?;
            if !body.contains(&s) {
                return Err(Fail::Check(format!("page does not contain {s:?}")));
            }
        }
        if let Some(s) = &check.body_not_contains {
            let s = self.fill(s, Place::Text)?;
            if body.contains(&s) {
                return Err(Fail::Check(format!("page contains {s:?}")));
            }
        }
        Ok(())
    }

    /// A step the recording saw send state-changing AJAX requests (saves: not GET or HEAD,
    /// answered with success) that sent none of them at replay: a click that found the wrong
    /// element passes, yet nothing was saved. One of them is enough (a page may skip a save of
    /// settings it already has); they get a second to go out. The message names the first.
    pub(super) async fn unsent(&self, index: usize) -> Option<String> {
        let flow = &self.session.flow.flow;
        let net = flow.steps.get(index)?.network.as_ref()?;
        let wanted: Vec<String> = net
            .requests
            .iter()
            .filter(|r| r.kind == RequestKind::Ajax && r.must_succeed())
            .filter(|r| !matches!(r.method.to_ascii_uppercase().as_str(), "GET" | "HEAD"))
            .filter_map(|r| {
                let url = fill(self.session.vars, &r.url, Place::Url).ok()?;
                Some(request_name(&r.method, &url))
            })
            .collect();
        let first = wanted.first()?;
        let none_sent = || {
            let sent = self.state.sent.locked();
            !wanted
                .iter()
                .any(|n| sent.contains(&(index as u32, n.clone())))
        };
        for _ in 0..20 {
            if !none_sent() {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        none_sent().then(|| {
            format!("{first} was never sent; the recording saw this step send it (a click on the wrong element?)")
        })
    }

    /// The first document or AJAX request that failed where the recording saw it succeed
    /// (taken from what the page's requests did so far), as a step failure message.
    pub(super) fn unexpected_failure(&self) -> Option<(Outcome, String)> {
        let failed = std::mem::take(&mut *self.state.failed.locked());
        let flow = &self.session.flow.flow;
        failed.into_iter().find_map(|f| {
            let seen = recorded_outcome(flow, self.session.vars, &f)?;
            let what = match f.outcome {
                Outcome::Status(s) => format!("answered {s}"),
                other => format!("failed ({other})"),
            };
            Some((
                f.outcome,
                format!(
                    "{} {what}; the recording saw {seen} (mark the request \"optional\" in the flow if it may fail)",
                    f.name
                ),
            ))
        })
    }
}

/// What the recording saw of the request `f` names, when that makes its failure unexpected:
/// a recorded document or AJAX request of the same name that must succeed, and none that
/// answered the same error. None: expected, optional, or a request the recording never made.
fn recorded_outcome(flow: &Flow, vars: &Vars, f: &FailedRequest) -> Option<String> {
    let mut must = None;
    for step in flow.steps.iter() {
        let Some(net) = &step.network else { continue };
        for r in net
            .requests
            .iter()
            .filter(|r| matches!(r.kind, RequestKind::Document | RequestKind::Ajax))
        {
            let Ok(url) = fill(vars, &r.url, Place::Url) else {
                continue;
            };
            if request_name(&r.method, &url) != f.name {
                continue;
            }
            if r.optional || r.status.is_some_and(|s| Outcome::Status(s) == f.outcome) {
                return None;
            }
            if r.must_succeed() {
                must = Some(r.status.map_or("it succeed".to_string(), |s| s.to_string()));
            }
        }
    }
    must
}

/// Whether the recording saw this step's document answer `status` (an error page the site
/// really serves).
pub(super) fn expected_document_status(step: &Step, status: u16) -> bool {
    step.network.as_ref().is_some_and(|n| {
        n.requests
            .iter()
            .any(|r| r.kind == RequestKind::Document && (r.status == Some(status) || r.optional))
    })
}

/// Whether any document or AJAX request of the flow must succeed at replay.
pub(super) fn has_expectations(flow: &Flow) -> bool {
    flow.steps
        .iter()
        .filter_map(|s| s.network.as_ref())
        .any(|n| n.requests.iter().any(|r| r.must_succeed()))
}

/// The error statuses the recording saw, by request name (`request_name`): the page's requests
/// answering them again are what the site does (a 401 before the login), not failures.
pub(super) fn expected_statuses(flow: &Flow, vars: &Vars) -> HashSet<(String, u16)> {
    let nets = || flow.steps.iter().filter_map(|s| s.network.as_ref());
    let requests = nets()
        .flat_map(|n| n.requests.iter())
        .map(|r| (&r.method, &r.url, r.status));
    let pollers = nets()
        .flat_map(|n| n.polling.iter())
        .map(|p| (&p.method, &p.url, p.status));
    requests
        .chain(pollers)
        .filter_map(|(method, url, status)| {
            let status = status.filter(|s| *s >= 400)?;
            let url = fill(vars, url, Place::Url).ok()?;
            Some((request_name(method, &url), status))
        })
        .collect()
}
