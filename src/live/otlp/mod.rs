//! OTLP over HTTP (`--otlp URL`): every interval and once more when the command ends, the
//! run's metrics (the Prometheus families, as OTLP metrics) to `URL/v1/metrics` and the
//! spans `--trace` kept (session > step > page load > request) to `URL/v1/traces`.
//!
//! A dead or slow collector never holds the run: exports run in their own task, each try is
//! bounded, a failed export is retried a few times with backoff within a budget (short for
//! the final one) and then counted, spans wait in a bounded buffer (those beyond it are
//! dropped and counted).

pub mod encode;
pub mod send;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message as _;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use url::Url;

use super::prometheus::families::{self, MergedView, Source};
use crate::metrics::{now_ns, Mode, Sink};
use crate::outbound::{redacted, Outbound, OutboundError, OutboundOptions};
use crate::sync::Locked;
use encode::{Counter, RunResource};

/// What to export, from the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpOptions {
    /// `--otlp`: the collector's base URL (`/v1/metrics` and `/v1/traces` are added).
    pub endpoint: Url,
    /// `--otlp-header NAME=VALUE` (values are secrets: never shown).
    pub headers: Vec<(String, String)>,
    /// `--otlp-interval`.
    pub interval: Duration,
    /// Spans only (a worker's: the coordinator exports the merged metrics).
    pub spans_only: bool,
}

impl OtlpOptions {
    /// Checks the URL (http or https with a host) and the headers; a signal path given in
    /// the URL (`.../v1/traces`) is taken off.
    pub fn new(
        endpoint: &str,
        headers: &[String],
        interval: Duration,
    ) -> Result<OtlpOptions, String> {
        let mut url = Url::parse(endpoint).map_err(|e| format!("--otlp `{endpoint}`: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "--otlp `{}`: expected an http:// or https:// URL, e.g. http://127.0.0.1:4318",
                redacted(&url)
            ));
        }
        let path = url.path().trim_end_matches('/');
        let base = path
            .strip_suffix("/v1/traces")
            .or_else(|| path.strip_suffix("/v1/metrics"))
            .unwrap_or(path)
            .to_string();
        url.set_path(&base);
        let headers = headers
            .iter()
            .map(|h| {
                let (name, value) = h.split_once('=').ok_or_else(|| {
                    "--otlp-header: expected NAME=VALUE, e.g. Authorization=Bearer ...".to_string()
                })?;
                let name = name.trim();
                let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                    && http::HeaderValue::from_str(value).is_ok();
                if !valid {
                    return Err(format!(
                        "--otlp-header `{name}=***`: not a valid header name and value"
                    ));
                }
                Ok((name.to_string(), value.to_string()))
            })
            .collect::<Result<_, _>>()?;
        if interval < Duration::from_millis(100) {
            return Err("--otlp-interval must be at least 100ms".into());
        }
        Ok(OtlpOptions {
            endpoint: url,
            headers,
            interval,
            spans_only: false,
        })
    }

    fn signal(&self, path: &str) -> Url {
        let mut url = self.endpoint.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}/{path}"));
        url
    }
}

/// Tries per export before it counts as failed, and the first pause between tries (doubled).
const TRIES: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// One POST's limit.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// A periodic export's time for all its tries; closing cuts it short.
const EXPORT_BUDGET: Duration = Duration::from_secs(30);
/// The final export's time for all its tries: a collector that hangs must not hold the end.
pub const FINAL_EXPORT_BUDGET: Duration = Duration::from_secs(5);
/// Spans per POST (a few hundred KB of protobuf).
const SPANS_PER_EXPORT: usize = 2048;

/// A shared handle on the command's OTLP exporter (cheap to clone).
#[derive(Clone)]
pub struct OtlpExporter {
    inner: Arc<Inner>,
}

struct Inner {
    options: OtlpOptions,
    client: Outbound,
    sources: Mutex<Vec<Source>>,
    run: Mutex<Option<RunResource>>,
    task: Mutex<Option<JoinHandle<()>>>,
    closing: Notify,
    exports: AtomicU64,
    failures: AtomicU64,
    spans_sent: AtomicU64,
    /// Spans lost with a failed export (those the sinks dropped are counted there).
    spans_lost: AtomicU64,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("endpoint", &redacted(&self.inner.options.endpoint))
            .finish()
    }
}

impl OtlpExporter {
    /// `cacert_pem`: certificates to trust besides the system's (`--cacert`).
    pub fn new(
        options: OtlpOptions,
        cacert_pem: Option<Vec<u8>>,
    ) -> Result<OtlpExporter, OutboundError> {
        let client = Outbound::new(&OutboundOptions {
            cacert_pem,
            timeout: Some(POST_TIMEOUT),
            https: options.endpoint.scheme() == "https",
        })?;
        Ok(OtlpExporter {
            inner: Arc::new(Inner {
                options,
                client,
                sources: Mutex::new(Vec::new()),
                run: Mutex::new(None),
                task: Mutex::new(None),
                closing: Notify::new(),
                exports: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                spans_sent: AtomicU64::new(0),
                spans_lost: AtomicU64::new(0),
            }),
        })
    }

    /// Exports this run (replacing an earlier run of the same mode); the first call starts
    /// the export loop. Needs a tokio runtime.
    pub fn attach(&self, sink: Sink, mode: Mode) {
        let started = sink.started_unix_ms();
        self.add(Source::Live { sink, mode }, started);
    }

    /// [`Self::attach`] for a run named by a start taken elsewhere (a worker's spans carry its
    /// coordinator's run).
    pub fn attach_to_run(&self, sink: Sink, mode: Mode, run_started_unix_ms: u64) {
        self.add(Source::Live { sink, mode }, run_started_unix_ms);
    }

    /// Exports a run whose samples are merged elsewhere (a distributed run's coordinator
    /// keeps `view` up to date).
    pub fn attach_view(&self, view: MergedView, mode: Mode, started_unix_ms: u64) {
        self.add(Source::Merged { view, mode }, started_unix_ms);
    }

    fn add(&self, source: Source, started_unix_ms: u64) {
        let first = {
            let mut sources = self.inner.sources.locked();
            let first = sources.is_empty();
            sources.retain(|s| s.mode() != source.mode());
            sources.push(source);
            first
        };
        if first {
            *self.inner.run.locked() = Some(RunResource {
                run: super::prometheus::run_label(started_unix_ms),
                started_unix_ns: started_unix_ms * 1_000_000,
            });
            let me = self.clone();
            *self.inner.task.locked() = Some(tokio::spawn(me.export_loop()));
        }
    }

    /// Exports made and failed, spans sent, and spans lost (failed exports and full buffers).
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        let dropped: u64 = self.sinks().iter().map(Sink::spans_dropped).sum();
        (
            self.inner.exports.load(Ordering::Relaxed),
            self.inner.failures.load(Ordering::Relaxed),
            self.inner.spans_sent.load(Ordering::Relaxed),
            self.inner.spans_lost.load(Ordering::Relaxed) + dropped,
        )
    }

    fn sinks(&self) -> Vec<Sink> {
        self.inner
            .sources
            .locked()
            .iter()
            .filter_map(|s| match s {
                Source::Live { sink, .. } => Some(sink.clone()),
                Source::Merged { .. } => None,
            })
            .collect()
    }

    /// Exports every interval until closed, then once more (the final values).
    async fn export_loop(self) {
        let mut tick = tokio::time::interval(self.inner.options.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate: nothing to say yet
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    tokio::select! {
                        _ = self.export(EXPORT_BUDGET) => continue,
                        _ = self.inner.closing.notified() => {}
                    }
                }
                _ = self.inner.closing.notified() => {}
            }
            self.export(FINAL_EXPORT_BUDGET).await;
            return;
        }
    }

    /// One export within `budget`: the spans held (in batches), then the metrics (so the
    /// exporter's own counters say what became of the spans).
    async fn export(&self, budget: Duration) {
        let deadline = tokio::time::Instant::now() + budget;
        let Some(run) = self.inner.run.locked().clone() else {
            return;
        };
        // Batch by batch, so an export the run's end cuts short loses one batch at most (the
        // rest waits for the final export); a batch is counted lost until it is sent, and after
        // a failed one the rest waits for the next export.
        'sinks: for sink in self.sinks() {
            let mut batches = sink.spans_held().div_ceil(SPANS_PER_EXPORT);
            while batches > 0 {
                batches -= 1;
                let batch = sink.take_spans(SPANS_PER_EXPORT);
                if batch.is_empty() {
                    break;
                }
                let n = batch.len() as u64;
                self.inner.spans_lost.fetch_add(n, Ordering::Relaxed);
                let body = encode::trace_request(&run, &batch).encode_to_vec();
                if !self.post("v1/traces", body, deadline).await {
                    break 'sinks;
                }
                self.inner.spans_lost.fetch_sub(n, Ordering::Relaxed);
                self.inner.spans_sent.fetch_add(n, Ordering::Relaxed);
            }
        }
        if self.inner.options.spans_only {
            return;
        }
        let sources = self.inner.sources.locked().clone();
        let families = families::gather(&sources, None);
        let (_, failures, _, lost) = self.counts();
        let extra = [
            Counter {
                name: "throng_otlp_failures_total",
                help: "OTLP exports that failed after their retries.",
                value: failures,
            },
            Counter {
                name: "throng_otlp_spans_dropped_total",
                help: "Spans not exported: their export failed or the buffer was full.",
                value: lost,
            },
        ];
        let body = encode::metrics_request(&run, &families, &extra, now_ns()).encode_to_vec();
        self.post("v1/metrics", body, deadline).await;
    }

    /// One POST with retries and backoff until `deadline`; true when it was accepted. A
    /// failure is counted (and said once), never fatal.
    async fn post(&self, signal: &str, body: Vec<u8>, deadline: tokio::time::Instant) -> bool {
        let url = self.inner.options.signal(signal);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        let failed = loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break Some(send::SendError::OutOfTime);
            }
            let result = send::post(
                &self.inner.client,
                &url,
                &self.inner.options.headers,
                body.clone(),
                POST_TIMEOUT.min(left),
            )
            .await;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match result {
                Ok(()) => break None,
                Err(e) if attempt < TRIES && e.retryable() && left > backoff => {
                    tracing::debug!("OTLP export try {attempt} failed: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(e) => break Some(e),
            }
        };
        self.inner.exports.fetch_add(1, Ordering::Relaxed);
        let Some(e) = failed else {
            return true;
        };
        if self.inner.failures.fetch_add(1, Ordering::Relaxed) == 0 {
            eprintln!(
                "throng: OTLP export to {} failed: {e} (counted; the run goes on)",
                redacted(&url)
            );
        }
        false
    }

    /// After the last run: the final export (bounded), then the loop ends. Says how it went.
    pub async fn close(&self) {
        let task = self.inner.task.locked().take();
        if let Some(t) = task {
            self.inner.closing.notify_one();
            let _ = t.await;
            // What the final export could not send in its budget is dropped too.
            let left: usize = self.sinks().iter().map(Sink::spans_held).sum();
            self.inner
                .spans_lost
                .fetch_add(left as u64, Ordering::Relaxed);
            let (exports, failed, sent, lost) = self.counts();
            eprintln!(
                "otlp: {exports} exports, {failed} failed; {sent} spans sent, {lost} dropped"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_a_base_url_and_headers_are_checked() {
        let o = OtlpOptions::new(
            "http://127.0.0.1:4318/v1/traces",
            &[],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(
            o.signal("v1/metrics").as_str(),
            "http://127.0.0.1:4318/v1/metrics"
        );
        let o = OtlpOptions::new(
            "https://otel.example/prefix/",
            &["Authorization=Bearer t0ken".into()],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(
            o.signal("v1/traces").as_str(),
            "https://otel.example/prefix/v1/traces"
        );
        assert_eq!(o.headers, [("Authorization".into(), "Bearer t0ken".into())]);
        for bad in ["ftp://h/", "not a url"] {
            assert!(
                OtlpOptions::new(bad, &[], Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
        let err = OtlpOptions::new("http://h/", &["X-Key=a\nb".into()], Duration::from_secs(1))
            .unwrap_err();
        assert!(!err.contains("a\nb"), "the value is a secret: {err}");
        assert!(OtlpOptions::new("http://h/", &["nokey".into()], Duration::from_secs(1)).is_err());
    }
}
