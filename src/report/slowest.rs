//! `--trace` in the reports: per name, the slowest requests and page loads with the trace
//! ids the target saw them in (results.json's `slowest`, report.html's tables per mode, a
//! few lines in the terminal summary), so a latency spike leads to the backend's trace.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::metrics::{keep_slowest, Exemplar, Mode, RunSummary, SampleKind, SLOWEST_KEPT};

use super::charts::esc;
use super::format;

/// Names listed per table in report.html.
const HTML_ROWS: usize = 20;

/// One name's slowest traced samples (all its flows and steps together).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slowest {
    pub mode: Mode,
    pub kind: SampleKind,
    pub name: String,
    /// Slowest first.
    pub traces: Vec<Exemplar>,
}

/// Every traced request and page-load name, slowest first.
pub fn by_name(summary: &RunSummary) -> Vec<Slowest> {
    let mut groups: BTreeMap<(Mode, SampleKind, &str), Vec<Exemplar>> = BTreeMap::new();
    for e in summary.entries.iter().filter(|e| {
        !e.slowest.is_empty() && (e.kind.is_request() || e.kind == SampleKind::PageLoad)
    }) {
        let list = groups.entry((e.mode, e.kind, &e.name)).or_default();
        for x in &e.slowest {
            keep_slowest(list, *x, SLOWEST_KEPT);
        }
    }
    let mut out: Vec<Slowest> = groups
        .into_iter()
        .map(|((mode, kind, name), traces)| Slowest {
            mode,
            kind,
            name: name.to_string(),
            traces,
        })
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.traces[0].latency_us));
    out
}

/// report.html's section: per mode, the slowest request names and page names with their
/// traces (`data-trace-id` on each id). Empty without `--trace`.
pub fn html_section(summary: &RunSummary) -> String {
    let all = by_name(summary);
    if all.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        r#"<section id="slowest"><h2>Slowest traced requests and page loads</h2><p class="muted">The trace ids the target saw (W3C traceparent): look them up in the backend's traces.</p>"#,
    );
    for mode in summary.modes() {
        for (what, id, pages) in [
            ("Requests", "requests", false),
            ("Page loads", "pages", true),
        ] {
            let rows: Vec<&Slowest> = all
                .iter()
                .filter(|s| s.mode == mode && (s.kind == SampleKind::PageLoad) == pages)
                .take(HTML_ROWS)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let _ = write!(
                out,
                r#"<h3>{what}, {mode}</h3><div class="wrap"><table id="slowest-{id}-{mode}"><thead><tr><th>kind</th><th>name</th><th class="n">slowest ms</th><th>traces (slowest first)</th></tr></thead><tbody>"#
            );
            for s in rows {
                let traces: Vec<String> = s
                    .traces
                    .iter()
                    .map(|e| {
                        format!(
                            r#"{} ms <code class="trace" data-trace-id="{}" data-span-id="{}">{}</code>"#,
                            format::ms(f64::from(e.latency_us) / 1000.0),
                            e.trace_id,
                            e.span_id,
                            e.trace_id
                        )
                    })
                    .collect();
                let _ = write!(
                    out,
                    r#"<tr><td>{}</td><td class="name">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                    s.kind,
                    esc(&s.name),
                    format::ms(f64::from(s.traces[0].latency_us) / 1000.0),
                    traces.join("<br>")
                );
            }
            out.push_str("</tbody></table></div>");
        }
    }
    out.push_str("</section>");
    out
}

/// The terminal summary's lines: per mode, the slowest traced request and page load.
pub fn text_lines(summary: &RunSummary) -> Vec<String> {
    let all = by_name(summary);
    let mut out = Vec::new();
    for mode in summary.modes() {
        for pages in [false, true] {
            if let Some(s) = all
                .iter()
                .find(|s| s.mode == mode && (s.kind == SampleKind::PageLoad) == pages)
            {
                let e = s.traces[0];
                out.push(format!(
                    "  {mode:<7} {:<9} {:>9} ms  trace {}  {}",
                    s.kind.as_str(),
                    format::ms(f64::from(e.latency_us) / 1000.0),
                    e.trace_id,
                    s.name
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{EntrySummary, SpanId, TraceId};

    #[test]
    fn names_merge_across_steps_and_sort_slowest_first() {
        let e = |us: u32| Exemplar {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            latency_us: us,
            unix_ms: 1,
        };
        let entry = |step: u32, kind: SampleKind, name: &str, slowest: Vec<Exemplar>| {
            let mut x: EntrySummary = serde_json::from_value(serde_json::json!({
                "mode": "http", "flow": "f", "step": step, "kind": kind, "name": name,
                "count": 1, "failures": 0, "failures_by_outcome": {}, "bytes": 0, "rps": 0.0,
                "latency": {"p50_ms": 0.0, "p90_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "mean_ms": 0.0},
                "histogram": ""
            }))
            .unwrap();
            x.slowest = slowest;
            x
        };
        let summary = RunSummary {
            entries: vec![
                entry(0, SampleKind::Ajax, "GET /a", vec![e(5), e(3)]),
                entry(1, SampleKind::Ajax, "GET /a", vec![e(9)]),
                entry(1, SampleKind::Document, "GET /b", vec![e(7)]),
                entry(1, SampleKind::PageLoad, "/b", vec![e(20)]),
                entry(1, SampleKind::Step, "2 click", vec![e(50)]),
            ],
            ..Default::default()
        };
        let got = by_name(&summary);
        let names: Vec<(&str, Vec<u32>)> = got
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.traces.iter().map(|t| t.latency_us).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("/b", vec![20]),
                ("GET /a", vec![9, 5, 3]),
                ("GET /b", vec![7])
            ]
        );
        let html = html_section(&summary);
        let first = html.split("data-trace-id=\"").nth(1).unwrap();
        assert!(
            first.starts_with(&got[1].traces[0].trace_id.hex()),
            "the slowest request comes first"
        );
        assert!(html.contains(r#"id="slowest-pages-http""#));
        assert_eq!(html_section(&RunSummary::default()), "");
    }
}
