//! One session's traces (`--trace`): which trace and parent span each request to the flow's
//! own origin carries, and the spans and exemplars of what the session recorded.
//!
//! The shape, in both modes: a session span (its own trace); a trace per step, its root the
//! step span, linked to the session's; in a step that loads a page, a page-load span under
//! the step span; a request span per request (per redirect hop) under its page load, or
//! under its step when the step loaded no page. The target's spans are children of the
//! request spans: `traceparent` names the request span. In browser mode a page keeps its
//! page load's trace for every request it sends while it is open, whichever step runs.
//! Step and page-load spans need no call from the runners: [`Recorder::record`] hands their
//! samples here.
//!
//! [`Recorder::record`]: super::Recorder::record

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::Url;

use super::key::{MetricKey, Mode, Outcome, SampleKind};
use super::sink::Recorder;
use super::trace::{Exemplar, SpanCtx, SpanId, SpanOutcome, SpanRecord, SpanRole, TraceConfig};
use crate::sync::Locked;

/// Page loads begun and not yet recorded that a session remembers (a page left before its
/// load event never gets a sample).
const PENDING_PAGES: usize = 32;
/// Browser requests in flight whose spans a session remembers.
const OPEN_REQUESTS: usize = 4096;

/// The step index of samples tied to no step.
const NO_STEP: u32 = u32::MAX;

/// The span of one request (one redirect hop) about to be sent.
#[derive(Clone, Debug)]
pub struct RequestSpan {
    /// What `traceparent` carries: the trace and this request's own span id.
    pub ctx: SpanCtx,
    parent: SpanId,
    start_ns: u64,
}

impl RequestSpan {
    pub fn traceparent(&self) -> String {
        self.ctx.traceparent()
    }
}

#[derive(Clone)]
struct Page {
    step: u32,
    ctx: SpanCtx,
    parent: SpanId,
    /// Page name (browser mode: matched against the page-load sample's name).
    name: Option<Arc<str>>,
    /// Browser mode: the navigation's network request id (its redirect hops share it).
    doc: Option<String>,
    start_ns: u64,
}

#[derive(Default)]
struct State {
    /// Each step's span (its trace's root), made when first needed.
    steps: Vec<(u32, SpanCtx)>,
    /// The page open now.
    page: Option<Page>,
    /// Page loads begun whose sample has not been recorded, oldest first.
    pending: VecDeque<Page>,
    /// Browser mode: spans of requests in flight by network id, one per redirect hop.
    requests: HashMap<String, VecDeque<RequestSpan>>,
    open_requests: usize,
    any_sampled: bool,
}

/// The flow's own origin: the only one whose requests carry trace context.
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// One session's trace context and span bookkeeping. Shared by the session's runner, its
/// HTTP client or browser page, through its [`Recorder`].
pub struct SessionTrace {
    /// Where exemplars and spans go (a recorder without a session trace).
    recorder: Recorder,
    mode: Mode,
    flow: Arc<str>,
    origin: Origin,
    tracestate: Option<Arc<str>>,
    sample: f64,
    keep_spans: bool,
    session: SpanCtx,
    start_ns: u64,
    state: Mutex<State>,
}

impl SessionTrace {
    pub(crate) fn new(
        recorder: Recorder,
        config: &TraceConfig,
        mode: Mode,
        flow: &Arc<str>,
        origin: &Url,
        tracestate: Option<&str>,
    ) -> Self {
        SessionTrace {
            recorder,
            mode,
            flow: flow.clone(),
            origin: Origin {
                scheme: origin.scheme().to_string(),
                host: origin.host_str().unwrap_or_default().to_string(),
                port: origin.port_or_known_default(),
            },
            tracestate: tracestate.map(Arc::from),
            sample: config.sample,
            keep_spans: config.keep_spans,
            session: SpanCtx::root(1.0),
            start_ns: now_ns(),
            state: Mutex::new(State::default()),
        }
    }

    /// Whether `url` is on the flow's own origin (scheme, host and port): only those
    /// requests carry trace context; another origin's CORS rules would see a new header.
    pub fn is_own_origin(&self, url: &Url) -> bool {
        url.scheme() == self.origin.scheme
            && url.host_str() == Some(self.origin.host.as_str())
            && url.port_or_known_default() == self.origin.port
    }

    /// The flow's `tracestate`, sent beside every `traceparent`.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The flow's origin as a Fetch URL pattern (`http://127.0.0.1:8080/*`).
    pub fn origin_pattern(&self) -> String {
        let port = match self.origin.port {
            Some(p) if Some(p) != default_port(&self.origin.scheme) => format!(":{p}"),
            _ => String::new(),
        };
        format!("{}://{}{port}/*", self.origin.scheme, self.origin.host)
    }

    /// HTTP mode: the span of a request (hop) about to be sent, None to another origin.
    /// `document`: the first hop of a page's document, which begins a page load.
    pub fn http_request(
        &self,
        step: Option<u32>,
        document: bool,
        url: &Url,
    ) -> Option<RequestSpan> {
        if !self.is_own_origin(url) {
            return None;
        }
        let step = step.unwrap_or(NO_STEP);
        let mut st = self.state.locked();
        let parent = if document {
            self.begin_page(&mut st, step, None, None)
        } else {
            match &st.page {
                Some(p) if p.step == step => p.ctx,
                _ => self.step_ctx(&mut st, step),
            }
        };
        Some(request_span(parent))
    }

    /// Browser mode: the span of a request the page is about to send (paused), None to
    /// another origin. `document`: the page name of a main-frame navigation (a redirect hop
    /// of the navigation under way keeps its page load). Every request of the page carries
    /// the page load's trace.
    pub fn browser_request(
        &self,
        network_id: &str,
        step: u32,
        document: Option<&str>,
        url: &Url,
    ) -> Option<RequestSpan> {
        if !self.is_own_origin(url) {
            return None;
        }
        let mut st = self.state.locked();
        let parent = match document {
            Some(name) => {
                let hop = st
                    .page
                    .as_ref()
                    .is_some_and(|p| p.doc.as_deref() == Some(network_id));
                if hop {
                    let name: Arc<str> = Arc::from(name);
                    let st = &mut *st;
                    for p in st.page.iter_mut().chain(st.pending.iter_mut()) {
                        if p.doc.as_deref() == Some(network_id) {
                            p.name = Some(name.clone());
                        }
                    }
                    st.page.as_ref().map(|p| p.ctx).expect("checked")
                } else {
                    self.begin_page(&mut st, step, Some(name.into()), Some(network_id.into()))
                }
            }
            None => match &st.page {
                Some(p) => p.ctx,
                None => self.step_ctx(&mut st, step),
            },
        };
        let span = request_span(parent);
        if span.ctx.sampled && st.open_requests < OPEN_REQUESTS {
            st.open_requests += 1;
            st.requests
                .entry(network_id.to_string())
                .or_default()
                .push_back(span.clone());
        }
        Some(span)
    }

    /// Browser mode: the next hop of `network_id` ended and was recorded under `key`.
    pub fn browser_request_done(
        &self,
        network_id: &str,
        key: &MetricKey,
        latency: Duration,
        outcome: Outcome,
        status: Option<u16>,
    ) {
        if let Some(span) = self.take_request(network_id) {
            self.request_done(&span, key, latency, outcome, status);
        }
    }

    /// Browser mode: the next hop of `network_id` ended without a sample (served from the
    /// cache, blocked).
    pub fn browser_request_dropped(&self, network_id: &str) {
        self.take_request(network_id);
    }

    /// Browser mode: the page left the next hop of `network_id` before its answer. No sample
    /// and no exemplar, but its span is exported: the target may have served it, and its own
    /// span names this one as parent.
    pub fn browser_request_canceled(&self, network_id: &str, key: &MetricKey, took: Duration) {
        if let Some(span) = self.take_request(network_id) {
            if span.ctx.sampled {
                self.push_request_span(&span, key, took, None, SpanOutcome::Canceled);
            }
        }
    }

    fn take_request(&self, network_id: &str) -> Option<RequestSpan> {
        let mut st = self.state.locked();
        let queue = st.requests.get_mut(network_id)?;
        let span = queue.pop_front();
        if queue.is_empty() {
            st.requests.remove(network_id);
        }
        if span.is_some() {
            st.open_requests -= 1;
        }
        span
    }

    /// A request (hop) ended and was recorded under `key`: its exemplar and span.
    pub fn request_done(
        &self,
        span: &RequestSpan,
        key: &MetricKey,
        latency: Duration,
        outcome: Outcome,
        status: Option<u16>,
    ) {
        if !span.ctx.sampled {
            return;
        }
        let end_ns = span.start_ns + nanos(latency);
        self.recorder
            .exemplar(key, exemplar(span.ctx, latency, end_ns));
        self.push_request_span(span, key, latency, status, SpanOutcome::Sample(outcome));
    }

    /// A sampled request's span, when spans are kept (`--otlp`).
    fn push_request_span(
        &self,
        span: &RequestSpan,
        key: &MetricKey,
        took: Duration,
        status: Option<u16>,
        outcome: SpanOutcome,
    ) {
        if !self.keep_spans {
            return;
        }
        self.recorder.push_span(SpanRecord {
            role: SpanRole::Request,
            trace_id: span.ctx.trace_id,
            span_id: span.ctx.span_id,
            parent: Some(span.parent),
            link: None,
            name: key.name.clone(),
            start_unix_ns: span.start_ns,
            end_unix_ns: span.start_ns + nanos(took),
            mode: self.mode,
            flow: self.flow.clone(),
            step: key.step,
            kind: Some(key.kind),
            status,
            outcome,
        });
    }

    /// A step or page-load sample was recorded: its span (and a page load's exemplar).
    pub(crate) fn on_sample(&self, key: &MetricKey, latency: Duration, outcome: Outcome) {
        let step = key.step.unwrap_or(NO_STEP);
        let now = now_ns();
        let (role, ctx, parent, link, start_ns) = match key.kind {
            SampleKind::Step => {
                let mut st = self.state.locked();
                let ctx = self.step_ctx(&mut st, step);
                let link = Some((self.session.trace_id, self.session.span_id));
                (
                    SpanRole::Step,
                    ctx,
                    None,
                    link,
                    now.saturating_sub(nanos(latency)),
                )
            }
            SampleKind::PageLoad => {
                let page = {
                    let mut st = self.state.locked();
                    let same_name = st
                        .pending
                        .iter()
                        .position(|p| p.step == step && p.name.as_deref() == Some(&*key.name));
                    match same_name.or_else(|| st.pending.iter().position(|p| p.step == step)) {
                        Some(i) => st.pending.remove(i),
                        None => None,
                    }
                };
                let Some(page) = page else { return };
                if page.ctx.sampled {
                    let end = page.start_ns + nanos(latency);
                    self.recorder
                        .exemplar(key, exemplar(page.ctx, latency, end));
                }
                (
                    SpanRole::PageLoad,
                    page.ctx,
                    Some(page.parent),
                    None,
                    page.start_ns,
                )
            }
            _ => return,
        };
        if !(ctx.sampled && self.keep_spans) {
            return;
        }
        self.recorder.push_span(SpanRecord {
            role,
            trace_id: ctx.trace_id,
            span_id: ctx.span_id,
            parent,
            link,
            name: key.name.clone(),
            start_unix_ns: start_ns,
            end_unix_ns: start_ns + nanos(latency),
            mode: self.mode,
            flow: self.flow.clone(),
            step: key.step,
            kind: Some(key.kind),
            status: None,
            outcome: SpanOutcome::Sample(outcome),
        });
    }

    /// The session ended with `outcome` (completed, failed, lost, abandoned): its span, kept
    /// when any of its traces was sampled.
    pub(crate) fn finish(&self, outcome: &'static str) {
        let any = {
            let mut st = self.state.locked();
            let any = st.any_sampled;
            *st = State::default();
            any
        };
        if !(any && self.keep_spans) {
            return;
        }
        self.recorder.push_span(SpanRecord {
            role: SpanRole::Session,
            trace_id: self.session.trace_id,
            span_id: self.session.span_id,
            parent: None,
            link: None,
            name: self.flow.clone(),
            start_unix_ns: self.start_ns,
            end_unix_ns: now_ns().max(self.start_ns),
            mode: self.mode,
            flow: self.flow.clone(),
            step: None,
            kind: None,
            status: None,
            outcome: SpanOutcome::Session(outcome),
        });
    }

    /// The step's span: the root of its own trace, sampled or not as a whole.
    fn step_ctx(&self, st: &mut State, step: u32) -> SpanCtx {
        if let Some((_, ctx)) = st.steps.iter().find(|(s, _)| *s == step) {
            return *ctx;
        }
        let ctx = SpanCtx::root(self.sample);
        st.any_sampled |= ctx.sampled;
        st.steps.push((step, ctx));
        ctx
    }

    /// A page load of `step` begins: its span, under the step's.
    fn begin_page(
        &self,
        st: &mut State,
        step: u32,
        name: Option<Arc<str>>,
        doc: Option<String>,
    ) -> SpanCtx {
        let parent = self.step_ctx(st, step);
        let page = Page {
            step,
            ctx: parent.child(),
            parent: parent.span_id,
            name,
            doc,
            start_ns: now_ns(),
        };
        if st.pending.len() >= PENDING_PAGES {
            st.pending.pop_front();
        }
        st.pending.push_back(page.clone());
        let ctx = page.ctx;
        st.page = Some(page);
        ctx
    }
}

fn request_span(parent: SpanCtx) -> RequestSpan {
    RequestSpan {
        ctx: parent.child(),
        parent: parent.span_id,
        start_ns: now_ns(),
    }
}

fn exemplar(ctx: SpanCtx, latency: Duration, end_ns: u64) -> Exemplar {
    Exemplar {
        trace_id: ctx.trace_id,
        span_id: ctx.span_id,
        latency_us: super::serialize::duration_us(latency),
        unix_ms: end_ns / 1_000_000,
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Wall-clock now, Unix nanoseconds (span times).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Sink;

    fn traced(sample: f64) -> (Sink, Recorder) {
        let sink = Sink::new();
        sink.enable_tracing(TraceConfig {
            sample,
            keep_spans: true,
        });
        let origin = Url::parse("http://127.0.0.1:8080/").unwrap();
        let rec =
            sink.recorder(1)
                .traced_session(Mode::Http, &Arc::from("f"), &origin, Some("k=v"));
        (sink, rec)
    }

    fn key(step: u32, kind: SampleKind, name: &str) -> MetricKey {
        MetricKey::new(Mode::Http, "f", Some(step), kind, name)
    }

    #[test]
    fn http_requests_nest_under_their_page_load_or_step_and_other_origins_get_nothing() {
        let (sink, rec) = traced(1.0);
        let t = rec.trace().unwrap().clone();
        let url = |p: &str| Url::parse(&format!("http://127.0.0.1:8080{p}")).unwrap();
        assert!(t
            .http_request(
                Some(0),
                false,
                &Url::parse("http://127.0.0.1:9999/x").unwrap()
            )
            .is_none());
        assert!(t
            .http_request(
                Some(0),
                false,
                &Url::parse("https://127.0.0.1:8080/x").unwrap()
            )
            .is_none());
        let doc = t.http_request(Some(0), true, &url("/")).unwrap();
        let css = t.http_request(Some(0), false, &url("/a.css")).unwrap();
        assert_eq!(doc.ctx.trace_id, css.ctx.trace_id);
        assert_eq!(doc.parent, css.parent, "both under the page load");
        assert_ne!(doc.ctx.span_id, css.ctx.span_id);
        assert!(doc.traceparent().ends_with("-01"));
        // A later step without a page: its own trace, under its step span.
        let ajax = t.http_request(Some(1), false, &url("/api")).unwrap();
        assert_ne!(ajax.ctx.trace_id, doc.ctx.trace_id);
        for (span, k) in [
            (&doc, key(0, SampleKind::Document, "GET /")),
            (&ajax, key(1, SampleKind::Ajax, "GET /api")),
        ] {
            rec.record(&k, Duration::from_millis(5), Outcome::Ok);
            t.request_done(span, &k, Duration::from_millis(5), Outcome::Ok, Some(200));
        }
        rec.record(
            &key(0, SampleKind::PageLoad, "/"),
            Duration::from_millis(9),
            Outcome::Ok,
        );
        rec.record(
            &key(0, SampleKind::Step, "1 navigate"),
            Duration::from_millis(10),
            Outcome::Ok,
        );
        rec.record(
            &key(1, SampleKind::Step, "2 click"),
            Duration::from_millis(3),
            Outcome::Ok,
        );
        rec.end_session("completed");
        let spans = sink.take_spans(usize::MAX);
        let by_role = |r: SpanRole| spans.iter().filter(|s| s.role == r).collect::<Vec<_>>();
        let (pages, steps, sessions) = (
            by_role(SpanRole::PageLoad),
            by_role(SpanRole::Step),
            by_role(SpanRole::Session),
        );
        assert_eq!((pages.len(), steps.len(), sessions.len()), (1, 2, 1));
        assert_eq!(pages[0].span_id, doc.parent);
        assert_eq!(Some(steps[0].span_id), pages[0].parent);
        assert_eq!(steps[0].trace_id, doc.ctx.trace_id);
        assert_eq!(Some(steps[1].span_id), Some(ajax.parent));
        assert!(steps
            .iter()
            .all(|s| s.link == Some((sessions[0].trace_id, sessions[0].span_id))));
        let summary = sink.finish();
        let page = summary
            .entries
            .iter()
            .find(|e| e.kind == SampleKind::PageLoad)
            .unwrap();
        assert_eq!(page.slowest[0].trace_id, doc.ctx.trace_id);
        let d = summary
            .entries
            .iter()
            .find(|e| e.kind == SampleKind::Document)
            .unwrap();
        assert_eq!(d.slowest[0].span_id, doc.ctx.span_id);
    }

    #[test]
    fn a_browser_page_keeps_its_trace_across_redirects_and_later_steps() {
        let (sink, rec) = traced(1.0);
        let t = rec.trace().unwrap().clone();
        let url = |p: &str| Url::parse(&format!("http://127.0.0.1:8080{p}")).unwrap();
        let hop1 = t
            .browser_request("n1", 0, Some("/old"), &url("/old"))
            .unwrap();
        let hop2 = t.browser_request("n1", 0, Some("/"), &url("/")).unwrap();
        assert_eq!(hop1.parent, hop2.parent, "one page load");
        let later = t.browser_request("n2", 3, None, &url("/api")).unwrap();
        assert_eq!(
            later.ctx.trace_id, hop1.ctx.trace_id,
            "the page's trace in step 4"
        );
        let k = key(0, SampleKind::Document, "GET /old");
        t.browser_request_done("n1", &k, Duration::from_millis(2), Outcome::Ok, Some(302));
        t.browser_request_dropped("n2");
        rec.record(
            &key(0, SampleKind::PageLoad, "/"),
            Duration::from_millis(40),
            Outcome::Ok,
        );
        let spans = sink.take_spans(usize::MAX);
        let req: Vec<_> = spans
            .iter()
            .filter(|s| s.role == SpanRole::Request)
            .collect();
        assert_eq!(req.len(), 1);
        assert_eq!(req[0].span_id, hop1.ctx.span_id, "hops end in order");
        let page = spans.iter().find(|s| s.role == SpanRole::PageLoad).unwrap();
        assert_eq!(page.span_id, hop1.parent);
    }

    #[test]
    fn unsampled_traces_send_flag_00_and_keep_nothing() {
        let (sink, rec) = traced(1e-12);
        let t = rec.trace().unwrap().clone();
        let doc = t
            .http_request(
                Some(0),
                true,
                &Url::parse("http://127.0.0.1:8080/").unwrap(),
            )
            .unwrap();
        assert!(doc.traceparent().ends_with("-00"));
        let k = key(0, SampleKind::Document, "GET /");
        rec.record(&k, Duration::from_millis(5), Outcome::Ok);
        t.request_done(&doc, &k, Duration::from_millis(5), Outcome::Ok, Some(200));
        rec.record(
            &key(0, SampleKind::Step, "1"),
            Duration::from_millis(5),
            Outcome::Ok,
        );
        rec.end_session("completed");
        assert!(sink.take_spans(usize::MAX).is_empty());
        assert!(sink.finish().entries.iter().all(|e| e.slowest.is_empty()));
    }
}
