//! `--trace` in HTTP mode: the trace headers of a request to the flow's own origin (the
//! client adds them to every redirect hop; `record` ends the hop's span).

use crate::metrics::{RequestSpan, SessionTrace};

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
