//! The aggregator's state: per-key run totals, the current interval, and the per-second series.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::buckets::Buckets;
use super::key::{MetricKey, Outcome, SampleKind};
use super::serialize::{new_histogram, record_us, us_to_ms};
use super::shard::Cell;
use super::summary::{round3, EntryParts, EntrySummary, RunSummary, SecondStats};
use super::trace::{keep_slowest, Exemplar, SLOWEST_KEPT};

/// Run totals of one key.
struct KeyTotals {
    count: u64,
    failures: u64,
    interrupted: u64,
    bytes: u64,
    outcomes: Vec<(Outcome, u64)>,
    raw: Histogram<u64>,
    /// The raw latencies in fixed buckets (exporters).
    buckets: Buckets,
    /// Created on the first late sample as a copy of `raw`: on-time samples count as corrected.
    corrected: Option<Histogram<u64>>,
    /// The run's slowest traced samples, slowest first.
    slowest: Vec<Exemplar>,
}

impl KeyTotals {
    fn new() -> Self {
        KeyTotals {
            count: 0,
            failures: 0,
            interrupted: 0,
            bytes: 0,
            outcomes: Vec::new(),
            raw: new_histogram(),
            buckets: Buckets::default(),
            corrected: None,
            slowest: Vec::new(),
        }
    }
}

/// Aggregated state; one per sink, behind a mutex taken about once a second (and by a
/// recorder whose buffer filled up between drains).
pub struct State {
    started: Instant,
    totals: HashMap<MetricKey, KeyTotals>,
    /// Request kinds merged, this interval only (reused: reset after each tick).
    interval_requests: Histogram<u64>,
    interval_page_load: Histogram<u64>,
    interval_count: u64,
    interval_failures: u64,
    last_tick: Instant,
    series: Vec<SecondStats>,
    pub requests_total: u64,
    pub failures_total: u64,
    /// rps and p95 of the last completed interval, for the live line.
    pub last_rps: f64,
    pub last_p95_ms: Option<f64>,
}

impl State {
    pub fn new(started: Instant) -> Self {
        State {
            started,
            totals: HashMap::new(),
            interval_requests: new_histogram(),
            interval_page_load: new_histogram(),
            interval_count: 0,
            interval_failures: 0,
            last_tick: started,
            series: Vec::new(),
            requests_total: 0,
            failures_total: 0,
            last_rps: 0.0,
            last_p95_ms: None,
        }
    }

    pub fn key_count(&self) -> usize {
        self.totals.len()
    }

    /// Every key's count, outcomes other than ok (failures and `interrupted`) and raw latency
    /// buckets.
    pub fn visit(&self, mut f: impl FnMut(&MetricKey, u64, &[(Outcome, u64)], &Buckets)) {
        for (key, t) in &self.totals {
            f(key, t.count, &t.outcomes, &t.buckets);
        }
    }

    /// Fold a drained cell into the key's totals and the current interval, then clear it
    /// (keeping its buffers' capacity).
    pub fn fold(&mut self, key: &MetricKey, cell: &mut Cell) {
        if cell.is_empty() {
            return;
        }
        let t = match self.totals.get_mut(key) {
            Some(t) => t,
            None => self
                .totals
                .entry(key.clone())
                .or_insert_with(KeyTotals::new),
        };
        t.count += cell.count;
        t.failures += cell.failures;
        t.interrupted += cell.interrupted;
        t.bytes += cell.bytes;
        for &(o, n) in &cell.outcomes {
            match t.outcomes.iter_mut().find(|(x, _)| *x == o) {
                Some((_, m)) => *m += n,
                None => t.outcomes.push((o, n)),
            }
        }
        for &e in &cell.exemplars {
            keep_slowest(&mut t.slowest, e, SLOWEST_KEPT);
            t.buckets.place(e);
        }
        if !cell.late.is_empty() && t.corrected.is_none() {
            t.corrected = Some(t.raw.clone());
        }
        for &us in &cell.samples {
            record_us(&mut t.raw, u64::from(us), 1);
            t.buckets.record(&t.raw, u64::from(us));
            if let Some(c) = &mut t.corrected {
                record_us(c, u64::from(us), 1);
            }
        }
        for &(raw, corrected) in &cell.late {
            record_us(&mut t.raw, u64::from(raw), 1);
            t.buckets.record(&t.raw, u64::from(raw));
            if let Some(c) = &mut t.corrected {
                record_us(c, u64::from(corrected), 1);
            }
        }

        // The series shows what users experienced: corrected latencies where late.
        let interval = if key.kind.is_request() {
            self.interval_count += cell.count;
            self.interval_failures += cell.failures;
            self.requests_total += cell.count;
            self.failures_total += cell.failures;
            Some(&mut self.interval_requests)
        } else if key.kind == SampleKind::PageLoad {
            Some(&mut self.interval_page_load)
        } else {
            None
        };
        if let Some(h) = interval {
            for &us in &cell.samples {
                record_us(h, u64::from(us), 1);
            }
            for &(_, corrected) in &cell.late {
                record_us(h, u64::from(corrected), 1);
            }
        }
        cell.clear();
    }

    /// Close the current interval into a series point (skipped when empty and very short).
    pub fn tick(&mut self, now: Instant, users: u64) {
        let interval = now.saturating_duration_since(self.last_tick);
        if interval < Duration::from_millis(50) && self.interval_count == 0 {
            return;
        }
        let q =
            |h: &Histogram<u64>, q: f64| (!h.is_empty()).then(|| us_to_ms(h.value_at_quantile(q)));
        let secs = interval.as_secs_f64();
        let point = SecondStats {
            t_ms: millis(now.saturating_duration_since(self.started)),
            interval_ms: millis(interval),
            users,
            requests: self.interval_count,
            failures: self.interval_failures,
            rps: if secs > 0.0 {
                round3(self.interval_count as f64 / secs)
            } else {
                0.0
            },
            p50_ms: q(&self.interval_requests, 0.50),
            p95_ms: q(&self.interval_requests, 0.95),
            p99_ms: q(&self.interval_requests, 0.99),
            page_loads: self.interval_page_load.len(),
            page_load_p95_ms: q(&self.interval_page_load, 0.95),
        };
        self.last_rps = point.rps;
        self.last_p95_ms = point.p95_ms;
        self.series.push(point);
        self.interval_requests.reset();
        self.interval_page_load.reset();
        self.interval_count = 0;
        self.interval_failures = 0;
        self.last_tick = now;
    }

    /// Build the run summary from the totals so far.
    pub fn summary(
        &self,
        started_unix_ms: u64,
        duration: Duration,
        peak_users: u64,
        counters: BTreeMap<String, u64>,
    ) -> RunSummary {
        let mut keys: Vec<&MetricKey> = self.totals.keys().collect();
        keys.sort();
        let entries = keys
            .into_iter()
            .map(|k| {
                let t = &self.totals[k];
                let parts = EntryParts {
                    count: t.count,
                    failures: t.failures,
                    interrupted: t.interrupted,
                    failures_by_outcome: t
                        .outcomes
                        .iter()
                        .filter(|(o, _)| o.is_failure())
                        .map(|(o, n)| (o.label(), *n))
                        .fold(BTreeMap::new(), |mut m, (l, n)| {
                            *m.entry(l).or_default() += n;
                            m
                        }),
                    bytes: t.bytes,
                    raw: t.raw.clone(),
                    corrected: t.corrected.clone(),
                    slowest: t.slowest.clone(),
                };
                EntrySummary::from_parts(k, &parts, duration)
            })
            .collect();
        RunSummary {
            started_unix_ms,
            duration,
            peak_users,
            entries,
            series: self.series.clone(),
            counters,
            generator: None,
            failures: Vec::new(),
            sessions: Vec::new(),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
