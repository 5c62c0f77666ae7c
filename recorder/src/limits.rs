//! Caps on what a recording keeps, so a runaway or hostile page cannot grow the recorder or its
//! flow without bound: WebSocket messages (each, per socket, per recording), sockets (per page,
//! per recording) and response bodies kept for correlation. What is left out is counted in the
//! flow's `capped` field; console output is never kept (the CDP client drops it unread).

use crate::capture::RawWebSocket;
use std::collections::HashMap;
use throng_flow::Capped;

/// A longer message the page sent is left out (a replay cannot send part of one).
pub const MESSAGE_BYTES: usize = 64 << 10;
/// Payload bytes kept per socket.
pub const SOCKET_BYTES: usize = 1 << 20;
/// Messages kept per socket.
pub const SOCKET_MESSAGES: usize = 1000;
/// Payload bytes kept over the whole recording.
pub const RECORDING_MESSAGE_BYTES: usize = 16 << 20;
/// WebSockets kept per page (document) and per recording.
pub const PAGE_SOCKETS: usize = 50;
pub const RECORDING_SOCKETS: usize = 500;
/// A longer response body is not kept for correlation.
pub const BODY_BYTES: usize = 4 << 20;
/// Response bodies kept over the whole recording.
pub const RECORDING_BODY_BYTES: usize = 64 << 20;

/// What the recording has kept so far, against the caps.
#[derive(Debug, Default)]
pub struct Budget {
    sockets_per_doc: HashMap<Option<String>, usize>,
    sockets: usize,
    message_bytes: usize,
    body_bytes: usize,
}

impl Budget {
    /// Whether a new socket of page `doc` is kept; counts it in `capped` when not.
    pub fn socket(&mut self, doc: &Option<String>, capped: &mut Capped) -> bool {
        let on_page = self.sockets_per_doc.entry(doc.clone()).or_default();
        if *on_page >= PAGE_SOCKETS || self.sockets >= RECORDING_SOCKETS {
            capped.sockets += 1;
            return false;
        }
        *on_page += 1;
        self.sockets += 1;
        true
    }

    /// Keeps a message the page sent on `ws` when it fits the caps; counts it when not. A
    /// message too long alone is left out alone; past the socket's cap, the rest of the
    /// socket's messages are too (a replay sends a prefix of what the page sent, never holes
    /// after the cap).
    pub fn message(
        &mut self,
        ws: &mut RawWebSocket,
        message: (f64, String, bool),
        capped: &mut Capped,
    ) {
        let len = message.1.len();
        let fits = !ws.full
            && len <= MESSAGE_BYTES
            && ws.sent.len() < SOCKET_MESSAGES
            && ws.sent_bytes + len <= SOCKET_BYTES
            && self.message_bytes + len <= RECORDING_MESSAGE_BYTES;
        if !fits {
            if len <= MESSAGE_BYTES {
                ws.full = true;
            }
            capped.messages += 1;
            capped.message_bytes += len as u64;
            return;
        }
        ws.sent_bytes += len;
        self.message_bytes += len;
        ws.sent.push(message);
    }

    /// Whether a response body of `len` bytes is kept for correlation; counts it when not.
    pub fn body(&mut self, len: usize, capped: &mut Capped) -> bool {
        if len > BODY_BYTES || self.body_bytes + len > RECORDING_BODY_BYTES {
            capped.bodies += 1;
            return false;
        }
        self.body_bytes += len;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_past_a_socket_cap_are_counted_not_kept() {
        let mut budget = Budget::default();
        let mut capped = Capped::default();
        let mut ws = RawWebSocket::default();
        let big = "x".repeat(MESSAGE_BYTES + 1);
        budget.message(&mut ws, (1.0, "a".into(), false), &mut capped);
        // One message too long is left out alone.
        budget.message(&mut ws, (2.0, big, false), &mut capped);
        budget.message(&mut ws, (3.0, "b".into(), false), &mut capped);
        assert_eq!(ws.sent.len(), 2);
        assert_eq!(capped.messages, 1);
        assert_eq!(capped.message_bytes, MESSAGE_BYTES as u64 + 1);
        // Fill the socket: the first message past its cap ends what is kept of it.
        let chunk = "y".repeat(MESSAGE_BYTES);
        for i in 0..20 {
            budget.message(&mut ws, (4.0 + i as f64, chunk.clone(), false), &mut capped);
        }
        assert!(ws.sent_bytes <= SOCKET_BYTES);
        assert!(ws.full);
        budget.message(&mut ws, (30.0, "c".into(), false), &mut capped);
        assert_eq!(ws.sent.len(), 2 + SOCKET_BYTES / MESSAGE_BYTES - 1);
        assert_eq!(
            capped.messages,
            1 + 20 - (SOCKET_BYTES / MESSAGE_BYTES - 1) as u64 + 1
        );
    }

    #[test]
    fn sockets_are_capped_per_page() {
        let mut budget = Budget::default();
        let mut capped = Capped::default();
        let doc = Some("d1".to_string());
        let kept = (0..PAGE_SOCKETS + 5)
            .filter(|_| budget.socket(&doc, &mut capped))
            .count();
        assert_eq!(kept, PAGE_SOCKETS);
        assert_eq!(capped.sockets, 5);
        assert!(budget.socket(&Some("d2".into()), &mut capped));
    }
}
