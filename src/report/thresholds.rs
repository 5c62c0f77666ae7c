//! Pass/fail thresholds (`p95(page-load)<800ms`, `errors<1%`, `rps>100`): parsing and evaluation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::metrics::{Mode, RunSummary, SampleKind, Unit};

/// A threshold that could not be parsed; the message names the threshold text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("bad threshold `{text}`: {reason}")]
pub struct ThresholdError {
    pub text: String,
    pub reason: String,
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    /// Latency at a quantile (0..=1), e.g. p95 -> 0.95.
    Quantile(f64),
    Max,
    Mean,
    /// failures / count, as a fraction.
    ErrorRate,
    /// Number of failures.
    Errors,
    /// Samples per second over the run.
    Rps,
    Count,
    /// The generator's peak CPU (throng + its browsers), as a share of the machine.
    GeneratorCpu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Lt => actual < limit,
            Op::Le => actual <= limit,
            Op::Gt => actual > limit,
            Op::Ge => actual >= limit,
        }
    }
}

/// A parsed threshold. Latency limits are in ms, rates are fractions.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub text: String,
    pub aggregate: Aggregate,
    pub mode: Option<Mode>,
    /// None: every request kind.
    pub kind: Option<SampleKind>,
    pub op: Op,
    pub limit: f64,
}

/// The verdict of one threshold against a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub text: String,
    pub passed: bool,
    /// Human-readable measured value, e.g. "734.2ms", "0.41%", "no samples".
    pub actual: String,
    /// Measured value in the threshold's unit (ms, fraction, count, per second).
    pub value: Option<f64>,
}

impl FromStr for Threshold {
    type Err = ThresholdError;
    fn from_str(s: &str) -> Result<Self, ThresholdError> {
        Threshold::parse(s)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Threshold {
    /// Parse `[MODE:]AGG[(SELECTOR)] OP VALUE`; SELECTOR is a kind, a mode, or `mode:kind`.
    pub fn parse(text: &str) -> Result<Threshold, ThresholdError> {
        let err = |reason: String| ThresholdError {
            text: text.to_string(),
            reason,
        };
        let s: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let op_at = s
            .find(['<', '>'])
            .ok_or_else(|| err("no comparison: expected <, <=, > or >=".into()))?;
        let (lhs, rest) = s.split_at(op_at);
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else {
            (Op::Gt, &rest[1..])
        };
        if value.is_empty() {
            return Err(err("missing value after the comparison".into()));
        }

        // A mode prefix (`browser:p75(lcp)`, `http:errors`) judges that mode's samples only.
        let (prefix, lhs) = match lhs.split_once(':') {
            Some((m, rest)) if !m.contains('(') => {
                let mode = m.to_ascii_lowercase().parse::<Mode>().map_err(err)?;
                (Some(mode), rest)
            }
            _ => (None, lhs),
        };
        let (agg_text, selector) = match lhs.find('(') {
            Some(open) => {
                let inner = lhs[open + 1..]
                    .strip_suffix(')')
                    .ok_or_else(|| err("unclosed `(` in the metric".into()))?;
                (&lhs[..open], Some(inner))
            }
            None => (lhs, None),
        };
        let (mode, kind) = match selector {
            None | Some("") | Some("all") => (None, None),
            Some(sel) => parse_selector(sel).map_err(err)?,
        };
        let mode = match (prefix, mode) {
            (Some(p), Some(m)) if p != m => {
                return Err(err(format!("names two modes, {p} and {m}")))
            }
            (p, m) => p.or(m),
        };

        let agg_text = agg_text.to_ascii_lowercase();
        let percent = value.ends_with('%');
        let aggregate = match agg_text.as_str() {
            "max" => Aggregate::Max,
            "mean" | "avg" => Aggregate::Mean,
            "med" | "median" => Aggregate::Quantile(0.5),
            "errors" if percent => Aggregate::ErrorRate,
            "errors" => Aggregate::Errors,
            "error_rate" | "error-rate" | "failure_rate" => Aggregate::ErrorRate,
            "rps" => Aggregate::Rps,
            "count" => Aggregate::Count,
            "generator-cpu" | "generator_cpu" if selector.is_none() && prefix.is_none() => {
                Aggregate::GeneratorCpu
            }
            "generator-cpu" | "generator_cpu" => {
                return Err(err("generator-cpu takes no selector: it is the whole machine's".into()))
            }
            p if p.starts_with('p') => {
                let n: f64 = p[1..].parse().map_err(|_| {
                    err(format!("unknown metric `{agg_text}` (expected pNN, max, mean, errors, error_rate, rps, count or generator-cpu)"))
                })?;
                if !(0.0..=100.0).contains(&n) {
                    return Err(err(format!("percentile {n} is outside 0..100")));
                }
                Aggregate::Quantile(n / 100.0)
            }
            "" => return Err(err("missing metric before the comparison".into())),
            other => {
                return Err(err(format!(
                    "unknown metric `{other}` (expected pNN, max, mean, errors, error_rate, rps, count or generator-cpu)"
                )))
            }
        };
        let limit = match kind.map(SampleKind::unit) {
            // A score, count or size is a plain number in its own unit (`p75(cls)<0.1`).
            Some(unit) if unit != Unit::Ms && is_latency(aggregate) => {
                value.parse().map_err(|_| {
                    let k = kind.map_or("", SampleKind::as_str);
                    err(format!(
                        "`{value}` is not a number: {k} takes a plain number, no unit"
                    ))
                })?
            }
            _ => parse_value(aggregate, value).map_err(err)?,
        };
        Ok(Threshold {
            text: text.trim().to_string(),
            aggregate,
            mode,
            kind,
            op,
            limit,
        })
    }

    /// Check the threshold against a run. Over no samples it fails ("no samples"), except
    /// `count`; `errors` and `errors%` without a kind take the worst of failed requests, page
    /// loads and sessions.
    pub fn evaluate(&self, summary: &RunSummary) -> ThresholdResult {
        let totals = summary.total(self.mode, self.kind);
        let latency_hist = totals.corrected.as_ref().unwrap_or(&totals.hist);
        let ms = |us: u64| us as f64 / 1000.0;
        let overall = self
            .kind
            .is_none()
            .then(|| summary.failure_rates(self.mode));
        let measured = match (&self.aggregate, overall) {
            (Aggregate::Count, _) => true,
            (Aggregate::Errors | Aggregate::ErrorRate, Some(rates)) => !rates.is_empty(),
            _ => totals.count > 0,
        };
        let value = match self.aggregate {
            Aggregate::GeneratorCpu => summary.generator.as_ref().map(|g| g.peak_cpu),
            _ if !measured => None,
            Aggregate::Quantile(q) => {
                Some(self.unit().from_ms(ms(latency_hist.value_at_quantile(q))))
            }
            Aggregate::Max => Some(self.unit().from_ms(ms(latency_hist.max()))),
            Aggregate::Mean => Some(self.unit().from_ms(latency_hist.mean() / 1000.0)),
            Aggregate::ErrorRate => Some(overall.map_or(totals.error_rate(), |r| r.worst_rate())),
            Aggregate::Errors => Some(overall.map_or(totals.failures, |r| r.worst_count()) as f64),
            Aggregate::Count => Some(totals.count as f64),
            Aggregate::Rps => {
                let secs = summary.duration.as_secs_f64();
                Some(if secs > 0.0 {
                    totals.count as f64 / secs
                } else {
                    0.0
                })
            }
        };
        let (passed, actual) = match value {
            None if self.aggregate == Aggregate::GeneratorCpu => {
                (false, "not sampled (no /proc)".to_string())
            }
            None => (false, "no samples".to_string()),
            Some(v) => (self.op.holds(v, self.limit), self.format_value(v)),
        };
        ThresholdResult {
            text: self.text.clone(),
            passed,
            actual,
            value,
        }
    }

    fn format_value(&self, v: f64) -> String {
        match self.aggregate {
            Aggregate::ErrorRate => format!("{:.2}%", v * 100.0),
            Aggregate::GeneratorCpu => format!("{:.0}%", v * 100.0),
            Aggregate::Errors | Aggregate::Count => format!("{v:.0}"),
            Aggregate::Rps => format!("{v:.1}/s"),
            _ => self.unit().format(v),
        }
    }

    /// The unit of a latency aggregate's value: the kind's (a CLS is a score).
    fn unit(&self) -> Unit {
        self.kind.map_or(Unit::Ms, SampleKind::unit)
    }
}

fn is_latency(a: Aggregate) -> bool {
    matches!(a, Aggregate::Quantile(_) | Aggregate::Max | Aggregate::Mean)
}

/// Evaluate every threshold; the run passes when all results pass.
pub fn evaluate_all(thresholds: &[Threshold], summary: &RunSummary) -> Vec<ThresholdResult> {
    thresholds.iter().map(|t| t.evaluate(summary)).collect()
}

fn parse_selector(sel: &str) -> Result<(Option<Mode>, Option<SampleKind>), String> {
    let (mode_text, kind_text) = match sel.split_once(':') {
        Some((m, k)) => (Some(m), Some(k)),
        None if sel.parse::<Mode>().is_ok() => (Some(sel), None),
        None => (None, Some(sel)),
    };
    let mode = mode_text.map(str::parse::<Mode>).transpose()?;
    let kind = match kind_text {
        None | Some("all") | Some("") => None,
        Some(k) => Some(k.parse::<SampleKind>()?),
    };
    Ok((mode, kind))
}

fn parse_value(aggregate: Aggregate, value: &str) -> Result<f64, String> {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (num, unit) = value.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{value}` is not a number"))?;
    let unit = unit.to_ascii_lowercase();
    match aggregate {
        Aggregate::Quantile(_) | Aggregate::Max | Aggregate::Mean => match unit.as_str() {
            "" | "ms" => Ok(n),
            "us" | "µs" => Ok(n / 1000.0),
            "s" => Ok(n * 1000.0),
            "m" | "min" => Ok(n * 60_000.0),
            u => Err(format!("unknown latency unit `{u}` (use us, ms, s or m)")),
        },
        Aggregate::GeneratorCpu => match unit.as_str() {
            "%" => Ok(n / 100.0),
            u => Err(format!(
                "generator-cpu is a percentage of the machine, e.g. 80% (not `{n}{u}`)"
            )),
        },
        Aggregate::ErrorRate => match unit.as_str() {
            "%" => Ok(n / 100.0),
            "" if n <= 1.0 => Ok(n),
            "" => Err(format!(
                "error rate {n} is above 1: write it as a percentage, e.g. {n}%"
            )),
            u => Err(format!(
                "unknown error-rate unit `{u}` (use % or a fraction)"
            )),
        },
        Aggregate::Rps => match unit.as_str() {
            "" | "/s" => Ok(n),
            u => Err(format!(
                "unknown rate unit `{u}` (write a plain number of requests per second)"
            )),
        },
        Aggregate::Errors | Aggregate::Count => match unit.as_str() {
            "" => Ok(n),
            u => Err(format!("unexpected unit `{u}` on a count")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{MetricKey, Outcome, Sink};
    use std::time::Duration;

    fn t(s: &str) -> Threshold {
        Threshold::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_the_documented_forms() {
        let p = t("p95(page-load)<800ms");
        assert_eq!(p.aggregate, Aggregate::Quantile(0.95));
        assert_eq!(
            (p.kind, p.op, p.limit),
            (Some(SampleKind::PageLoad), Op::Lt, 800.0)
        );
        let p = t("p99<1s");
        assert_eq!((p.kind, p.limit), (None, 1000.0));
        let p = t("p50(ajax)<=200ms");
        assert_eq!((p.kind, p.op), (Some(SampleKind::Ajax), Op::Le));
        let p = t("errors<1%");
        assert_eq!((p.aggregate, p.limit), (Aggregate::ErrorRate, 0.01));
        let p = t("error_rate(document)<0.5%");
        assert_eq!((p.kind, p.limit), (Some(SampleKind::Document), 0.005));
        let p = t("rps>100");
        assert_eq!(
            (p.aggregate, p.op, p.limit),
            (Aggregate::Rps, Op::Gt, 100.0)
        );
        let p = t("max(polling)<2s");
        assert_eq!((p.aggregate, p.limit), (Aggregate::Max, 2000.0));
        let p = t("count(document)>=10");
        assert_eq!(
            (p.aggregate, p.op, p.limit),
            (Aggregate::Count, Op::Ge, 10.0)
        );
        let p = t(" p99.9 ( browser:page-load ) < 3s ");
        assert!(matches!(p.aggregate, Aggregate::Quantile(q) if (q - 0.999).abs() < 1e-12));
        assert_eq!(
            (p.mode, p.kind),
            (Some(Mode::Browser), Some(SampleKind::PageLoad))
        );
        assert_eq!(p.text, "p99.9 ( browser:page-load ) < 3s");
        assert_eq!(t("errors(http)<5").aggregate, Aggregate::Errors);
        assert_eq!(t("errors(http)<5").mode, Some(Mode::Http));
    }

    #[test]
    fn bad_syntax_gives_one_clear_error_naming_the_text() {
        for (bad, hint) in [
            ("p95(page-load)", "no comparison"),
            ("p95(pageload)<800ms", "unknown kind `pageload`"),
            ("p95<800xs", "unknown latency unit `xs`"),
            ("p95(page-load<800", "unclosed"),
            ("latency<800", "unknown metric `latency`"),
            ("p150<1s", "outside 0..100"),
            ("errors<abc%", "not a number"),
            ("error_rate<5", "above 1"),
            ("<5", "missing metric"),
            ("p95<", "missing value"),
            ("count>10ms", "unexpected unit"),
        ] {
            let e = Threshold::parse(bad).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("bad threshold `{bad}`: ")),
                "{msg}"
            );
            assert!(msg.contains(hint), "{bad}: {msg}");
            assert!(!msg.contains('\n'));
        }
    }

    #[test]
    fn evaluates_against_a_run() {
        let sink = Sink::new();
        let rec = sink.recorder(0);
        let doc = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Document, "GET /");
        let pl = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::PageLoad, "GET /");
        for i in 0..100u64 {
            let outcome = if i < 2 {
                Outcome::Status(500)
            } else {
                Outcome::Ok
            };
            rec.record(&doc, Duration::from_millis(i + 1), outcome);
            rec.record(&pl, Duration::from_millis(10 * (i + 1)), Outcome::Ok);
        }
        let mut s = sink.finish();
        s.duration = Duration::from_secs(10);
        let check = |text: &str| t(text).evaluate(&s);
        let r = check("p95(page-load)<800ms");
        assert!(!r.passed);
        assert!((r.value.unwrap() - 950.0).abs() < 1.0, "{r:?}");
        assert!(r.actual.ends_with("ms"));
        assert!(check("p95(page-load)<1s").passed);
        assert!(check("p50<=51ms").passed);
        assert!(!check("errors<1%").passed);
        assert_eq!(check("errors<1%").actual, "2.00%");
        assert!(check("errors<3%").passed);
        assert!(check("errors<=2").passed);
        assert!(check("count(document)>=100").passed);
        assert!(!check("count(document)>100").passed);
        assert!(check("rps>9.9").passed, "100 requests in 10 s");
        assert!(!check("rps>10").passed);
        assert!(check("max(document)<101ms").passed);
        let none = check("p95(polling)<1s");
        assert!(!none.passed);
        assert_eq!(none.actual, "no samples");
        // A threshold over no samples fails: nothing measured is not "no errors".
        let none = check("error_rate(polling)<1%");
        assert!(!none.passed);
        assert_eq!(none.actual, "no samples");
        assert!(!check("rps(polling)>=0").passed);
        assert!(
            check("count(polling)<1").passed,
            "count is a fact even at zero"
        );
        assert!(!t("errors<1%").evaluate(&RunSummary::default()).passed);
        assert_eq!(evaluate_all(&[t("p99<1s"), t("rps>1")], &s).len(), 2);
        let g = check("generator-cpu<80%");
        assert!(!g.passed, "unsampled runs fail: {g:?}");
        s.generator = Some(crate::metrics::GeneratorHealth {
            peak_cpu: 0.934,
            ..Default::default()
        });
        let g = t("generator-cpu<80%").evaluate(&s);
        assert!(!g.passed);
        assert_eq!(g.actual, "93%");
        assert!(t("generator-cpu < 95%").evaluate(&s).passed);
    }

    #[test]
    fn a_mode_prefix_judges_only_that_modes_samples() {
        let p = t("browser:p75(page-load)<2.5s");
        assert_eq!(
            (p.mode, p.kind, p.limit),
            (Some(Mode::Browser), Some(SampleKind::PageLoad), 2500.0)
        );
        let p = t("http:errors<1%");
        assert_eq!(
            (p.mode, p.aggregate),
            (Some(Mode::Http), Aggregate::ErrorRate)
        );
        assert_eq!(
            t("browser:p95(browser:page-load)<1s").mode,
            Some(Mode::Browser)
        );
        for (bad, hint) in [
            ("phone:p95<1s", "unknown mode `phone`"),
            ("http:p95(browser:page-load)<1s", "two modes"),
            ("http:generator-cpu<80%", "no selector"),
        ] {
            let msg = Threshold::parse(bad).unwrap_err().to_string();
            assert!(msg.contains(hint), "{bad}: {msg}");
        }
        // Failed HTTP documents, fast clean browser pages: only the HTTP threshold fails.
        let sink = Sink::new();
        let rec = sink.recorder(0);
        let doc = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Document, "GET /");
        let page = MetricKey::new(Mode::Browser, "f", Some(0), SampleKind::PageLoad, "GET /");
        for i in 0..10 {
            let outcome = if i < 5 {
                Outcome::Status(500)
            } else {
                Outcome::Ok
            };
            rec.record(&doc, Duration::from_millis(5), outcome);
            rec.record(&page, Duration::from_millis(100), Outcome::Ok);
        }
        let s = sink.finish();
        assert!(!t("http:errors<1%").evaluate(&s).passed);
        assert!(t("browser:errors<1%").evaluate(&s).passed);
        assert!(t("browser:p75(page-load)<2.5s").evaluate(&s).passed);
        assert!(
            !t("http:p75(page-load)<2.5s").evaluate(&s).passed,
            "no samples"
        );
    }

    #[test]
    fn generator_cpu_takes_a_percentage_and_no_selector() {
        let p = t("generator-cpu<80%");
        assert_eq!((p.aggregate, p.limit), (Aggregate::GeneratorCpu, 0.8));
        for (bad, hint) in [
            ("generator-cpu<0.8", "percentage"),
            ("generator-cpu(browser)<80%", "no selector"),
        ] {
            let msg = Threshold::parse(bad).unwrap_err().to_string();
            assert!(msg.contains(hint), "{bad}: {msg}");
        }
    }

    #[test]
    fn failed_pages_and_sessions_count_as_errors_when_every_request_answered() {
        // A redirect loop: every hop answers 302 (a successful request), every page fails.
        let sink = Sink::new();
        let rec = sink.recorder(0);
        let hop = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Document, "GET /loop");
        let page = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::PageLoad, "GET /loop");
        for _ in 0..20 {
            rec.record(&hop, Duration::from_millis(1), Outcome::Ok);
        }
        rec.record(&page, Duration::from_millis(20), Outcome::Error);
        sink.count("sessions.failed", 1);
        let s = sink.finish();
        let r = t("errors<1%").evaluate(&s);
        assert!(!r.passed, "{r:?}");
        assert_eq!(r.actual, "100.00%");
        assert!(!t("errors<1").evaluate(&s).passed);
        assert!(s.failure_rates(None).every_session_failed());
        // A request-kind threshold keeps its own meaning.
        assert!(t("errors(document)<1%").evaluate(&s).passed);
    }

    #[test]
    fn vitals_are_judged_at_p75_in_their_own_unit() {
        let sink = Sink::new();
        let rec = sink.recorder(1);
        let key = |kind| MetricKey::new(Mode::Browser, "f", Some(0), kind, "/p");
        for i in 1..=4u32 {
            // CLS 0.05, 0.10, 0.15, 0.20; INP 100..400 ms.
            let cls = SampleKind::Cls;
            rec.record(
                &key(cls),
                cls.unit().to_duration(0.05 * f64::from(i)),
                Outcome::Ok,
            );
            let inp = SampleKind::Inp;
            rec.record(
                &key(inp),
                inp.unit().to_duration(100.0 * f64::from(i)),
                Outcome::Ok,
            );
        }
        drop(rec);
        let s = sink.finish();
        let check = |text: &str| t(text).evaluate(&s);
        let cls = check("p75(cls)<0.1");
        assert!(!cls.passed);
        assert_eq!(cls.actual, "0.150");
        assert!(check("p75(cls)<0.2").passed);
        assert!(check("p75(browser:cls)<=0.151").passed);
        assert!(check("p75(inp)<=301ms").passed);
        assert!(!check("p75(inp)<200ms").passed);
        let err = Threshold::parse("p75(cls)<0.1s").unwrap_err();
        assert!(err.reason.contains("plain number"), "{err}");
    }
}
