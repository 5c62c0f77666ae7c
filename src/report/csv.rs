//! stats.csv (one row per metric key) and history.csv (the per-second series).

use crate::metrics::{EntrySummary, SecondStats};

use super::{Renderer, ReportInput};

/// Header of stats.csv (steps are zero-based, as in results.json).
pub const STATS_HEADER: [&str; 20] = [
    "mode",
    "flow",
    "step",
    "kind",
    "name",
    "count",
    "failures",
    "error_rate",
    "rps",
    "bytes",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "mean_ms",
    "corrected_p95_ms",
    "corrected_p99_ms",
    "failures_by_outcome",
    "interrupted",
];

/// Header of history.csv.
pub const HISTORY_HEADER: [&str; 11] = [
    "t_s",
    "users",
    "requests",
    "failures",
    "rps",
    "failures_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "page_loads",
    "page_load_p95_ms",
];

/// A number rounded to `digits` decimals, without trailing zeros ("12.5", "3").
fn num(v: f64, digits: i32) -> String {
    let f = 10f64.powi(digits);
    let r = (v * f).round() / f;
    format!("{r}")
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| num(v, 3)).unwrap_or_default()
}

fn stats_row(e: &EntrySummary) -> Vec<String> {
    let l = &e.latency;
    let outcomes: Vec<String> = e
        .failures_by_outcome
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    vec![
        e.mode.to_string(),
        e.flow.clone(),
        e.step.map(|s| s.to_string()).unwrap_or_default(),
        e.kind.to_string(),
        e.name.clone(),
        e.count.to_string(),
        e.failures.to_string(),
        num(e.error_rate(), 6),
        num(e.rps, 3),
        e.bytes.to_string(),
        num(l.p50_ms, 3),
        num(l.p90_ms, 3),
        num(l.p95_ms, 3),
        num(l.p99_ms, 3),
        num(l.max_ms, 3),
        num(l.mean_ms, 3),
        opt(e.corrected.map(|c| c.p95_ms)),
        opt(e.corrected.map(|c| c.p99_ms)),
        outcomes.join(";"),
        e.interrupted.to_string(),
    ]
}

fn history_row(s: &SecondStats) -> Vec<String> {
    vec![
        num(s.t_ms as f64 / 1000.0, 3),
        s.users.to_string(),
        s.requests.to_string(),
        s.failures.to_string(),
        num(s.rps, 3),
        num(s.failures_per_s(), 3),
        opt(s.p50_ms),
        opt(s.p95_ms),
        opt(s.p99_ms),
        s.page_loads.to_string(),
        opt(s.page_load_p95_ms),
    ]
}

fn write_csv(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> anyhow::Result<Vec<u8>> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for r in rows {
        w.write_record(&r)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Writes stats.csv.
pub struct StatsCsvRenderer;

impl Renderer for StatsCsvRenderer {
    fn file_name(&self) -> &'static str {
        "stats.csv"
    }

    fn render(&self, input: &ReportInput<'_>) -> anyhow::Result<Vec<u8>> {
        write_csv(&STATS_HEADER, input.summary.entries.iter().map(stats_row))
    }
}

/// Writes history.csv.
pub struct HistoryCsvRenderer;

impl Renderer for HistoryCsvRenderer {
    fn file_name(&self) -> &'static str {
        "history.csv"
    }

    fn render(&self, input: &ReportInput<'_>) -> anyhow::Result<Vec<u8>> {
        write_csv(
            &HISTORY_HEADER,
            input.summary.series.iter().map(history_row),
        )
    }
}
