//! The run as OTLP messages (the official protobuf definitions, `opentelemetry-proto`): the
//! Prometheus families as OTLP metrics (counters as cumulative monotonic sums, gauges,
//! histograms with their bounds, counts, sum and exemplars) and the run's spans.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar as OtlpExemplar, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};

use super::super::prometheus::families::{Family, Sample, BUCKETS_S};
use crate::metrics::{Exemplar, SpanRecord, SpanRole};

/// What names the run in every export.
#[derive(Clone, Debug)]
pub struct RunResource {
    /// The run's start, UTC (the `run` label of remote write).
    pub run: String,
    pub started_unix_ns: u64,
}

impl RunResource {
    fn resource(&self) -> Resource {
        Resource {
            attributes: vec![
                kv("service.name", "throng"),
                kv("service.version", env!("CARGO_PKG_VERSION")),
                kv("service.instance.id", &self.run),
                kv("throng.run", &self.run),
            ],
            ..Default::default()
        }
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "throng".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// An extra counter of the exporter itself (failed exports, dropped spans).
pub struct Counter {
    pub name: &'static str,
    pub help: &'static str,
    pub value: u64,
}

/// The families (and the exporter's own counters) at `now_ns`, cumulative since the run's
/// start.
pub fn metrics_request(
    run: &RunResource,
    families: &[Family],
    extra: &[Counter],
    now_ns: u64,
) -> ExportMetricsServiceRequest {
    let point = |labels: &[(&'static str, String)], value: f64| NumberDataPoint {
        attributes: labels.iter().map(|(k, v)| kv(k, v)).collect(),
        start_time_unix_nano: run.started_unix_ns,
        time_unix_nano: now_ns,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    };
    let mut metrics = Vec::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let data = match f.kind {
            "counter" => metric::Data::Sum(Sum {
                data_points: f
                    .samples
                    .iter()
                    .map(|s| point(&s.labels, s.value))
                    .collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
            "histogram" => metric::Data::Histogram(Histogram {
                data_points: histogram_points(f, run.started_unix_ns, now_ns),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
            _ => metric::Data::Gauge(Gauge {
                data_points: f
                    .samples
                    .iter()
                    .map(|s| point(&s.labels, s.value))
                    .collect(),
            }),
        };
        metrics.push(Metric {
            name: f.name.into(),
            description: f.help.into(),
            unit: if f.name.contains("_seconds") { "s" } else { "" }.into(),
            data: Some(data),
            ..Default::default()
        });
    }
    for c in extra {
        metrics.push(Metric {
            name: c.name.into(),
            description: c.help.into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![point(&[], c.value as f64)],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        });
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(run.resource()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A histogram family's series back from its flat samples (cumulative `_bucket`s in bound
/// order, then `_sum` and `_count`, as the families write them): per-bucket counts.
fn histogram_points(f: &Family, start_ns: u64, now_ns: u64) -> Vec<HistogramDataPoint> {
    #[derive(Default)]
    struct Series {
        cumulative: Vec<u64>,
        exemplars: Vec<Exemplar>,
        sum: f64,
        count: u64,
    }
    let mut series: BTreeMap<Vec<(&'static str, String)>, Series> = BTreeMap::new();
    let mut order = Vec::new();
    for s in &f.samples {
        let labels: Vec<_> = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "le")
            .cloned()
            .collect();
        if !series.contains_key(&labels) {
            order.push(labels.clone());
        }
        let entry = series.entry(labels).or_default();
        match suffix(f, s) {
            "_bucket" => {
                entry.cumulative.push(s.value as u64);
                entry.exemplars.extend(s.exemplar);
            }
            "_sum" => entry.sum = s.value,
            "_count" => entry.count = s.value as u64,
            _ => {}
        }
    }
    order
        .into_iter()
        .filter_map(|labels| {
            let s = series.remove(&labels)?;
            let mut previous = 0;
            let bucket_counts = s
                .cumulative
                .iter()
                .map(|c| {
                    let n = c.saturating_sub(previous);
                    previous = *c;
                    n
                })
                .collect();
            Some(HistogramDataPoint {
                attributes: labels.iter().map(|(k, v)| kv(k, v)).collect(),
                start_time_unix_nano: start_ns,
                time_unix_nano: now_ns,
                count: s.count,
                sum: Some(s.sum),
                bucket_counts,
                explicit_bounds: BUCKETS_S.to_vec(),
                exemplars: s.exemplars.iter().map(otlp_exemplar).collect(),
                ..Default::default()
            })
        })
        .collect()
}

fn suffix<'a>(f: &Family, s: &'a Sample) -> &'a str {
    s.name.strip_prefix(f.name).unwrap_or("")
}

fn otlp_exemplar(e: &Exemplar) -> OtlpExemplar {
    OtlpExemplar {
        time_unix_nano: e.unix_ms * 1_000_000,
        span_id: e.span_id.0.to_vec(),
        trace_id: e.trace_id.0.to_vec(),
        value: Some(exemplar::Value::AsDouble(f64::from(e.latency_us) / 1e6)),
        ..Default::default()
    }
}

/// Spans as one export: session, step and page-load spans internal, requests client spans;
/// their attributes say mode, flow, step, kind, status and outcome.
pub fn trace_request(run: &RunResource, spans: &[SpanRecord]) -> ExportTraceServiceRequest {
    let spans = spans.iter().map(otlp_span).collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(run.resource()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn otlp_span(s: &SpanRecord) -> Span {
    let mut attributes = vec![
        kv("throng.role", s.role.as_str()),
        kv("throng.mode", s.mode.as_str()),
        kv("throng.flow", &s.flow),
        kv("throng.outcome", &s.outcome.label()),
    ];
    if let Some(step) = s.step {
        attributes.push(kv_int("throng.step", i64::from(step)));
    }
    if let Some(kind) = s.kind {
        attributes.push(kv("throng.kind", kind.as_str()));
    }
    if let Some(status) = s.status {
        attributes.push(kv_int("http.response.status_code", i64::from(status)));
    }
    let name = match s.role {
        SpanRole::Request => s.name.to_string(),
        role => format!("{} {}", role.as_str(), s.name),
    };
    Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        parent_span_id: s.parent.map_or_else(Vec::new, |p| p.0.to_vec()),
        name,
        kind: match s.role {
            SpanRole::Request => span::SpanKind::Client,
            _ => span::SpanKind::Internal,
        } as i32,
        start_time_unix_nano: s.start_unix_ns,
        end_time_unix_nano: s.end_unix_ns.max(s.start_unix_ns),
        attributes,
        links: s
            .link
            .iter()
            .map(|(trace, span)| span::Link {
                trace_id: trace.0.to_vec(),
                span_id: span.0.to_vec(),
                attributes: vec![kv("throng.link", "session")],
                ..Default::default()
            })
            .collect(),
        status: Some(Status {
            message: if s.outcome.is_failure() {
                s.outcome.label()
            } else {
                String::new()
            },
            code: if s.outcome.is_failure() {
                status::StatusCode::Error
            } else {
                status::StatusCode::Unset
            } as i32,
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::prometheus::families::{gather, Source};
    use crate::metrics::{
        MetricKey, Mode, Outcome, SampleKind, Sink, SpanId, SpanOutcome, TraceId,
    };
    use prost::Message as _;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn histograms_become_otlp_histograms_with_per_bucket_counts() {
        let sink = Sink::new();
        let rec = sink.recorder(0);
        let key = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Ajax, "GET http://h/a");
        for ms in [3, 40, 40, 700] {
            rec.record(&key, Duration::from_millis(ms), Outcome::Ok);
        }
        rec.record(&key, Duration::from_millis(2), Outcome::Status(503));
        let families = gather(
            &[Source::Live {
                sink,
                mode: Mode::Http,
            }],
            None,
        );
        let run = RunResource {
            run: "2026-01-01T00:00:00Z".into(),
            started_unix_ns: 5,
        };
        let req = metrics_request(&run, &families, &[], 9);
        let req = ExportMetricsServiceRequest::decode(req.encode_to_vec().as_slice()).unwrap();
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let find = |name: &str| metrics.iter().find(|m| m.name == name).unwrap();
        let Some(metric::Data::Histogram(h)) = &find("throng_request_duration_seconds").data else {
            panic!("not a histogram");
        };
        let p = &h.data_points[0];
        assert_eq!(p.count, 5);
        assert_eq!(p.bucket_counts.len(), BUCKETS_S.len() + 1);
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), 5);
        assert_eq!(p.explicit_bounds, BUCKETS_S.to_vec());
        assert!((p.sum.unwrap() - 0.785).abs() < 1e-9, "{:?}", p.sum);
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (5, 9));
        let Some(metric::Data::Sum(s)) = &find("throng_requests_total").data else {
            panic!("not a sum");
        };
        assert!(s.is_monotonic);
        let total: f64 = s
            .data_points
            .iter()
            .map(|p| match p.value {
                Some(number_data_point::Value::AsDouble(v)) => v,
                _ => 0.0,
            })
            .sum();
        assert_eq!(total, 5.0);
    }

    #[test]
    fn spans_carry_their_ids_parent_and_attributes() {
        let span = SpanRecord {
            role: SpanRole::Request,
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent: Some(SpanId::random()),
            link: None,
            name: Arc::from("GET http://h/a"),
            start_unix_ns: 10,
            end_unix_ns: 20,
            mode: Mode::Browser,
            flow: Arc::from("shop"),
            step: Some(2),
            kind: Some(SampleKind::Ajax),
            status: Some(503),
            outcome: SpanOutcome::Sample(Outcome::Status(503)),
        };
        let run = RunResource {
            run: "r".into(),
            started_unix_ns: 0,
        };
        let req = trace_request(&run, std::slice::from_ref(&span));
        let s = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(s.trace_id, span.trace_id.0.to_vec());
        assert_eq!(s.parent_span_id, span.parent.unwrap().0.to_vec());
        assert_eq!(s.kind, span::SpanKind::Client as i32);
        assert_eq!(
            s.status.as_ref().unwrap().code,
            status::StatusCode::Error as i32
        );
        let keys: Vec<&str> = s.attributes.iter().map(|a| a.key.as_str()).collect();
        for k in [
            "throng.mode",
            "throng.flow",
            "throng.step",
            "throng.kind",
            "throng.outcome",
            "http.response.status_code",
        ] {
            assert!(keys.contains(&k), "{k} in {keys:?}");
        }
        let resource = req.resource_spans[0].resource.as_ref().unwrap();
        assert!(resource.attributes.iter().any(|a| a.key == "throng.run"));
    }
}
