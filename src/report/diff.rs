//! `throng diff`: per-name comparison of two saved runs (p95 and error rate), flagging
//! regressions beyond a tolerance.

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;

use crate::metrics::{new_histogram, Mode, RunSummary, SampleKind, Unit};

use super::format::{self, Table};

/// A p95 rise smaller than this is noise, whatever the percentage.
pub const MIN_P95_RISE_MS: f64 = 1.0;
/// An error-rate rise smaller than this (0.1 percentage point) is noise.
pub const MIN_ERROR_RISE: f64 = 0.001;

/// One side of a compared name.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffSide {
    pub count: u64,
    pub failures: u64,
    pub p95_ms: f64,
    pub error_rate: f64,
}

/// One compared name (all steps and flows merged), or a mode's all-requests total (kind None).
#[derive(Clone, Debug, PartialEq)]
pub struct DiffRow {
    pub mode: Mode,
    pub kind: Option<SampleKind>,
    pub name: String,
    pub base: Option<DiffSide>,
    pub new: Option<DiffSide>,
    /// p95 change in percent of the base p95.
    pub p95_change_pct: Option<f64>,
    /// Error-rate change in percentage points.
    pub error_change_pp: Option<f64>,
    /// Why the row is a regression (empty: not one).
    pub reasons: Vec<String>,
}

impl DiffRow {
    pub fn flagged(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// The comparison of two runs.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffReport {
    pub tolerance_pct: f64,
    pub rows: Vec<DiffRow>,
}

impl DiffReport {
    /// Rows flagged as regressions.
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.flagged()).count()
    }

    pub fn has_regressions(&self) -> bool {
        self.regressions() > 0
    }
}

type Group = (u64, u64, Histogram<u64>);

fn groups(s: &RunSummary) -> BTreeMap<(Mode, Option<SampleKind>, String), Group> {
    let mut m: BTreeMap<_, Group> = BTreeMap::new();
    for e in &s.entries {
        let Ok(h) = e.histogram() else { continue };
        let mut keys = vec![(e.mode, Some(e.kind), e.name.clone())];
        if e.kind.is_request() {
            keys.push((e.mode, None, "(all requests)".to_string()));
        }
        for k in keys {
            let g = m.entry(k).or_insert_with(|| (0, 0, new_histogram()));
            g.0 += e.count;
            g.1 += e.failures;
            let _ = g.2.add(&h);
        }
    }
    m
}

fn side(g: &Group) -> DiffSide {
    DiffSide {
        count: g.0,
        failures: g.1,
        p95_ms: if g.2.is_empty() {
            0.0
        } else {
            g.2.value_at_quantile(0.95) as f64 / 1000.0
        },
        error_rate: if g.0 == 0 {
            0.0
        } else {
            g.1 as f64 / g.0 as f64
        },
    }
}

/// Compare two runs per (mode, kind, name). A p95 is flagged when it grows by more than
/// `tolerance_pct` percent (and at least 1 ms); an error rate when it grows by more than
/// `tolerance_pct` percent of the base rate (and at least 0.1 percentage point).
pub fn diff(base: &RunSummary, new: &RunSummary, tolerance_pct: f64) -> DiffReport {
    let (b, n) = (groups(base), groups(new));
    let mut keys: Vec<_> = b.keys().chain(n.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    // Totals first, then names.
    keys.sort_by_key(|k| (k.0, k.1.is_some()));
    let tol = tolerance_pct / 100.0;
    let rows = keys
        .into_iter()
        .map(|k| {
            let bs = b.get(&k).map(side);
            let ns = n.get(&k).map(side);
            let mut row = DiffRow {
                mode: k.0,
                kind: k.1,
                name: k.2,
                base: bs.clone(),
                new: ns.clone(),
                p95_change_pct: None,
                error_change_pp: None,
                reasons: Vec::new(),
            };
            if let (Some(bs), Some(ns)) = (bs, ns) {
                if bs.p95_ms > 0.0 {
                    row.p95_change_pct = Some((ns.p95_ms / bs.p95_ms - 1.0) * 100.0);
                }
                let rise = ns.p95_ms - bs.p95_ms;
                if ns.count > 0 && rise > bs.p95_ms * tol && rise >= MIN_P95_RISE_MS {
                    let (from, to) = (p95(k.1, bs.p95_ms), p95(k.1, ns.p95_ms));
                    row.reasons.push(match unit(k.1) {
                        Unit::Ms => format!("p95 {from} -> {to} ms"),
                        _ => format!("p95 {from} -> {to}"),
                    });
                }
                let err_rise = ns.error_rate - bs.error_rate;
                row.error_change_pp = Some(err_rise * 100.0);
                if err_rise > bs.error_rate * tol && err_rise >= MIN_ERROR_RISE {
                    row.reasons.push(format!(
                        "errors {} -> {}",
                        format::pct(bs.error_rate),
                        format::pct(ns.error_rate)
                    ));
                }
            }
            row
        })
        .collect();
    DiffReport {
        tolerance_pct,
        rows,
    }
}

/// A row's unit: a kind's own (a CLS is a score), milliseconds for the all-requests totals.
fn unit(kind: Option<SampleKind>) -> Unit {
    kind.map_or(Unit::Ms, SampleKind::unit)
}

/// A p95 read from its `*_ms` scale, shown in the row's unit: milliseconds as numbers (the
/// column says ms), other units with theirs (`0.123` for a CLS, `42.0MB`).
fn p95(kind: Option<SampleKind>, p95_ms: f64) -> String {
    match unit(kind) {
        Unit::Ms => format::ms(p95_ms),
        other => other.format(other.from_ms(p95_ms)),
    }
}

impl fmt::Display for DiffReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "throng diff (tolerance {}%): {} regression(s) in {} rows",
            self.tolerance_pct,
            self.regressions(),
            self.rows.len()
        )?;
        let mut t = Table::new(&[
            "",
            "mode",
            "kind",
            "name",
            ">p95 base",
            ">p95 new",
            ">change",
            ">err base",
            ">err new",
            ">count base",
            ">count new",
        ]);
        let dash = || "-".to_string();
        for r in &self.rows {
            let flag = if r.flagged() {
                "!"
            } else if r.base.is_none() {
                "+"
            } else if r.new.is_none() {
                "-"
            } else {
                ""
            };
            t.row(vec![
                flag.into(),
                r.mode.to_string(),
                r.kind
                    .map(|k| k.to_string())
                    .unwrap_or_else(|| "all".into()),
                format::truncate_middle(&r.name, 60),
                r.base
                    .as_ref()
                    .map(|s| p95(r.kind, s.p95_ms))
                    .unwrap_or_else(dash),
                r.new
                    .as_ref()
                    .map(|s| p95(r.kind, s.p95_ms))
                    .unwrap_or_else(dash),
                r.p95_change_pct
                    .map(|c| format!("{c:+.1}%"))
                    .unwrap_or_else(dash),
                r.base
                    .as_ref()
                    .map(|s| format::pct(s.error_rate))
                    .unwrap_or_else(dash),
                r.new
                    .as_ref()
                    .map(|s| format::pct(s.error_rate))
                    .unwrap_or_else(dash),
                r.base
                    .as_ref()
                    .map(|s| format::count(s.count))
                    .unwrap_or_else(dash),
                r.new
                    .as_ref()
                    .map(|s| format::count(s.count))
                    .unwrap_or_else(dash),
            ]);
        }
        write!(f, "{}", t.render("  "))?;
        writeln!(f, "  (! regression, + only in new, - only in base)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{MetricKey, Outcome, Sink};
    use std::time::Duration;

    fn run(slow_ms: u64, fail_every: u64, extra: bool) -> RunSummary {
        let sink = Sink::new();
        let r = sink.recorder(0);
        let a = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Ajax, "GET /a");
        let d = MetricKey::new(Mode::Http, "f", Some(1), SampleKind::Document, "GET /");
        let d2 = MetricKey::new(Mode::Http, "f", Some(2), SampleKind::Document, "GET /");
        for i in 0..1000u64 {
            let o = if fail_every > 0 && i % fail_every == 0 {
                Outcome::Timeout
            } else {
                Outcome::Ok
            };
            r.record(&a, Duration::from_millis(slow_ms), o);
            r.record(&d, Duration::from_millis(20), Outcome::Ok);
            r.record(&d2, Duration::from_millis(20), Outcome::Ok);
        }
        if extra {
            let x = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Static, "GET /new.js");
            r.record(&x, Duration::from_millis(5), Outcome::Ok);
        }
        sink.finish()
    }

    #[test]
    fn flags_slower_p95_and_more_errors_only() {
        let base = run(100, 0, false);
        let new = run(130, 50, true);
        let d = diff(&base, &new, 10.0);
        let a = d.rows.iter().find(|r| r.name == "GET /a").unwrap();
        assert!(a.flagged());
        assert!((a.p95_change_pct.unwrap() - 30.0).abs() < 0.5, "{a:?}");
        assert_eq!(a.reasons.len(), 2, "{:?}", a.reasons);
        let doc = d.rows.iter().find(|r| r.name == "GET /").unwrap();
        assert!(!doc.flagged());
        assert_eq!(
            doc.base.as_ref().unwrap().count,
            2000,
            "steps merged per name"
        );
        let js = d.rows.iter().find(|r| r.name == "GET /new.js").unwrap();
        assert!(js.base.is_none() && !js.flagged());
        assert_eq!(d.rows[0].kind, None, "the all-requests total comes first");
        assert!(d.has_regressions());
        let text = d.to_string();
        assert!(text.contains("regression(s)"));
        assert!(text
            .lines()
            .any(|l| l.trim_start().starts_with('!') && l.contains("GET /a")));

        // Within tolerance: not flagged. The same run against itself: nothing.
        assert!(!diff(&base, &run(105, 0, false), 10.0).has_regressions());
        assert_eq!(diff(&base, &base, 0.0).regressions(), 0);
    }

    /// A CLS is a score: shown as one (0.120), not as 120 "ms".
    #[test]
    fn scores_show_as_scores() {
        let cls = |v: f64| {
            let sink = Sink::new();
            let key = MetricKey::new(Mode::Browser, "f", Some(0), SampleKind::Cls, "/");
            let r = sink.recorder(0);
            r.record(&key, SampleKind::Cls.unit().to_duration(v), Outcome::Ok);
            drop(r);
            sink.finish()
        };
        let d = diff(&cls(0.12), &cls(0.3), 10.0);
        let row = d
            .rows
            .iter()
            .find(|r| r.kind == Some(SampleKind::Cls))
            .unwrap();
        assert_eq!(row.reasons, vec!["p95 0.120 -> 0.300".to_string()]);
        let text = d.to_string();
        let line = text.lines().find(|l| l.contains(" cls ")).unwrap();
        assert!(line.contains("0.120") && line.contains("0.300"), "{text}");
        assert!(!line.contains("120.0"), "{text}");
    }
}
