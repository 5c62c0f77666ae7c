//! Trace context (`--trace`): W3C trace and span ids, the `traceparent` header, the spans a
//! run keeps for an OTLP exporter (bounded), and exemplars, the slowest samples of a key
//! with the trace ids the target saw.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rand::RngCore as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::key::{Mode, Outcome, SampleKind};
use crate::sync::Locked;

/// Exemplars a key keeps for the whole run: its slowest traced samples.
pub const SLOWEST_KEPT: usize = 5;
/// Spans a run holds for its exporter at most; beyond, spans are dropped and counted.
pub const SPANS_HELD: usize = 200_000;

/// A W3C trace id: 16 random bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// A W3C span (parent) id: 8 random bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

macro_rules! hex_id {
    ($t:ident, $n:expr) => {
        impl $t {
            /// A new random id from the thread's CSPRNG (ids never repeat across users).
            pub fn random() -> Self {
                let mut rng = rand::rng();
                loop {
                    let mut b = [0u8; $n];
                    rng.fill_bytes(&mut b);
                    if b != [0u8; $n] {
                        return $t(b);
                    }
                }
            }

            /// Lower-case hex, as `traceparent` and OTLP/JSON spell it.
            pub fn hex(&self) -> String {
                let mut s = String::with_capacity($n * 2);
                push_hex(&mut s, &self.0);
                s
            }

            pub fn parse(text: &str) -> Option<Self> {
                let text = text.as_bytes();
                if text.len() != $n * 2 {
                    return None;
                }
                let mut b = [0u8; $n];
                for (i, pair) in text.chunks(2).enumerate() {
                    b[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
                }
                (b != [0u8; $n]).then_some($t(b))
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.hex())
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.hex())
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.hex())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $t::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "`{text}`: expected {} hex digits, not all zero",
                        $n * 2
                    ))
                })
            }
        }
    };
}

hex_id!(TraceId, 16);
hex_id!(SpanId, 8);

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// A span's place in a trace, as the target's `traceparent` carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanCtx {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// Sampled (`--trace-sample`): flag 01, spans kept and exemplars recorded. An unsampled
    /// trace still sends `traceparent` (flag 00), so a parent-based sampler at the target
    /// drops it too.
    pub sampled: bool,
}

impl SpanCtx {
    /// The root of a new trace (random ids), sampled with probability `sample`.
    pub fn root(sample: f64) -> Self {
        SpanCtx {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            sampled: sample >= 1.0 || rand::random::<f64>() < sample,
        }
    }

    /// A new span in the same trace.
    pub fn child(&self) -> Self {
        SpanCtx {
            span_id: SpanId::random(),
            ..*self
        }
    }

    /// The `traceparent` header naming this span as the parent of what the target does.
    pub fn traceparent(&self) -> String {
        let mut s = String::with_capacity(55);
        s.push_str("00-");
        push_hex(&mut s, &self.trace_id.0);
        s.push('-');
        push_hex(&mut s, &self.span_id.0);
        s.push_str(if self.sampled { "-01" } else { "-00" });
        s
    }
}

/// `--trace`: how a run traces its requests.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceConfig {
    /// Share of traces (page loads or steps) sampled, 0 < sample <= 1.
    pub sample: f64,
    /// Keep the sampled spans for an exporter (`--otlp`).
    pub keep_spans: bool,
}

/// What a span stands for: session > step > page load > request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanRole {
    Session,
    Step,
    PageLoad,
    Request,
}

impl SpanRole {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanRole::Session => "session",
            SpanRole::Step => "step",
            SpanRole::PageLoad => "page-load",
            SpanRole::Request => "request",
        }
    }
}

/// One finished span, held until the exporter takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    pub role: SpanRole,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    /// Another trace's span this one belongs to (a step's session).
    pub link: Option<(TraceId, SpanId)>,
    /// The metric name: request name, page name, step label or flow name.
    pub name: Arc<str>,
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
    pub mode: Mode,
    pub flow: Arc<str>,
    pub step: Option<u32>,
    pub kind: Option<SampleKind>,
    pub status: Option<u16>,
    /// The sample's outcome label, the session's (completed, failed, lost, abandoned), or
    /// `canceled` for a request the page left before its answer (no sample).
    pub outcome: SpanOutcome,
}

/// How a span ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanOutcome {
    Sample(Outcome),
    Session(&'static str),
    /// A request the page left before its answer: not a sample, but the target may have
    /// served it, and its span is the parent the target's own span names.
    Canceled,
}

impl SpanOutcome {
    pub fn label(&self) -> String {
        match self {
            SpanOutcome::Sample(o) => o.label(),
            SpanOutcome::Session(s) => (*s).to_string(),
            SpanOutcome::Canceled => "canceled".to_string(),
        }
    }

    pub fn is_failure(&self) -> bool {
        match self {
            SpanOutcome::Sample(o) => o.is_failure(),
            SpanOutcome::Session(s) => matches!(*s, "failed" | "lost"),
            SpanOutcome::Canceled => false,
        }
    }
}

/// A traced sample: its latency and the trace (and span) the target saw it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exemplar {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    #[serde(rename = "latency_ms", with = "us_as_ms")]
    pub latency_us: u32,
    /// When the sample ended, Unix milliseconds.
    pub unix_ms: u64,
}

mod us_as_ms {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(us: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(f64::from(*us) / 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let ms = f64::deserialize(d)?;
        Ok((ms * 1000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32)
    }
}

/// Keeps `e` among the `n` slowest of `list` (slowest first; an equal one keeps its place).
pub fn keep_slowest(list: &mut Vec<Exemplar>, e: Exemplar, n: usize) {
    if list.len() >= n && list.last().is_some_and(|l| l.latency_us >= e.latency_us) {
        return;
    }
    let at = list.partition_point(|l| l.latency_us >= e.latency_us);
    list.insert(at, e);
    list.truncate(n);
}

/// The spans a run holds for its exporter: one buffer per recording shard, bounded in all.
pub(crate) struct SpanBuffer {
    shards: Vec<Mutex<Vec<SpanRecord>>>,
    held: AtomicUsize,
    dropped: AtomicU64,
}

impl SpanBuffer {
    pub fn new(shards: usize) -> Self {
        SpanBuffer {
            shards: (0..shards).map(|_| Mutex::new(Vec::new())).collect(),
            held: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn push(&self, shard: usize, span: SpanRecord) {
        if self.held.fetch_add(1, Ordering::Relaxed) >= SPANS_HELD {
            self.held.fetch_sub(1, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.shards[shard % self.shards.len()].locked().push(span);
    }

    /// At most `max` of the spans held (each shard's oldest first).
    pub fn take(&self, max: usize) -> Vec<SpanRecord> {
        let mut out = Vec::new();
        for s in &self.shards {
            let mut held = s.locked();
            let n = held.len().min(max - out.len());
            out.extend(held.drain(..n));
            if out.len() == max {
                break;
            }
        }
        self.held.fetch_sub(out.len(), Ordering::Relaxed);
        out
    }

    /// Spans held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Spans dropped because the buffer was full (the exporter fell behind).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The run's tracing: its configuration and, when kept, its spans.
pub(crate) struct Tracing {
    pub config: TraceConfig,
    pub spans: Option<SpanBuffer>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_the_w3c_shape_and_ids_round_trip() {
        let ctx = SpanCtx {
            trace_id: TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            span_id: SpanId::parse("00f067aa0ba902b7").unwrap(),
            sampled: true,
        };
        assert_eq!(
            ctx.traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let off = SpanCtx {
            sampled: false,
            ..ctx
        };
        assert!(off.traceparent().ends_with("-00"));
        assert_eq!(TraceId::parse(&ctx.trace_id.hex()), Some(ctx.trace_id));
        assert_eq!(TraceId::parse("00000000000000000000000000000000"), None);
        assert_eq!(SpanId::parse("00F067AA0BA902B7"), None, "lower case only");
        assert_eq!(SpanId::parse("00f067aa0ba902b"), None);
        let child = ctx.child();
        assert_eq!(child.trace_id, ctx.trace_id);
        assert_ne!(child.span_id, ctx.span_id);
    }

    #[test]
    fn random_ids_differ_and_sampling_follows_the_share() {
        let ids: std::collections::HashSet<TraceId> =
            (0..1000).map(|_| TraceId::random()).collect();
        assert_eq!(ids.len(), 1000);
        assert!((0..100).all(|_| SpanCtx::root(1.0).sampled));
        let sampled = (0..4000).filter(|_| SpanCtx::root(0.1).sampled).count();
        assert!((250..550).contains(&sampled), "{sampled} of 4000 at 10%");
    }

    #[test]
    fn the_slowest_are_kept_slowest_first() {
        let e = |us: u32| Exemplar {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            latency_us: us,
            unix_ms: 1,
        };
        let mut list = Vec::new();
        for us in [5, 1, 9, 7, 3, 8, 2] {
            keep_slowest(&mut list, e(us), 3);
        }
        let kept: Vec<u32> = list.iter().map(|e| e.latency_us).collect();
        assert_eq!(kept, [9, 8, 7]);
        let json = serde_json::to_string(&list[0]).unwrap();
        assert!(json.contains("\"latency_ms\":0.009"), "{json}");
        let back: Exemplar = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list[0]);
    }

    #[test]
    fn a_full_buffer_drops_and_counts() {
        let b = SpanBuffer::new(2);
        let span = SpanRecord {
            role: SpanRole::Request,
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent: None,
            link: None,
            name: Arc::from("GET /"),
            start_unix_ns: 1,
            end_unix_ns: 2,
            mode: Mode::Http,
            flow: Arc::from("f"),
            step: Some(0),
            kind: Some(SampleKind::Document),
            status: Some(200),
            outcome: SpanOutcome::Sample(Outcome::Ok),
        };
        for i in 0..SPANS_HELD + 3 {
            b.push(i, span.clone());
        }
        assert_eq!(b.dropped(), 3);
        assert_eq!(b.take(10).len(), 10);
        assert_eq!(b.take(usize::MAX).len(), SPANS_HELD - 10);
        b.push(0, span);
        assert_eq!(b.held(), 1);
        assert_eq!(b.take(usize::MAX).len(), 1);
    }
}
