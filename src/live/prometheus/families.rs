//! The live run as Prometheus metric families: one model that both the scrape text and the
//! remote-write series are made from, so both carry the same names, labels and values.
//!
//! Label sets stay bounded: request names are the metrics module's grouped names (query
//! stripped), steps are summed away, and failure outcomes are the few report categories.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::metrics::{
    Buckets, Exemplar, GeneratorSample, Mode, Outcome, RunSummary, SampleKind, Sink,
    BUCKET_BOUNDS_US,
};
use crate::sync::Locked;

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
pub const FAMILY_NAMES: [&str; 16] = [
    "throng_requests_total",
    "throng_request_duration_seconds",
    "throng_page_load_seconds",
    "throng_web_vital_seconds",
    "throng_web_vital_cls",
    "throng_page_long_tasks",
    "throng_page_js_heap_megabytes",
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
    /// A histogram bucket's latest traced sample (`--trace`), for OpenMetrics and OTLP.
    pub exemplar: Option<Exemplar>,
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
            exemplar: None,
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
                exemplar: h.exemplars[i],
            });
        }
        self.samples.push(Sample {
            name: format!("{}_sum", self.name),
            labels: labels.clone(),
            value: h.sum_us as f64 / 1e6,
            exemplar: None,
        });
        self.samples.push(Sample {
            name: format!("{}_count", self.name),
            labels,
            value: cumulative as f64,
            exemplar: None,
        });
    }
}

/// A run the exporter reads.
#[derive(Clone)]
pub enum Source {
    /// A run in this process: its sink, read live, and its mode (a run with no samples yet
    /// still has users).
    Live { sink: Sink, mode: Mode },
    /// A merged view its owner keeps up to date (a distributed run's coordinator).
    Merged { view: MergedView, mode: Mode },
}

impl Source {
    pub fn mode(&self) -> Mode {
        match self {
            Source::Live { mode, .. } | Source::Merged { mode, .. } => *mode,
        }
    }
}

/// A merged summary of a run whose samples live elsewhere (workers), with its user count.
#[derive(Clone, Default)]
pub struct MergedView(Arc<Mutex<(RunSummary, u64, bool)>>);

impl MergedView {
    /// The run as it stands: its merged summary, active users, and whether it ended.
    pub fn update(&self, summary: RunSummary, users: u64, finished: bool) {
        *self.0.locked() = (summary, users, finished);
    }
}

/// One key's totals, from a sink or a merged summary.
struct KeyTotals {
    mode: Mode,
    flow: String,
    kind: SampleKind,
    name: String,
    count: u64,
    /// Outcome label other than ok ("status 503", "timeout", "interrupted") -> count.
    failures: Vec<(String, u64)>,
    buckets: Buckets,
}

/// What a source holds now, in one shape.
struct Snapshot {
    keys: Vec<KeyTotals>,
    users: u64,
    /// Active users by mode, when known (a live run): a hybrid run's users per mode.
    users_by_mode: Vec<(Mode, u64)>,
    /// (mode, flow, outcome, count); a merged view knows sessions only by outcome.
    sessions: Vec<(Mode, String, String, u64)>,
    counters: BTreeMap<String, u64>,
    elapsed_s: f64,
    finished: bool,
    generator: Option<GeneratorSample>,
    saturated_seconds: usize,
}

impl Snapshot {
    fn of(source: &Source) -> Snapshot {
        match source {
            Source::Live { sink, .. } => {
                let mut keys = Vec::new();
                sink.visit_totals(|key, count, outcomes, buckets| {
                    keys.push(KeyTotals {
                        mode: key.mode,
                        flow: key.flow.to_string(),
                        kind: key.kind,
                        name: key.name.to_string(),
                        count,
                        failures: outcomes.iter().map(|(o, n)| (o.label(), *n)).collect(),
                        buckets: buckets.clone(),
                    });
                });
                let live = sink.live();
                Snapshot {
                    keys,
                    users: sink.users().get(),
                    users_by_mode: sink.users_by_mode(),
                    sessions: sink
                        .sessions()
                        .into_iter()
                        .map(|((m, f, o), n)| (m, f.to_string(), o.to_string(), n))
                        .collect(),
                    counters: sink.counters(),
                    elapsed_s: live.elapsed.as_secs_f64(),
                    finished: sink.is_finished(),
                    generator: live.generator,
                    saturated_seconds: sink.generator().map_or(0, |h| h.saturated_seconds.len()),
                }
            }
            Source::Merged { view, mode } => {
                let guard = view.0.locked();
                let (summary, users, finished) = &*guard;
                let keys = summary
                    .entries
                    .iter()
                    .filter_map(|e| {
                        let hist = e.histogram().ok()?;
                        let mut buckets = Buckets::of_histogram(&hist);
                        for x in &e.slowest {
                            buckets.place(*x);
                        }
                        Some(KeyTotals {
                            mode: e.mode,
                            flow: e.flow.clone(),
                            kind: e.kind,
                            name: e.name.clone(),
                            count: e.count,
                            failures: e
                                .failures_by_outcome
                                .clone()
                                .into_iter()
                                .chain(
                                    (e.interrupted > 0)
                                        .then(|| (Outcome::Interrupted.label(), e.interrupted)),
                                )
                                .collect(),
                            buckets,
                        })
                    })
                    .collect();
                let sessions = ["completed", "failed", "lost", "abandoned"]
                    .iter()
                    .filter_map(|o| {
                        let n = *summary.counters.get(&format!("sessions.{o}"))?;
                        Some((*mode, "(all)".to_string(), o.to_string(), n))
                    })
                    .collect();
                Snapshot {
                    keys,
                    users: *users,
                    users_by_mode: Vec::new(),
                    sessions,
                    counters: summary.counters.clone(),
                    elapsed_s: summary.duration.as_secs_f64(),
                    finished: *finished,
                    generator: summary
                        .generator
                        .as_ref()
                        .and_then(|g| g.samples.last().copied()),
                    saturated_seconds: summary
                        .generator
                        .as_ref()
                        .map_or(0, |g| g.saturated_seconds.len()),
                }
            }
        }
    }
}

type Labels = Vec<(&'static str, String)>;

fn vital_name(kind: SampleKind) -> Option<&'static str> {
    match kind {
        SampleKind::Ttfb => Some("ttfb"),
        SampleKind::Fcp => Some("fcp"),
        SampleKind::Lcp => Some("lcp"),
        SampleKind::DomContentLoaded => Some("dcl"),
        SampleKind::Inp => Some("inp"),
        SampleKind::Tbt => Some("tbt"),
        _ => None,
    }
}

/// The families of every source, plus `extra` (the exporter's own counters).
pub fn gather(sources: &[Source], remote_write_failures: Option<u64>) -> Vec<Family> {
    let mut requests: BTreeMap<Labels, u64> = BTreeMap::new();
    let mut durations: BTreeMap<Labels, Buckets> = BTreeMap::new();
    let mut page_loads: BTreeMap<Labels, Buckets> = BTreeMap::new();
    let mut vitals: BTreeMap<Labels, Buckets> = BTreeMap::new();
    // Kinds that are not times are recorded as their value in seconds: their buckets' bounds
    // read as a score, a count or MB.
    let mut cls: BTreeMap<Labels, Buckets> = BTreeMap::new();
    let mut long_tasks: BTreeMap<Labels, Buckets> = BTreeMap::new();
    let mut heap: BTreeMap<Labels, Buckets> = BTreeMap::new();
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
        let snap = Snapshot::of(src);
        let mode = src.mode().as_str();
        for k in snap.keys {
            if k.kind.is_request() {
                let base: Labels = vec![
                    ("mode", k.mode.as_str().into()),
                    ("flow", k.flow),
                    ("kind", k.kind.as_str().into()),
                    ("name", k.name),
                ];
                let failed: u64 = k.failures.iter().map(|(_, n)| n).sum();
                let mut add = |outcome: String, n: u64| {
                    let mut l = base.clone();
                    l.push(("outcome", outcome));
                    *requests.entry(l).or_default() += n;
                };
                add(Outcome::Ok.label(), k.count.saturating_sub(failed));
                for (o, n) in k.failures {
                    add(o, n);
                }
                durations.entry(base).or_default().add(&k.buckets);
            } else if k.kind == SampleKind::PageLoad {
                let l = vec![
                    ("mode", k.mode.as_str().into()),
                    ("flow", k.flow),
                    ("page", k.name),
                ];
                page_loads.entry(l).or_default().add(&k.buckets);
            } else if let Some(series) = match k.kind {
                SampleKind::Cls => Some(&mut cls),
                SampleKind::LongTasks => Some(&mut long_tasks),
                SampleKind::JsHeap => Some(&mut heap),
                _ => None,
            } {
                let l = vec![
                    ("mode", k.mode.as_str().into()),
                    ("flow", k.flow),
                    ("page", k.name),
                ];
                series.entry(l).or_default().add(&k.buckets);
            } else if let Some(vital) = vital_name(k.kind) {
                let l = vec![
                    ("mode", k.mode.as_str().into()),
                    ("flow", k.flow),
                    ("vital", vital.into()),
                    ("page", k.name),
                ];
                vitals.entry(l).or_default().add(&k.buckets);
            }
        }
        if snap.users_by_mode.is_empty() {
            users.push(vec![("mode", mode.into())], snap.users as f64);
        }
        for (m, n) in &snap.users_by_mode {
            users.push(vec![("mode", m.as_str().into())], *n as f64);
        }
        for (m, flow, outcome, n) in snap.sessions {
            let l = vec![
                ("mode", m.as_str().into()),
                ("flow", flow),
                ("outcome", outcome),
            ];
            sessions.push(l, n as f64);
        }
        for (name, n) in snap.counters {
            // Failure messages are free text (and capped in the report): not label values.
            if !name.starts_with("session failure") {
                events.push(vec![("mode", mode.into()), ("event", name)], n as f64);
            }
        }
        elapsed.push(vec![("mode", mode.into())], snap.elapsed_s);
        finished.push(
            vec![("mode", mode.into())],
            f64::from(u8::from(snap.finished)),
        );
        if let Some(g) = snap.generator {
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
            saturated_s.push(vec![("mode", mode.into())], snap.saturated_seconds as f64);
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
        ("throng_web_vital_seconds", "Page timings by vital: ttfb, dcl (DOMContentLoaded), fcp, lcp, inp (per interaction), tbt.", vitals),
        ("throng_web_vital_cls", "Cumulative layout shift per page (a score: le is the score).", cls),
        ("throng_page_long_tasks", "Long tasks (over 50 ms) per page (le is the count).", long_tasks),
        ("throng_page_js_heap_megabytes", "JS heap used at each page's end, MB (le is MB).", heap),
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
