//! The shared sink: recorders write into shards, an aggregator task drains them once a second.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use super::aggregator::State;
use super::buckets::Buckets;
use super::failures::{FailureLog, FailureRecord};
use super::generator::{GeneratorHealth, GeneratorSample};
use super::key::{MetricKey, Mode, Outcome, SampleKind};
use super::names::NameBudget;
use super::serialize::duration_us;
use super::sessions::{KeepSessions, Keeper, SessionCapture};
use super::shard::{Cell, Shard};
use super::summary::RunSummary;
use super::trace::{Exemplar, SpanBuffer, SpanRecord, TraceConfig, Tracing};
use super::tracer::SessionTrace;
use crate::outbound::strip_userinfo;
use crate::sync::Locked;

/// Number of recording shards: enough that two cores rarely meet on one lock.
pub const SHARDS: usize = 16;

/// Active virtual users, plus the peak seen.
#[derive(Debug, Default)]
pub struct UserGauge {
    now: AtomicU64,
    peak: AtomicU64,
}

fn mode_slot(mode: Mode) -> usize {
    match mode {
        Mode::Http => 0,
        Mode::Browser => 1,
    }
}

impl UserGauge {
    pub fn inc(&self) {
        let n = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(n, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        // Saturating: an unmatched dec must not wrap to 2^64 users.
        let _ = self
            .now
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn get(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

/// A snapshot for the live progress line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveStats {
    pub elapsed: Duration,
    pub users: u64,
    /// Requests per second over the last aggregated interval (about 1 s).
    pub rps: f64,
    /// p95 of all requests in the last interval, ms.
    pub p95_ms: Option<f64>,
    pub errors: u64,
    pub requests: u64,
    /// The generator's CPU over the last sampled second, when sampled.
    pub generator: Option<GeneratorSample>,
}

/// The sampler's per-second readings of the generator's CPU.
#[derive(Default)]
struct GeneratorLog {
    cores: u32,
    samples: Vec<GeneratorSample>,
    /// Length of each sample's interval, seconds.
    intervals: Vec<f64>,
}

impl GeneratorLog {
    fn health(&self) -> Option<GeneratorHealth> {
        (!self.samples.is_empty())
            .then(|| GeneratorHealth::from_samples(self.cores, &self.samples, &self.intervals))
    }
}

/// Sessions ended, by (mode, flow, outcome label).
pub type SessionCounts = BTreeMap<(Mode, Arc<str>, &'static str), u64>;

struct Inner {
    shards: Vec<Shard>,
    state: Mutex<State>,
    users: UserGauge,
    /// The same users by mode (HTTP, browser): a hybrid run's live figures per mode.
    mode_users: [UserGauge; 2],
    counters: Mutex<BTreeMap<String, u64>>,
    /// Names admitted per group (taken only inside a shard lock, for keys new to it).
    names: Mutex<NameBudget>,
    sessions: Mutex<SessionCounts>,
    generator: Mutex<GeneratorLog>,
    failures: Mutex<FailureLog>,
    started: Instant,
    started_unix_ms: u64,
    finished: AtomicBool,
    summary: Mutex<Option<RunSummary>>,
    stop: Notify,
    /// `--trace`, set before the run starts.
    tracing: OnceLock<Tracing>,
    /// `--keep-sessions`, set before the run starts.
    keeper: OnceLock<Arc<Keeper>>,
}

/// The shared metrics sink. Cheap to clone.
#[derive(Clone)]
pub struct Sink {
    inner: Arc<Inner>,
}

/// Records samples for one virtual user (or worker) into its shard. Clone + Send + Sync.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
    shard: usize,
    /// Set for an arrival that started late: see [`Recorder::starting_late`].
    late_start: Option<Arc<LateStart>>,
    /// Set for one session of a traced run: see [`Recorder::traced_session`].
    trace: Option<Arc<SessionTrace>>,
    /// Set for one session that may be kept whole: see [`Recorder::capturing`].
    capture: Option<Arc<SessionCapture>>,
    /// Keeps no samples (counters still count): see [`Recorder::muted`].
    muted: bool,
}

/// A late arrival's lateness, applied until its first step that sent requests has ended.
#[derive(Debug, Default)]
struct LateStart {
    /// Microseconds; 0 once the user runs on its own clock.
    us: AtomicU64,
    sent: AtomicBool,
}

impl LateStart {
    /// The lateness a sample of `kind` is corrected by; the step sample that follows the
    /// first requests is the last one corrected.
    fn lateness(&self, kind: SampleKind) -> Option<Duration> {
        let us = self.us.load(Ordering::Relaxed);
        if us == 0 {
            return None;
        }
        if kind != SampleKind::Step {
            self.sent.store(true, Ordering::Relaxed);
        } else if self.sent.load(Ordering::Relaxed) {
            self.us.store(0, Ordering::Relaxed);
        }
        Some(Duration::from_micros(us))
    }
}

impl Default for Sink {
    fn default() -> Self {
        Self::new()
    }
}

impl Sink {
    /// A new sink; the run clock starts now.
    pub fn new() -> Sink {
        let started = Instant::now();
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
            .unwrap_or(0);
        Sink {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Shard::default()).collect(),
                state: Mutex::new(State::new(started)),
                users: UserGauge::default(),
                mode_users: Default::default(),
                counters: Mutex::new(BTreeMap::new()),
                names: Mutex::new(NameBudget::default()),
                sessions: Mutex::new(BTreeMap::new()),
                generator: Mutex::new(GeneratorLog::default()),
                failures: Mutex::new(FailureLog::default()),
                started,
                started_unix_ms,
                finished: AtomicBool::new(false),
                summary: Mutex::new(None),
                stop: Notify::new(),
                tracing: OnceLock::new(),
                keeper: OnceLock::new(),
            }),
        }
    }

    /// A recorder on the shard picked by `user_id`.
    pub fn recorder(&self, user_id: u64) -> Recorder {
        Recorder {
            inner: self.inner.clone(),
            shard: (user_id % SHARDS as u64) as usize,
            late_start: None,
            trace: None,
            capture: None,
            muted: false,
        }
    }

    /// Keeps sessions whole (`--keep-sessions`); call before the run starts.
    pub fn keep_sessions(&self, cfg: KeepSessions) {
        let _ = self.inner.keeper.set(Keeper::new(cfg));
    }

    /// A buffer for a session starting now, when the run may still keep it.
    pub fn session_capture(
        &self,
        mode: Mode,
        flow: &str,
        user: u64,
        iteration: u64,
    ) -> Option<Arc<SessionCapture>> {
        self.inner
            .keeper
            .get()?
            .capture(mode, flow, user, iteration)
    }

    /// Traces this run's requests (`--trace`); call before the run starts (later calls are
    /// ignored).
    pub fn enable_tracing(&self, config: TraceConfig) {
        let spans = config.keep_spans.then(|| SpanBuffer::new(SHARDS));
        let _ = self.inner.tracing.set(Tracing { config, spans });
    }

    /// The run's tracing, if it traces.
    pub fn tracing(&self) -> Option<&TraceConfig> {
        self.inner.tracing.get().map(|t| &t.config)
    }

    /// At most `max` of the spans finished and not taken yet (for the OTLP exporter).
    pub fn take_spans(&self, max: usize) -> Vec<SpanRecord> {
        self.spans().map_or_else(Vec::new, |s| s.take(max))
    }

    /// Spans finished and not taken yet.
    pub fn spans_held(&self) -> usize {
        self.spans().map_or(0, SpanBuffer::held)
    }

    /// Spans dropped because the exporter fell behind (the buffer was full).
    pub fn spans_dropped(&self) -> u64 {
        self.spans().map_or(0, SpanBuffer::dropped)
    }

    fn spans(&self) -> Option<&SpanBuffer> {
        self.inner.tracing.get()?.spans.as_ref()
    }

    /// Drain the shards every `every` into totals and the per-second series, until
    /// [`Sink::finish`] is called. Needs a tokio runtime.
    pub fn spawn_aggregator(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let sink = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await; // the first tick is immediate
            loop {
                if sink.inner.finished.load(Ordering::Acquire) {
                    break;
                }
                tokio::select! {
                    _ = ticker.tick() => sink.drain(true),
                    _ = sink.inner.stop.notified() => break,
                }
            }
        })
    }

    pub fn users(&self) -> &UserGauge {
        &self.inner.users
    }

    /// A user of `mode` started: counted in the run's users and its mode's.
    pub fn user_started(&self, mode: Mode) {
        self.inner.users.inc();
        self.inner.mode_users[mode_slot(mode)].inc();
    }

    /// A user of `mode` ended.
    pub fn user_ended(&self, mode: Mode) {
        self.inner.users.dec();
        self.inner.mode_users[mode_slot(mode)].dec();
    }

    /// Active users of each mode that has had any in this run.
    pub fn users_by_mode(&self) -> Vec<(Mode, u64)> {
        [Mode::Http, Mode::Browser]
            .into_iter()
            .map(|m| (m, &self.inner.mode_users[mode_slot(m)]))
            .filter(|(_, g)| g.peak() > 0)
            .map(|(m, g)| (m, g.get()))
            .collect()
    }

    /// Add `n` to a named run-level counter ("sessions.failed", "cdp.parse_errors", ...).
    pub fn count(&self, counter: &str, n: u64) {
        count_into(&self.inner, counter, n);
    }

    pub fn live(&self) -> LiveStats {
        let st = self.inner.state.locked();
        LiveStats {
            elapsed: self.inner.started.elapsed(),
            users: self.inner.users.get(),
            rps: st.last_rps,
            p95_ms: st.last_p95_ms,
            errors: st.failures_total,
            requests: st.requests_total,
            generator: self.inner.generator.locked().samples.last().copied(),
        }
    }

    /// A session of `flow` ended with `outcome` ("completed", "failed", "lost", "abandoned").
    pub fn count_session(&self, mode: Mode, flow: &Arc<str>, outcome: &'static str) {
        *self
            .inner
            .sessions
            .locked()
            .entry((mode, flow.clone(), outcome))
            .or_default() += 1;
    }

    /// Sessions ended so far, by mode, flow and outcome.
    pub fn sessions(&self) -> SessionCounts {
        self.inner.sessions.locked().clone()
    }

    /// Run-level counters so far.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.inner.counters.locked().clone()
    }

    /// A generator CPU sample over the last `interval_s` seconds, on a machine of `cores`.
    pub fn record_generator(&self, cores: u32, sample: GeneratorSample, interval_s: f64) {
        let mut log = self.inner.generator.locked();
        log.cores = cores;
        log.samples.push(sample);
        log.intervals.push(interval_s);
    }

    /// The generator's health so far (None before the first sample).
    pub fn generator(&self) -> Option<GeneratorHealth> {
        self.inner.generator.locked().health()
    }

    /// True once [`Sink::finish`] ran: the totals are final.
    pub fn is_finished(&self) -> bool {
        self.inner.finished.load(Ordering::Acquire)
    }

    /// Visits every key's run totals: its failure outcomes (count - failures are ok) and raw
    /// latencies in fixed buckets, under the aggregator's lock (keep `f` short). Before the
    /// run ends the shards are folded in first; after it, the totals are exactly the summary's.
    pub fn visit_totals(&self, mut f: impl FnMut(&MetricKey, u64, &[(Outcome, u64)], &Buckets)) {
        if !self.is_finished() {
            self.drain(false);
        }
        let st = self.inner.state.locked();
        st.visit(|key, count, outcomes, hist| f(key, count, outcomes, hist));
    }

    /// Final drain and summary; later calls return the same summary.
    pub fn finish(&self) -> RunSummary {
        let mut done = self.inner.summary.locked();
        if let Some(s) = done.as_ref() {
            return s.clone();
        }
        self.inner.finished.store(true, Ordering::Release);
        self.inner.stop.notify_one();
        self.drain(true);
        // Whole milliseconds: the unit results.json stores.
        let duration = Duration::from_millis(millis(self.inner.started.elapsed()));
        let counters = self.inner.counters.locked().clone();
        let mut summary = self.inner.state.locked().summary(
            self.inner.started_unix_ms,
            duration,
            self.inner.users.peak(),
            counters,
        );
        summary.generator = self.generator();
        summary.failures = self.inner.failures.locked().kept.clone();
        if let Some(k) = self.inner.keeper.get() {
            summary.sessions = k.kept.locked().clone();
        }
        *done = Some(summary.clone());
        summary
    }

    /// A slot to keep one more failure of this step (its number within the step, from 1),
    /// or None when the step or the run keeps no more (see [`FAILURES_PER_STEP`]).
    ///
    /// [`FAILURES_PER_STEP`]: super::FAILURES_PER_STEP
    pub fn reserve_failure(&self, mode: Mode, flow: &str, step: Option<u32>) -> Option<usize> {
        self.inner.failures.locked().reserve(mode, flow, step)
    }

    /// Keeps a failed step's record (after [`Sink::reserve_failure`] gave it a slot); a URL's
    /// credentials are left out.
    pub fn keep_failure(&self, mut record: FailureRecord) {
        record.message = strip_userinfo(&record.message).into_owned();
        record.url = record.url.map(|u| strip_userinfo(&u).into_owned());
        self.inner.failures.locked().kept.push(record);
    }

    /// Fold what the shards hold into the totals now (without closing a series interval).
    pub fn flush(&self) {
        self.drain(false);
    }

    /// The summary so far, without finishing the run (for a live dashboard).
    pub fn snapshot(&self) -> RunSummary {
        if let Some(s) = self.inner.summary.locked().as_ref() {
            return s.clone();
        }
        self.drain(false);
        let duration = Duration::from_millis(millis(self.inner.started.elapsed()));
        let counters = self.inner.counters.locked().clone();
        let mut summary = self.inner.state.locked().summary(
            self.inner.started_unix_ms,
            duration,
            self.inner.users.peak(),
            counters,
        );
        summary.generator = self.generator();
        summary
    }

    /// Wall-clock start of the run (when the sink was created), Unix milliseconds.
    pub fn started_unix_ms(&self) -> u64 {
        self.inner.started_unix_ms
    }

    /// Time since the sink was created.
    pub fn elapsed(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Fold every shard into the totals; with `tick`, close the current series interval.
    pub(crate) fn drain(&self, tick: bool) {
        let mut st = self.inner.state.locked();
        for shard in &self.inner.shards {
            let mut cells = shard.cells.locked();
            for (key, cell) in cells.iter_mut() {
                st.fold(key, cell);
            }
        }
        if tick {
            st.tick(Instant::now(), self.inner.users.get());
        }
    }

    /// Distinct keys seen by the aggregator (memory checks).
    pub fn key_count(&self) -> usize {
        self.drain(false);
        self.inner.state.locked().key_count()
    }

    /// Cells and buffered sample capacity across shards (memory checks).
    pub fn buffer_footprint(&self) -> (usize, usize) {
        let mut cells_n = 0;
        let mut cap = 0;
        for shard in &self.inner.shards {
            let cells = shard.cells.locked();
            cells_n += cells.len();
            cap += cells.values().map(Cell::capacity).sum::<usize>();
        }
        (cells_n, cap)
    }
}

/// Adds `n` to a named run-level counter.
fn count_into(inner: &Inner, counter: &str, n: u64) {
    // Counter names may quote a URL ("session failure: step 1 navigate http://..."): never
    // its credentials.
    let counter = strip_userinfo(counter);
    let counter = counter.as_ref();
    let mut c = inner.counters.locked();
    match c.get_mut(counter) {
        Some(v) => *v += n,
        None => {
            c.insert(counter.to_string(), n);
        }
    }
}

impl Recorder {
    /// Add `n` to a named run-level counter, as [`Sink::count`] does.
    pub fn count(&self, counter: &str, n: u64) {
        count_into(&self.inner, counter, n);
    }

    /// Coordinated omission for an arrival (open model) that started `late`: the samples of
    /// its first step that sends requests (those requests, the page load, the step, and any
    /// step before it) are recorded raw and from the intended start (raw + `late`), as
    /// [`Recorder::record_late`] does. Later steps run on the user's own clock.
    pub fn starting_late(&self, late: Duration) -> Recorder {
        let us = duration_us(late);
        Recorder {
            inner: self.inner.clone(),
            shard: self.shard,
            trace: self.trace.clone(),
            capture: self.capture.clone(),
            muted: self.muted,
            late_start: (us > 0).then(|| {
                Arc::new(LateStart {
                    us: AtomicU64::new(u64::from(us)),
                    sent: AtomicBool::new(false),
                })
            }),
        }
    }

    /// This recorder keeping no samples: a session whose requests are not part of the
    /// measured load's figures (a `--login` session: its whole time is one `login` sample).
    pub fn muted(&self) -> Recorder {
        Recorder {
            muted: true,
            trace: None,
            ..self.clone()
        }
    }

    fn start_lateness(&self, key: &MetricKey) -> Option<Duration> {
        self.late_start.as_ref()?.lateness(key.kind)
    }

    /// A recorder for one session of `flow` (at `origin`): in a traced run it carries the
    /// session's [`SessionTrace`]; otherwise it is this recorder. End it with
    /// [`Recorder::end_session`].
    pub fn traced_session(
        &self,
        mode: Mode,
        flow: &Arc<str>,
        origin: &url::Url,
        tracestate: Option<&str>,
    ) -> Recorder {
        let Some(tracing) = self.inner.tracing.get() else {
            return self.clone();
        };
        let plain = Recorder {
            trace: None,
            ..self.clone()
        };
        let trace = SessionTrace::new(plain, &tracing.config, mode, flow, origin, tracestate);
        Recorder {
            trace: Some(Arc::new(trace)),
            ..self.clone()
        }
    }

    /// This recorder for a session buffered by `capture` (see [`Sink::session_capture`]).
    pub fn capturing(self, capture: Option<Arc<SessionCapture>>) -> Recorder {
        Recorder { capture, ..self }
    }

    /// The session's buffer, while it may still be kept.
    pub fn capture(&self) -> Option<&Arc<SessionCapture>> {
        self.capture.as_ref()
    }

    /// The session's trace context (a traced run's session recorder only).
    pub fn trace(&self) -> Option<&Arc<SessionTrace>> {
        self.trace.as_ref()
    }

    /// The session ended (`outcome`: completed, failed, lost, abandoned): its span.
    pub fn end_session(&self, outcome: &'static str) {
        if let Some(t) = &self.trace {
            t.finish(outcome);
        }
    }

    /// Keeps a traced sample of `key` if it is among its slowest.
    pub(crate) fn exemplar(&self, key: &MetricKey, e: Exemplar) {
        self.with_cell(key, |c| c.keep_exemplar(e));
    }

    /// Holds a finished span for the exporter (dropped when the run keeps none).
    pub(crate) fn push_span(&self, span: SpanRecord) {
        if let Some(spans) = self.inner.tracing.get().and_then(|t| t.spans.as_ref()) {
            spans.push(self.shard, span);
        }
    }

    pub fn record(&self, key: &MetricKey, latency: Duration, outcome: Outcome) {
        if let Some(t) = &self.trace {
            if matches!(key.kind, SampleKind::Step | SampleKind::PageLoad) {
                t.on_sample(key, latency, outcome);
            }
        }
        if let Some(late) = self.start_lateness(key) {
            return self.record_late(key, latency, latency + late, outcome);
        }
        let us = duration_us(latency);
        self.with_cell(key, |c| c.push(us, outcome));
    }

    /// Coordinated omission: a timer/arrival that fired late. `raw` is measured from the real
    /// start, `corrected` from the intended start. Both are kept.
    pub fn record_late(
        &self,
        key: &MetricKey,
        raw: Duration,
        corrected: Duration,
        outcome: Outcome,
    ) {
        let (r, c) = (duration_us(raw), duration_us(corrected));
        self.with_cell(key, |cell| cell.push_late(r, c, outcome));
    }

    /// A response's sample and its body bytes, in one visit to the key's cell.
    pub fn record_response(
        &self,
        key: &MetricKey,
        latency: Duration,
        outcome: Outcome,
        bytes: u64,
    ) {
        if let Some(late) = self.start_lateness(key) {
            self.record_late(key, latency, latency + late, outcome);
            return self.add_bytes(key, bytes);
        }
        let us = duration_us(latency);
        self.with_cell(key, |c| {
            c.push(us, outcome);
            c.bytes += bytes;
        });
    }

    pub fn add_bytes(&self, key: &MetricKey, bytes: u64) {
        self.with_cell(key, |c| c.bytes += bytes);
    }

    fn with_cell(&self, key: &MetricKey, f: impl FnOnce(&mut Cell)) {
        if self.muted {
            return;
        }
        let admit = |key: &MetricKey| {
            // A name made from a URL never keeps its credentials (`http://user:pw@host/`).
            let clean = without_credentials(key);
            let named = clean.as_ref().unwrap_or(key);
            let Some((other, first)) = self.inner.names.locked().admit(named) else {
                return clean;
            };
            if first {
                count_into(&self.inner, "metrics.names_folded_into_other", 1);
            }
            Some(other)
        };
        if let Some((key, mut full)) = self.inner.shards[self.shard].with_cell(key, admit, f) {
            // Shard lock released: take the state lock (aggregator order is state -> shard).
            self.inner.state.locked().fold(&key, &mut full);
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `key` with the credentials of any URL in its name removed, if it had any.
fn without_credentials(key: &MetricKey) -> Option<MetricKey> {
    match strip_userinfo(&key.name) {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(name) => Some(MetricKey {
            name: Arc::from(name),
            ..key.clone()
        }),
    }
}
