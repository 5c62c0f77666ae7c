//! The serializable result of a run (RunSummary), its per-key entries, totals and merging.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::generator::GeneratorHealth;
use super::key::{MetricKey, Mode, SampleKind, Unit};
use super::serialize::{decode_histogram, duration_ms, encode_histogram, new_histogram, us_to_ms};
use super::trace::{keep_slowest, Exemplar, SLOWEST_KEPT};
use super::MetricsError;

/// Latency percentiles of one histogram, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct LatencyStats {
    pub p50_ms: f64,
    /// Web vitals are judged here (absent from results written before it existed).
    #[serde(default)]
    pub p75_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl LatencyStats {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencyStats::default();
        }
        let q = |q: f64| us_to_ms(h.value_at_quantile(q));
        // Rounded to 1 us so the JSON text round-trips exactly.
        LatencyStats {
            p50_ms: q(0.50),
            p75_ms: q(0.75),
            p90_ms: q(0.90),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            max_ms: us_to_ms(h.max()),
            mean_ms: round3(h.mean() / 1000.0),
        }
    }
}

/// Everything measured for one MetricKey over the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntrySummary {
    pub mode: Mode,
    pub flow: String,
    pub step: Option<u32>,
    pub kind: SampleKind,
    pub name: String,
    pub count: u64,
    pub failures: u64,
    /// Failure label ("status 503", "timeout", ...) -> count.
    pub failures_by_outcome: BTreeMap<String, u64>,
    /// Requests still open when throng cut them (the run's end, a session leaving its page):
    /// part of `count`, neither failures nor in the latencies.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interrupted: u64,
    pub bytes: u64,
    pub rps: f64,
    /// Raw latencies (measured from the real start).
    pub latency: LatencyStats,
    /// Coordinated-omission corrected latencies, present when any sample fired late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected: Option<LatencyStats>,
    /// HdrHistogram V2, base64, microseconds.
    pub histogram: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_histogram: Option<String>,
    /// `--trace`: the slowest traced samples with the trace ids the target saw, slowest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slowest: Vec<Exemplar>,
    /// A kind that is not a time (CLS, long tasks, JS heap): its percentiles in its own unit,
    /// so a reader need not undo the `*_ms` fields' scale (a CLS of 0.1 is `p75_ms` 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<UnitStats>,
}

/// Percentiles of a kind measured in a unit other than time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitStats {
    /// `score`, `count` or `MB`.
    pub unit: String,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl UnitStats {
    fn of(kind: SampleKind, l: &LatencyStats) -> Option<UnitStats> {
        let unit = kind.unit();
        let name = match unit {
            Unit::Ms => return None,
            Unit::Score => "score",
            Unit::Count => "count",
            Unit::Megabytes => "MB",
        };
        let v = |ms: f64| unit.from_ms(ms);
        Some(UnitStats {
            unit: name.into(),
            p50: v(l.p50_ms),
            p75: v(l.p75_ms),
            p90: v(l.p90_ms),
            p95: v(l.p95_ms),
            p99: v(l.p99_ms),
            max: v(l.max_ms),
            mean: v(l.mean_ms),
        })
    }
}

/// Counts and histograms behind one entry, before they are summarized.
#[derive(Clone, Debug)]
pub struct EntryParts {
    pub count: u64,
    pub failures: u64,
    pub interrupted: u64,
    pub failures_by_outcome: BTreeMap<String, u64>,
    pub bytes: u64,
    pub raw: Histogram<u64>,
    pub corrected: Option<Histogram<u64>>,
    pub slowest: Vec<Exemplar>,
}

impl EntrySummary {
    /// Summarize one key's parts; `duration` gives the rate.
    pub fn from_parts(key: &MetricKey, parts: &EntryParts, duration: Duration) -> Self {
        let secs = duration.as_secs_f64();
        let latency = LatencyStats::of(&parts.raw);
        EntrySummary {
            mode: key.mode,
            flow: key.flow.to_string(),
            step: key.step,
            kind: key.kind,
            name: key.name.to_string(),
            count: parts.count,
            failures: parts.failures,
            failures_by_outcome: parts.failures_by_outcome.clone(),
            interrupted: parts.interrupted,
            bytes: parts.bytes,
            rps: if secs > 0.0 {
                round3(parts.count as f64 / secs)
            } else {
                0.0
            },
            values: UnitStats::of(key.kind, &latency),
            latency,
            corrected: parts.corrected.as_ref().map(LatencyStats::of),
            histogram: encode_histogram(&parts.raw),
            corrected_histogram: parts.corrected.as_ref().map(encode_histogram),
            slowest: parts.slowest.clone(),
        }
    }

    pub fn key(&self) -> MetricKey {
        MetricKey::new(
            self.mode,
            self.flow.as_str(),
            self.step,
            self.kind,
            self.name.as_str(),
        )
    }

    pub fn error_rate(&self) -> f64 {
        ratio(self.failures, self.count)
    }

    /// The raw histogram, decoded.
    pub fn histogram(&self) -> Result<Histogram<u64>, MetricsError> {
        decode_histogram(&self.histogram)
    }

    /// The corrected histogram if any sample fired late, else the raw one.
    pub fn corrected_histogram(&self) -> Result<Histogram<u64>, MetricsError> {
        match &self.corrected_histogram {
            Some(text) => decode_histogram(text),
            None => self.histogram(),
        }
    }

    /// Decode back into parts (for merging).
    pub fn parts(&self) -> Result<EntryParts, MetricsError> {
        Ok(EntryParts {
            count: self.count,
            failures: self.failures,
            interrupted: self.interrupted,
            failures_by_outcome: self.failures_by_outcome.clone(),
            bytes: self.bytes,
            raw: self.histogram()?,
            corrected: match &self.corrected_histogram {
                Some(t) => Some(decode_histogram(t)?),
                None => None,
            },
            slowest: self.slowest.clone(),
        })
    }
}

impl EntryParts {
    pub fn empty() -> Self {
        EntryParts {
            count: 0,
            failures: 0,
            interrupted: 0,
            failures_by_outcome: BTreeMap::new(),
            bytes: 0,
            raw: new_histogram(),
            corrected: None,
            slowest: Vec::new(),
        }
    }

    /// Add another key's parts. The corrected histogram of a side without one is its raw one.
    pub fn add(&mut self, other: &EntryParts) {
        // Saturating: numbers from another machine (a worker, a results.json) cannot wrap.
        self.count = self.count.saturating_add(other.count);
        self.failures = self.failures.saturating_add(other.failures);
        self.interrupted = self.interrupted.saturating_add(other.interrupted);
        self.bytes = self.bytes.saturating_add(other.bytes);
        for (k, v) in &other.failures_by_outcome {
            let n = self.failures_by_outcome.entry(k.clone()).or_default();
            *n = n.saturating_add(*v);
        }
        if self.corrected.is_some() || other.corrected.is_some() {
            let mut c = self.corrected.take().unwrap_or_else(|| self.raw.clone());
            add_hist(&mut c, other.corrected.as_ref().unwrap_or(&other.raw));
            self.corrected = Some(c);
        }
        add_hist(&mut self.raw, &other.raw);
        for e in &other.slowest {
            keep_slowest(&mut self.slowest, *e, SLOWEST_KEPT);
        }
    }
}

/// Add histograms of the standard layout (cannot fail: same bounds, no auto-resize needed).
pub(crate) fn add_hist(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if let Err(e) = into.add(from) {
        // Only reachable with foreign layouts; re-record value by value instead.
        tracing::debug!("histogram add fell back to re-recording: {e:?}");
        for v in from.iter_recorded() {
            super::serialize::record_us(into, v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// One point of the per-second series (all request kinds merged for the percentiles).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct SecondStats {
    /// Elapsed time since the run start at the end of this interval.
    pub t_ms: u64,
    /// Length of the interval (about 1000).
    pub interval_ms: u64,
    /// Active virtual users at the end of the interval.
    pub users: u64,
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub page_loads: u64,
    pub page_load_p95_ms: Option<f64>,
}

impl SecondStats {
    pub fn failures_per_s(&self) -> f64 {
        if self.interval_ms == 0 {
            0.0
        } else {
            self.failures as f64 * 1000.0 / self.interval_ms as f64
        }
    }
}

/// Serializable result of a run; `report` only reads this.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct RunSummary {
    pub started_unix_ms: u64,
    #[serde(rename = "duration_ms", with = "duration_ms")]
    pub duration: Duration,
    /// Highest number of concurrently active virtual users seen.
    #[serde(default)]
    pub peak_users: u64,
    /// One per MetricKey, sorted by key.
    pub entries: Vec<EntrySummary>,
    pub series: Vec<SecondStats>,
    pub counters: BTreeMap<String, u64>,
    /// The load generator's own CPU during the run, and whether it was saturated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorHealth>,
    /// Failed steps kept to show why (bounded: the first few per step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<super::FailureRecord>,
    /// Sessions kept whole (`--keep-sessions`): their HAR and filmstrip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<super::sessions::KeptSession>,
}

/// Totals over a selection of entries.
#[derive(Clone, Debug)]
pub struct Totals {
    pub count: u64,
    pub failures: u64,
    /// Requests cut by throng (see [`EntrySummary::interrupted`]).
    pub interrupted: u64,
    pub bytes: u64,
    /// Raw latencies merged over the selection.
    pub hist: Histogram<u64>,
    /// Corrected latencies where any entry has them (raw elsewhere), else None.
    pub corrected: Option<Histogram<u64>>,
}

impl Totals {
    pub fn error_rate(&self) -> f64 {
        ratio(self.failures, self.count)
    }

    /// Latency at quantile `q` (0..=1) in ms; None without samples.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.hist.is_empty()).then(|| us_to_ms(self.hist.value_at_quantile(q)))
    }

    pub fn stats(&self) -> LatencyStats {
        LatencyStats::of(&self.hist)
    }
}

/// What failed, out of how many, for each thing a run can fail at.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FailureRates {
    /// (failed, total) requests of every request kind.
    pub requests: (u64, u64),
    /// (failed, total) page loads: a redirect loop or an error page fails the page, not a request.
    pub page_loads: (u64, u64),
    /// (failed or lost, ended) sessions (run-wide counters: the same for every mode).
    pub sessions: (u64, u64),
}

impl FailureRates {
    /// True when nothing was measured at all.
    pub fn is_empty(&self) -> bool {
        self.requests.1 == 0 && self.page_loads.1 == 0 && self.sessions.1 == 0
    }

    /// The worst failure rate of the three: a run whose every page failed is not "0% errors"
    /// because each redirect hop answered.
    pub fn worst_rate(&self) -> f64 {
        [self.requests, self.page_loads, self.sessions]
            .iter()
            .map(|(f, n)| ratio(*f, *n))
            .fold(0.0, f64::max)
    }

    /// The largest failure count of the three.
    pub fn worst_count(&self) -> u64 {
        self.requests.0.max(self.page_loads.0).max(self.sessions.0)
    }

    /// Every session that ended failed (none completed).
    pub fn every_session_failed(&self) -> bool {
        self.sessions.1 > 0 && self.sessions.0 == self.sessions.1
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Round to 3 decimals: keeps saved numbers short and exactly parseable.
pub(crate) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl RunSummary {
    pub fn ended_unix_ms(&self) -> u64 {
        self.started_unix_ms
            .saturating_add(u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX))
    }

    /// Totals over entries of `mode` (all when None) and `kind`; `kind: None` means every
    /// request kind ([`SampleKind::is_request`]), so composite timings are not double counted.
    pub fn total(&self, mode: Option<Mode>, kind: Option<SampleKind>) -> Totals {
        let mut parts = EntryParts::empty();
        for e in self.entries.iter().filter(|e| {
            mode.is_none_or(|m| e.mode == m) && kind.map_or(e.kind.is_request(), |k| e.kind == k)
        }) {
            match e.parts() {
                Ok(p) => parts.add(&p),
                Err(err) => tracing::warn!("skipping entry {} {}: {err}", e.kind, e.name),
            }
        }
        Totals {
            count: parts.count,
            failures: parts.failures,
            interrupted: parts.interrupted,
            bytes: parts.bytes,
            hist: parts.raw,
            corrected: parts.corrected,
        }
    }

    /// Failed requests, page loads and sessions of `mode` (all when None).
    pub fn failure_rates(&self, mode: Option<Mode>) -> FailureRates {
        let requests = self.total(mode, None);
        let pages = self.total(mode, Some(SampleKind::PageLoad));
        let counter = |k: &str| self.counters.get(k).copied().unwrap_or(0);
        let failed = counter("sessions.failed") + counter("sessions.lost");
        FailureRates {
            requests: (requests.failures, requests.count),
            page_loads: (pages.failures, pages.count),
            sessions: (failed, failed + counter("sessions.completed")),
        }
    }

    /// Requests of `mode` (all when None) still open when throng cut them, and their share of
    /// all requests.
    pub fn interrupted(&self, mode: Option<Mode>) -> (u64, f64) {
        let t = self.total(mode, None);
        (t.interrupted, ratio(t.interrupted, t.count))
    }

    /// The most common session failure message, if any session failed.
    pub fn most_common_failure(&self) -> Option<(&str, u64)> {
        self.counters
            .iter()
            .filter_map(|(k, n)| Some((k.strip_prefix("session failure: ")?, *n)))
            .max_by_key(|(_, n)| *n)
    }

    /// Requests per second over the whole run (request kinds only).
    pub fn rps(&self, mode: Option<Mode>) -> f64 {
        let count: u64 = self
            .entries
            .iter()
            .filter(|e| e.kind.is_request() && mode.is_none_or(|m| e.mode == m))
            .map(|e| e.count)
            .sum();
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            count as f64 / secs
        } else {
            0.0
        }
    }

    /// Page loads measured (both modes).
    pub fn page_loads(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.kind == SampleKind::PageLoad)
            .map(|e| e.count)
            .sum()
    }

    /// Modes present in the entries.
    pub fn modes(&self) -> Vec<Mode> {
        let mut m: Vec<Mode> = self.entries.iter().map(|e| e.mode).collect();
        m.sort();
        m.dedup();
        m
    }

    /// Merge another run (e.g. the same plan from another machine) into this one. Counts and
    /// histograms add exactly; the time span becomes the union of both; per-second points that
    /// fall in the same wall-clock second add their counts, and their percentiles become
    /// request-weighted means (an approximation: the per-second histograms are not kept).
    pub fn merge(&mut self, other: &RunSummary) {
        // A default (never started) summary takes the other run's start.
        let start = if self.started_unix_ms == 0 {
            other.started_unix_ms
        } else {
            self.started_unix_ms.min(other.started_unix_ms)
        };
        let end = self.ended_unix_ms().max(other.ended_unix_ms());
        let duration = Duration::from_millis(end.saturating_sub(start));

        // One key at a time: its histograms decoded, added and encoded again before the
        // next key's are, so merging holds one key's decoded histograms, not every key's (a
        // summary of many keys with wide histograms would decode to gigabytes).
        let mut by_key: BTreeMap<MetricKey, Vec<&EntrySummary>> = BTreeMap::new();
        for e in self.entries.iter().chain(&other.entries) {
            by_key.entry(e.key()).or_default().push(e);
        }
        let entries = by_key
            .into_iter()
            .map(|(k, es)| {
                let mut parts = EntryParts::empty();
                for e in es {
                    match e.parts() {
                        Ok(p) => parts.add(&p),
                        Err(err) => {
                            tracing::warn!("merge: skipping entry {} {}: {err}", e.kind, e.name)
                        }
                    }
                }
                EntrySummary::from_parts(&k, &parts, duration)
            })
            .collect();
        self.entries = entries;

        let mut seconds: BTreeMap<u64, SecondStats> = BTreeMap::new();
        for (run_start, s) in self
            .series
            .iter()
            .map(|s| (self.started_unix_ms, s))
            .chain(other.series.iter().map(|s| (other.started_unix_ms, s)))
        {
            let abs_sec = run_start.saturating_add(s.t_ms).div_ceil(1000);
            let slot = seconds.entry(abs_sec).or_default();
            merge_second(slot, s);
            slot.t_ms = (abs_sec * 1000).saturating_sub(start);
        }
        self.series = seconds.into_values().collect();

        for (k, v) in &other.counters {
            let n = self.counters.entry(k.clone()).or_default();
            *n = n.saturating_add(*v);
        }
        self.peak_users = self.peak_users.saturating_add(other.peak_users);
        // Both runs' generator samples on the merged run's clock.
        let mine = self
            .generator
            .take()
            .map(|g| g.shifted(self.started_unix_ms.saturating_sub(start)));
        let theirs = other
            .generator
            .as_ref()
            .map(|g| g.shifted(other.started_unix_ms.saturating_sub(start)));
        self.generator = match (mine, theirs) {
            (Some(mut m), Some(t)) => {
                m.merge(&t);
                Some(m)
            }
            (m, t) => m.or(t),
        };
        self.started_unix_ms = start;
        self.duration = duration;
        self.failures.extend(other.failures.iter().cloned());
        self.sessions.extend(other.sessions.iter().cloned());
    }

    /// Parse a RunSummary from JSON: either a bare summary or a results.json that holds one
    /// under "summary". Every histogram is decoded once so later merging cannot fail.
    pub fn from_json(text: &str) -> Result<RunSummary, MetricsError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(MetricsError::Json)?;
        let inner = match value.get("summary") {
            Some(s) if value.get("entries").is_none() => s.clone(),
            _ => value,
        };
        let summary: RunSummary = serde_json::from_value(inner).map_err(MetricsError::Json)?;
        for e in &summary.entries {
            e.parts().map_err(|err| {
                MetricsError::Histogram(format!("entry `{} {}`: {err}", e.kind, e.name))
            })?;
        }
        Ok(summary)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("RunSummary serializes")
    }
}

fn merge_second(into: &mut SecondStats, s: &SecondStats) {
    let weighted = |a: Option<f64>, wa: u64, b: Option<f64>, wb: u64| match (a, b) {
        (Some(a), Some(b)) if wa.saturating_add(wb) > 0 => Some(round3(
            (a * wa as f64 + b * wb as f64) / (wa as f64 + wb as f64),
        )),
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    into.p50_ms = weighted(into.p50_ms, into.requests, s.p50_ms, s.requests);
    into.p95_ms = weighted(into.p95_ms, into.requests, s.p95_ms, s.requests);
    into.p99_ms = weighted(into.p99_ms, into.requests, s.p99_ms, s.requests);
    into.page_load_p95_ms = weighted(
        into.page_load_p95_ms,
        into.page_loads,
        s.page_load_p95_ms,
        s.page_loads,
    );
    into.interval_ms = into.interval_ms.max(s.interval_ms);
    into.users = into.users.saturating_add(s.users);
    into.requests = into.requests.saturating_add(s.requests);
    into.failures = into.failures.saturating_add(s.failures);
    into.page_loads = into.page_loads.saturating_add(s.page_loads);
    into.rps = if into.interval_ms > 0 {
        round3(into.requests as f64 * 1000.0 / into.interval_ms as f64)
    } else {
        0.0
    };
}
