//! `--trace` in browser mode: every request a page sends to the flow's own origin is paused
//! (Fetch, with a URL pattern for that origin only, so no other origin's request waits or
//! changes) and continued with `traceparent` (and the flow's `tracestate`) added to its
//! headers: the page load's trace, a span id per request. The network log then hands each
//! request's end here for its span and exemplar.
//!
//! Why Fetch and not Network.setExtraHTTPHeaders: extra headers go to every origin the page
//! reaches (changing other origins' CORS preflights) and are one value per page, while each
//! request needs its own span id.

use super::session::PageState;
use crate::metrics::{MetricKey, Outcome, Recorder, SessionTrace};
use crate::replay::page_name;
use chromiumoxide::cdp::browser_protocol::fetch::{
    ContinueRequestParams, EventRequestPaused, HeaderEntry, RequestPattern, RequestStage,
};
use chromiumoxide::cdp::browser_protocol::network::ResourceType;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// One page's trace context: its session's traces and the step running.
pub(crate) struct PageTrace {
    trace: Arc<SessionTrace>,
    state: Arc<PageState>,
    main_frame: String,
}

impl PageTrace {
    pub fn new(trace: Arc<SessionTrace>, state: Arc<PageState>, main_frame: String) -> Self {
        PageTrace {
            trace,
            state,
            main_frame,
        }
    }

    /// The Fetch pattern that pauses every request to the flow's origin (any type).
    pub fn pattern(&self) -> RequestPattern {
        RequestPattern::builder()
            .url_pattern(self.trace.origin_pattern())
            .request_stage(RequestStage::Request)
            .build()
    }

    /// How to continue a paused request: unchanged, or with its trace headers when it goes
    /// to the flow's own origin.
    pub fn continue_params(&self, ev: &EventRequestPaused) -> ContinueRequestParams {
        let plain = ContinueRequestParams::new(ev.request_id.clone());
        let Ok(url) = Url::parse(&ev.request.url) else {
            return plain;
        };
        let network_id = ev
            .network_id
            .as_ref()
            .map_or(ev.request_id.inner(), |id| id.inner());
        let document = (ev.resource_type == ResourceType::Document
            && ev.frame_id.inner() == &self.main_frame)
            .then(|| page_name(&ev.request.url));
        let step = self.state.step.load(Ordering::Relaxed);
        let Some(span) = self
            .trace
            .browser_request(network_id, step, document.as_deref(), &url)
        else {
            return plain;
        };
        let mut headers: Vec<HeaderEntry> = ev
            .request
            .headers
            .inner()
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| !is_trace_header(name))
            .filter_map(|(name, v)| Some(HeaderEntry::new(name.clone(), v.as_str()?)))
            .collect();
        headers.push(HeaderEntry::new("traceparent", span.traceparent()));
        if let Some(state) = self.trace.tracestate() {
            headers.push(HeaderEntry::new("tracestate", state));
        }
        ContinueRequestParams {
            headers: Some(headers),
            ..plain
        }
    }
}

fn is_trace_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("traceparent") || name.eq_ignore_ascii_case("tracestate")
}

/// A request (hop) of the page ended and was recorded under `key`.
pub(crate) fn request_done(
    recorder: &Recorder,
    network_id: &str,
    key: &MetricKey,
    latency: Duration,
    outcome: Outcome,
    status: Option<u16>,
) {
    if let Some(t) = recorder.trace() {
        t.browser_request_done(network_id, key, latency, outcome, status);
    }
}

/// The page left a request (hop) before its answer: its span, no sample.
pub(crate) fn request_canceled(
    recorder: &Recorder,
    network_id: &str,
    key: &MetricKey,
    took: Duration,
) {
    if let Some(t) = recorder.trace() {
        t.browser_request_canceled(network_id, key, took);
    }
}

/// A request (hop) of the page ended without a sample (cached, blocked).
pub(crate) fn request_dropped(recorder: &Recorder, network_id: &str) {
    if let Some(t) = recorder.trace() {
        t.browser_request_dropped(network_id);
    }
}
