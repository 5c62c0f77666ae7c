//! HTTP mode's samples: each hop the client reports, named (the flow's precomputed name or
//! `METHOD url-without-query`) and recorded under the user's flow and step; its span ended
//! when traced; and, for a session that may be kept whole, each hop as a HAR entry.

use super::client::{HopReport, Observer, Tag};
use crate::metrics::sessions::{Body, HarEntry, SessionCapture, Timings};
use crate::metrics::{request_name, MetricKey, Mode, Recorder, SampleKind};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A request sent later than this against its schedule is "late" (coordinated omission);
/// below it is scheduler jitter.
const LATE_AFTER: Duration = Duration::from_millis(10);

/// Records a client's hops and counters into one user's recorder.
pub struct MetricObserver {
    recorder: Recorder,
}

impl MetricObserver {
    pub fn shared(recorder: Recorder) -> Arc<dyn Observer> {
        Arc::new(MetricObserver { recorder })
    }
}

impl Observer for MetricObserver {
    fn hop(&self, h: &HopReport<'_>) {
        let key = MetricKey {
            mode: Mode::Http,
            flow: h.tag.flow.clone(),
            step: h.tag.step,
            kind: h.kind,
            name: h
                .name
                .cloned()
                .unwrap_or_else(|| Arc::from(request_name(h.method, h.url.as_str()))),
        };
        let late = h.late >= LATE_AFTER;
        match h.bytes {
            Some(bytes) if !late => self
                .recorder
                .record_response(&key, h.elapsed, h.outcome, bytes),
            bytes => {
                if late {
                    self.recorder
                        .record_late(&key, h.elapsed, h.elapsed + h.late, h.outcome);
                } else {
                    self.recorder.record(&key, h.elapsed, h.outcome);
                }
                if let Some(b) = bytes {
                    self.recorder.add_bytes(&key, b);
                }
            }
        }
        if let (Some(span), Some(trace)) = (h.span, h.tag.trace.as_deref()) {
            trace.request_done(span, &key, h.elapsed, h.outcome, h.status);
        }
        if let Some(capture) = &h.tag.capture {
            keep_entry(capture, h);
        }
    }

    fn count(&self, counter: &str, n: u64) {
        self.recorder.count(counter, n);
    }

    fn wants_detail(&self, tag: &Tag) -> bool {
        tag.capture.as_ref().is_some_and(|c| c.open())
    }
}

/// A hop as a HAR entry: headers and bodies when the client gave its detail (streams and
/// WebSockets give none).
fn keep_entry(capture: &SessionCapture, h: &HopReport<'_>) {
    let d = h.detail;
    let response_headers: Vec<(String, String)> = d
        .and_then(|d| d.response_headers)
        .map(|hs| {
            hs.iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect()
        })
        .unwrap_or_default();
    let header = |hs: &[(String, String)], name: &str| {
        hs.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mime = header(&response_headers, "content-type").unwrap_or_default();
    let request_headers = d.map(|d| d.request_headers.clone()).unwrap_or_default();
    let request_mime = header(&request_headers, "content-type").unwrap_or_default();
    let resource_type = match h.kind {
        SampleKind::Document => "document",
        SampleKind::Ajax | SampleKind::Polling => "xhr",
        SampleKind::EventSource => "eventsource",
        SampleKind::WebSocket => "websocket",
        SampleKind::Beacon => "ping",
        _ if mime.contains("css") => "stylesheet",
        _ if mime.contains("javascript") => "script",
        _ if mime.starts_with("image/") => "image",
        _ if mime.starts_with("font/") => "font",
        _ => "other",
    };
    capture.entry(HarEntry {
        started: d.map_or_else(|| SystemTime::now() - h.elapsed, |d| d.started),
        step: h.tag.step,
        method: h.method,
        url: h.url.as_str(),
        http_version: d.map_or("HTTP/1.1", |d| d.http_version),
        request_body: d.and_then(|d| d.request_body).map(|b| Body {
            mime: &request_mime,
            bytes: b.as_bytes(),
            size: None,
        }),
        request_headers,
        status: h.status,
        status_text: h
            .status
            .and_then(|s| http::StatusCode::from_u16(s).ok())
            .and_then(|s| s.canonical_reason())
            .unwrap_or(""),
        response_body: d
            .and_then(|d| d.response_body)
            .filter(|b| !b.is_empty())
            .map(|b| Body {
                mime: &mime,
                bytes: b,
                size: None,
            }),
        response_headers,
        response_mime: None,
        received: h.bytes,
        resource_type,
        timings: Timings::waited(h.elapsed.as_secs_f64() * 1000.0),
        error: h.status.is_none().then(|| h.outcome.to_string()),
        server_ip: None,
    });
}
