//! The Prometheus text exposition format (version 0.0.4) of a family list, and OpenMetrics 1.0
//! (the same samples, with the histograms' exemplars: a bucket's latest traced request).

use std::fmt::Write as _;

use super::families::Family;

/// The scrape response's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// OpenMetrics' content type.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether a scraper's `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// Renders the families: `# HELP`, `# TYPE`, then one line per sample.
pub fn render(families: &[Family]) -> String {
    render_as(families, false)
}

/// OpenMetrics: counters' families named without `_total`, exemplars after their bucket,
/// `# EOF` at the end.
pub fn render_openmetrics(families: &[Family]) -> String {
    let mut out = render_as(families, true);
    out.push_str("# EOF\n");
    out
}

fn render_as(families: &[Family], openmetrics: bool) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for f in families {
        if f.samples.is_empty() {
            continue;
        }
        let name = match openmetrics && f.kind == "counter" {
            true => f.name.strip_suffix("_total").unwrap_or(f.name),
            false => f.name,
        };
        let _ = writeln!(out, "# HELP {name} {}", escape_help(f.help));
        let _ = writeln!(out, "# TYPE {name} {}", f.kind);
        for s in &f.samples {
            out.push_str(&s.name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_value(v));
                }
                out.push('}');
            }
            let _ = write!(out, " {}", number(s.value));
            if let (true, Some(e)) = (openmetrics, s.exemplar) {
                let _ = write!(
                    out,
                    " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {}.{:03}",
                    e.trace_id,
                    e.span_id,
                    number(f64::from(e.latency_us) / 1e6),
                    e.unix_ms / 1000,
                    e.unix_ms % 1000
                );
            }
            out.push('\n');
        }
    }
    out
}

/// A sample value: integers without a fraction, `+Inf`/`-Inf`/`NaN` as Prometheus spells them.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

fn escape_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::families::{gather, Source};
    use super::*;
    use crate::metrics::{MetricKey, Mode, Outcome, SampleKind, Sink};
    use std::time::Duration;

    #[test]
    fn renders_counters_and_cumulative_buckets_with_escaped_labels() {
        let sink = Sink::new();
        let rec = sink.recorder(0);
        let doc = MetricKey::new(
            Mode::Http,
            "shop",
            Some(0),
            SampleKind::Document,
            "GET http://h/\"q\"",
        );
        let again = MetricKey::new(
            Mode::Http,
            "shop",
            Some(3),
            SampleKind::Document,
            "GET http://h/\"q\"",
        );
        rec.record(&doc, Duration::from_millis(3), Outcome::Ok);
        rec.record(&again, Duration::from_millis(40), Outcome::Status(503));
        rec.record(&again, Duration::from_millis(700), Outcome::Ok);
        let text = render(&gather(
            &[Source::Live {
                sink: sink.clone(),
                mode: Mode::Http,
            }],
            None,
        ));
        let labels = r#"mode="http",flow="shop",kind="document",name="GET http://h/\"q\"""#;
        // Two steps with the same name are one series.
        assert!(
            text.contains(&format!(
                "throng_requests_total{{{labels},outcome=\"ok\"}} 2\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "throng_requests_total{{{labels},outcome=\"status 503\"}} 1\n"
            )),
            "{text}"
        );
        for (le, n) in [
            ("0.0025", 0),
            ("0.005", 1),
            ("0.05", 2),
            ("0.5", 2),
            ("1", 3),
            ("+Inf", 3),
        ] {
            let line =
                format!("throng_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}\n");
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert!(text.contains(&format!(
            "throng_request_duration_seconds_count{{{labels}}} 3\n"
        )));
        assert!(text.contains("# TYPE throng_request_duration_seconds histogram\n"));
        assert!(text.contains("throng_users{mode=\"http\"} 0\n"));
        assert!(text.contains("throng_run_finished{mode=\"http\"} 0\n"));
        sink.finish();
        let text = render(&gather(
            &[Source::Live {
                sink,
                mode: Mode::Http,
            }],
            Some(2),
        ));
        assert!(text.contains("throng_run_finished{mode=\"http\"} 1\n"));
        assert!(text.contains("throng_remote_write_failures_total 2\n"));
        // A hybrid run: its users by mode, not all under the run's mode.
        let hybrid = Sink::new();
        for mode in [Mode::Http, Mode::Http, Mode::Http, Mode::Browser] {
            hybrid.user_started(mode);
        }
        hybrid.user_ended(Mode::Http);
        let text = render(&gather(
            &[Source::Live {
                sink: hybrid,
                mode: Mode::Http,
            }],
            None,
        ));
        assert!(text.contains("throng_users{mode=\"http\"} 2\n"), "{text}");
        assert!(
            text.contains("throng_users{mode=\"browser\"} 1\n"),
            "{text}"
        );
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
    }
}

#[cfg(test)]
mod openmetrics_tests {
    use super::super::families::{gather, Source};
    use super::*;
    use crate::metrics::{MetricKey, Mode, Outcome, SampleKind, Sink, TraceConfig};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn openmetrics_carries_the_traced_samples_as_bucket_exemplars() {
        let sink = Sink::new();
        sink.enable_tracing(TraceConfig {
            sample: 1.0,
            keep_spans: false,
        });
        let origin = url::Url::parse("http://h/").unwrap();
        let rec = sink
            .recorder(0)
            .traced_session(Mode::Http, &Arc::from("f"), &origin, None);
        let t = rec.trace().unwrap().clone();
        let key = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Ajax, "GET http://h/a");
        let span = t
            .http_request(Some(0), false, &url::Url::parse("http://h/a").unwrap())
            .unwrap();
        rec.record(&key, Duration::from_millis(40), Outcome::Ok);
        t.request_done(
            &span,
            &key,
            Duration::from_millis(40),
            Outcome::Ok,
            Some(200),
        );
        let families = gather(
            &[Source::Live {
                sink,
                mode: Mode::Http,
            }],
            None,
        );
        let om = render_openmetrics(&families);
        let trace = span.ctx.trace_id.hex();
        let line = om
            .lines()
            .find(|l| l.contains(&trace))
            .unwrap_or_else(|| panic!("no exemplar in {om}"));
        assert!(
            line.starts_with("throng_request_duration_seconds_bucket{")
                && line.contains(r#"le="0.05"} 1 # {trace_id=""#)
                && line.contains(" 0.04 "),
            "{line}"
        );
        assert!(om.contains("# TYPE throng_requests counter\n"), "{om}");
        assert!(om.ends_with("# EOF\n"));
        // The 0.0.4 text has no exemplars.
        assert!(!render(&families).contains(&trace));
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("text/plain")));
    }
}
