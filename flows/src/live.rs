//! The flow model's live connections: what a page holds open while it is open (EventSources,
//! WebSockets, streams read through `fetch()`), and what a recording left out of them to stay
//! bounded ([`Capped`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Server-Sent Events stream (`new EventSource(url)`): held open while the page is open.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Events received while recording (for comparison; replay counts its own).
    #[serde(default)]
    pub events: u64,
    /// When the page opened it: milliseconds after its step started (absent in older flows:
    /// once the step's requests are done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<u64>,
}

/// A response the page reads as a stream (`fetch()` of `text/event-stream`, or any response it
/// kept open while the page was): held open while the page is open, never reopened. Its
/// sample is timed to the response head, as an EventSource's is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    #[serde(default = "crate::model::get")]
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Status seen when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Server-Sent Events received while recording (an event stream; for comparison).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub events: u64,
    /// When the page opened it: milliseconds after its step started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<u64>,
}

/// A WebSocket the page opened (`ws://` or `wss://`): the messages it sent, each at its
/// offset from the opening, and how many it received while recording.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebSocket {
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent: Vec<WebSocketMessage>,
    #[serde(default)]
    pub received: u64,
    /// When the page opened it: milliseconds after its step started (absent in older flows:
    /// once the step's requests are done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<u64>,
    /// When it closed while its page stayed open (the page's script or the server closed it):
    /// milliseconds after it opened. Absent: open until the page left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_ms: Option<u64>,
}

/// A message a page sent over a WebSocket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketMessage {
    /// Milliseconds after the socket opened.
    pub offset_ms: u64,
    /// The text, or base64 for a binary message.
    pub data: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary: bool,
}

/// What a recording left out because it passed the recorder's caps: the flow replays what was
/// kept, and says here what it is missing (`throng record` prints it too).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Capped {
    /// WebSocket messages the page sent that are not in the flow (one too long, or past its
    /// socket's or the recording's cap).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub messages: u64,
    /// Their bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub message_bytes: u64,
    /// WebSockets and streams not in the flow at all (past a page's or the recording's cap).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sockets: u64,
    /// Response bodies too long to be kept for correlation (their values stay literal).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bodies: u64,
}

impl Capped {
    /// True when nothing was left out.
    pub fn is_empty(&self) -> bool {
        *self == Capped::default()
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
