//! A page's WebSocket in HTTP mode (tokio-tungstenite over the user's own TCP or TLS
//! connection, HTTP/1.1 as browsers open them): the handshake with the page's origin and the
//! user's cookies is one `websocket` sample (connect, TLS and upgrade); then the recorded
//! messages are sent at their offsets while messages received are counted, until the page
//! closes (a close frame "going away", as a browser leaving the page sends) or the server does.
//! Either way the closing handshake is completed as a browser completes it: the server's Close
//! is answered, and after the page's Close the server's answer is awaited (briefly), so the
//! server sees a clean close, never an abnormal one (1006).
//!
//! Counters: `websocket.messages_out`, `websocket.messages_in`, and how each socket ended:
//! `websocket.closed.page`, `websocket.closed.server` or `websocket.closed.error`.
//!
//! Bounded whatever the server does: a frame or message larger than `--max-body` ends the
//! socket (`closed.error`); writes queue at most [`WRITE_BUFFER`] past the message being sent
//! (pongs owed to a server that does not read are coalesced into the latest, as RFC 6455
//! allows), a message the server does not take within the request timeout ends the socket,
//! and so does a pong owed that long.

use super::{HopError, HopReport, Tag, UserClient};
use crate::metrics::{Outcome, SampleKind};
use futures::{FutureExt, SinkExt, StreamExt};
use http::header::{HeaderValue, COOKIE, ORIGIN, USER_AGENT};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use url::Url;

/// A byte stream a WebSocket runs over (plain TCP or TLS).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Socket = WebSocketStream<Box<dyn Io>>;

/// How long a closing handshake may take before the connection is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Bytes of writes a socket queues besides the largest message it sends.
const WRITE_BUFFER: usize = 128 << 10;
/// A frame's header and mask, at most.
const FRAME_OVERHEAD: usize = 14;

/// A message to send `at` after the socket opened (its payload shared, not copied, between the
/// users sending the same recorded message).
pub struct Outgoing {
    pub at: Duration,
    pub message: Message,
}

/// What a page does on its socket: the messages it sends, and when it closes the socket
/// itself while staying open (`None`: when the page leaves).
pub struct Exchange {
    pub outgoing: Vec<Outgoing>,
    pub closed_after: Option<Duration>,
    /// Dropped once the opening handshake failed, or once the socket is open and has sent
    /// what was due by then: the page's next action goes on from there.
    pub opened: Option<tokio_util::sync::DropGuard>,
}

/// Opens the WebSocket at `url` (ws or wss) for a page of `page_origin`, sends `outgoing` on
/// schedule and counts what comes back, until `stop` (the page closed) or the server closes.
pub async fn run(
    client: &UserClient,
    url: Url,
    page_origin: &str,
    plan: Exchange,
    tag: &Tag,
    stop: CancellationToken,
) {
    if client.past_deadline() {
        return;
    }
    if !client.hosts.allows(&url) {
        client.observer.count("requests.blocked", 1);
        return;
    }
    let started = Instant::now();
    let config = config(client.max_body, &plan.outgoing);
    let opening = tokio::time::timeout(client.timeout, open(client, &url, page_origin, config));
    let opened = tokio::select! {
        biased;
        _ = client.deadline.cancelled() => Err(Outcome::Interrupted),
        _ = stop.cancelled() => Err(Outcome::Interrupted),
        done = opening => done.unwrap_or(Err(Outcome::Timeout)),
    };
    client.observer.hop(&HopReport {
        tag,
        kind: SampleKind::WebSocket,
        name: None,
        method: "GET",
        url: &url,
        elapsed: started.elapsed(),
        late: Duration::ZERO,
        outcome: *opened.as_ref().err().unwrap_or(&Outcome::Ok),
        status: None,
        bytes: None,
        span: None,
        detail: None,
    });
    let Ok(socket) = opened else { return };
    let ended = exchange(client, socket, plan, &stop).await;
    client.observer.count(ended, 1);
}

/// Messages and frames received up to `max_body`; writes queued up to [`WRITE_BUFFER`] past
/// the largest message `outgoing` holds.
fn config(max_body: usize, outgoing: &[Outgoing]) -> WebSocketConfig {
    let largest = outgoing
        .iter()
        .map(|o| o.message.len() + FRAME_OVERHEAD)
        .max()
        .unwrap_or(0);
    WebSocketConfig::default()
        .max_message_size(Some(max_body))
        .max_frame_size(Some(max_body))
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(2 * WRITE_BUFFER + largest)
}

/// TCP (and TLS for wss, ALPN http/1.1) and the upgrade, with the browser's headers.
async fn open(
    client: &UserClient,
    url: &Url,
    page_origin: &str,
    config: WebSocketConfig,
) -> Result<Socket, Outcome> {
    let tls = url.scheme() == "wss";
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    let tcp = client
        .connect(url, port)
        .await
        .map_err(|e| hop_outcome(&e))?;
    // Not counted under `connections.*`: a WebSocket is its own sample (and CDP reports no
    // connection for it in browser mode).
    let io: Box<dyn Io> = if tls {
        let name = url
            .host()
            .as_ref()
            .and_then(super::tls::server_name)
            .ok_or(Outcome::Error)?;
        let connector = client.tls.user_connector(client.insecure, false);
        match tokio::time::timeout(client.connect_timeout, connector.connect(name, tcp)).await {
            Ok(Ok(stream)) => Box::new(stream),
            Ok(Err(_)) => return Err(Outcome::Tls),
            Err(_) => return Err(Outcome::Timeout),
        }
    } else {
        Box::new(tcp)
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|_| Outcome::Error)?;
    let headers = request.headers_mut();
    if let Ok(v) = HeaderValue::from_str(page_origin) {
        headers.insert(ORIGIN, v);
    }
    headers.insert(USER_AGENT, client.user_agent.clone());
    if let Some(cookies) = client.jar.header_for(&http_url(url)) {
        if let Ok(v) = HeaderValue::from_str(&cookies) {
            headers.insert(COOKIE, v);
        }
    }
    match tokio_tungstenite::client_async_with_config(request, io, Some(config)).await {
        Ok((socket, response)) => {
            client.jar.store_from(
                response.headers().get_all("set-cookie").iter(),
                &http_url(url),
            );
            Ok(socket)
        }
        Err(WsError::Http(response)) => Err(Outcome::from_status(response.status().as_u16())),
        Err(WsError::Io(e)) => Err(super::classify(&e)),
        Err(WsError::Tls(_)) => Err(Outcome::Tls),
        Err(WsError::Protocol(_) | WsError::HttpFormat(_) | WsError::Utf8(_)) => {
            Err(Outcome::Malformed)
        }
        Err(_) => Err(Outcome::Error),
    }
}

/// Sends and counts until the page or the server ends it; returns the counter saying which.
async fn exchange(
    client: &UserClient,
    mut socket: Socket,
    plan: Exchange,
    stop: &CancellationToken,
) -> &'static str {
    let opened = tokio::time::Instant::now();
    let mut settled = plan.opened;
    let mut outgoing = plan.outgoing.into_iter().peekable();
    let closing = async {
        match plan.closed_after {
            Some(after) => tokio::time::sleep_until(opened + after).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(closing);
    // Since when a pong has been owed to a server that does not read.
    let mut pong_owed: Option<Instant> = None;
    loop {
        if settled.is_some()
            && outgoing
                .peek()
                .is_none_or(|o| opened + o.at > tokio::time::Instant::now())
        {
            drop(settled.take());
        }
        let next_send = async {
            match outgoing.peek() {
                Some(o) => tokio::time::sleep_until(opened + o.at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => return close(client, &mut socket, CloseCode::Away).await,
            () = &mut closing => return close(client, &mut socket, CloseCode::Normal).await,
            () = next_send => {
                let Some(o) = outgoing.next() else { continue };
                // A server that does not read holds the send: the page may still close.
                let sent = tokio::select! {
                    biased;
                    _ = stop.cancelled() => return close(client, &mut socket, CloseCode::Away).await,
                    sent = tokio::time::timeout(client.timeout, socket.send(o.message)) => sent,
                };
                if !matches!(sent, Ok(Ok(()))) {
                    return "websocket.closed.error";
                }
                client.observer.count("websocket.messages_out", 1);
            }
            incoming = socket.next() => {
                // Frames already read come without touching the socket: a flood of them
                // must still let the thread's other users (and this page's close) run.
                tokio::task::coop::consume_budget().await;
                if let Some(Ok(Message::Close(_))) = incoming {
                    // tungstenite queued the answer (the server's code echoed); reading on
                    // sends it and sees the server end the connection.
                    let _ = tokio::time::timeout(CLOSE_WAIT, drain(&mut socket)).await;
                    return "websocket.closed.server";
                }
                if let Some(ended) = received(client, &mut socket, incoming, &mut pong_owed) {
                    return ended;
                }
            }
        }
    }
}

/// Counts what came in (a Close aside); the counter saying how the socket ended when it did.
fn received(
    client: &UserClient,
    socket: &mut Socket,
    incoming: Option<Result<Message, WsError>>,
    pong_owed: &mut Option<Instant>,
) -> Option<&'static str> {
    match incoming {
        Some(Ok(Message::Text(_) | Message::Binary(_))) => {
            client.observer.count("websocket.messages_in", 1);
        }
        Some(Ok(Message::Ping(_))) => {
            // tungstenite queued the pong; a server that reads takes it at once (tried
            // outside the task's budget: only a full socket leaves it owed).
            match tokio::task::coop::unconstrained(socket.flush()).now_or_never() {
                Some(Ok(())) => *pong_owed = None,
                Some(Err(_)) => return Some("websocket.closed.error"),
                None => {
                    let since = *pong_owed.get_or_insert_with(Instant::now);
                    if since.elapsed() > client.timeout {
                        return Some("websocket.closed.error");
                    }
                }
            }
        }
        None => return Some("websocket.closed.server"),
        Some(Ok(_)) => {}
        // Includes a frame or message over `--max-body`.
        Some(Err(_)) => return Some("websocket.closed.error"),
    }
    None
}

/// Reads until the connection ends (what is queued to send, such as a Close answer, leaves on
/// the way).
async fn drain(socket: &mut Socket) {
    while let Some(Ok(_)) = socket.next().await {
        tokio::task::coop::consume_budget().await;
    }
}

/// Closes the socket as a browser leaving the page does ("going away"), then reads the
/// server's answer for a clean end; given [`CLOSE_WAIT`] unless the run's deadline comes first.
/// Closes the socket as the page does: `Away` when it leaves, `Normal` when its script closes
/// it (as `ws.close()` most often does).
async fn close(client: &UserClient, socket: &mut Socket, code: CloseCode) -> &'static str {
    let close = CloseFrame {
        code,
        reason: "".into(),
    };
    // The page is gone either way: a close the server never reads is no failure.
    let closing = tokio::time::timeout(CLOSE_WAIT, async {
        if socket.close(Some(close)).await.is_ok() {
            drain(socket).await;
        }
    });
    tokio::select! {
        biased;
        _ = closing => {}
        _ = client.deadline.cancelled() => {}
    }
    "websocket.closed.page"
}

/// The http(s) URL a ws(s) URL shares cookies with.
fn http_url(url: &Url) -> Url {
    let mut u = url.clone();
    let scheme = if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    let _ = u.set_scheme(scheme);
    u
}

fn hop_outcome(e: &HopError) -> Outcome {
    match e {
        HopError::Timeout => Outcome::Timeout,
        HopError::Transport(super::h1::H1Error::Io(io)) => super::classify(io),
        _ => Outcome::Error,
    }
}
