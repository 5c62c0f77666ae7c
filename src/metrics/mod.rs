//! Metrics: samples -> sharded buffers -> one aggregator -> per-key HDR totals, a per-second
//! series, and a serializable, mergeable [`RunSummary`]. Both replay modes record here, and
//! so does `--trace`: trace context, spans and the slowest samples' trace ids ([`SessionTrace`]).

mod aggregator;
mod buckets;
mod civil;
mod failures;
mod generator;
mod key;
mod names;
mod serialize;
pub mod sessions;
mod shard;
mod sink;
mod summary;
mod trace;
mod tracer;

#[cfg(test)]
mod tests;

pub use buckets::{Buckets, BUCKET_BOUNDS_US};
pub use civil::{civil, Civil};
pub use failures::{
    body_head, redact_values, FailureRecord, BODY_HEAD, CONSOLE_PER_FAILURE, FAILURES_PER_STEP,
    FAILURES_TOTAL,
};
pub use generator::{seconds_text, GeneratorHealth, GeneratorSample};
pub use key::{request_name, MetricKey, Mode, Outcome, SampleKind, Unit};
pub use names::{group_ids, NAMES_PER_GROUP, OTHER_NAME};
pub use serialize::{
    check_histogram, decode_histogram, encode_histogram, new_histogram, HIST_HIGH_US, HIST_LOW_US,
    HIST_SIGFIG,
};
pub use shard::SAMPLE_CAP;
pub use sink::{LiveStats, Recorder, SessionCounts, Sink, UserGauge, SHARDS};
pub use summary::{
    EntryParts, EntrySummary, FailureRates, LatencyStats, RunSummary, SecondStats, Totals,
};
pub use trace::{
    keep_slowest, Exemplar, SpanCtx, SpanId, SpanOutcome, SpanRecord, SpanRole, TraceConfig,
    TraceId, SLOWEST_KEPT,
};
pub use tracer::{now_ns, RequestSpan, SessionTrace};

/// Errors reading saved metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("bad results JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("bad histogram: {0}")]
    Histogram(String),
}
