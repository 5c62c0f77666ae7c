//! What a failed HTTP step leaves behind: the response it failed on (status, URL, the first
//! bytes of its body with the session's variable values redacted), kept in the run's
//! results within the sink's per-step and total caps.

use super::client::Response;
use crate::metrics::{body_head, redact_values, FailureRecord, Mode, Sink};
use crate::replay::Vars;
use bytes::Bytes;

/// The step's latest response that a failure would be about (its document, or its last
/// AJAX response without one); a request that got no response has no status.
#[derive(Debug, Clone)]
pub(super) struct LastResponse {
    pub status: Option<u16>,
    pub url: String,
    pub body: Bytes,
}

impl LastResponse {
    pub fn of(r: &Response) -> Self {
        LastResponse {
            status: Some(r.status),
            url: r.final_url.to_string(),
            body: r.body.clone(),
        }
    }
}

/// Keeps a failed step's record (when the caps leave room).
pub(super) fn keep(
    sink: &Sink,
    (flow, step): (&str, u32),
    message: &str,
    last: Option<&LastResponse>,
    vars: &Vars,
) {
    if sink.reserve_failure(Mode::Http, flow, Some(step)).is_none() {
        return;
    }
    let redact = |s: &str| redact_values(s, vars.values());
    let body = last
        .filter(|l| !l.body.is_empty())
        .map(|l| redact(&body_head(&l.body)));
    sink.keep_failure(FailureRecord {
        mode: Mode::Http,
        flow: flow.to_string(),
        step: Some(step),
        message: redact(message),
        url: last.map(|l| redact(&l.url)),
        title: None,
        status: last.and_then(|l| l.status),
        body,
        console: Vec::new(),
        screenshot: None,
    });
}
