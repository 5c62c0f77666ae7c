//! What a failed HTTP step leaves behind: the response it failed on (status, URL, the first
//! bytes of its body with the session's variable values redacted), kept in the run's
//! results within the sink's per-step and total caps; and, in a traced replay (a flow being
//! verified), what every flow request got.

use super::client::Response;
use crate::metrics::{body_head, redact_values, FailureRecord, Mode, Outcome, Sink};
use crate::replay::trace::{Trace, Traced};
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

/// Keeps what flow request `(step, index, last hop)` got in a traced replay.
pub(super) fn trace(
    trace: &Trace,
    (step, index, last): (usize, usize, usize),
    (method, url): (&http::Method, &url::Url),
    got: Result<&Response, Outcome>,
) {
    let mut t = Traced {
        step,
        index,
        last,
        method: method.to_string(),
        url: url.to_string(),
        status: None,
        final_url: None,
        headers: Vec::new(),
        body: Bytes::new(),
        error: None,
    };
    match got {
        Ok(r) => {
            t.status = Some(r.status);
            t.final_url = Some(r.final_url.to_string());
            t.headers = r
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect();
            t.body = r.body.clone();
        }
        Err(o) => t.error = Some(format!("{o:?}")),
    }
    trace.push(t);
}
