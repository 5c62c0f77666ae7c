//! CDP Network events -> one request sample each: latency from the browser's own
//! timestamps, outcome, bytes, and the kind (document, static, ajax, polling, beacon).
//!
//! Each event type arrives on its own listener channel, so their relative order is not
//! guaranteed: a request's end may be read before its start, response or cache events.
//! Ends therefore settle briefly before the sample is recorded.
//!
//! A request that got its response head is a completed request with its status, however it
//! ended (a stream the page aborted, a response cut by a reload). Chromium sometimes sends no
//! end at all for a request of a document its frame has left: once the frame commits the next
//! document, such requests settle as if the page had cancelled them.

mod classify;
mod har;

pub(crate) use classify::{classify, failure_outcome};
use classify::{is_static_mime, protocol_name};

use super::trace_context as trace;
use crate::metrics::sessions::SessionCapture;
use crate::metrics::{request_name, MetricKey, Mode, Outcome, Recorder, SampleKind, Sink};
use chromiumoxide::cdp::browser_protocol::network::{
    EventLoadingFailed, EventLoadingFinished, EventRequestServedFromCache, EventRequestWillBeSent,
    EventResponseReceived, ResourceType,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Start {
    /// The network request id (its redirect hops share it).
    id: String,
    ts: f64,
    /// When throng read the start event (for requests never ended: see `cancel_open`).
    read_at: Instant,
    method: String,
    url: String,
    kind: SampleKind,
    step: u32,
    /// The frame and document (loader) that sent it.
    frame: Option<String>,
    loader: String,
    /// A session that may be kept: what was sent, for its HAR.
    har: Option<Box<har::Sent>>,
}

enum End {
    Finished {
        ts: f64,
        bytes: f64,
    },
    Failed {
        ts: f64,
        outcome: Option<Outcome>,
    },
    /// Still open when the session ended: abandoned after this long.
    Abandoned(Duration),
}

#[derive(Default)]
struct Pending {
    start: Option<Start>,
    /// When the response head arrived (CDP seconds): an event stream's sample ends there.
    response_ts: Option<f64>,
    status: Option<u16>,
    mime: Option<String>,
    cached: bool,
    /// Sent by a document the main frame has left (when that was seen, its CDP time).
    orphaned: Option<(Instant, f64)>,
    /// A session that may be kept: the response head, for its HAR.
    har: Option<Box<har::Answer>>,
}

/// How long an end waits before it is matched with its start, response and cache events.
/// chromiumoxide flushes its listener channels one after another, so an end can be read
/// before events CDP sent earlier; they are all flushed within one pass (microseconds).
const SETTLE: Duration = Duration::from_millis(50);
/// An end whose start never arrives is dropped after this long.
const ORPHAN_END: Duration = Duration::from_secs(10);
/// How long a request of a document the main frame has left may still get its end event
/// before it is settled without one.
const LEFT_BEHIND: Duration = Duration::from_millis(500);
/// Failed requests kept for the step checks (the first ones are what a person reads).
const MAX_FAILED: usize = 32;

/// A document or AJAX request that failed, for the step checks to hold against the recording.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FailedRequest {
    pub step: u32,
    pub name: String,
    pub outcome: Outcome,
}

/// The last main-frame document and the last ajax response of the current step, for checks.
#[derive(Debug, Clone, Default)]
pub(crate) struct LastResponses {
    pub step: u32,
    pub document: Option<u16>,
    pub ajax: Option<u16>,
}

/// Whether a request a script made is read as a stream (held open, timed to its head like an
/// EventSource): an event stream, or one of the flow's recorded streams.
fn is_stream(p: &Pending, streams: &HashSet<String>) -> bool {
    let Some(start) = &p.start else { return false };
    matches!(start.kind, SampleKind::Ajax | SampleKind::Polling)
        && (p.mime.as_deref().is_some_and(|m| {
            m.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        }) || streams.contains(&request_name(&start.method, &start.url)))
}

/// Request bookkeeping of one session.
pub(crate) struct NetLog {
    flow: Arc<str>,
    recorder: Recorder,
    sink: Sink,
    pollers: HashSet<String>,
    /// The flow's streams read through `fetch()` (method and URL, as metric names).
    streams: HashSet<String>,
    /// Error statuses the recording saw, by metric name: answered again, they are what the
    /// site does (a 401 before the login, a missing favicon), as HTTP mode's `expect`.
    expected: HashSet<(String, u16)>,
    main_frame: String,
    pending: HashMap<String, Pending>,
    ends: VecDeque<(Instant, String, End)>,
    /// Ends that settled before their start was read (should not happen; kept a while).
    orphans: HashMap<String, (Instant, End)>,
    /// Connections seen (Chromium's connection ids), each counted once by protocol and origin.
    connections: HashSet<u64>,
    pub last: LastResponses,
    /// The session is leaving its page: a request the browser cancels is the session's end
    /// (an `interrupted` sample, as HTTP mode counts one cut off by the run's end), not a page
    /// navigating away.
    pub leaving: bool,
    /// The main frame's current document.
    main_loader: Option<String>,
    /// Documents (loader ids) of the main frame in the order they were first seen, so a
    /// commit read late (listener channels are not ordered) never leaves behind a newer
    /// document's requests, the navigation under way included.
    loader_order: HashMap<String, u64>,
    /// The latest CDP time seen (an end's time when Chromium sends none).
    last_ts: f64,
    /// Document and AJAX requests that failed, not yet taken by [`NetLog::take_failed`].
    failed: Vec<FailedRequest>,
    /// `--keep-sessions`: the session's HAR, while it may still be kept.
    capture: Option<Arc<SessionCapture>>,
}

impl NetLog {
    pub fn new(
        flow: Arc<str>,
        recorder: Recorder,
        sink: Sink,
        pollers: HashSet<String>,
        main_frame: String,
    ) -> Self {
        NetLog {
            capture: recorder.capture().cloned(),
            flow,
            recorder,
            sink,
            pollers,
            streams: HashSet::new(),
            expected: HashSet::new(),
            main_frame,
            pending: HashMap::new(),
            ends: VecDeque::new(),
            orphans: HashMap::new(),
            connections: HashSet::new(),
            last: LastResponses::default(),
            leaving: false,
            main_loader: None,
            loader_order: HashMap::new(),
            last_ts: 0.0,
            failed: Vec::new(),
        }
    }

    /// Document and AJAX requests that failed since the last call.
    pub fn take_failed(&mut self) -> Vec<FailedRequest> {
        std::mem::take(&mut self.failed)
    }

    /// The main frame committed the document of `loader`: requests the previous documents
    /// sent are left behind (Chromium may never end them).
    pub fn on_frame_navigated(&mut self, frame: &str, loader: &str) {
        // The session's own leaving ends what is open as interrupted (see `leaving`).
        if frame != self.main_frame || self.leaving {
            return;
        }
        let committed = self.order_of(loader);
        if self
            .main_loader
            .as_deref()
            .is_some_and(|current| self.loader_order.get(current) > Some(&committed))
        {
            return; // an older commit read after a newer one
        }
        self.main_loader = Some(loader.to_string());
        let now = Instant::now();
        let ts = self.last_ts;
        let order = &self.loader_order;
        for p in self.pending.values_mut() {
            if p.orphaned.is_none()
                && p.start
                    .as_ref()
                    .is_some_and(|s| left_behind(s, frame, committed, order))
            {
                p.orphaned = Some((now, ts));
            }
        }
        // Documents older than the committed one matter only while their requests are open.
        let open: HashSet<&str> = self
            .pending
            .values()
            .filter_map(|p| p.start.as_ref().map(|s| s.loader.as_str()))
            .collect();
        self.loader_order
            .retain(|l, n| *n >= committed || open.contains(l.as_str()));
    }

    /// Where `loader` stands among the main frame's documents (a new one comes last).
    fn order_of(&mut self, loader: &str) -> u64 {
        let next = self.loader_order.values().max().map_or(0, |m| m + 1);
        *self.loader_order.entry(loader.to_string()).or_insert(next)
    }

    /// The flow's streams read through `fetch()`, as metric names (`request_name`).
    pub fn with_streams(mut self, streams: HashSet<String>) -> Self {
        self.streams = streams;
        self
    }

    /// Error statuses the recording saw (metric name, status): not failures when seen again.
    pub fn with_expected(mut self, expected: HashSet<(String, u16)>) -> Self {
        self.expected = expected;
        self
    }

    pub fn on_start(&mut self, ev: &EventRequestWillBeSent, step: u32) {
        let id = ev.request_id.inner().clone();
        let ts = *ev.timestamp.inner();
        self.last_ts = self.last_ts.max(ts);
        if let Some(redirect) = &ev.redirect_response {
            // The previous hop of this id ended with a redirect: count it on its own.
            if let Some(mut prev) = self.pending.remove(&id) {
                prev.status = Some(redirect.status as u16);
                if self.keeps_har() {
                    prev.har = Some(har::answer(redirect));
                }
                let end = End::Finished {
                    ts,
                    bytes: redirect.encoded_data_length,
                };
                self.finish(prev, end);
            }
        }
        let url = ev.request.url.clone();
        let method = ev.request.method.clone();
        let name = request_name(&method, &url);
        let kind = classify(ev.r#type.as_ref(), &name, &self.pollers);
        let start = Start {
            id: id.clone(),
            ts,
            read_at: Instant::now(),
            method,
            url,
            kind,
            step,
            frame: ev.frame_id.as_ref().map(|f| f.inner().clone()),
            loader: ev.loader_id.inner().clone(),
            har: self.keeps_har().then(|| har::sent(ev)),
        };
        if start.frame.as_deref() == Some(self.main_frame.as_str()) && !start.loader.is_empty() {
            self.order_of(&start.loader);
        }
        // Read after its frame moved on (listener channels are not ordered with each other).
        let committed = self
            .main_loader
            .as_deref()
            .and_then(|l| self.loader_order.get(l).copied());
        let orphaned = committed
            .filter(|c| {
                !self.leaving && left_behind(&start, &self.main_frame, *c, &self.loader_order)
            })
            .map(|_| (Instant::now(), ts));
        let entry = self.pending.entry(id.clone()).or_default();
        entry.start = Some(start);
        entry.orphaned = entry.orphaned.or(orphaned);
        if let Some((_, end)) = self.orphans.remove(&id) {
            let p = self.pending.remove(&id).unwrap_or_default();
            self.finish(p, end);
        }
    }

    pub fn on_response(&mut self, ev: &EventResponseReceived) {
        let status = ev.response.status as u16;
        let r = &ev.response;
        let cached = r.from_disk_cache.unwrap_or(false)
            || r.from_prefetch_cache.unwrap_or(false)
            || r.from_service_worker.unwrap_or(false);
        match ev.r#type {
            ResourceType::Document
                if ev.frame_id.as_ref().map(|f| f.inner()) == Some(&self.main_frame) =>
            {
                self.last.document = Some(status)
            }
            ResourceType::Xhr | ResourceType::Fetch => self.last.ajax = Some(status),
            _ => {}
        }
        if !cached {
            self.count_connection(r.connection_id as u64, r.protocol.as_deref(), &r.url);
        }
        let entry = self
            .pending
            .entry(ev.request_id.inner().clone())
            .or_default();
        entry.status = Some(status);
        entry.response_ts = Some(*ev.timestamp.inner());
        self.last_ts = self.last_ts.max(*ev.timestamp.inner());
        entry.mime = Some(ev.response.mime_type.clone());
        entry.cached |= cached;
        if self.capture.as_ref().is_some_and(|c| c.open()) {
            entry.har = Some(har::answer(r));
        }
    }

    /// Whether requests are kept for the session's HAR (it may still be kept, its cap not
    /// reached).
    fn keeps_har(&self) -> bool {
        self.capture.as_ref().is_some_and(|c| c.open())
    }

    /// Counts a connection the first time a response arrives on it, under the name HTTP mode
    /// uses (`connections.h2.HOST:PORT`, `connections.http1.HOST:PORT`).
    fn count_connection(&mut self, id: u64, protocol: Option<&str>, url: &str) {
        let Some(protocol) = protocol.and_then(protocol_name) else {
            return;
        };
        let Ok(url) = url::Url::parse(url) else {
            return;
        };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return;
        };
        if id != 0 && self.connections.insert(id) {
            self.sink
                .count(&format!("connections.{protocol}.{host}:{port}"), 1);
        }
    }

    pub fn on_cached(&mut self, ev: &EventRequestServedFromCache) {
        self.pending
            .entry(ev.request_id.inner().clone())
            .or_default()
            .cached = true;
    }

    pub fn on_finished(&mut self, ev: &EventLoadingFinished) {
        let end = End::Finished {
            ts: *ev.timestamp.inner(),
            bytes: ev.encoded_data_length,
        };
        self.on_end(ev.request_id.inner().clone(), end);
    }

    pub fn on_failed(&mut self, ev: &EventLoadingFailed) {
        let outcome = failure_outcome(
            &ev.error_text,
            ev.canceled.unwrap_or(false),
            ev.blocked_reason.as_ref(),
        )
        .or(self.leaving.then_some(Outcome::Interrupted));
        let end = End::Failed {
            ts: *ev.timestamp.inner(),
            outcome,
        };
        self.on_end(ev.request_id.inner().clone(), end);
    }

    fn on_end(&mut self, id: String, end: End) {
        if let End::Finished { ts, .. } | End::Failed { ts, .. } = end {
            self.last_ts = self.last_ts.max(ts);
        }
        self.ends.push_back((Instant::now(), id, end));
    }

    /// When the oldest waiting end (or request left behind) can be settled, if any.
    pub fn next_settle(&self) -> Option<Instant> {
        let end = self.ends.front().map(|(at, _, _)| *at + SETTLE);
        let left = self
            .pending
            .values()
            .filter_map(|p| p.orphaned.map(|(at, _)| at + LEFT_BEHIND))
            .min();
        end.into_iter().chain(left).min()
    }

    /// Settles the ends that have waited [`SETTLE`] (all of them with `all`).
    pub fn settle(&mut self, now: Instant, all: bool) {
        while let Some((at, _, _)) = self.ends.front() {
            if !all && now < *at + SETTLE {
                break;
            }
            let Some((at, id, end)) = self.ends.pop_front() else {
                break;
            };
            match self.pending.remove(&id) {
                Some(p) if p.start.is_some() => self.finish(p, end),
                other => {
                    if let Some(p) = other {
                        self.pending.insert(id.clone(), p);
                    }
                    self.orphans.insert(id, (at, end));
                }
            }
        }
        self.orphans.retain(|_, (at, _)| now < *at + ORPHAN_END);
        // Left behind by its document and never ended: as if the page had cancelled it.
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                p.start.is_some()
                    && p.orphaned
                        .is_some_and(|(at, _)| all || now >= at + LEFT_BEHIND)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            if let Some(p) = self.pending.remove(&id) {
                let ts = p.orphaned.map_or(self.last_ts, |(_, ts)| ts);
                self.finish(p, End::Failed { ts, outcome: None });
            }
        }
    }

    /// Resets the per-step check data when a new step starts.
    pub fn set_step(&mut self, step: u32) {
        if self.last.step != step {
            self.last = LastResponses {
                step,
                ..Default::default()
            };
        }
    }

    fn finish(&mut self, mut p: Pending, end: End) {
        if is_stream(&p, &self.streams) {
            if let Some(start) = p.start.as_mut() {
                start.kind = SampleKind::EventSource;
            }
        }
        let Some(start) = p.start else {
            return;
        };
        if !(start.url.starts_with("http://") || start.url.starts_with("https://")) {
            return; // data:, blob:, chrome-extension: never reach the target
        }
        // In the HAR: what reached the network (not the browser's cache, not a blocked host).
        let blocked = matches!(
            end,
            End::Failed {
                outcome: Some(Outcome::Blocked),
                ..
            }
        );
        if let Some(c) = self.capture.as_ref().filter(|_| !p.cached && !blocked) {
            har::keep(c, &start, (p.status, p.har.as_deref()), &end);
        }
        if let (SampleKind::EventSource, Some(at), Some(status)) =
            (start.kind, p.response_ts, p.status)
        {
            // A stream held open while the page was (an EventSource, or a response a script
            // read as a stream): measured to its response head, whenever and however the page
            // later closed it (as HTTP mode measures it), a completed stream.
            let key = MetricKey::new(
                Mode::Browser,
                self.flow.clone(),
                Some(start.step),
                SampleKind::EventSource,
                request_name(&start.method, &start.url),
            );
            let latency = Duration::from_secs_f64((at - start.ts).max(0.0));
            let outcome = Outcome::from_status(status);
            self.recorder.record(&key, latency, outcome);
            trace::request_done(&self.recorder, &start.id, &key, latency, outcome, p.status);
            return;
        }
        if p.cached {
            // Served by the browser's cache: the target never saw it.
            self.sink.count("requests.from_cache", 1);
            trace::request_dropped(&self.recorder, &start.id);
            return;
        }
        let (latency, bytes, outcome) = match (end, p.status) {
            (End::Finished { ts, bytes }, status) => (
                ts - start.ts,
                bytes,
                Outcome::from_status(status.unwrap_or(200)),
            ),
            (
                End::Failed {
                    ts,
                    outcome: Some(o),
                },
                _,
            ) if o.is_failure() => (ts - start.ts, 0.0, o),
            // Answered, then cut (a stream the page aborted, a body a reload cut): a completed
            // request with its status, measured to its end.
            (End::Failed { ts, .. }, Some(status)) => {
                (ts - start.ts, 0.0, Outcome::from_status(status))
            }
            (End::Abandoned(open), Some(status)) => {
                (open.as_secs_f64(), 0.0, Outcome::from_status(status))
            }
            (End::Failed { ts, outcome: None }, None) => {
                self.sink.count("requests.canceled", 1);
                let key = MetricKey::new(
                    Mode::Browser,
                    self.flow.clone(),
                    Some(start.step),
                    start.kind,
                    request_name(&start.method, &start.url),
                );
                let took = Duration::from_secs_f64((ts - start.ts).max(0.0));
                trace::request_canceled(&self.recorder, &start.id, &key, took);
                return;
            }
            (
                End::Failed {
                    ts,
                    outcome: Some(o),
                },
                None,
            ) => (ts - start.ts, 0.0, o),
            (End::Abandoned(open), None) => (open.as_secs_f64(), 0.0, Outcome::Interrupted),
        };
        if outcome == Outcome::Blocked {
            // Never sent: counted, as HTTP mode counts it, not a failure of the target.
            self.sink.count("requests.blocked", 1);
            trace::request_dropped(&self.recorder, &start.id);
            return;
        }
        let kind = match (start.kind, p.mime.as_deref()) {
            (SampleKind::Other, Some(mime)) if is_static_mime(mime) => SampleKind::Static,
            (kind, _) => kind,
        };
        let key = MetricKey::new(
            Mode::Browser,
            self.flow.clone(),
            Some(start.step),
            kind,
            request_name(&start.method, &start.url),
        );
        let outcome = match outcome {
            Outcome::Status(s) if self.expected.contains(&(key.name.to_string(), s)) => Outcome::Ok,
            o => o,
        };
        if outcome.is_failure()
            && matches!(kind, SampleKind::Document | SampleKind::Ajax)
            && self.failed.len() < MAX_FAILED
        {
            self.failed.push(FailedRequest {
                step: start.step,
                name: key.name.to_string(),
                outcome,
            });
        }
        let latency = Duration::from_secs_f64(latency.max(0.0));
        self.recorder.record(&key, latency, outcome);
        trace::request_done(&self.recorder, &start.id, &key, latency, outcome, p.status);
        if bytes > 0.0 {
            self.recorder.add_bytes(&key, bytes as u64);
        }
    }

    /// Records every request still open (started, never ended) once, as `interrupted` (or
    /// completed with its status when its response head came): the session is over (its
    /// deadline, a stalled server, an endless stream) and the browser abandons them. Call
    /// after [`NetLog::settle`] with `all`.
    pub fn cancel_open(&mut self) {
        let open: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.start.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for id in open {
            if let Some(p) = self.pending.remove(&id) {
                let waited = p
                    .start
                    .as_ref()
                    .map_or(Duration::ZERO, |s| s.read_at.elapsed());
                self.finish(p, End::Abandoned(waited));
            }
        }
    }

    /// Requests under way: started, not ended, not left behind by their document (an event
    /// stream, held open, is not one a step waits for).
    pub fn in_flight(&self) -> usize {
        self.pending
            .iter()
            .filter(|(id, p)| {
                p.orphaned.is_none()
                    && p.start
                        .as_ref()
                        .is_some_and(|s| s.kind != SampleKind::EventSource)
                    && !is_stream(p, &self.streams)
                    && !self.ends.iter().any(|(_, e, _)| e == *id)
            })
            .count()
    }

    /// Whether `ev` starts a new document in the page's main frame (the page is leaving).
    pub fn is_main_navigation(&self, ev: &EventRequestWillBeSent) -> bool {
        ev.r#type == Some(ResourceType::Document)
            && ev.request_id.inner() == ev.loader_id.inner()
            && ev.frame_id.as_ref().map(|f| f.inner()) == Some(&self.main_frame)
    }
}

/// Whether `start` belongs to a document of the main frame `frame` older than the one it
/// committed (`committed`, in `order`), so the frame has left it behind. A newer document's
/// requests (a navigation under way, its own request first) are not left behind.
fn left_behind(start: &Start, frame: &str, committed: u64, order: &HashMap<String, u64>) -> bool {
    start.frame.as_deref() == Some(frame)
        && !start.loader.is_empty()
        && order.get(&start.loader).is_some_and(|n| *n < committed)
}

#[cfg(test)]
mod tests;
