//! `--trace` in HTTP mode: the trace headers of a request to the flow's own origin, and its
//! span and exemplar once it ended (the client calls both for every redirect hop).

use super::client::Response;
use crate::metrics::{MetricKey, Outcome, RequestSpan, SessionTrace};
use std::time::Duration;

/// A W3C trace context header (a recorded one is dropped: each request gets its own).
pub fn is_trace_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("traceparent") || name.eq_ignore_ascii_case("tracestate")
}

/// The request's extra headers with `traceparent` (and the flow's `tracestate`) added.
pub fn headers(
    extra: &[(&'static str, String)],
    span: &RequestSpan,
    trace: &SessionTrace,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(extra.len() + 2);
    out.extend(extra.iter().filter(|(k, _)| !is_trace_header(k)).cloned());
    out.push(("traceparent", span.traceparent()));
    if let Some(state) = trace.tracestate() {
        out.push(("tracestate", state.to_string()));
    }
    out
}

/// The hop ended (`result` as the client returns it): its span and exemplar.
pub fn done(
    trace: &SessionTrace,
    span: &RequestSpan,
    key: &MetricKey,
    latency: Duration,
    result: &Result<Response, Outcome>,
    expect: Option<u16>,
) {
    let (status, outcome) = match result {
        Ok(r) if expect == Some(r.status) => (Some(r.status), Outcome::Ok),
        Ok(r) => (Some(r.status), Outcome::from_status(r.status)),
        Err(o) => (None, *o),
    };
    trace.request_done(span, key, latency, outcome, status);
}
