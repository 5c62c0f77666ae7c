//! Terminal and HTML renderings of a [`Comparison`]: the headline table, latency by kind,
//! per-name rows, and the lists of requests only one mode sent.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::metrics::SampleKind;

use super::super::charts::{esc, BarChart, PALETTE};
use super::super::format::{self, Table};
use super::{Comparison, Connections, KindStats, ModeCost, ModeSide, OnlyIn, KINDS};

/// The terminal rendering.
pub fn render_text(c: &Comparison) -> String {
    let mut out = String::new();
    let title = if c.hybrid {
        "hybrid run: http and browser users side by side, under one load"
    } else {
        "throng compare: http vs browser, same flow and plan"
    };
    let _ = writeln!(out, "\n{title}");
    let mut t = Table::new(&["", ">http", ">browser", ">browser/http"]);
    for row in headline_rows(c) {
        t.row(row);
    }
    out.push_str(&t.render("  "));
    for w in &c.warnings {
        let _ = writeln!(out, "  ! {w}");
    }

    let _ = writeln!(out, "\n  Latency by kind (ms)");
    let mut t = Table::new(&[
        "kind",
        ">http p50",
        ">p95",
        ">p99",
        ">browser p50",
        ">p95",
        ">p99",
    ]);
    for row in kind_latency_rows(c) {
        t.row(row);
    }
    out.push_str(&t.render("  "));

    let vitals = vital_rows(c);
    if !vitals.is_empty() {
        let _ = writeln!(out, "\n  Web vitals (p75)");
        let mut t = Table::new(&["vital", ">http", ">browser"]);
        for row in vitals {
            t.row(row);
        }
        out.push_str(&t.render("  "));
    }

    let _ = writeln!(out, "\n  Per request name");
    let mut t = Table::new(&[
        "name",
        "kind",
        ">http n",
        ">/user-min",
        ">p95 ms",
        ">browser n",
        ">/user-min",
        ">p95 ms",
    ]);
    for mut row in name_rows(c) {
        row[0] = format::truncate_middle(&row[0], 60);
        t.row(row);
    }
    out.push_str(&t.render("  "));

    for (title, list) in only_lists(c) {
        let _ = writeln!(out, "\n  {title}: {} name(s)", list.len());
        if list.is_empty() {
            continue;
        }
        let mut t = Table::new(&["name", "kind", ">count", ">/user-min"]);
        for o in list {
            t.row(vec![
                format::truncate_middle(&o.name, 70),
                kinds_text(&o.kinds),
                format::count(o.count),
                format!("{:.2}", o.per_user_minute),
            ]);
        }
        out.push_str(&t.render("  "));
    }
    out
}

fn only_lists(c: &Comparison) -> [(&'static str, &[OnlyIn]); 2] {
    [
        (
            "Sent by the browsers, never by the HTTP replay",
            &c.missing_from_http,
        ),
        (
            "Sent by the HTTP replay, never by the browsers",
            &c.missing_from_browser,
        ),
    ]
}

fn headline_rows(c: &Comparison) -> Vec<Vec<String>> {
    let (h, b) = (&c.http, &c.browser);
    let ratio = |a: f64, b: f64| {
        if a > 0.0 {
            format!("{:.2}x", b / a)
        } else {
            "-".into()
        }
    };
    let mut rows = Vec::new();
    let mut num = |label: &str, hv: f64, bv: f64, text: &dyn Fn(f64) -> String| {
        rows.push(vec![label.to_string(), text(hv), text(bv), ratio(hv, bv)]);
    };
    let two = |v: f64| format!("{v:.2}");
    let cnt = |v: f64| format::count(v as u64);
    num(
        "virtual users (peak)",
        h.facts.peak_users as f64,
        b.facts.peak_users as f64,
        &cnt,
    );
    num(
        "user-minutes",
        h.facts.user_minutes(),
        b.facts.user_minutes(),
        &two,
    );
    num("requests", h.requests as f64, b.requests as f64, &cnt);
    let per_min = |s: &ModeSide| {
        let m = s.facts.user_minutes();
        if m > 0.0 {
            s.requests as f64 / m
        } else {
            0.0
        }
    };
    num("requests / user-minute", per_min(h), per_min(b), &two);
    for kind in KINDS {
        let (hk, bk) = (h.kind(kind), b.kind(kind));
        if hk.is_none() && bk.is_none() {
            continue;
        }
        let v = |k: Option<&KindStats>| k.map_or(0.0, |k| k.per_user_minute);
        num(&format!("  {kind} / user-minute"), v(hk), v(bk), &two);
    }
    if let (Some(hs), Some(bs)) = (h.static_per_page(), b.static_per_page()) {
        num("static requests / page", hs, bs, &two);
    }
    num("failures", h.failures as f64, b.failures as f64, &cnt);
    num("target saw: requests/s", h.target_rps, b.target_rps, &|v| {
        format!("{v:.1}")
    });
    num(
        "target saw: KB/s",
        h.target_bytes_per_s / 1024.0,
        b.target_bytes_per_s / 1024.0,
        &|v| format!("{v:.1}"),
    );
    for (label, q) in [("p50", 0), ("p95", 1), ("p99", 2)] {
        let v = |s: &ModeSide| {
            s.page_load
                .map(|l| [l.p50_ms, l.p95_ms, l.p99_ms][q])
                .unwrap_or(0.0)
        };
        num(&format!("page-load {label} ms"), v(h), v(b), &|v| {
            format::ms(v)
        });
    }
    let cost = |s: &ModeSide, f: &dyn Fn(&ModeCost) -> f64| s.facts.cost.as_ref().map(f);
    let opt = |label: &str, hv: Option<f64>, bv: Option<f64>, rows: &mut Vec<Vec<String>>| {
        let text = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        let r = match (hv, bv) {
            (Some(a), Some(b)) => ratio(a, b),
            _ => "-".into(),
        };
        rows.push(vec![label.to_string(), text(hv), text(bv), r]);
    };
    let shared = [h, b]
        .iter()
        .any(|s| s.facts.cost.is_some_and(|c| c.shared));
    let self_label = if shared {
        "CPU s, throng (shared: both at once)"
    } else {
        "CPU s, throng"
    };
    opt(
        self_label,
        cost(h, &|c| c.cpu_self_s),
        cost(b, &|c| c.cpu_self_s),
        &mut rows,
    );
    opt(
        "CPU s, browsers",
        cost(h, &|c| c.cpu_children_s),
        cost(b, &|c| c.cpu_children_s),
        &mut rows,
    );
    opt(
        "CPU s per user-minute",
        h.cpu_per_user_minute(),
        b.cpu_per_user_minute(),
        &mut rows,
    );
    opt(
        "peak memory MB, throng",
        cost(h, &|c| c.mem_self_mb),
        cost(b, &|c| c.mem_self_mb),
        &mut rows,
    );
    opt(
        "peak memory MB, browsers",
        cost(h, &|c| c.mem_children_mb),
        cost(b, &|c| c.mem_children_mb),
        &mut rows,
    );
    opt(
        "memory MB per user",
        h.mem_per_user_mb(),
        b.mem_per_user_mb(),
        &mut rows,
    );
    let conns =
        |s: &ModeSide, f: fn(&Connections) -> u64| s.facts.connections.map(|c| c.per_user(f(&c)));
    for (label, f) in [
        (
            "connections per user, HTTP/2",
            (|c| c.h2) as fn(&Connections) -> u64,
        ),
        ("connections per user, HTTP/1.1", |c| c.http1),
    ] {
        let (hv, bv) = (conns(h, f), conns(b, f));
        if hv.unwrap_or(0.0) + bv.unwrap_or(0.0) > 0.0 {
            opt(label, hv, bv, &mut rows);
        }
    }
    rows
}

fn kind_latency_rows(c: &Comparison) -> Vec<Vec<String>> {
    let cells = |k: Option<&KindStats>| match k.filter(|k| k.count > 0) {
        Some(k) => [k.latency.p50_ms, k.latency.p95_ms, k.latency.p99_ms]
            .map(format::ms)
            .to_vec(),
        None => vec!["-".into(); 3],
    };
    let mut rows: Vec<Vec<String>> = KINDS
        .iter()
        .filter(|&&k| c.http.kind(k).is_some() || c.browser.kind(k).is_some())
        .map(|&k| {
            let mut r = vec![k.to_string()];
            r.extend(cells(c.http.kind(k)));
            r.extend(cells(c.browser.kind(k)));
            r
        })
        .collect();
    let pl = |s: &ModeSide| match s.page_load {
        Some(l) => [l.p50_ms, l.p95_ms, l.p99_ms].map(format::ms).to_vec(),
        None => vec!["-".into(); 3],
    };
    let mut r = vec!["page-load".to_string()];
    r.extend(pl(&c.http));
    r.extend(pl(&c.browser));
    rows.push(r);
    rows
}

/// Each vital either mode measured: its p75 in each ("-" where not measured).
fn vital_rows(c: &Comparison) -> Vec<Vec<String>> {
    let get = |s: &ModeSide, k: SampleKind| {
        s.vitals
            .iter()
            .find(|v| v.0 == k)
            .map_or("-".to_string(), |v| k.unit().format(v.1))
    };
    SampleKind::VITALS
        .into_iter()
        .filter(|&k| {
            [&c.http, &c.browser]
                .iter()
                .any(|s| s.vitals.iter().any(|v| v.0 == k))
        })
        .map(|k| vec![k.to_string(), get(&c.http, k), get(&c.browser, k)])
        .collect()
}

fn name_rows(c: &Comparison) -> Vec<Vec<String>> {
    let names: BTreeSet<&String> = c.http.names.keys().chain(c.browser.names.keys()).collect();
    names
        .into_iter()
        .map(|name| {
            let (h, b) = (c.http.names.get(name), c.browser.names.get(name));
            let kinds = h.or(b).map(|s| kinds_text(&s.kinds)).unwrap_or_default();
            let mut r = vec![name.clone(), kinds];
            for s in [h, b] {
                match s {
                    Some(s) => r.extend([
                        format::count(s.count),
                        format!("{:.2}", s.per_user_minute),
                        format::ms(s.latency.p95_ms),
                    ]),
                    None => r.extend(["-".to_string(), "-".into(), "-".into()]),
                }
            }
            r
        })
        .collect()
}

/// The HTML section inserted into report.html.
pub fn render_html_section(c: &Comparison) -> String {
    let mut out = String::from(if c.hybrid {
        r#"<section id="compare"><h2>Hybrid run: HTTP and browser users side by side</h2>"#
    } else {
        r#"<section id="compare"><h2>HTTP vs browser: what plain HTTP load misses</h2>"#
    });
    let bars = BarChart {
        id: "chart-compare-kinds",
        title: "Requests per user-minute by kind".into(),
        unit: "per user-minute".into(),
        categories: KINDS
            .iter()
            .filter(|&&k| c.http.kind(k).is_some() || c.browser.kind(k).is_some())
            .map(|k| k.to_string())
            .collect(),
        series: [(&c.http, PALETTE[0]), (&c.browser, PALETTE[1])]
            .iter()
            .map(|(s, color)| {
                let values = KINDS
                    .iter()
                    .filter(|&&k| c.http.kind(k).is_some() || c.browser.kind(k).is_some())
                    .map(|&k| s.kind(k).map(|k| k.per_user_minute))
                    .collect();
                (s.mode.to_string(), *color, values)
            })
            .collect(),
    };
    if !c.warnings.is_empty() {
        out.push_str(r#"<ul id="compare-warnings" class="warn">"#);
        for w in &c.warnings {
            let _ = write!(out, "<li>{}</li>", esc(w));
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        r#"<div class="charts" style="align-items:start">{}<div>{}</div></div>"#,
        bars.render(),
        html_table(
            "compare-summary",
            &["", ">http", ">browser", ">browser/http"],
            &headline_rows(c)
        )
    );
    let _ = write!(
        out,
        "<h3>Latency by kind (ms)</h3>{}",
        html_table(
            "compare-kinds",
            &[
                "kind",
                ">http p50",
                ">http p95",
                ">http p99",
                ">browser p50",
                ">browser p95",
                ">browser p99"
            ],
            &kind_latency_rows(c)
        )
    );
    for (i, (title, list)) in only_lists(c).iter().enumerate() {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|o| {
                vec![
                    o.name.clone(),
                    kinds_text(&o.kinds),
                    format::count(o.count),
                    format!("{:.2}", o.per_user_minute),
                ]
            })
            .collect();
        let id = ["missing-from-http", "missing-from-browser"][i];
        let _ = write!(out, "<h3>{} ({})</h3>", esc(title), list.len());
        if rows.is_empty() {
            let _ = write!(out, r#"<p id="{id}" class="muted">none</p>"#);
        } else {
            out.push_str(&html_table(
                id,
                &["name", "kind", ">count", ">per user-minute"],
                &rows,
            ));
        }
    }
    let vitals = vital_rows(c);
    if !vitals.is_empty() {
        let _ = write!(
            out,
            "<h3>Web vitals (p75)</h3>{}",
            html_table("compare-vitals", &["vital", ">http", ">browser"], &vitals)
        );
    }
    let _ = write!(
        out,
        "<h3>Per request name</h3>{}</section>",
        html_table(
            "compare-names",
            &[
                "name",
                "kind",
                ">http n",
                ">http /user-min",
                ">http p95",
                ">browser n",
                ">browser /user-min",
                ">browser p95"
            ],
            &name_rows(c)
        )
    );
    out
}

fn kinds_text(kinds: &[SampleKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

/// A plain HTML table with an id (headers starting with '>' are numeric).
fn html_table(id: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(r#"<div class="wrap"><table id="{id}"><thead><tr>"#);
    for h in headers {
        let class = if h.starts_with('>') {
            r#" class="n""#
        } else {
            ""
        };
        let _ = write!(out, "<th{class}>{}</th>", esc(h.trim_start_matches('>')));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for (i, cell) in r.iter().enumerate() {
            let class = match headers.get(i) {
                Some(h) if h.starts_with('>') => r#" class="n""#,
                Some(&"name") => r#" class="name""#,
                _ => "",
            };
            let _ = write!(out, "<td{class}>{}</td>", esc(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}
