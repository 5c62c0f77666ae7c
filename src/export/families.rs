//! The live run as Prometheus metric families: one model that both the scrape text and the
//! remote-write series are made from, so both carry the same names, labels and values.
//!
//! Label sets stay bounded: request names are the metrics module's grouped names (query
//! stripped), steps are summed away, and failure outcomes are the few report categories.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::metrics::{Buckets, Mode, Outcome, SampleKind, Sink, BUCKET_BOUNDS_US};

/// Upper bounds of the latency buckets, seconds (`+Inf` is added): the metrics module's.
pub const BUCKETS_S: [f64; BUCKET_BOUNDS_US.len()] = {
    let mut out = [0.0; BUCKET_BOUNDS_US.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = BUCKET_BOUNDS_US[i] as f64 / 1e6;
        i += 1;
    }
    out
};

/// Every metric family name throng exports (the Grafana dashboard's queries use only these).
pub const FAMILY_NAMES: [&str; 13] = [
    "throng_requests_total",
    "throng_request_duration_seconds",
    "throng_page_load_seconds",
    "throng_web_vital_seconds",
    "throng_sessions_total",
    "throng_users",
    "throng_generator_cpu_ratio",
    "throng_generator_saturated",
    "throng_generator_saturated_seconds_total",
    "throng_events_total",
    "throng_run_elapsed_seconds",
    "throng_run_finished",
    "throng_remote_write_failures_total",
];

/// One sample: the full series name (with `_bucket`, `_sum`, `_count` for histograms).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// A metric family: its name, help, type and samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: &'static str,
    pub samples: Vec<Sample>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        debug_assert!(FAMILY_NAMES.contains(&name), "{name} not listed");
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push(Sample {
            name: self.name.to_string(),
            labels,
            value,
        });
    }

    fn push_histogram(&mut self, labels: Vec<(&'static str, String)>, h: &Buckets) {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS_S
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".to_string()])
            .enumerate()
        {
            cumulative += h.counts[i];
            let mut l = labels.clone();
            l.push(("le", bound));
            self.samples.push(Sample {
                name: format!("{}_bucket", self.name),
                labels: l,
                value: cumulative as f64,
            });
        }
        self.samples.push(Sample {
            name: format!("{}_sum", self.name),
            labels: labels.clone(),
            value: h.sum_us as f64 / 1e6,
        });
        self.samples.push(Sample {
            name: format!("{}_count", self.name),
            labels,
            value: cumulative as f64,
        });
    }
}

/// A run the exporter reads: its sink and its mode (the sink's samples say it too, but a
/// run with no samples yet still has users).
#[derive(Clone)]
pub struct Source {
    pub sink: Sink,
    pub mode: Mode,
}

type Labels = Vec<(&'static str, String)>;

fn vital_name(kind: SampleKind) -> Option<&'static str> {
    match kind {
        SampleKind::Ttfb => Some("ttfb"),
        SampleKind::Fcp => Some("fcp"),
        SampleKind::Lcp => Some("lcp"),
        SampleKind::DomContentLoaded => Some("dcl"),
        _ => None,
    }
}

/// The families of every source, plus `extra` (the exporter's own counters).
pub fn gather(sources: &[Source], remote_write_failures: Option<u64>) -> Vec<Family> {
    let mut requests: BTreeMap<Labels, u64> = BTreeMap::new();
    let mut durations: BTreeMap<Labels, Buckets> = BTreeMap::new();
    let mut page_loads: BTreeMap<Labels, Buckets> = BTreeMap::new();
    let mut vitals: BTreeMap<Labels, Buckets> = BTreeMap::new();
    let mut users = Family::new("throng_users", "gauge", "Active virtual users.");
    let mut sessions = Family::new(
        "throng_sessions_total",
        "counter",
        "Sessions (flow iterations) ended, by outcome: completed, failed, lost, abandoned.",
    );
    let mut cpu = Family::new(
        "throng_generator_cpu_ratio",
        "gauge",
        "CPU used over the last second as a share of the whole machine: throng, the browsers it started (chromium), every process (machine).",
    );
    let mut saturated = Family::new(
        "throng_generator_saturated",
        "gauge",
        "1 while the machine is CPU-bound by the generator itself (its numbers then measure it).",
    );
    let mut saturated_s = Family::new(
        "throng_generator_saturated_seconds_total",
        "counter",
        "Seconds in which the generator saturated the machine.",
    );
    let mut events = Family::new(
        "throng_events_total",
        "counter",
        "Run counters: sessions, browsers started or lost, blocked or cached requests, ...",
    );
    let mut elapsed = Family::new(
        "throng_run_elapsed_seconds",
        "gauge",
        "Time since the run started.",
    );
    let mut finished = Family::new(
        "throng_run_finished",
        "gauge",
        "1 once the run ended: the values are final.",
    );

    for src in sources {
        let mode = src.mode.as_str();
        src.sink.visit_totals(|key, count, outcomes, buckets| {
            let flow = || key.flow.to_string();
            let name = || key.name.to_string();
            if key.kind.is_request() {
                let base: Labels = vec![
                    ("mode", mode.into()),
                    ("flow", flow()),
                    ("kind", key.kind.as_str().into()),
                    ("name", name()),
                ];
                let failures: u64 = outcomes.iter().map(|(_, n)| n).sum();
                let mut add = |outcome: Outcome, n: u64| {
                    let mut l = base.clone();
                    l.push(("outcome", outcome.label()));
                    *requests.entry(l).or_default() += n;
                };
                add(Outcome::Ok, count.saturating_sub(failures));
                for &(o, n) in outcomes {
                    add(o, n);
                }
                durations.entry(base).or_default().add(buckets);
            } else if key.kind == SampleKind::PageLoad {
                let l = vec![("mode", mode.into()), ("flow", flow()), ("page", name())];
                page_loads.entry(l).or_default().add(buckets);
            } else if let Some(vital) = vital_name(key.kind) {
                let l = vec![
                    ("mode", mode.into()),
                    ("flow", flow()),
                    ("vital", vital.into()),
                    ("page", name()),
                ];
                vitals.entry(l).or_default().add(buckets);
            }
        });
        users.push(vec![("mode", mode.into())], src.sink.users().get() as f64);
        for ((m, flow, outcome), n) in src.sink.sessions() {
            let l = vec![
                ("mode", m.as_str().into()),
                ("flow", flow_text(&flow)),
                ("outcome", outcome.into()),
            ];
            sessions.push(l, n as f64);
        }
        for (name, n) in src.sink.counters() {
            // Failure messages are free text (and capped in the report): not label values.
            if !name.starts_with("session failure") {
                events.push(vec![("mode", mode.into()), ("event", name)], n as f64);
            }
        }
        let live = src.sink.live();
        elapsed.push(vec![("mode", mode.into())], live.elapsed.as_secs_f64());
        finished.push(
            vec![("mode", mode.into())],
            f64::from(u8::from(src.sink.is_finished())),
        );
        if let Some(g) = live.generator {
            for (process, v) in [
                ("throng", g.throng),
                ("chromium", g.children),
                ("machine", g.machine),
            ] {
                cpu.push(vec![("mode", mode.into()), ("process", process.into())], v);
            }
            saturated.push(
                vec![("mode", mode.into())],
                f64::from(u8::from(g.saturated())),
            );
            let n = src
                .sink
                .generator()
                .map_or(0, |h| h.saturated_seconds.len());
            saturated_s.push(vec![("mode", mode.into())], n as f64);
        }
    }

    let mut req = Family::new(
        "throng_requests_total",
        "counter",
        "Requests sent, by mode, flow, kind (document, static, ajax, polling, beacon, other), grouped name and outcome.",
    );
    for (l, n) in requests {
        req.push(l, n as f64);
    }
    let mut families = vec![req];
    for (name, help, series) in [
        ("throng_request_duration_seconds", "Request latency (raw, from the real start), by mode, flow, kind and grouped name.", durations),
        ("throng_page_load_seconds", "Page loads: navigation start to the load event (browser), the document and its assets (HTTP).", page_loads),
        ("throng_web_vital_seconds", "Page timings by vital: ttfb, dcl (DOMContentLoaded), fcp, lcp.", vitals),
    ] {
        let mut f = Family::new(name, "histogram", help);
        for (l, b) in series {
            f.push_histogram(l, &b);
        }
        families.push(f);
    }
    families.extend([
        sessions,
        users,
        cpu,
        saturated,
        saturated_s,
        events,
        elapsed,
        finished,
    ]);
    if let Some(n) = remote_write_failures {
        let mut f = Family::new(
            "throng_remote_write_failures_total",
            "counter",
            "Remote-write pushes that failed after their retries.",
        );
        f.push(Vec::new(), n as f64);
        families.push(f);
    }
    families
}

fn flow_text(flow: &Arc<str>) -> String {
    flow.to_string()
}
