//! A kept session's HAR entries in browser mode, from the CDP Network events the session
//! already reads: request headers and post data as sent, the response's status, headers, MIME
//! type, protocol and the browser's own phase timings (as DevTools computes them). Response
//! bodies are not kept here: Network.getResponseBody needs the body buffers every page runs
//! without (see `session::quiet`).

use super::{End, Start};
use crate::metrics::sessions::{Body, HarEntry, SessionCapture, Timings};
use chromiumoxide::cdp::browser_protocol::network::{
    EventRequestWillBeSent, Headers, ResourceTiming, Response,
};
use std::time::{Duration, UNIX_EPOCH};

/// What a request's start says, kept while its session may be kept.
pub(super) struct Sent {
    wall: f64,
    headers: Vec<(String, String)>,
    post: Option<Vec<u8>>,
    resource_type: String,
}

/// What its response head says.
pub(super) struct Answer {
    status_text: String,
    headers: Vec<(String, String)>,
    mime: String,
    protocol: Option<String>,
    remote: Option<String>,
    timing: Option<ResourceTiming>,
}

fn pairs(h: &Headers) -> Vec<(String, String)> {
    h.inner()
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

pub(super) fn sent(ev: &EventRequestWillBeSent) -> Box<Sent> {
    use base64::Engine as _;
    let post = ev.request.post_data_entries.as_ref().map(|parts| {
        parts
            .iter()
            .filter_map(|p| p.bytes.as_ref())
            .flat_map(|b| {
                let text: &str = b.as_ref();
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap_or_default()
            })
            .collect()
    });
    let resource_type = ev
        .r#type
        .as_ref()
        .and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().map(str::to_ascii_lowercase))
        .unwrap_or_else(|| "other".into());
    Box::new(Sent {
        wall: *ev.wall_time.inner(),
        headers: pairs(&ev.request.headers),
        post,
        resource_type,
    })
}

pub(super) fn answer(r: &Response) -> Box<Answer> {
    Box::new(Answer {
        status_text: r.status_text.clone(),
        headers: pairs(&r.headers),
        mime: r.mime_type.clone(),
        protocol: r.protocol.clone(),
        remote: r.remote_ip_address.clone(),
        timing: r.timing.clone(),
    })
}

/// DevTools' phases from the browser's resource timing (ms from `request_time`, -1 unused):
/// `start` and `end` are the request's CDP times (seconds).
fn timings(t: &ResourceTiming, start: f64, end: f64) -> Timings {
    let span = |a: f64, b: f64| if a >= 0.0 && b >= a { b - a } else { -1.0 };
    let first = [t.dns_start, t.connect_start, t.send_start]
        .into_iter()
        .find(|v| *v >= 0.0)
        .unwrap_or(0.0);
    Timings {
        blocked: ((t.request_time - start) * 1000.0 + first).max(0.0),
        dns: span(t.dns_start, t.dns_end),
        connect: span(t.connect_start, t.connect_end),
        ssl: span(t.ssl_start, t.ssl_end),
        send: span(t.send_start, t.send_end).max(0.0),
        wait: span(t.send_end, t.receive_headers_end).max(0.0),
        receive: ((end - t.request_time) * 1000.0 - t.receive_headers_end).max(0.0),
    }
}

/// Keeps the request `start` that ended with `end` as a HAR entry.
pub(super) fn keep(
    capture: &SessionCapture,
    start: &Start,
    (status, answer): (Option<u16>, Option<&Answer>),
    end: &End,
) {
    let Some(sent) = &start.har else { return };
    let (end_ts, received, error) = match end {
        End::Finished { ts, bytes } => (*ts, Some(*bytes as u64), None),
        End::Failed { ts, outcome } => (
            *ts,
            None,
            status
                .is_none()
                .then(|| outcome.map_or("canceled".into(), |o| o.to_string())),
        ),
        End::Abandoned(open) => (
            start.ts + open.as_secs_f64(),
            None,
            status
                .is_none()
                .then(|| "abandoned at the session's end".into()),
        ),
    };
    let timings = match answer.and_then(|a| a.timing.as_ref()) {
        Some(t) => timings(t, start.ts, end_ts),
        None => Timings::waited((end_ts - start.ts).max(0.0) * 1000.0),
    };
    let content_type = sent
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map_or("", |(_, v)| v.as_str());
    let version = match answer.and_then(|a| a.protocol.as_deref()) {
        Some("http/1.1") | None => "HTTP/1.1",
        Some("http/1.0") => "HTTP/1.0",
        Some(other) => other,
    };
    capture.entry(HarEntry {
        started: UNIX_EPOCH + Duration::from_secs_f64(sent.wall.max(0.0)),
        step: Some(start.step),
        method: &start.method,
        url: &start.url,
        http_version: version,
        request_headers: sent.headers.clone(),
        request_body: sent.post.as_deref().map(|b| Body {
            mime: content_type,
            bytes: b,
            size: None,
        }),
        status,
        status_text: answer.map_or("", |a| a.status_text.as_str()),
        response_headers: answer.map(|a| a.headers.clone()).unwrap_or_default(),
        response_body: None,
        response_mime: answer.map(|a| a.mime.as_str()),
        received,
        resource_type: &sent.resource_type,
        timings,
        error,
        server_ip: answer.and_then(|a| a.remote.clone()),
    });
}
