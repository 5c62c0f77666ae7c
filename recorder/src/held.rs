//! What a page holds open, placed in the flow: EventSources, responses read as streams through
//! `fetch()`, and WebSockets, each under the step whose action opened it with the offset after
//! that step (`afterMs`), so a replay opens it at the same point: a socket a login click opened
//! is opened after the login, never before it with the recorded token.

use crate::build::Slot;
use crate::capture::{Capture, RawRequest};
use crate::correlate::Use;
use crate::network::kept_headers;
use std::collections::HashMap;
use throng_flow::{EventSource, Network, RequestKind, Step, Stream, WebSocket, WebSocketMessage};

/// An EventSource (`new EventSource(url)`), by its CDP or HAR resource type.
pub fn is_event_source(r: &RawRequest) -> bool {
    r.resource_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("eventsource"))
}

/// A response a script read as a stream: an event stream, or one its page kept open while data
/// kept coming (its end never came while the page was open, its body came in chunks spread
/// out after the head). A body the page never read has no end either, but no such chunks.
pub fn is_stream(r: &RawRequest, kind: Option<RequestKind>) -> bool {
    if kind != Some(RequestKind::Ajax) || r.status.is_none() {
        return false;
    }
    let event_stream = r.mime.as_deref().is_some_and(|m| {
        m.trim_start()
            .to_ascii_lowercase()
            .starts_with("text/event-stream")
    });
    let open = r.end_ms.is_none() || r.failed;
    let trickled = match (r.head_ms, r.last_data_ms) {
        (Some(head), Some(last)) => r.chunks >= 2 && last - head >= STREAMED_MS,
        _ => false,
    };
    event_stream || (open && trickled)
}

/// Data still arriving this long after the response head is a stream, not a download.
const STREAMED_MS: f64 = 100.0;

/// Files held connections under the steps that opened them.
pub struct Placer<'a> {
    /// The step a moment belongs to (the last step that started before it).
    pub step_of: &'a dyn Fn(f64) -> usize,
    /// When each step started.
    pub times: &'a [f64],
    /// The step that loaded each document: nothing of a page opens before its page.
    pub doc_step: &'a HashMap<&'a str, usize>,
    /// EventSources already placed, by document and URL: a reconnection is the same stream.
    sources: HashMap<(Option<String>, String), (usize, usize)>,
}

impl<'a> Placer<'a> {
    pub fn new(
        step_of: &'a dyn Fn(f64) -> usize,
        times: &'a [f64],
        doc_step: &'a HashMap<&'a str, usize>,
    ) -> Self {
        Placer {
            step_of,
            times,
            doc_step,
            sources: HashMap::new(),
        }
    }

    /// The step that opened something at `t` on page `doc`, and how long after its start.
    fn owner(&self, t: f64, doc: Option<&str>) -> (usize, u64) {
        let by_time = (self.step_of)(t);
        let step = match doc.and_then(|d| self.doc_step.get(d)) {
            Some(&loaded) => by_time.max(loaded),
            None => by_time,
        };
        let after = (t - self.times[step]).max(0.0).round() as u64;
        (step, after)
    }

    /// Places an EventSource (a reconnection adds its events to the stream it reopens).
    pub fn event_source(&mut self, steps: &mut [Step], r: &RawRequest) -> Slot {
        let key = (r.doc.clone(), r.url.clone());
        if let Some(&(step, index)) = self.sources.get(&key) {
            let net = steps[step].network.get_or_insert_with(Network::default);
            net.event_sources[index].events += r.events;
            return Slot::EventSource { step, index };
        }
        let (step, after) = self.owner(r.start_ms, r.doc.as_deref());
        let net = steps[step].network.get_or_insert_with(Network::default);
        net.event_sources.push(EventSource {
            url: r.url.clone(),
            headers: kept_headers(&r.headers, RequestKind::Ajax),
            events: r.events,
            after_ms: Some(after),
        });
        let index = net.event_sources.len() - 1;
        self.sources.insert(key, (step, index));
        Slot::EventSource { step, index }
    }

    /// Places a response read as a stream.
    pub fn stream(&self, steps: &mut [Step], r: &RawRequest) -> Slot {
        let (step, after) = self.owner(r.start_ms, r.doc.as_deref());
        let net = steps[step].network.get_or_insert_with(Network::default);
        net.streams.push(Stream {
            method: r.method.clone(),
            url: r.url.clone(),
            headers: kept_headers(&r.headers, RequestKind::Ajax),
            body: r.body.clone(),
            status: r.status,
            events: r.events,
            after_ms: Some(after),
        });
        Slot::Stream {
            step,
            index: net.streams.len() - 1,
        }
    }

    /// Places every WebSocket; returns where each one's URL and text messages are used, for
    /// correlation.
    pub fn web_sockets(&self, cap: &Capture, steps: &mut [Step]) -> Vec<Use> {
        let mut uses = Vec::new();
        for ws in &cap.web_sockets {
            if !(ws.url.starts_with("ws://") || ws.url.starts_with("wss://")) {
                continue;
            }
            let (step, after) = self.owner(ws.start_ms, ws.doc.as_deref());
            let opened = ws.open_ms.unwrap_or(ws.start_ms);
            let net = steps[step].network.get_or_insert_with(Network::default);
            let index = net.web_sockets.len();
            net.web_sockets.push(WebSocket {
                url: ws.url.clone(),
                sent: ws
                    .sent
                    .iter()
                    .map(|(at, data, binary)| WebSocketMessage {
                        offset_ms: (at - opened).max(0.0).round() as u64,
                        data: data.clone(),
                        binary: *binary,
                    })
                    .collect(),
                received: ws.received,
                after_ms: Some(after),
                closed_ms: ws
                    .closed_ms
                    .filter(|_| ws.page_closed)
                    .map(|c| (c - opened).max(0.0).round() as u64),
            });
            let label = format!("WebSocket {}", ws.url);
            uses.push(Use {
                start_ms: ws.start_ms,
                slot: Slot::WebSocket {
                    step,
                    index,
                    message: None,
                },
                label: label.clone(),
            });
            for (m, (at, _, binary)) in ws.sent.iter().enumerate() {
                if !binary {
                    uses.push(Use {
                        start_ms: *at,
                        slot: Slot::WebSocket {
                            step,
                            index,
                            message: Some(m),
                        },
                        label: format!("{label} message {}", m + 1),
                    });
                }
            }
        }
        uses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(mime: &str, end: Option<f64>, failed: bool) -> RawRequest {
        RawRequest {
            method: "POST".into(),
            url: "http://h/api/results".into(),
            resource_type: Some("Fetch".into()),
            mime: Some(mime.into()),
            status: Some(200),
            start_ms: 10.0,
            head_ms: Some(20.0),
            end_ms: end,
            failed,
            chunks: 3,
            last_data_ms: Some(800.0),
            ..Default::default()
        }
    }

    #[test]
    fn streams_are_event_streams_or_responses_kept_open() {
        let ajax = Some(RequestKind::Ajax);
        assert!(is_stream(
            &fetch("text/event-stream", Some(900.0), false),
            ajax
        ));
        assert!(is_stream(&fetch("application/x-ndjson", None, false), ajax));
        assert!(is_stream(
            &fetch("application/x-ndjson", Some(900.0), true),
            ajax
        ));
        assert!(!is_stream(
            &fetch("application/json", Some(30.0), false),
            ajax
        ));
        // A body the page never read never ends either, but nothing trickled in.
        let mut unread = fetch("application/json", None, false);
        unread.chunks = 1;
        unread.last_data_ms = Some(21.0);
        assert!(!is_stream(&unread, ajax));
        unread.chunks = 0;
        unread.last_data_ms = None;
        assert!(!is_stream(&unread, ajax));
        // No head: a request cut before it was answered is no stream.
        let mut cut = fetch("", None, true);
        cut.head_ms = None;
        cut.status = None;
        assert!(!is_stream(&cut, ajax));
        assert!(!is_stream(
            &fetch("text/event-stream", None, false),
            Some(RequestKind::Static)
        ));
    }
}
