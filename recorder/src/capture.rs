//! The raw recording: timed steps and timed requests with their responses, before they become a
//! flow. Both the live recorder and the HAR import fill one of these; `build` turns it into a flow.

use throng_flow::{Action, Capped};

/// Everything observed, in wall-clock milliseconds since the Unix epoch.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    pub title: String,
    /// scheme://host:port the flow was recorded against.
    pub origin: String,
    /// First test-id attribute the selectors were made with.
    pub selector_attribute: Option<String>,
    pub steps: Vec<RawStep>,
    pub requests: Vec<RawRequest>,
    /// Write the flow without correlations (`--no-correlate`).
    pub no_correlate: bool,
    /// When the recording ended (the window closed, Ctrl-C): the page stayed open until then.
    pub end_ms: Option<f64>,
    /// WebSockets the pages opened.
    pub web_sockets: Vec<RawWebSocket>,
    /// What secret fields held while being typed (a page may send each version).
    pub drafts: Vec<SecretDraft>,
    /// What was left out to keep the recording bounded (see `limits`).
    pub capped: Capped,
}

/// The values a secret field held while it was typed, before its value was reported.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretDraft {
    pub field: SecretField,
    /// Distinct values, oldest first (at most [`SecretDraft::MAX_VALUES`]).
    pub values: Vec<String>,
}

impl SecretDraft {
    /// Values kept per field (a password is typed in fewer keystrokes).
    pub const MAX_VALUES: usize = 256;
    /// Longest value kept (longer text is no password; it is still scrubbed as a change step).
    pub const MAX_LEN: usize = 256;
}

/// One WebSocket as observed: where, when, what the page sent and how much it received.
#[derive(Debug, Clone, Default)]
pub struct RawWebSocket {
    /// The main document open when the socket was created (its CDP loaderId).
    pub doc: Option<String>,
    pub url: String,
    /// When it was created (ms since the Unix epoch).
    pub start_ms: f64,
    /// When the handshake completed: message offsets count from here.
    pub open_ms: Option<f64>,
    /// Messages sent: when, the payload (base64 when binary), binary or not.
    pub sent: Vec<(f64, String, bool)>,
    /// Bytes of the payloads in `sent`.
    pub sent_bytes: usize,
    /// A message was left out past the socket's cap: later ones are too.
    pub full: bool,
    /// Text and binary messages received.
    pub received: u64,
    /// The page's script called `close()` on it (a server's close is the server's to make
    /// again at replay).
    pub page_closed: bool,
    /// When it closed while its document was still the page's (ms since the Unix epoch).
    pub closed_ms: Option<f64>,
}

/// One step as observed.
#[derive(Debug, Clone)]
pub struct RawStep {
    /// When the person started the step (typing start for a change).
    pub t_ms: f64,
    pub action: Action,
    /// Frame index path; empty for the top frame.
    pub frame: Vec<u32>,
    /// A typed value that must not be written in clear.
    pub secret: Option<SecretField>,
}

impl RawStep {
    pub fn new(t_ms: f64, action: Action) -> Self {
        RawStep {
            t_ms,
            action,
            frame: Vec::new(),
            secret: None,
        }
    }
}

/// Where a secret value was typed and what it will be called.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretField {
    /// Variable name hint (the field's name, or the `--secret` name).
    pub name: String,
    /// True for `--secret NAME` fields: the name is used as given.
    pub named: bool,
}

/// One request with what came back. A navigation's redirect hops are one entry each (with the
/// status each hop answered); other redirect chains are one entry: the first hop's request with
/// the final hop's response (replay clients follow redirects themselves).
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    /// The document the request belongs to (CDP loaderId, HAR pageref).
    pub doc: Option<String>,
    /// A top-level document request (a navigation of the tab).
    pub main_document: bool,
    /// The navigation was started by the page (link, form, script), not by the browser UI.
    pub page_initiated: bool,
    pub method: String,
    pub url: String,
    /// URL after redirects.
    pub final_url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// CDP resource type (Document, Script, XHR, ...), if known.
    pub resource_type: Option<String>,
    pub mime: Option<String>,
    pub status: Option<u16>,
    pub initiator: Option<String>,
    /// Started from a timer (setInterval/setTimeout in the initiator's async stack).
    pub timer: bool,
    pub start_ms: f64,
    pub end_ms: Option<f64>,
    pub failed: bool,
    /// Server-Sent Events received on it (an EventSource, or an event stream read by `fetch`).
    pub events: u64,
    /// When its response head arrived.
    pub head_ms: Option<f64>,
    /// Chunks of its body received, and when the last one came.
    pub chunks: u32,
    pub last_data_ms: Option<f64>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
}

/// scheme://host[:port] of a URL, as the flow's `origin` spells it.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// "type url:line", plus the timer that started it when the async stack shows one.
pub fn initiator_of(init: &serde_json::Value) -> (Option<String>, bool) {
    let Some(kind) = init["type"].as_str() else {
        return (None, false);
    };
    let mut frames_url = None;
    let mut timer = None;
    let mut stack = init.get("stack");
    while let Some(s) = stack {
        if frames_url.is_none() {
            if let Some(f) = s["callFrames"].as_array().and_then(|a| a.first()) {
                frames_url = Some((
                    f["url"].as_str().unwrap_or("").to_string(),
                    f["lineNumber"].as_u64().unwrap_or(0),
                ));
            }
        }
        if let Some(d) = s["description"].as_str() {
            if matches!(d, "setInterval" | "setTimeout") && timer.is_none() {
                timer = Some(d.to_string());
            }
        }
        stack = s.get("parent");
    }
    let at = match (init["url"].as_str(), frames_url) {
        (Some(u), _) if !u.is_empty() => Some(format!(
            "{u}:{}",
            init["lineNumber"].as_u64().unwrap_or(0) + 1
        )),
        (_, Some((u, l))) if !u.is_empty() => Some(format!("{u}:{}", l + 1)),
        _ => None,
    };
    let mut s = kind.to_string();
    if let Some(at) = at {
        s.push(' ');
        s.push_str(&at);
    }
    if let Some(t) = &timer {
        s.push_str(&format!(" ({t})"));
    }
    (Some(s), timer.is_some())
}
