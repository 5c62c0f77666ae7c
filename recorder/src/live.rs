//! Live capture: turns the recorded tab's CDP events (capture-script reports, network, frame
//! navigations) into the raw recording. Pure bookkeeping; the session does the I/O.

use crate::capture::{
    initiator_of, Capture, RawRequest, RawStep, RawWebSocket, SecretDraft, SecretField,
};
use crate::limits::{Budget, BODY_BYTES};
use crate::sse::EventCounter;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use throng_flow::Action;

/// The isolated world the capture script runs in.
pub const WORLD: &str = "throng-recorder";
/// The binding the capture script reports through.
pub const BINDING: &str = "__throngRecord";
/// A change of the wall clock against the monotonic one beyond this is a clock step, not jitter.
const CLOCK_STEP_MS: f64 = 1000.0;

/// Work the session must do for the capture (CDP calls whose answers come back later).
#[derive(Debug, Clone, PartialEq)]
pub enum Followup {
    ResponseBody(String),
    PostData(String),
    /// An event stream read by `fetch()`: have its data reported (to count its events).
    StreamContent(String),
    /// A script's request paused (Fetch domain) with its answer's head: read the body first
    /// when `read` (Chromium drops it once the page moves on), then let it continue.
    PausedAnswer {
        id: String,
        network_id: String,
        read: bool,
    },
}

/// The recording under way.
#[derive(Debug, Default)]
pub struct Live {
    pub cap: Capture,
    /// CDP request id -> index in `cap.requests`.
    by_id: HashMap<String, usize>,
    /// CDP request id of a WebSocket -> index in `cap.web_sockets`.
    ws_by_id: HashMap<String, usize>,
    /// The main frame's current document (its loaderId).
    main_doc: Option<String>,
    main_frame: Option<String>,
    /// The page asked for a top-level navigation (link, form, script) since the last document.
    nav_requested: bool,
    /// Our own first Page.navigate is under way; its document is the navigate step's.
    pub expecting_initial: bool,
    /// Wall-clock ms minus monotonic ms, from the first requestWillBeSent. Held fixed: each
    /// event carries two clock reads apart, so an offset taken afresh jitters by milliseconds
    /// under load, enough to place a response's end after the request its value was sent in.
    clock_offset_ms: Option<f64>,
    /// Isolated-world contexts of the capture script (to flush typed values at the end).
    pub contexts: HashSet<i64>,
    /// Something changed since the last checkpoint.
    pub dirty: bool,
    /// Capture-script reports that could not be read (should stay 0).
    pub bad_reports: usize,
    /// Answers whose body Chromium would not give (their values cannot be correlated): how
    /// many, and the first few as `METHOD URL`.
    pub unread_bodies: (usize, Vec<String>),
    /// What is kept against the caps.
    budget: Budget,
    /// Event streams read by `fetch()` whose data is reported: CDP request id -> counter.
    streams: HashMap<String, EventCounter>,
    /// Script requests whose body is read while their answer is paused (not asked again).
    read_paused: HashSet<String>,
}

/// Wall-clock time now, in ms since the Unix epoch.
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

impl Live {
    pub fn new(cap: Capture) -> Self {
        Live {
            cap,
            ..Default::default()
        }
    }

    pub fn set_main_frame(&mut self, id: String) {
        self.main_frame = Some(id);
    }

    /// Adds a step the recorder made itself (setViewport, the first navigate).
    pub fn push_step(&mut self, step: RawStep) {
        self.cap.steps.push(step);
        self.dirty = true;
    }

    /// Handles one event of the recorded tab's session.
    pub fn on_event(&mut self, method: &str, p: &Value) -> Option<Followup> {
        match method {
            "Runtime.bindingCalled" if p["name"] == BINDING => {
                self.on_report(p["payload"].as_str().unwrap_or(""));
                None
            }
            "Network.requestWillBeSent" => self.on_request(p),
            "Network.responseReceived" => {
                let i = self.index(p)?;
                let resp = &p["response"];
                let head = self.wall(p["timestamp"].as_f64());
                let r = &mut self.cap.requests[i];
                r.status = resp["status"].as_u64().map(|s| s as u16);
                r.mime = resp["mimeType"].as_str().map(String::from);
                r.response_headers = header_list(&resp["headers"]);
                if let Some(u) = resp["url"].as_str() {
                    r.final_url = u.to_string();
                }
                if r.resource_type.is_none() {
                    r.resource_type = p["type"].as_str().map(String::from);
                }
                r.head_ms = head;
                let id = p["requestId"].as_str().unwrap_or_default().to_string();
                let script = matches!(r.resource_type.as_deref(), Some("Fetch" | "XHR"));
                let stream = r
                    .mime
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case("text/event-stream"));
                (script && stream).then(|| {
                    self.streams.insert(id.clone(), EventCounter::default());
                    Followup::StreamContent(id)
                })
            }
            "Network.dataReceived" => {
                let i = self.index(p)?;
                let at = self.wall(p["timestamp"].as_f64());
                let r = &mut self.cap.requests[i];
                r.chunks = r.chunks.saturating_add(1);
                r.last_data_ms = at.or(r.last_data_ms);
                let data = p["data"].as_str()?;
                let id = p["requestId"].as_str()?.to_string();
                self.on_stream_data(&id, data);
                None
            }
            "Fetch.requestPaused" => self.on_paused(p),
            "Network.loadingFinished" => {
                let i = self.index(p)?;
                let end = self.wall(p["timestamp"].as_f64());
                let r = &mut self.cap.requests[i];
                r.end_ms = end;
                self.dirty = true;
                let id = p["requestId"].as_str().unwrap_or_default().to_string();
                self.streams.remove(&id);
                if self.read_paused.contains(&id) || !wants_body(r) {
                    return None;
                }
                // Not even asked for when it is known to be too long.
                let len = p["encodedDataLength"].as_f64().unwrap_or(0.0);
                if len > BODY_BYTES as f64 {
                    self.cap.capped.bodies += 1;
                    return None;
                }
                Some(Followup::ResponseBody(id))
            }
            "Network.loadingFailed" => {
                let i = self.index(p)?;
                let end = self.wall(p["timestamp"].as_f64());
                let r = &mut self.cap.requests[i];
                r.end_ms = end;
                r.failed = true;
                self.streams
                    .remove(p["requestId"].as_str().unwrap_or_default());
                None
            }
            "Network.eventSourceMessageReceived" => {
                let i = self.index(p)?;
                self.cap.requests[i].events += 1;
                self.dirty = true;
                None
            }
            "Network.webSocketCreated"
            | "Network.webSocketHandshakeResponseReceived"
            | "Network.webSocketFrameSent"
            | "Network.webSocketFrameReceived"
            | "Network.webSocketClosed" => {
                self.on_web_socket(method, p);
                None
            }
            "Page.frameRequestedNavigation" => {
                if self.is_main(p["frameId"].as_str()) {
                    self.nav_requested = true;
                }
                None
            }
            "Page.frameNavigated" => {
                let f = &p["frame"];
                if f.get("parentId").is_none() && self.main_frame.is_none() {
                    self.main_frame = f["id"].as_str().map(String::from);
                }
                None
            }
            "Runtime.executionContextCreated" => {
                let c = &p["context"];
                if c["name"] == WORLD {
                    if let Some(id) = c["id"].as_i64() {
                        self.contexts.insert(id);
                    }
                }
                None
            }
            "Runtime.executionContextDestroyed" => {
                if let Some(id) = p["executionContextId"].as_i64() {
                    self.contexts.remove(&id);
                }
                None
            }
            "Runtime.executionContextsCleared" => {
                self.contexts.clear();
                None
            }
            _ => None,
        }
    }

    /// A script's request paused at its answer (`Fetch.requestPaused`, response stage): its
    /// body is read first when it is one the capture keeps (see [`crate::paused`]).
    fn on_paused(&mut self, p: &Value) -> Option<Followup> {
        let mut f = crate::paused::followup(p)?;
        if let Followup::PausedAnswer {
            network_id, read, ..
        } = &mut f
        {
            *read = *read && self.by_id.contains_key(network_id.as_str());
            if *read {
                self.read_paused.insert(network_id.clone());
            }
        }
        Some(f)
    }

    /// Chromium did not give the body of `request_id`'s answer.
    pub fn on_body_unread(&mut self, request_id: &str) {
        let Some(&i) = self.by_id.get(request_id) else {
            return;
        };
        let r = &self.cap.requests[i];
        self.unread_bodies.0 += 1;
        if self.unread_bodies.1.len() < 5 {
            self.unread_bodies.1.push(format!("{} {}", r.method, r.url));
        }
    }

    pub fn on_response_body(&mut self, request_id: &str, body: String) {
        if let Some(&i) = self.by_id.get(request_id) {
            if self.budget.body(body.len(), &mut self.cap.capped) {
                self.cap.requests[i].response_body = Some(body);
                self.dirty = true;
            }
        }
    }

    /// Data of an event stream read by `fetch()` (base64, as CDP reports it): its events.
    pub fn on_stream_data(&mut self, request_id: &str, base64: &str) {
        use base64::Engine as _;
        let (Some(counter), Some(&i)) =
            (self.streams.get_mut(request_id), self.by_id.get(request_id))
        else {
            return;
        };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(base64) else {
            return;
        };
        let events = counter.feed(&bytes);
        if events > 0 {
            self.cap.requests[i].events += events;
            self.dirty = true;
        }
    }

    pub fn on_post_data(&mut self, request_id: &str, body: String) {
        if let Some(&i) = self.by_id.get(request_id) {
            self.cap.requests[i].body = Some(body);
            self.dirty = true;
        }
    }

    /// A WebSocket's life: created (with the document it belongs to), opened, messages.
    fn on_web_socket(&mut self, method: &str, p: &Value) {
        let Some(id) = p["requestId"].as_str() else {
            return;
        };
        if method == "Network.webSocketCreated" {
            if !self.budget.socket(&self.main_doc, &mut self.cap.capped) {
                self.dirty = true;
                return;
            }
            self.cap.web_sockets.push(RawWebSocket {
                doc: self.main_doc.clone(),
                url: p["url"].as_str().unwrap_or_default().to_string(),
                start_ms: now_ms(),
                ..Default::default()
            });
            self.ws_by_id
                .insert(id.to_string(), self.cap.web_sockets.len() - 1);
            self.dirty = true;
            return;
        }
        let Some(&i) = self.ws_by_id.get(id) else {
            return;
        };
        let at = self.wall(p["timestamp"].as_f64()).unwrap_or_else(now_ms);
        // Closed while its page stays (not by the page leaving, which closes it anyway).
        let page_stays = self.main_doc == self.cap.web_sockets[i].doc && !self.nav_requested;
        let ws = &mut self.cap.web_sockets[i];
        let frame = &p["response"];
        // Opcode 1: text, 2: binary (payload in base64); control frames are not messages.
        let opcode = frame["opcode"].as_u64().unwrap_or(0);
        match method {
            "Network.webSocketHandshakeResponseReceived" => ws.open_ms = Some(at),
            "Network.webSocketFrameSent" if matches!(opcode, 1 | 2) => {
                let data = frame["payloadData"].as_str().unwrap_or_default();
                let message = (at, data.to_string(), opcode == 2);
                self.budget.message(ws, message, &mut self.cap.capped);
            }
            "Network.webSocketFrameReceived" if matches!(opcode, 1 | 2) => ws.received += 1,
            "Network.webSocketClosed" if page_stays => ws.closed_ms = Some(at),
            _ => return,
        }
        self.dirty = true;
    }

    /// The page's script closed its open socket to `url` (CDP does not say who closed one).
    fn on_page_closed_socket(&mut self, url: &str) {
        let doc = &self.main_doc;
        if let Some(ws) = self
            .cap
            .web_sockets
            .iter_mut()
            .rev()
            .find(|w| w.url == url && &w.doc == doc && !w.page_closed)
        {
            ws.page_closed = true;
            self.dirty = true;
        }
    }

    fn index(&self, p: &Value) -> Option<usize> {
        self.by_id.get(p["requestId"].as_str()?).copied()
    }

    fn is_main(&self, frame: Option<&str>) -> bool {
        match (&self.main_frame, frame) {
            (Some(m), Some(f)) => m == f,
            _ => false,
        }
    }

    /// The wall-clock ms of a CDP monotonic timestamp.
    fn wall(&self, monotonic_s: Option<f64>) -> Option<f64> {
        Some(monotonic_s? * 1000.0 + self.clock_offset_ms?)
    }

    fn on_request(&mut self, p: &Value) -> Option<Followup> {
        let id = p["requestId"].as_str()?.to_string();
        let req = &p["request"];
        let url = req["url"].as_str().unwrap_or("").to_string();
        if let (Some(wall), Some(ts)) = (p["wallTime"].as_f64(), p["timestamp"].as_f64()) {
            let offset = wall * 1000.0 - ts * 1000.0;
            // Re-based only when the wall clock was stepped (not by a read's jitter).
            if self
                .clock_offset_ms
                .is_none_or(|held| (held - offset).abs() > CLOCK_STEP_MS)
            {
                self.clock_offset_ms = Some(offset);
            }
        }
        let start = self.wall(p["timestamp"].as_f64()).unwrap_or_else(now_ms);
        if let Some(redirect) = p.get("redirectResponse") {
            if let Some(&i) = self.by_id.get(&id) {
                if self.cap.requests[i].resource_type.as_deref() != Some("Document") {
                    // A script's or asset's redirect chain stays one request (its client
                    // follows it in one call at replay).
                    self.cap.requests[i].final_url = url;
                    return None;
                }
                // A navigation's hops are recorded as the server answered each one.
                let hop = &mut self.cap.requests[i];
                hop.status = redirect["status"].as_u64().map(|s| s as u16);
                hop.mime = redirect["mimeType"].as_str().map(String::from);
                hop.response_headers = header_list(&redirect["headers"]);
                hop.end_ms = Some(start);
                let next = RawRequest {
                    doc: hop.doc.clone(),
                    main_document: hop.main_document,
                    page_initiated: hop.page_initiated,
                    method: req["method"].as_str().unwrap_or("GET").to_string(),
                    final_url: url.clone(),
                    url,
                    headers: header_list(&req["headers"]),
                    body: req["postData"].as_str().map(String::from),
                    resource_type: hop.resource_type.clone(),
                    initiator: hop.initiator.clone(),
                    start_ms: start,
                    ..Default::default()
                };
                self.cap.requests.push(next);
                self.by_id.insert(id, self.cap.requests.len() - 1);
                self.dirty = true;
                return None;
            }
        }
        let resource_type = p["type"].as_str().map(String::from);
        let main_document =
            resource_type.as_deref() == Some("Document") && self.is_main(p["frameId"].as_str());
        let (initiator, timer) = initiator_of(&p["initiator"]);
        let mut page_initiated = false;
        if main_document {
            let init_type = p["initiator"]["type"].as_str().unwrap_or("");
            if self.expecting_initial {
                self.expecting_initial = false;
            } else if self.nav_requested
                || init_type == "parser"
                || init_type == "script"
                || p["hasUserGesture"].as_bool() == Some(true)
            {
                page_initiated = true;
            } else {
                // Typed into the address bar, back/forward, reload, or a CDP client's navigate.
                self.cap
                    .steps
                    .push(RawStep::new(start, Action::navigate(url.clone())));
            }
            self.nav_requested = false;
        }
        if main_document {
            self.main_doc = p["loaderId"].as_str().map(String::from);
        }
        let body = req["postData"].as_str().map(String::from);
        let missing_body = body.is_none() && req["hasPostData"].as_bool() == Some(true);
        self.cap.requests.push(RawRequest {
            doc: p["loaderId"].as_str().map(String::from),
            main_document,
            page_initiated,
            method: req["method"].as_str().unwrap_or("GET").to_string(),
            final_url: url.clone(),
            url,
            headers: header_list(&req["headers"]),
            body,
            resource_type,
            initiator,
            timer,
            start_ms: start,
            ..Default::default()
        });
        self.by_id.insert(id.clone(), self.cap.requests.len() - 1);
        self.dirty = true;
        missing_body.then_some(Followup::PostData(id))
    }

    fn on_report(&mut self, payload: &str) {
        let Ok(mut v) = serde_json::from_str::<Value>(payload) else {
            self.bad_reports += 1;
            return;
        };
        if v["type"] == "secretDraft" {
            self.on_draft(&v);
            return;
        }
        if v["type"] == "wsClose" {
            self.on_page_closed_socket(v["url"].as_str().unwrap_or_default());
            return;
        }
        let t = v["t"].as_f64().unwrap_or_else(now_ms);
        let frame: Vec<u32> = v["frame"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as u32)
                    .collect()
            })
            .unwrap_or_default();
        let secret = v.get("secret").map(|s| SecretField {
            name: s["name"].as_str().unwrap_or("password").to_string(),
            named: s["kind"] == "named",
        });
        if let Some(o) = v.as_object_mut() {
            for k in ["t", "frame", "secret"] {
                o.remove(k);
            }
        }
        match serde_json::from_value::<Action>(v) {
            Ok(action) => {
                self.cap.steps.push(RawStep {
                    t_ms: t,
                    action,
                    frame,
                    secret,
                });
                self.dirty = true;
            }
            Err(e) => {
                tracing::warn!(target: "throng_recorder", "unreadable capture report: {e}");
                self.bad_reports += 1;
            }
        }
    }
}

impl Live {
    /// A secret field's value while it is typed (kept in memory only, to scrub it).
    fn on_draft(&mut self, v: &Value) {
        let (Some(name), Some(value)) = (v["name"].as_str(), v["value"].as_str()) else {
            self.bad_reports += 1;
            return;
        };
        if value.is_empty() || value.chars().count() > SecretDraft::MAX_LEN {
            return;
        }
        let field = SecretField {
            name: name.to_string(),
            named: v["kind"] == "named",
        };
        let drafts = &mut self.cap.drafts;
        let i = match drafts.iter().position(|d| d.field == field) {
            Some(i) => i,
            None => {
                drafts.push(SecretDraft {
                    field,
                    values: Vec::new(),
                });
                drafts.len() - 1
            }
        };
        let values = &mut drafts[i].values;
        if !values.iter().any(|x| x == value) && values.len() < SecretDraft::MAX_VALUES {
            values.push(value.to_string());
            self.dirty = true;
        }
    }
}

/// Response bodies the correlation reads: documents and API answers, and scripts (a value a
/// script holds is the site's, not one the page made up); not other assets.
fn wants_body(r: &RawRequest) -> bool {
    let rt = r.resource_type.as_deref().unwrap_or("");
    let mime = r.mime.as_deref().unwrap_or("");
    let script = rt == "Script" && (mime.contains("javascript") || mime.contains("ecmascript"));
    let textual = script || mime.contains("html") || mime.contains("json") || mime.contains("xml");
    let kind_ok = matches!(rt, "Document" | "XHR" | "Fetch" | "Other" | "Script" | "");
    let status_ok = r
        .status
        .is_some_and(|s| !(300..400).contains(&s) && s != 204);
    textual && kind_ok && status_ok
}

fn header_list(h: &Value) -> Vec<(String, String)> {
    h.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sent(id: &str, ts: f64, wall: f64) -> Value {
        json!({"requestId": id, "loaderId": "L", "type": "XHR", "timestamp": ts, "wallTime": wall,
               "request": {"url": format!("http://127.0.0.1/{id}"), "method": "GET", "headers": {}},
               "initiator": {"type": "script"}})
    }

    #[test]
    fn a_wall_time_read_late_does_not_put_a_request_before_the_answer_it_followed() {
        let mut live = Live::new(Capture::default());
        live.on_event("Network.requestWillBeSent", &sent("a", 100.000, 5000.000));
        live.on_event(
            "Network.loadingFinished",
            &json!({"requestId": "a", "timestamp": 100.050, "encodedDataLength": 10}),
        );
        // Sent 1 ms after the answer ended; its wall clock was read 6 ms early (jitter).
        live.on_event("Network.requestWillBeSent", &sent("b", 100.051, 5000.045));
        let (a, b) = (&live.cap.requests[0], &live.cap.requests[1]);
        assert!(
            b.start_ms >= a.end_ms.unwrap(),
            "{} < {:?}",
            b.start_ms,
            a.end_ms
        );
        assert_eq!(a.end_ms, Some(5_000_050.0));
    }

    #[test]
    fn a_stepped_wall_clock_rebases_the_offset() {
        let mut live = Live::new(Capture::default());
        live.on_event("Network.requestWillBeSent", &sent("a", 100.0, 5000.0));
        live.on_event("Network.requestWillBeSent", &sent("b", 101.0, 7001.0));
        assert_eq!(live.cap.requests[1].start_ms, 7_001_000.0);
    }
}
