//! report.html: one self-contained page (inline CSS and SVG, no scripts, no network) with the
//! run's charts, summary tables, thresholds, counters and the knee of a ramp.

use std::fmt::Write as _;

use crate::metrics::{Mode, RunSummary, SampleKind};

use super::charts::{
    distribution_ticks, esc, quantile_x, BarChart, Line, LineChart, Marker, DISTRIBUTION_QUANTILES,
    PALETTE,
};
use super::compare::{render_html_section, Comparison};
use super::format;
use super::knee::find_knee;
use super::terminal::is_problem_counter;
use super::{Renderer, ReportInput, RunMeta, ThresholdResult};

const STYLE: &str = r#"
:root{--fg:#1d232a;--muted:#5b6670;--line:#dde2e6;--bg:#fff;--card:#f6f8fa;--ok:#0a7d38;--bad:#b00020}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:24px 32px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
.muted{color:var(--muted)}code{font:12px ui-monospace,Menlo,Consolas,monospace;background:var(--card);padding:1px 4px;border-radius:3px;word-break:break-all}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{background:var(--card);border-radius:6px;padding:10px 14px;min-width:140px}
.card b{display:block;font-size:20px}.card span{color:var(--muted);font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:18px}
figure.chart{margin:0;background:var(--card);border-radius:6px;padding:10px}figcaption{font-weight:600;margin-bottom:4px}
svg{width:100%;height:auto;display:block}svg text{font-size:11px;fill:var(--muted)}svg .axis{font-size:11px;fill:var(--fg)}svg .cat{fill:var(--fg)}
svg .grid line{stroke:var(--line);stroke-width:1}svg .nodata{font-size:14px}svg .knee text{font-size:12px;font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:12px;font-size:12px;margin-top:4px}.legend i{display:inline-block;width:12px;height:3px;margin:0 5px 3px 0;vertical-align:middle}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--card);position:sticky;top:0}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{word-break:break-all}.pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:600}tr.problem td{color:var(--bad)}
.wrap{overflow-x:auto}ul.warn{color:var(--bad);font-weight:600}
.good{color:var(--ok);font-weight:600}.ni{color:#b8860b;font-weight:600}.poor{color:var(--bad);font-weight:600}
.shots{display:flex;flex-wrap:wrap;gap:12px}.shot{background:var(--card);border-radius:6px;padding:8px;max-width:420px}.shot img{width:100%;border:1px solid var(--line)}
"#;

/// An HTML table; headers starting with '>' are numeric (right-aligned).
pub(super) fn table(
    headers: &[&str],
    rows: &[Vec<String>],
    row_class: impl Fn(usize) -> &'static str,
) -> String {
    let mut out = String::from(r#"<div class="wrap"><table><thead><tr>"#);
    let numeric: Vec<bool> = headers.iter().map(|h| h.starts_with('>')).collect();
    for h in headers {
        let n = h.starts_with('>');
        let _ = write!(
            out,
            "<th{}>{}</th>",
            if n { r#" class="n""# } else { "" },
            esc(h.trim_start_matches('>'))
        );
    }
    out.push_str("</tr></thead><tbody>");
    for (i, r) in rows.iter().enumerate() {
        let class = row_class(i);
        if class.is_empty() {
            out.push_str("<tr>");
        } else {
            let _ = write!(out, r#"<tr class="{class}">"#);
        }
        for (c, cell) in r.iter().enumerate() {
            let cls = if numeric.get(c).copied().unwrap_or(false) {
                r#" class="n""#
            } else if headers.get(c) == Some(&"name") {
                r#" class="name""#
            } else {
                ""
            };
            // Cells are escaped here, except pre-rendered markup marked with a leading \u{1}.
            match cell.strip_prefix('\u{1}') {
                Some(html) => {
                    let _ = write!(out, "<td{cls}>{html}</td>");
                }
                None => {
                    let _ = write!(out, "<td{cls}>{}</td>", esc(cell));
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

fn secs(t_ms: u64) -> f64 {
    t_ms as f64 / 1000.0
}

fn over_time(summary: &RunSummary) -> String {
    let s = &summary.series;
    let knee = find_knee(s);
    let marker = || {
        knee.as_ref().map(|k| Marker {
            x: secs(k.t_ms),
            label: format!("knee ≈ {} users", k.users),
        })
    };
    let line = |label: &str, color, dashed, pts: Vec<(f64, f64)>| Line {
        label: label.into(),
        color,
        dashed,
        points: pts,
    };
    let users = LineChart {
        id: "chart-users",
        title: "Active users".into(),
        x_label: "seconds".into(),
        y_label: "users".into(),
        lines: vec![line(
            "users",
            PALETTE[0],
            false,
            s.iter().map(|p| (secs(p.t_ms), p.users as f64)).collect(),
        )],
        x_ticks: None,
        marker: marker(),
        tip: |_, x, y| format!("{x:.0}s: {y:.0} users"),
    };
    let rps = LineChart {
        id: "chart-rps",
        title: "Requests per second".into(),
        x_label: "seconds".into(),
        y_label: "requests/s".into(),
        lines: vec![line(
            "requests/s",
            PALETTE[2],
            false,
            s.iter().map(|p| (secs(p.t_ms), p.rps)).collect(),
        )],
        x_ticks: None,
        marker: None,
        tip: |_, x, y| format!("{x:.0}s: {y:.1} req/s"),
    };
    let failures = LineChart {
        id: "chart-failures",
        title: "Failures per second".into(),
        x_label: "seconds".into(),
        y_label: "failures/s".into(),
        lines: vec![line(
            "failures/s",
            "#B00020",
            false,
            s.iter()
                .map(|p| (secs(p.t_ms), p.failures_per_s()))
                .collect(),
        )],
        x_ticks: None,
        marker: None,
        tip: |_, x, y| format!("{x:.0}s: {y:.1} failures/s"),
    };
    let pick = |f: fn(&crate::metrics::SecondStats) -> Option<f64>| -> Vec<(f64, f64)> {
        s.iter()
            .filter_map(|p| f(p).map(|v| (secs(p.t_ms), v)))
            .collect()
    };
    let mut latency_lines = vec![
        line("p50", PALETTE[2], false, pick(|p| p.p50_ms)),
        line("p95", PALETTE[0], false, pick(|p| p.p95_ms)),
        line("p99", PALETTE[1], false, pick(|p| p.p99_ms)),
    ];
    let page_load = pick(|p| p.page_load_p95_ms);
    if !page_load.is_empty() {
        latency_lines.push(line("page-load p95", PALETTE[3], true, page_load));
    }
    let latency = LineChart {
        id: "chart-latency",
        title: "Latency over time (all requests; page-load dashed)".into(),
        x_label: "seconds".into(),
        y_label: "ms".into(),
        lines: latency_lines,
        x_ticks: None,
        marker: marker(),
        tip: |l, x, y| format!("{x:.0}s: {l} {} ms", format::ms(y)),
    };
    [users, rps, failures, latency]
        .iter()
        .map(LineChart::render)
        .collect()
}

fn distribution(summary: &RunSummary) -> String {
    let mut lines = Vec::new();
    for mode in summary.modes() {
        for kind in SampleKind::ALL {
            let t = summary.total(Some(mode), Some(kind));
            if t.count == 0 || !(kind.is_request() || kind == SampleKind::PageLoad) {
                continue;
            }
            let points = DISTRIBUTION_QUANTILES
                .iter()
                .map(|&q| (quantile_x(q), t.hist.value_at_quantile(q) as f64 / 1000.0))
                .collect();
            let label = if summary.modes().len() > 1 {
                format!("{mode} {kind}")
            } else {
                kind.to_string()
            };
            // Colour by kind, dash by mode: the same kind lines up across modes.
            let kind_index = SampleKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
            lines.push(Line {
                label,
                color: PALETTE[kind_index % PALETTE.len()],
                dashed: mode == Mode::Browser && summary.modes().len() > 1,
                points,
            });
        }
    }
    LineChart {
        id: "chart-distribution",
        title: "Latency distribution by kind (percentile, log scale)".into(),
        x_label: "percentile".into(),
        y_label: "ms".into(),
        lines,
        x_ticks: Some(distribution_ticks()),
        marker: None,
        tip: |l, x, y| {
            let pct = (1.0 - 10f64.powf(-x)) * 100.0;
            format!("{l}: {pct:.3}% ≤ {} ms", format::ms(y))
        },
    }
    .render()
}

fn page_load_by_step(summary: &RunSummary) -> String {
    let mut cats: Vec<(String, Option<u32>)> = Vec::new();
    for e in summary
        .entries
        .iter()
        .filter(|e| e.kind == SampleKind::PageLoad)
    {
        let c = (e.flow.clone(), e.step);
        if !cats.contains(&c) {
            cats.push(c);
        }
    }
    let modes = summary.modes();
    let mut series = Vec::new();
    for mode in &modes {
        // Light/dark pairs per mode: blues for http, oranges for browser.
        let (light, dark) = match mode {
            Mode::Http => (PALETTE[5], PALETTE[0]),
            Mode::Browser => (PALETTE[4], PALETTE[1]),
        };
        for (label, q, color) in [("p50", 0.5, light), ("p95", 0.95, dark)] {
            let values = cats
                .iter()
                .map(|(flow, step)| {
                    let mut h = crate::metrics::new_histogram();
                    for e in summary.entries.iter().filter(|e| {
                        e.kind == SampleKind::PageLoad
                            && e.mode == *mode
                            && &e.flow == flow
                            && e.step == *step
                    }) {
                        if let Ok(eh) = e.histogram() {
                            let _ = h.add(&eh);
                        }
                    }
                    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
                })
                .collect();
            series.push((format!("{mode} {label}"), color, values));
        }
    }
    let multi_flow = cats.iter().any(|c| c.0 != cats[0].0);
    BarChart {
        id: "chart-page-load",
        title: "Page load per step".into(),
        unit: "ms".into(),
        categories: cats
            .iter()
            .map(|(flow, step)| {
                let s = step
                    .map(|s| format!("step {}", s + 1))
                    .unwrap_or("-".into());
                if multi_flow {
                    format!("{flow} · {s}")
                } else {
                    s
                }
            })
            .collect(),
        series,
    }
    .render()
}

fn cards(summary: &RunSummary) -> String {
    let t = summary.total(None, None);
    let pl = summary.total(None, Some(SampleKind::PageLoad));
    let mut items = vec![
        (format::count(t.count), "requests".to_string()),
        (format::rate(summary.rps(None)), "requests/s".into()),
        (
            format!(
                "{} ({})",
                format::count(t.failures),
                format::pct(t.error_rate())
            ),
            "failed".into(),
        ),
        (
            format::opt_ms(t.quantile_ms(0.95)),
            "p95 ms, all requests".into(),
        ),
        (summary.peak_users.to_string(), "peak users".into()),
        (format::duration(summary.duration), "duration".into()),
    ];
    if pl.count > 0 {
        items.insert(
            4,
            (
                format::opt_ms(pl.quantile_ms(0.95)),
                "page-load p95 ms".into(),
            ),
        );
    }
    if t.interrupted > 0 {
        items.insert(3, (format::count(t.interrupted), "interrupted".into()));
    }
    let mut out = String::from(r#"<div class="cards">"#);
    for (v, l) in items {
        let _ = write!(
            out,
            r#"<div class="card"><b>{}</b><span>{}</span></div>"#,
            esc(&v),
            esc(&l)
        );
    }
    out.push_str("</div>");
    out
}

fn thresholds_section(thresholds: &[ThresholdResult]) -> String {
    if thresholds.is_empty() {
        return String::new();
    }
    let passed = thresholds.iter().filter(|t| t.passed).count();
    let rows: Vec<Vec<String>> = thresholds
        .iter()
        .map(|t| {
            let verdict = if t.passed {
                "\u{1}<span class=\"pass\">✓ pass</span>"
            } else {
                "\u{1}<span class=\"fail\">✗ fail</span>"
            };
            vec![verdict.into(), t.text.clone(), t.actual.clone()]
        })
        .collect();
    format!(
        r#"<section id="thresholds"><h2>Thresholds: {passed}/{} passed</h2>{}</section>"#,
        thresholds.len(),
        table(&["result", "threshold", "actual"], &rows, |_| "")
    )
}

fn tables(summary: &RunSummary) -> String {
    let mut out = String::new();
    let lat = |l: &crate::metrics::LatencyStats, k: SampleKind| {
        [l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.max_ms].map(|v| format::kind_value(k, v))
    };
    let mut rows = Vec::new();
    for mode in summary.modes() {
        for kind in SampleKind::ALL {
            let t = summary.total(Some(mode), Some(kind));
            if t.count == 0 {
                continue;
            }
            let mut r = vec![
                mode.to_string(),
                kind.to_string(),
                format::count(t.count),
                format::count(t.failures),
                format::pct(t.error_rate()),
                format::rate(t.count as f64 / summary.duration.as_secs_f64().max(1e-9)),
            ];
            r.extend(lat(&t.stats(), kind));
            rows.push(r);
        }
    }
    let heads = [
        "mode",
        "kind",
        ">count",
        ">failures",
        ">error rate",
        ">rps",
        ">p50 ms",
        ">p90 ms",
        ">p95 ms",
        ">p99 ms",
        ">max ms",
    ];
    let _ = write!(
        out,
        r#"<section id="totals"><h2>Totals by kind</h2>{}</section>"#,
        table(&heads, &rows, |_| "")
    );

    let rows: Vec<Vec<String>> = summary
        .entries
        .iter()
        .map(|e| {
            let mut r = vec![
                e.mode.to_string(),
                e.flow.clone(),
                e.step.map(|s| (s + 1).to_string()).unwrap_or_default(),
                e.kind.to_string(),
                e.name.clone(),
                format::count(e.count),
                format::count(e.failures),
                format::count(e.interrupted),
                format::rate(e.rps),
            ];
            r.extend(lat(&e.latency, e.kind));
            r.push(
                e.corrected
                    .map(|c| format::ms(c.p95_ms))
                    .unwrap_or_default(),
            );
            r
        })
        .collect();
    let heads = [
        "mode",
        "flow",
        ">step",
        "kind",
        "name",
        ">count",
        ">failures",
        ">interrupted",
        ">rps",
        ">p50 ms",
        ">p90 ms",
        ">p95 ms",
        ">p99 ms",
        ">max ms",
        ">corrected p95",
    ];
    let _ = write!(
        out,
        r#"<section id="requests"><h2>Requests and timings</h2>{}</section>"#,
        table(&heads, &rows, |_| "")
    );

    let mut fails: Vec<(u64, Vec<String>)> = summary
        .entries
        .iter()
        .flat_map(|e| {
            e.failures_by_outcome.iter().map(move |(cat, n)| {
                (
                    *n,
                    vec![
                        e.mode.to_string(),
                        e.kind.to_string(),
                        e.name.clone(),
                        cat.clone(),
                        format::count(*n),
                    ],
                )
            })
        })
        .collect();
    if !fails.is_empty() {
        fails.sort_by_key(|f| std::cmp::Reverse(f.0));
        let rows: Vec<_> = fails.into_iter().map(|f| f.1).collect();
        let _ = write!(
            out,
            r#"<section id="failures"><h2>Failures by category</h2>{}</section>"#,
            table(
                &["mode", "kind", "name", "category", ">count"],
                &rows,
                |_| ""
            )
        );
    }

    let counters: Vec<(&String, &u64)> = summary.counters.iter().filter(|(_, v)| **v > 0).collect();
    if !counters.is_empty() {
        let rows: Vec<Vec<String>> = counters
            .iter()
            .map(|(k, v)| vec![(*k).clone(), format::count(**v)])
            .collect();
        let _ = write!(
            out,
            r#"<section id="counters"><h2>Counters</h2>{}</section>"#,
            table(&["counter", ">value"], &rows, |i| {
                if is_problem_counter(counters[i].0) {
                    "problem"
                } else {
                    ""
                }
            })
        );
    }
    out
}

fn meta_section(summary: &RunSummary, meta: &RunMeta) -> String {
    let mut rows = vec![
        vec!["started".to_string(), format::utc(summary.started_unix_ms)],
        vec!["duration".into(), format::duration(summary.duration)],
        vec!["plan".into(), meta.plan.clone()],
        vec!["flows".into(), meta.flows.join(", ")],
        vec!["modes".into(), meta.modes_text()],
        vec!["throng".into(), meta.version.clone()],
    ];
    if !meta.command_line.is_empty() {
        rows.push(vec![
            "command".into(),
            format!("\u{1}<code>{}</code>", esc(&meta.command_line.join(" "))),
        ]);
    }
    format!(
        r#"<section id="run"><h2>Run</h2>{}</section>"#,
        table(&["", ""], &rows, |_| "")
    )
}

/// The full report page.
pub fn render_html(summary: &RunSummary, meta: &RunMeta, thresholds: &[ThresholdResult]) -> String {
    let title = if meta.flows.is_empty() {
        "throng report".to_string()
    } else {
        format!("throng report: {}", meta.flows.join(", "))
    };
    let knee = find_knee(&summary.series).map(|k| {
        format!(
            r#"<p id="knee"><b>Knee:</b> p95 started to climb at about <b>{} users</b> ({}s into the run: rolling p95 {} ms vs. a baseline of {} ms).</p>"#,
            k.users,
            k.t_ms / 1000,
            format::ms(k.p95_ms),
            format::ms(k.baseline_ms)
        )
    });
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{}</title><style>{STYLE}</style></head><body><header><h1>{}</h1><div class="muted">{}</div></header>"#,
        esc(&title),
        esc(&title),
        esc(&super::terminal::headline(summary, meta))
    );
    out.push_str(&cards(summary));
    if let Some(warning) = super::terminal::interrupted_warning(summary) {
        let _ = write!(
            out,
            r#"<p id="interrupted" class="fail">{}</p>"#,
            esc(&warning)
        );
    }
    if let Some(g) = &summary.generator {
        // Saturation goes first: it changes how every number below is read.
        let class = if g.saturated() { "fail" } else { "muted" };
        let _ = write!(
            out,
            r#"<section id="generator"><h2>Generator health</h2><p class="{class}">{}</p></section>"#,
            esc(&g.verdict(summary.page_loads()))
        );
    }
    out.push_str(&thresholds_section(thresholds));
    out.push_str(&super::vitals::html_section(summary));
    out.push_str(&super::failed_steps::html_section(summary));
    if let Some(c) = Comparison::from_merged(summary, &meta.mode_facts) {
        out.push_str(&render_html_section(&c));
    }
    out.push_str(r#"<section id="charts"><h2>Over time</h2>"#);
    out.push_str(&knee.unwrap_or_default());
    out.push_str(r#"<div class="charts">"#);
    out.push_str(&over_time(summary));
    out.push_str(r#"</div><h2>Latency</h2><div class="charts">"#);
    out.push_str(&distribution(summary));
    out.push_str(&page_load_by_step(summary));
    out.push_str("</div></section>");
    out.push_str(&super::slowest::html_section(summary));
    out.push_str(&tables(summary));
    out.push_str(&meta_section(summary, meta));
    out.push_str("</body></html>\n");
    out
}

/// Writes report.html.
pub struct HtmlRenderer;

impl Renderer for HtmlRenderer {
    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, input: &ReportInput<'_>) -> anyhow::Result<Vec<u8>> {
        Ok(render_html(input.summary, input.meta, input.thresholds).into_bytes())
    }
}
