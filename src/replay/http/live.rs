//! A page's live connections in HTTP mode, held while the page is open, each opened at the
//! point of its step the recording saw it open (`afterMs`): Server-Sent Events streams (an
//! EventSource: the stream's opening is one `eventsource` sample, every event dispatched is
//! counted as `eventsource.events`, and a stream the server ends is reopened after the
//! `retry` delay, as a browser's EventSource does), responses a script reads as streams
//! (`fetch()`: one `eventsource` sample at the response head, their events counted as
//! `stream.events`, never reopened) and WebSockets (see [`super::client::run_web_socket`]).

use super::client::{open_stream, run_web_socket, Exchange, Outgoing, Request, Tag, UserClient};
use super::poller::OpenPage;
use crate::flow::Network;
use crate::metrics::{Outcome, SampleKind};
use crate::replay::fill::Place;
use crate::replay::StepCache;
use http::Method;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use url::Url;

/// Something a page holds open, its values filled in.
pub enum Held {
    EventSource(Request),
    /// A response read as a stream.
    Stream(Request),
    WebSocket {
        url: Url,
        outgoing: Vec<Outgoing>,
        /// When the page closed it while it stayed open: this long after it opened.
        closed_after: Option<Duration>,
    },
}

impl Held {
    pub fn is_web_socket(&self) -> bool {
        matches!(self, Held::WebSocket { .. })
    }
}

/// What `network` holds open, filled in (`fill` for text written for its place, `fill_url` for
/// URLs, `header` for a header's value on a request to a URL), each with the moment to open
/// it: its `afterMs` after the step (`step`, which started at `started`).
pub fn prepare<E>(
    network: &Network,
    (step, started): (usize, std::time::Instant),
    cache: &StepCache,
    fill: impl Fn(&str, Place) -> Result<String, E>,
    fill_url: impl Fn(&str) -> Result<Url, E>,
    header: impl Fn(&Url, &str, &str) -> Result<String, E>,
) -> Result<Vec<(Option<Instant>, Held)>, E> {
    let at =
        |after: Option<u64>| after.map(|ms| Instant::from_std(started + Duration::from_millis(ms)));
    let headers = |url: &Url, h: &BTreeMap<String, String>| -> Result<Vec<(String, String)>, E> {
        h.iter()
            .map(|(k, v)| Ok((k.clone(), header(url, k, v)?)))
            .collect()
    };
    let mut held = Vec::new();
    for stream in &network.event_sources {
        let url = fill_url(&stream.url)?;
        let request = Request {
            headers: headers(&url, &stream.headers)?,
            ..Request::get(url, SampleKind::EventSource)
        };
        held.push((at(stream.after_ms), Held::EventSource(request)));
    }
    for stream in &network.streams {
        let url = fill_url(&stream.url)?;
        let request = Request {
            method: Method::from_bytes(stream.method.as_bytes()).unwrap_or(Method::GET),
            headers: headers(&url, &stream.headers)?,
            body: stream
                .body
                .as_deref()
                .map(|b| fill(b, Place::of_request(&stream.headers, b)))
                .transpose()?,
            ..Request::get(url, SampleKind::EventSource)
        };
        held.push((at(stream.after_ms), Held::Stream(request)));
    }
    for (w, ws) in network.web_sockets.iter().enumerate() {
        let url = fill_url(&ws.url)?;
        let mut outgoing = Vec::with_capacity(ws.sent.len());
        for (m, message) in ws.sent.iter().enumerate() {
            outgoing.push(self::outgoing(message, cache.message(step, w, m), |t| {
                fill(t, Place::of_body(None, t))
            })?);
        }
        let closed_after = ws.closed_ms.map(Duration::from_millis);
        held.push((
            at(ws.after_ms),
            Held::WebSocket {
                url,
                outgoing,
                closed_after,
            },
        ));
    }
    Ok(held)
}

/// Opens `held` on `page` at `at` (at once when that is past or unknown); it stays open until
/// the page closes or `cancel` fires.
pub fn hold(
    page: &mut OpenPage,
    cancel: &CancellationToken,
    client: Arc<UserClient>,
    tag: Tag,
    at: Option<Instant>,
    held: Held,
) {
    // Fired once the socket's opening attempt ended (see `OpenPage::sockets_opened`).
    let settled = held.is_web_socket().then(|| page.socket_opening(at));
    page.hold(cancel, move |stop| async move {
        let settled = settled.map(|s| s.drop_guard());
        if let Some(at) = at.filter(|at| *at > Instant::now()) {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until(at) => {}
            }
        }
        match held {
            Held::EventSource(request) => event_source(client, request, tag, stop).await,
            Held::Stream(request) => stream(client, request, tag, stop).await,
            Held::WebSocket {
                url,
                outgoing,
                closed_after,
            } => {
                let origin = page_origin(&url);
                let plan = Exchange {
                    outgoing,
                    closed_after,
                    opened: settled,
                };
                run_web_socket(&client, url, &origin, plan, &tag, stop).await;
            }
        }
    });
}

/// Chromium's reconnection delay when the server gives no `retry:`.
const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// Holds the EventSource `request` open until `stop`, counting events.
pub async fn event_source(
    client: Arc<UserClient>,
    request: Request,
    tag: Tag,
    stop: CancellationToken,
) {
    let mut parser = EventParser::default();
    loop {
        let opening = open_stream(&client, request.clone(), &tag, Some("text/event-stream"));
        let opened = tokio::select! {
            _ = stop.cancelled() => return,
            opened = opening => opened,
        };
        match opened {
            Ok(mut stream) if stream.status == 200 && is_event_stream(&stream.headers) => loop {
                let chunk = tokio::select! {
                    _ = stop.cancelled() => return,
                    chunk = stream.body.next() => chunk,
                };
                match chunk {
                    Ok(Some(bytes)) => {
                        let events = parser.feed(&bytes);
                        if events > 0 {
                            client.count("eventsource.events", events);
                        }
                    }
                    // Ended or broken: reconnect after the delay.
                    Ok(None) | Err(_) => break,
                }
            },
            // A wrong status or type fails the EventSource for good, as in a browser.
            Ok(_) => return,
            Err(Outcome::Blocked | Outcome::Interrupted) => return,
            Err(_) => {}
        }
        parser.reset_event();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(parser.retry) => {}
        }
    }
}

/// Holds a response read as a stream open until `stop` or its end (a script's `fetch()` is not
/// reopened), counting its events when it is an event stream.
async fn stream(client: Arc<UserClient>, request: Request, tag: Tag, stop: CancellationToken) {
    let opened = tokio::select! {
        _ = stop.cancelled() => return,
        opened = open_stream(&client, request, &tag, None) => opened,
    };
    let Ok(mut stream) = opened else { return };
    let mut parser = is_event_stream(&stream.headers).then(EventParser::default);
    loop {
        let chunk = tokio::select! {
            _ = stop.cancelled() => return,
            chunk = stream.body.next() => chunk,
        };
        match chunk {
            Ok(Some(bytes)) => {
                let events = parser.as_mut().map_or(0, |p| p.feed(&bytes));
                if events > 0 {
                    client.count("stream.events", events);
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// A recorded message to send: the one built once for every user when it has no variables
/// (`fixed`), else its text with `${variables}` filled by `fill`.
pub fn outgoing<E>(
    recorded: &crate::flow::WebSocketMessage,
    fixed: Option<&Message>,
    fill: impl FnOnce(&str) -> Result<String, E>,
) -> Result<Outgoing, E> {
    let message = match fixed
        .cloned()
        .or_else(|| crate::replay::fixed_message(recorded))
    {
        Some(m) => m,
        None => Message::Text(fill(&recorded.data)?.into()),
    };
    Ok(Outgoing {
        at: Duration::from_millis(recorded.offset_ms),
        message,
    })
}

/// The origin a page that opens `url` has (a same-origin socket: ws is http, wss https).
pub fn page_origin(url: &Url) -> String {
    let scheme = if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    match url.port() {
        Some(port) => format!("{scheme}://{}:{port}", url.host_str().unwrap_or_default()),
        None => format!("{scheme}://{}", url.host_str().unwrap_or_default()),
    }
}

fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        })
}

/// The `text/event-stream` format, as far as counting goes: lines (CRLF, LF or CR), an event
/// dispatched at a blank line when it has data, `retry:` setting the reconnection delay.
#[derive(Debug)]
struct EventParser {
    line: Vec<u8>,
    /// The last byte was a CR (a following LF belongs to it).
    after_cr: bool,
    has_data: bool,
    retry: Duration,
}

impl Default for EventParser {
    fn default() -> Self {
        EventParser {
            line: Vec::new(),
            after_cr: false,
            has_data: false,
            retry: DEFAULT_RETRY,
        }
    }
}

/// A line longer than this is cut (still parsed for its field name, never kept whole).
const MAX_LINE: usize = 4096;

impl EventParser {
    /// Reads `bytes`; returns how many events they completed.
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        let mut events = 0;
        for &b in bytes {
            if self.after_cr && b == b'\n' {
                self.after_cr = false;
                continue;
            }
            self.after_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                events += u64::from(self.end_line());
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            }
        }
        events
    }

    /// Ends the current line; true when it dispatched an event.
    fn end_line(&mut self) -> bool {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            return std::mem::take(&mut self.has_data);
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return false, // a comment
            Some(i) => (
                &line[..i],
                line[i + 1..].strip_prefix(b" ").unwrap_or(&line[i + 1..]),
            ),
            None => (&line[..], &b""[..]),
        };
        match field {
            b"data" => self.has_data = true,
            b"retry" => {
                if let Some(ms) = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                    self.retry = Duration::from_millis(ms);
                }
            }
            _ => {}
        }
        self.line = line;
        self.line.clear();
        false
    }

    /// A connection ended: a half-received event is dropped (not dispatched).
    fn reset_event(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_at_blank_lines_when_they_have_data() {
        let mut p = EventParser::default();
        // Split anywhere: across a CRLF, inside a field name.
        let stream = b": hello\r\n\r\ndata: {\"deal\":0}\r\n\r\nevent: x\ndat";
        let (a, b) = stream.split_at(13);
        assert_eq!(p.feed(a), 0);
        assert_eq!(p.feed(b), 1);
        assert_eq!(p.feed(b"a: 1\ndata: 2\n\n"), 1);
        // CR alone ends lines too; an event without data is not dispatched.
        assert_eq!(p.feed(b"data:x\r\rid: 3\r\r"), 1);
        assert_eq!(p.feed(b"retry: 250\n\n"), 0);
        assert_eq!(p.retry, Duration::from_millis(250));
        // Data not ended by a blank line when the connection ends is no event.
        p.feed(b"data: half\n");
        p.reset_event();
        assert_eq!(p.feed(b"\n"), 0);
    }
}
