//! HAR 1.2 pieces for a kept session: one entry per request as either mode saw it (headers
//! with their credentials masked, bodies cut at [`BODY_CAP`]), the pages (one per step), and
//! the whole log, with the session's secret values masked in every string at the end.

use crate::metrics::redact_values;
use crate::outbound::strip_userinfo;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of a request or response body kept in an entry.
pub const BODY_CAP: usize = 64 * 1024;
/// What a masked value becomes.
const MASK: &str = "***";

/// Headers whose values are credentials: masked in every kept session.
fn is_credential(name: &str) -> bool {
    [
        "cookie",
        "set-cookie",
        "authorization",
        "proxy-authorization",
        "x-csrf-token",
        "x-xsrf-token",
        "x-api-key",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Per-phase times of an entry (ms; -1 when the phase did not apply or is unknown).
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub blocked: f64,
    pub dns: f64,
    pub connect: f64,
    pub ssl: f64,
    pub send: f64,
    pub wait: f64,
    pub receive: f64,
}

impl Timings {
    /// Only the whole time known (HTTP mode: from sending to the end of the response).
    pub fn waited(ms: f64) -> Self {
        Timings {
            blocked: -1.0,
            dns: -1.0,
            connect: -1.0,
            ssl: -1.0,
            send: 0.0,
            wait: ms.max(0.0),
            receive: 0.0,
        }
    }

    /// The entry's `time`: the sum of its non-negative phases (`ssl` is part of `connect`).
    fn total(&self) -> f64 {
        [
            self.blocked,
            self.dns,
            self.connect,
            self.send,
            self.wait,
            self.receive,
        ]
        .iter()
        .filter(|t| **t > 0.0)
        .sum()
    }
}

/// A body as sent or received.
#[derive(Debug, Clone)]
pub struct Body<'a> {
    pub mime: &'a str,
    pub bytes: &'a [u8],
    /// Its size on the wire when known (may differ from `bytes`: compressed, or not kept).
    pub size: Option<u64>,
}

/// One request as a session saw it.
#[derive(Debug, Clone)]
pub struct HarEntry<'a> {
    pub started: SystemTime,
    /// The step that sent it (its page in the HAR).
    pub step: Option<u32>,
    pub method: &'a str,
    pub url: &'a str,
    pub http_version: &'a str,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<Body<'a>>,
    /// No status: the request got no response (`error` says why).
    pub status: Option<u16>,
    pub status_text: &'a str,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<Body<'a>>,
    /// The response's MIME type when no body is kept (else the body's, or Content-Type).
    pub response_mime: Option<&'a str>,
    /// Body bytes received (on the wire).
    pub received: Option<u64>,
    /// `document`, `xhr`, `fetch`, `script`, ... (DevTools' `_resourceType`).
    pub resource_type: &'a str,
    pub timings: Timings,
    pub error: Option<String>,
    pub server_ip: Option<String>,
}

/// An owned body: its first bytes (one past [`BODY_CAP`] shows it was cut) and full size.
#[derive(Debug)]
struct OwnedBody {
    mime: String,
    bytes: Vec<u8>,
    size: u64,
}

impl OwnedBody {
    fn of(b: &Body<'_>) -> Self {
        OwnedBody {
            mime: b.mime.to_string(),
            bytes: b.bytes[..b.bytes.len().min(BODY_CAP + 1)].to_vec(),
            size: b.size.unwrap_or(b.bytes.len() as u64),
        }
    }

    fn body(&self) -> Body<'_> {
        Body {
            mime: &self.mime,
            bytes: &self.bytes,
            size: Some(self.size),
        }
    }
}

/// An entry held until its session ends: copied, not yet HAR JSON (building JSON for every
/// request of every session that may be kept would cost throng CPU per request).
#[derive(Debug)]
pub struct OwnedEntry {
    started: SystemTime,
    step: Option<u32>,
    texts: [String; 6],
    request_headers: Vec<(String, String)>,
    request_body: Option<OwnedBody>,
    status: Option<u16>,
    response_headers: Vec<(String, String)>,
    response_body: Option<OwnedBody>,
    response_mime: Option<String>,
    received: Option<u64>,
    timings: Timings,
    error: Option<String>,
    server_ip: Option<String>,
}

impl OwnedEntry {
    /// A copy of `e` and about what it holds in bytes.
    pub fn of(e: HarEntry<'_>) -> (Self, usize) {
        let texts = [
            e.method,
            e.url,
            e.http_version,
            e.status_text,
            e.resource_type,
            "",
        ]
        .map(String::from);
        let headers = |hs: &[(String, String)]| {
            hs.iter()
                .map(|(k, v)| k.len() + v.len() + 32)
                .sum::<usize>()
        };
        let owned = OwnedEntry {
            started: e.started,
            step: e.step,
            texts,
            request_body: e.request_body.as_ref().map(OwnedBody::of),
            request_headers: e.request_headers,
            status: e.status,
            response_body: e.response_body.as_ref().map(OwnedBody::of),
            response_headers: e.response_headers,
            response_mime: e.response_mime.map(String::from),
            received: e.received,
            timings: e.timings,
            error: e.error,
            server_ip: e.server_ip,
        };
        let size = 600
            + owned.texts.iter().map(String::len).sum::<usize>()
            + headers(&owned.request_headers)
            + headers(&owned.response_headers)
            + owned
                .request_body
                .as_ref()
                .map_or(0, |b| written_len(&b.bytes))
            + owned
                .response_body
                .as_ref()
                .map_or(0, |b| written_len(&b.bytes));
        (owned, size)
    }

    pub fn entry(&self) -> HarEntry<'_> {
        let [method, url, http_version, status_text, resource_type, _] = &self.texts;
        HarEntry {
            started: self.started,
            step: self.step,
            method,
            url,
            http_version,
            request_headers: self.request_headers.clone(),
            request_body: self.request_body.as_ref().map(OwnedBody::body),
            status: self.status,
            status_text,
            response_headers: self.response_headers.clone(),
            response_body: self.response_body.as_ref().map(OwnedBody::body),
            response_mime: self.response_mime.as_deref(),
            received: self.received,
            resource_type,
            timings: self.timings,
            error: self.error.clone(),
            server_ip: self.server_ip.clone(),
        }
    }
}

/// An entry as HAR JSON, and whether a body was cut.
pub fn entry_json(e: &HarEntry<'_>) -> (Value, bool) {
    let mut cut = false;
    // A URL's credentials are left out, as everywhere in the results.
    let url = strip_userinfo(e.url);
    let headers = |hs: &[(String, String)]| -> Vec<Value> {
        hs.iter()
            .map(|(k, v)| {
                let v = if is_credential(k) { MASK } else { v.as_str() };
                json!({"name": k, "value": v})
            })
            .collect()
    };
    let query: Vec<Value> = url::Url::parse(&url)
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect()
        })
        .unwrap_or_default();
    let mut request = json!({
        "method": e.method,
        "url": url,
        "httpVersion": e.http_version,
        "cookies": [],
        "headers": headers(&e.request_headers),
        "queryString": query,
        "headersSize": -1,
        "bodySize": e.request_body.as_ref().map_or(0, |b| b.size.unwrap_or(b.bytes.len() as u64) as i64),
    });
    if let Some(b) = &e.request_body {
        let (text, was_cut) = body_text(b.bytes);
        cut |= was_cut;
        request["postData"] = json!({"mimeType": b.mime, "text": text});
    }
    let mime = e
        .response_body
        .as_ref()
        .map(|b| b.mime)
        .or(e.response_mime)
        .or_else(|| header(&e.response_headers, "content-type"))
        .unwrap_or("");
    let mut content = json!({"size": e.received.unwrap_or(0), "mimeType": mime});
    if let Some(b) = &e.response_body {
        content["size"] = json!(b.size.unwrap_or(b.bytes.len() as u64));
        let (text, was_cut) = body_text(b.bytes);
        cut |= was_cut;
        content["text"] = json!(text);
        if was_cut {
            content["comment"] = json!(format!("body cut at {BODY_CAP} bytes"));
        }
    }
    let location = header(&e.response_headers, "location").unwrap_or("");
    let response = json!({
        "status": e.status.unwrap_or(0),
        "statusText": e.status_text,
        "httpVersion": e.http_version,
        "cookies": [],
        "headers": headers(&e.response_headers),
        "content": content,
        "redirectURL": location,
        "headersSize": -1,
        "bodySize": e.received.map_or(-1, |b| b as i64),
    });
    let t = &e.timings;
    let mut entry = json!({
        "pageref": page_id(e.step),
        "startedDateTime": iso8601(e.started),
        "time": t.total(),
        "request": request,
        "response": response,
        "cache": {},
        "timings": {
            "blocked": t.blocked, "dns": t.dns, "connect": t.connect, "ssl": t.ssl,
            "send": t.send.max(0.0), "wait": t.wait.max(0.0), "receive": t.receive.max(0.0),
        },
        "_resourceType": e.resource_type,
    });
    if let Some(ip) = &e.server_ip {
        entry["serverIPAddress"] = json!(ip);
    }
    if let Some(err) = &e.error {
        entry["response"]["_error"] = json!(err);
        entry["comment"] = json!(format!("no response: {err}"));
    }
    (entry, cut)
}

fn header<'h>(hs: &'h [(String, String)], name: &str) -> Option<&'h str> {
    hs.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A body's first [`BODY_CAP`] bytes as text (cut at a character boundary), and whether it
/// was cut. Binary bodies are kept as their lossy text (a person reads these, DevTools shows
/// them).
fn body_text(b: &[u8]) -> (String, bool) {
    let cut = b.len() > BODY_CAP;
    let text = String::from_utf8_lossy(&b[..b.len().min(BODY_CAP)]);
    let text = if cut {
        text.trim_end_matches('\u{FFFD}')
    } else {
        &text
    };
    (text.to_string(), cut)
}

/// Bytes a body takes in the HAR as written (its text JSON-escaped): what the caps count, so
/// a body of control bytes (6 bytes each as `\u0001`) cannot write six times its cap.
fn written_len(b: &[u8]) -> usize {
    let (text, _) = body_text(b);
    text.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum()
}

/// The HAR page of a step (`page_3` for the third step).
pub fn page_id(step: Option<u32>) -> String {
    format!("page_{}", step.map_or(0, |s| s + 1))
}

/// A page (one per step) as HAR JSON.
pub fn page_json(step: Option<u32>, title: &str, started: SystemTime) -> Value {
    json!({
        "id": page_id(step),
        "title": title,
        "startedDateTime": iso8601(started),
        "pageTimings": {"onContentLoad": -1, "onLoad": -1},
    })
}

/// The whole HAR: its secrets (and their URL-encoded forms) masked in every string.
pub fn log_json(
    pages: Vec<Value>,
    entries: Vec<Value>,
    comment: &str,
    secrets: &[String],
) -> Value {
    let mut masks: Vec<String> = Vec::new();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        masks.push(s.clone());
        let form: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
        let pct = percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        masks.extend([form, pct].into_iter().filter(|m| m != s));
    }
    let mut har = json!({"log": {
        "version": "1.2",
        "creator": {"name": "throng", "version": env!("CARGO_PKG_VERSION")},
        "pages": pages,
        "entries": entries,
        "comment": comment,
    }});
    mask_strings(&mut har, &masks);
    har
}

fn mask_strings(v: &mut Value, masks: &[String]) {
    match v {
        Value::String(s) if masks.iter().any(|m| s.contains(m.as_str())) => {
            *s = redact_values(s, masks.iter().map(String::as_str));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| mask_strings(v, masks)),
        Value::Object(o) => o.values_mut().for_each(|v| mask_strings(v, masks)),
        _ => {}
    }
}

/// `2026-12-06T11:50:13.123Z`.
pub fn iso8601(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let c = crate::metrics::civil(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_mask_credentials_and_cut_bodies() {
        let body = "a".repeat(BODY_CAP + 10);
        let e = HarEntry {
            started: UNIX_EPOCH + Duration::from_millis(1_764_979_200_123),
            step: Some(1),
            method: "POST",
            url: "http://h/login?next=%2Fhome",
            http_version: "HTTP/1.1",
            request_headers: vec![("Cookie".into(), "sid=abc".into())],
            request_body: Some(Body {
                mime: "application/x-www-form-urlencoded",
                bytes: b"user=al&pw=hunter%212x",
                size: None,
            }),
            status: Some(302),
            status_text: "Found",
            response_headers: vec![("Location".into(), "/home".into())],
            response_body: Some(Body {
                mime: "text/html",
                bytes: body.as_bytes(),
                size: None,
            }),
            response_mime: None,
            received: Some(9),
            resource_type: "document",
            timings: Timings::waited(12.5),
            error: None,
            server_ip: None,
        };
        let (v, cut) = entry_json(&e);
        assert!(cut);
        assert_eq!(v["startedDateTime"], "2025-12-06T00:00:00.123Z");
        assert_eq!(v["request"]["headers"][0]["value"], MASK);
        assert_eq!(v["request"]["queryString"][0]["value"], "/home");
        assert_eq!(v["response"]["redirectURL"], "/home");
        assert_eq!(v["pageref"], "page_2");
        assert_eq!(v["time"], 12.5);
        let text = v["response"]["content"]["text"].as_str().unwrap();
        assert_eq!(text.len(), BODY_CAP);
        let har = log_json(vec![], vec![v], "", &["hunter!2x".to_string()]);
        let s = har.to_string();
        assert!(!s.contains("hunter%212x") && s.contains("pw=***"), "{s}");
    }

    #[test]
    fn a_body_is_counted_as_written() {
        let mut b: Vec<u8> = (0u8..=255).collect();
        b.extend_from_slice("é\"\\ok".as_bytes());
        let json = serde_json::to_string(&body_text(&b).0).unwrap();
        assert_eq!(written_len(&b), json.len() - 2);
        assert_eq!(written_len(&[1u8; 100]), 600);
    }
}
