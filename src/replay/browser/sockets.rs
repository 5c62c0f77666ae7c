//! A page's WebSockets and Server-Sent Events in browser mode, from CDP events, reported as
//! HTTP mode reports them: one `websocket` sample per socket (handshake time, its status's
//! outcome), `websocket.messages_out` / `websocket.messages_in` (text and binary frames),
//! how each socket ended (`websocket.closed.page` when the page closed it by navigating away
//! or ending, `websocket.closed.server` otherwise), and `eventsource.events`.

use crate::metrics::{request_name, MetricKey, Mode, Outcome, Recorder, SampleKind, Sink};
use chromiumoxide::cdp::browser_protocol::network::{
    EventEventSourceMessageReceived, EventWebSocketClosed, EventWebSocketCreated,
    EventWebSocketFrameReceived, EventWebSocketFrameSent, EventWebSocketHandshakeResponseReceived,
    EventWebSocketWillSendHandshakeRequest,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

struct Socket {
    url: String,
    step: u32,
    /// When the handshake request went out (CDP monotonic seconds).
    handshake_ts: Option<f64>,
    /// The handshake was answered (its sample recorded).
    answered: bool,
    /// The page is navigating away: a close now is the page's.
    page_closing: bool,
}

/// The WebSockets of one session.
pub(crate) struct Sockets {
    flow: Arc<str>,
    recorder: Recorder,
    sink: Sink,
    open: HashMap<String, Socket>,
    /// Closed before their handshake's answer was read: CDP's events come on one channel per
    /// type, so a close can be read before the answer that preceded it. Refused (an error)
    /// only if no answer comes by the session's end.
    closed_early: HashMap<String, Socket>,
}

/// Text (1) and binary (2) frames are messages; control frames are not.
fn is_message(opcode: f64) -> bool {
    opcode == 1.0 || opcode == 2.0
}

impl Sockets {
    pub fn new(flow: Arc<str>, recorder: Recorder, sink: Sink) -> Self {
        Sockets {
            flow,
            recorder,
            sink,
            open: HashMap::new(),
            closed_early: HashMap::new(),
        }
    }

    pub fn on_created(&mut self, ev: &EventWebSocketCreated, step: u32) {
        self.open.insert(
            ev.request_id.inner().clone(),
            Socket {
                url: ev.url.clone(),
                step,
                handshake_ts: None,
                answered: false,
                page_closing: false,
            },
        );
    }

    pub fn on_handshake_request(&mut self, ev: &EventWebSocketWillSendHandshakeRequest) {
        let id = ev.request_id.inner();
        if let Some(s) = self.open.get_mut(id).or(self.closed_early.get_mut(id)) {
            s.handshake_ts = Some(*ev.timestamp.inner());
        }
    }

    pub fn on_handshake_response(&mut self, ev: &EventWebSocketHandshakeResponseReceived) {
        let id = ev.request_id.inner();
        if let Some(mut s) = self.closed_early.remove(id) {
            // Its close was read first: answered, then closed (not by the page leaving).
            self.answered(&mut s, ev);
            self.sink.count(closed_by(&s), 1);
            return;
        }
        let Some(mut s) = self.open.remove(id) else {
            return;
        };
        self.answered(&mut s, ev);
        self.open.insert(id.clone(), s);
    }

    /// Records a socket's `websocket` sample: its handshake, answered by `ev`.
    fn answered(&self, s: &mut Socket, ev: &EventWebSocketHandshakeResponseReceived) {
        s.answered = true;
        let status = u16::try_from(ev.response.status).unwrap_or(0);
        let outcome = if status == 101 {
            Outcome::Ok
        } else {
            Outcome::from_status(status)
        };
        let waited = s
            .handshake_ts
            .map_or(0.0, |t| (*ev.timestamp.inner() - t).max(0.0));
        let key = key(&self.flow, &s.url, s.step);
        self.recorder
            .record(&key, Duration::from_secs_f64(waited), outcome);
    }

    pub fn on_sent(&mut self, ev: &EventWebSocketFrameSent) {
        if is_message(ev.response.opcode) {
            self.sink.count("websocket.messages_out", 1);
        }
    }

    pub fn on_received(&mut self, ev: &EventWebSocketFrameReceived) {
        if is_message(ev.response.opcode) {
            self.sink.count("websocket.messages_in", 1);
        }
    }

    pub fn on_closed(&mut self, ev: &EventWebSocketClosed) {
        let id = ev.request_id.inner();
        let Some(s) = self.open.remove(id) else {
            return;
        };
        if !s.answered {
            self.closed_early.insert(id.clone(), s);
            return;
        }
        self.sink.count(closed_by(&s), 1);
    }

    pub fn on_event_source_message(&mut self, _ev: &EventEventSourceMessageReceived) {
        self.sink.count("eventsource.events", 1);
    }

    /// The main frame navigates: its sockets are the page's to close.
    pub fn page_leaving(&mut self) {
        for s in self.open.values_mut() {
            s.page_closing = true;
        }
    }

    /// Some socket's close was read before its handshake's answer.
    pub fn awaiting_answers(&self) -> bool {
        !self.closed_early.is_empty()
    }

    /// The session ended with these sockets open: the page closed them.
    pub fn finish(&mut self) {
        for (_, s) in self.closed_early.drain() {
            // Never opened (refused, blocked or failed before an answer).
            let key = key(&self.flow, &s.url, s.step);
            self.recorder.record(&key, Duration::ZERO, Outcome::Error);
        }
        let opened = self.open.drain().filter(|(_, s)| s.answered).count();
        if opened > 0 {
            self.sink.count("websocket.closed.page", opened as u64);
        }
    }
}

/// How an answered socket that closed ended: the page's doing when it was leaving.
fn closed_by(s: &Socket) -> &'static str {
    if s.page_closing {
        "websocket.closed.page"
    } else {
        "websocket.closed.server"
    }
}

fn key(flow: &Arc<str>, url: &str, step: u32) -> MetricKey {
    MetricKey::new(
        Mode::Browser,
        flow.clone(),
        Some(step),
        SampleKind::WebSocket,
        request_name("GET", url),
    )
}
