//! The end-of-run summary printed on the terminal: per-key table, totals, failures, counters,
//! coordinated-omission corrections and thresholds.

use std::fmt::Write as _;

use crate::metrics::{EntrySummary, RunSummary, SampleKind};

use super::compare::{render_text, Comparison};
use super::format::{self, Table};
use super::{Renderer, ReportInput, RunMeta, ThresholdResult};

/// Longest request name shown in the terminal (full names are in the CSV/JSON/HTML).
const NAME_WIDTH: usize = 64;

/// Counter names that signal trouble are flagged with '!' (they are always shown when non-zero).
pub fn is_problem_counter(name: &str) -> bool {
    [
        "fail",
        "error",
        "drop",
        "lost",
        "block",
        "panic",
        "timeout",
        "crash",
        "waited",
        "unfinished",
    ]
    .iter()
    .any(|w| name.contains(w))
}

fn latency_cells(e: &EntrySummary) -> Vec<String> {
    let l = &e.latency;
    [l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.max_ms]
        .into_iter()
        .map(|v| format::kind_value(e.kind, v))
        .collect()
}

/// Above this share of requests, interrupted requests are flagged: a target that stalls shows
/// even though nothing failed.
pub const INTERRUPTED_FLAG: f64 = 0.01;

/// The warning shown when more than [`INTERRUPTED_FLAG`] of the requests were interrupted.
pub fn interrupted_warning(summary: &RunSummary) -> Option<String> {
    let (n, share) = summary.interrupted(None);
    (share > INTERRUPTED_FLAG).then(|| {
        format!(
            "! {} requests ({}) were still open when the run ended and were interrupted: the \
             target may be stalling (--drain gives requests in flight longer to finish)",
            format::count(n),
            format::pct(share)
        )
    })
}

/// One-line headline of a run.
pub fn headline(summary: &RunSummary, meta: &RunMeta) -> String {
    let t = summary.total(None, None);
    let rates = summary.failure_rates(None);
    let modes: Vec<&str> = summary.modes().iter().map(|m| m.as_str()).collect();
    // Failed pages and sessions are named beside failed requests: a redirect loop fails every
    // page while each hop answers.
    let mut failed = String::new();
    for (what, (f, n)) in [("pages", rates.page_loads), ("sessions", rates.sessions)] {
        if f > 0 {
            failed.push_str(&format!(
                " · {} of {} {what} failed",
                format::count(f),
                format::count(n)
            ));
        }
    }
    // Cut by throng at the end: neither failed nor answered.
    let interrupted = match t.interrupted {
        0 => String::new(),
        n => format!(" · {} interrupted", format::count(n)),
    };
    format!(
        "{} requests · {} req/s · {} failed ({}){interrupted}{failed} · peak {} users · {} · {}",
        format::count(t.count),
        format::rate(summary.rps(None)),
        format::count(t.failures),
        format::pct(t.error_rate()),
        summary.peak_users,
        format::duration(summary.duration),
        if modes.is_empty() {
            meta.modes_text()
        } else {
            modes.join("+")
        },
    )
}

/// The whole summary as text.
pub fn render_summary(
    summary: &RunSummary,
    meta: &RunMeta,
    thresholds: &[ThresholdResult],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "throng {} · started {} · {}",
        meta.version,
        format::utc(summary.started_unix_ms),
        meta.plan
    );
    let _ = writeln!(out, "{}", headline(summary, meta));
    if let Some(g) = &summary.generator {
        let _ = writeln!(out, "{}", g.verdict(summary.page_loads()));
    }
    if let Some(warning) = interrupted_warning(summary) {
        let _ = writeln!(out, "{warning}");
    }

    // Per mode and flow: one row per (step, kind, name).
    let mut groups: Vec<(String, Vec<&EntrySummary>)> = Vec::new();
    for e in &summary.entries {
        let title = format!("{} · {}", e.mode, e.flow);
        match groups.last_mut() {
            Some((t, v)) if *t == title => v.push(e),
            _ => groups.push((title, vec![e])),
        }
    }
    for (title, entries) in groups {
        let _ = writeln!(out, "\n{title}");
        let mut t = Table::new(&[
            ">step", "kind", "name", ">count", ">fail", ">rps", ">p50", ">p90", ">p95", ">p99",
            ">max ms",
        ]);
        for e in entries {
            let mut row = vec![
                e.step.map(|s| (s + 1).to_string()).unwrap_or_default(),
                e.kind.to_string(),
                format::truncate_middle(&e.name, NAME_WIDTH),
                format::count(e.count),
                format::count(e.failures),
                format::rate(e.rps),
            ];
            row.extend(latency_cells(e));
            t.row(row);
        }
        out.push_str(&t.render("  "));
    }

    // Totals by mode and kind: the numbers `throng compare` puts side by side.
    let mut t = Table::new(&[
        "mode", "kind", ">count", ">fail", ">err", ">rps", ">p50", ">p90", ">p95", ">p99",
        ">max ms",
    ]);
    for mode in summary.modes() {
        for kind in SampleKind::ALL {
            let tot = summary.total(Some(mode), Some(kind));
            if tot.count == 0 {
                continue;
            }
            let l = tot.stats();
            let secs = summary.duration.as_secs_f64().max(1e-9);
            let mut row = vec![
                mode.to_string(),
                kind.to_string(),
                format::count(tot.count),
                format::count(tot.failures),
                format::pct(tot.error_rate()),
                format::rate(tot.count as f64 / secs),
            ];
            row.extend(
                [l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.max_ms]
                    .into_iter()
                    .map(|v| format::kind_value(kind, v)),
            );
            t.row(row);
        }
    }
    if !t.is_empty() {
        let _ = writeln!(
            out,
            "\nTotals by kind (cls is a score, long-tasks a count, js-heap MB)"
        );
        out.push_str(&t.render("  "));
    }
    out.push_str(&vitals_section(summary));
    let slowest = super::slowest::text_lines(summary);
    if !slowest.is_empty() {
        let _ = writeln!(
            out,
            "\nSlowest traced (trace ids the target saw; more in results.json)"
        );
        for line in slowest {
            let _ = writeln!(out, "{line}");
        }
    }

    // Coordinated omission: where late timers make the corrected view differ.
    let mut t = Table::new(&[
        "mode",
        "kind",
        "name",
        ">raw p95",
        ">corrected p95",
        ">raw p99",
        ">corrected p99",
    ]);
    for e in &summary.entries {
        if let Some(c) = &e.corrected {
            if c.p99_ms != e.latency.p99_ms || c.p95_ms != e.latency.p95_ms {
                t.row(vec![
                    e.mode.to_string(),
                    e.kind.to_string(),
                    format::truncate_middle(&e.name, NAME_WIDTH),
                    format::ms(e.latency.p95_ms),
                    format::ms(c.p95_ms),
                    format::ms(e.latency.p99_ms),
                    format::ms(c.p99_ms),
                ]);
            }
        }
    }
    if !t.is_empty() {
        let _ = writeln!(
            out,
            "\nCoordinated omission (timers that fired late; corrected = from the intended start, ms)"
        );
        out.push_str(&t.render("  "));
    }

    // Failures by category.
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for e in &summary.entries {
        for (cat, n) in &e.failures_by_outcome {
            rows.push((
                *n,
                vec![
                    e.mode.to_string(),
                    e.kind.to_string(),
                    format::truncate_middle(&e.name, NAME_WIDTH),
                    cat.clone(),
                    format::count(*n),
                ],
            ));
        }
    }
    if !rows.is_empty() {
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        let _ = writeln!(out, "\nFailures");
        let mut t = Table::new(&["mode", "kind", "name", "category", ">count"]);
        let shown = rows.len().min(20);
        let hidden = rows.len() - shown;
        for (_, r) in rows.into_iter().take(shown) {
            t.row(r);
        }
        out.push_str(&t.render("  "));
        if hidden > 0 {
            let _ = writeln!(out, "  … {hidden} more in stats.csv / results.json");
        }
    }

    // Interrupted: still open when the run ended (the stalls a target may hide).
    let mut rows: Vec<&EntrySummary> = summary
        .entries
        .iter()
        .filter(|e| e.interrupted > 0)
        .collect();
    if !rows.is_empty() {
        rows.sort_by_key(|e| std::cmp::Reverse(e.interrupted));
        let _ = writeln!(out, "\nInterrupted (still open when the run ended)");
        let mut t = Table::new(&["mode", "kind", "name", ">count"]);
        for e in rows.iter().take(20) {
            t.row(vec![
                e.mode.to_string(),
                e.kind.to_string(),
                format::truncate_middle(&e.name, NAME_WIDTH),
                format::count(e.interrupted),
            ]);
        }
        out.push_str(&t.render("  "));
    }

    out.push_str(&super::failed_steps::text_section(summary));

    let counters: Vec<_> = summary.counters.iter().filter(|(_, v)| **v > 0).collect();
    if !counters.is_empty() {
        let _ = writeln!(out, "\nCounters");
        let mut t = Table::new(&["", "counter", ">value"]);
        for (k, v) in counters {
            let flag = if is_problem_counter(k) { "!" } else { "" };
            t.row(vec![flag.into(), k.clone(), format::count(*v)]);
        }
        out.push_str(&t.render("  "));
    }

    if !thresholds.is_empty() {
        let passed = thresholds.iter().filter(|t| t.passed).count();
        let _ = writeln!(out, "\nThresholds: {passed}/{} passed", thresholds.len());
        let mut t = Table::new(&["", "threshold", "actual"]);
        for r in thresholds {
            let mark = if r.passed { "✓ pass" } else { "✗ FAIL" };
            t.row(vec![mark.into(), r.text.clone(), r.actual.clone()]);
        }
        out.push_str(&t.render("  "));
    }
    out
}

/// Web vitals at their 75th percentile with web.dev's rating, per mode, then the per-page
/// extras (long tasks, JS heap) at p75.
fn vitals_section(summary: &RunSummary) -> String {
    let mut t = Table::new(&["mode", "vital", ">samples", ">p75", "rating"]);
    for mode in summary.modes() {
        let extras = [SampleKind::LongTasks, SampleKind::JsHeap];
        for kind in SampleKind::VITALS.into_iter().chain(extras) {
            let Some(p75) = super::vitals::p75(summary, mode, kind) else {
                continue;
            };
            t.row(vec![
                mode.to_string(),
                kind.to_string(),
                format::count(summary.total(Some(mode), Some(kind)).count),
                kind.unit().format(p75),
                kind.rating(p75).unwrap_or("").to_string(),
            ]);
        }
    }
    if t.is_empty() {
        return String::new();
    }
    format!(
        "\nWeb vitals (p75; good / needs improvement / poor as web.dev rates them)\n{}",
        t.render("  ")
    )
}

/// The summary shown at the end of a run (and summary.txt): the tables, then the HTTP vs
/// browser comparison when both modes ran.
pub struct TerminalRenderer;

impl Renderer for TerminalRenderer {
    fn file_name(&self) -> &'static str {
        "summary.txt"
    }

    fn render(&self, input: &ReportInput<'_>) -> anyhow::Result<Vec<u8>> {
        let mut text = render_summary(input.summary, input.meta, input.thresholds);
        if let Some(c) = Comparison::from_merged(input.summary, &input.meta.mode_facts) {
            text.push_str(&render_text(&c));
        }
        Ok(text.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::is_problem_counter;

    #[test]
    fn cdp_parse_failures_are_flagged_only_for_methods_throng_needs() {
        assert!(is_problem_counter(
            "cdp.parse_errors.Network.loadingFinished"
        ));
        assert!(!is_problem_counter(
            "cdp.ignored_unparsable.Network.requestWillBeSentExtraInfo"
        ));
    }
}
