//! HTTP/2 connections (the `h2` crate), negotiated by ALPN on TLS as a browser does: one
//! connection per user and origin, every request to that origin a stream on it. Each
//! connection is driven by its own task (h2 must be polled to move frames of every stream);
//! the task holds the connection's share of the socket budget and ends when the user drops its
//! last handle, the server closes, or the run's hard deadline fires.
//!
//! Flow control is h2's, with a browser's windows (Chromium opens 6 MB per stream and 15 MB
//! per connection), and received data is released as it is read. A request body is handed to
//! h2 only as the server's window lets it out (h2 would buffer it whole), and a request is
//! done when its body is sent and its response read. A request the server refused
//! without processing it (GOAWAY past its stream, REFUSED_STREAM) or that could not be started
//! because the connection had gone away is retried on a new connection, as browsers do.

use super::h1::{is_css, BodyLimit, H1Error, Keep, RawResponse};
use super::shape::Shaper;
use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use h2::Reason;
use h2::SendStream;
use http::header::{HeaderMap, CONTENT_LENGTH};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

/// Chromium's initial stream window (SETTINGS_INITIAL_WINDOW_SIZE).
const STREAM_WINDOW: u32 = 6 * 1024 * 1024;
/// Chromium's connection window (raised with a WINDOW_UPDATE after the preface).
const CONNECTION_WINDOW: u32 = 15 * 1024 * 1024;

/// A user's handle on one HTTP/2 connection; clones share it.
#[derive(Clone)]
pub struct H2Conn {
    send: SendRequest<Bytes>,
    /// Set by the driving task when the connection has ended.
    closed: Arc<AtomicBool>,
    /// The user's shaped link this connection runs on (its IO is paced by it): no response
    /// head sooner than its latency after the request.
    shape: Option<Arc<Shaper>>,
}

/// Why an HTTP/2 exchange failed.
pub enum H2Failure {
    /// The server did not process the request (or the connection was gone before it was
    /// sent): it may be sent again on a new connection.
    Retry,
    Failed(H1Error),
}

impl H2Conn {
    /// The HTTP/2 preface and settings over an established (TLS) stream; spawns the task that
    /// drives the connection.
    pub async fn handshake<T>(
        io: T,
        budget: OwnedSemaphorePermit,
        deadline: CancellationToken,
    ) -> Result<H2Conn, H1Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .enable_push(false)
            .handshake::<T, Bytes>(io)
            .await
            .map_err(failure)?;
        let closed = Arc::new(AtomicBool::new(false));
        let done = closed.clone();
        tokio::spawn(async move {
            let _budget = budget;
            tokio::select! {
                ended = connection => {
                    if let Err(e) = ended {
                        tracing::debug!("HTTP/2 connection ended: {e}");
                    }
                }
                _ = deadline.cancelled() => {}
            }
            done.store(true, Ordering::Release);
        });
        Ok(H2Conn {
            send,
            closed,
            shape: None,
        })
    }

    /// Whether `other` is a handle on this same connection.
    pub fn same(&self, other: &H2Conn) -> bool {
        Arc::ptr_eq(&self.closed, &other.closed)
    }

    /// Whether the connection may still carry requests (as far as is known without asking).
    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }

    /// This connection runs on `shape` (its IO already paced by it): its requests wait out
    /// the link's latency.
    pub fn with_shape(mut self, shape: Option<Arc<Shaper>>) -> Self {
        self.shape = shape;
        self
    }

    /// Whether this connection runs on the user's current link (`shape`): a user whose
    /// network changed opens a new one.
    pub fn shaped_by(&self, shape: &Option<Arc<Shaper>>) -> bool {
        match (&self.shape, shape) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    fn latency(&self) -> Duration {
        self.shape.as_ref().map_or(Duration::ZERO, |s| s.latency())
    }

    /// Sends a GET-like request and returns at its response head: the body is a stream the
    /// caller reads (and releases) as it arrives.
    pub async fn open_stream(
        &self,
        request: http::Request<()>,
    ) -> Result<(u16, HeaderMap, h2::RecvStream), H2Failure> {
        let mut send = self
            .send
            .clone()
            .ready()
            .await
            .map_err(|_| H2Failure::Retry)?;
        let (response, _stream) = send
            .send_request(request, true)
            .map_err(|_| H2Failure::Retry)?;
        let response = after(self.latency(), response)
            .await
            .map_err(stream_failure)?;
        let (parts, body) = response.into_parts();
        Ok((parts.status.as_u16(), parts.headers, body))
    }

    /// Sends one request (`body` as its DATA, as the peer's windows allow) and reads the
    /// response to its end, keeping the body as `limit` says: a kept body over `limit.max`
    /// (announced or received) fails as too large and the stream is reset; one not kept is
    /// read and dropped. The exchange ends when both are done: a response that came while the
    /// body could not be sent (the server never opened its window) leaves the request in
    /// flight until it times out, as the body never left (unless the server reset the
    /// stream with NO_ERROR: it needs no more of the body).
    pub async fn roundtrip(
        &self,
        request: http::Request<()>,
        body: Option<Bytes>,
        head_request: bool,
        limit: BodyLimit,
    ) -> Result<RawResponse, H2Failure> {
        let mut send = self
            .send
            .clone()
            .ready()
            .await
            .map_err(|_| H2Failure::Retry)?;
        let (response, mut stream) = send
            .send_request(request, body.is_none())
            .map_err(|_| H2Failure::Retry)?;
        let sending = async {
            match body {
                Some(body) => send_body(&mut stream, body).await,
                None => Ok(()),
            }
        };
        let receiving = receive(after(self.latency(), response), head_request, limit);
        let ((), raw) = futures::future::try_join(sending, receiving).await?;
        Ok(raw)
    }
}

/// `response`, not sooner than `latency` from now (a shaped link's; none: as it comes).
async fn after<F: std::future::Future>(latency: Duration, response: F) -> F::Output {
    if latency.is_zero() {
        return response.await;
    }
    let (answer, ()) = tokio::join!(response, tokio::time::sleep(latency));
    answer
}

/// Largest piece of a request body handed to h2 at once: h2 holds what it was given until
/// the peer's window lets it out, so a body is given only as capacity is granted.
const SEND_PIECE: usize = 64 * 1024;

/// Sends `body` as the stream's DATA, never more than the peer's window lets out.
async fn send_body(stream: &mut SendStream<Bytes>, mut body: Bytes) -> Result<(), H2Failure> {
    if body.is_empty() {
        return stream.send_data(body, true).map_err(stream_failure);
    }
    while !body.is_empty() {
        stream.reserve_capacity(body.len().min(SEND_PIECE));
        let granted = match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(n)) => n,
            Some(Err(e)) => return Err(stream_failure(e)),
            // No longer sending: reset (or the connection is gone).
            None => return ended_early(stream),
        };
        let piece = body.split_to(granted.min(body.len()));
        stream
            .send_data(piece, body.is_empty())
            .map_err(stream_failure)?;
    }
    Ok(())
}

/// A stream that stopped taking the body: done when the server reset it with NO_ERROR (it
/// answered and needs no more), else failed.
fn ended_early(stream: &mut SendStream<Bytes>) -> Result<(), H2Failure> {
    let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
    match stream.poll_reset(&mut cx) {
        std::task::Poll::Ready(Ok(Reason::NO_ERROR)) => Ok(()),
        std::task::Poll::Ready(Ok(reason)) => Err(stream_failure(h2::Error::from(reason))),
        std::task::Poll::Ready(Err(e)) => Err(stream_failure(e)),
        std::task::Poll::Pending => Err(H2Failure::Failed(H1Error::Io(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "HTTP/2 stream closed before its body was sent",
        )))),
    }
}

/// Reads a response to its end as `limit` says (see [`H2Conn::roundtrip`]).
async fn receive(
    response: impl std::future::Future<Output = Result<http::Response<h2::RecvStream>, h2::Error>>,
    head_request: bool,
    limit: BodyLimit,
) -> Result<RawResponse, H2Failure> {
    let response = response.await.map_err(stream_failure)?;
    let (parts, mut recv) = response.into_parts();
    let status = parts.status.as_u16();
    let keep = match limit.keep {
        Keep::Always => true,
        Keep::Css => is_css(&parts.headers),
        Keep::Never => false,
    } && !head_request;
    if keep && announced(&parts.headers).is_some_and(|len| len > limit.max as u64) {
        return Err(H2Failure::Failed(H1Error::TooLarge(limit.max)));
    }
    let mut kept = BytesMut::new();
    let mut received = 0u64;
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.map_err(|e| H2Failure::Failed(failure(e)))?;
        let n = chunk.len();
        received += n as u64;
        // Reading is consuming: the window opens again for what was read.
        let _ = recv.flow_control().release_capacity(n);
        if keep {
            if kept.len() + n > limit.max {
                return Err(H2Failure::Failed(H1Error::TooLarge(limit.max)));
            }
            if kept.is_empty() && chunk.len() == n && recv.is_end_stream() {
                // The whole body in one frame: no copy.
                return Ok(raw(status, parts.headers, chunk, received));
            }
            kept.extend_from_slice(&chunk);
        }
    }
    Ok(raw(status, parts.headers, kept.freeze(), received))
}

/// The next piece of a streamed HTTP/2 body, its window given back; `None` at its end.
pub async fn stream_chunk(body: &mut h2::RecvStream) -> Result<Option<Bytes>, H1Error> {
    match body.data().await {
        None => Ok(None),
        Some(Err(e)) => Err(failure(e)),
        Some(Ok(chunk)) => {
            let _ = body.flow_control().release_capacity(chunk.len());
            Ok(Some(chunk))
        }
    }
}

fn raw(status: u16, headers: HeaderMap, body: Bytes, received: u64) -> RawResponse {
    RawResponse {
        status,
        headers,
        body,
        received,
        keep_alive: true,
    }
}

fn announced(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A stream's error: refused by the server before processing (retried), or a failure.
fn stream_failure(e: h2::Error) -> H2Failure {
    let refused = e.reason() == Some(Reason::REFUSED_STREAM)
        // GOAWAY fails only the streams the server never processed.
        || (e.is_go_away() && e.is_remote());
    if refused {
        H2Failure::Retry
    } else {
        H2Failure::Failed(failure(e))
    }
}

/// The failure category of an h2 error, in HTTP/1.1's terms: I/O errors as they are, a stream
/// or connection the peer reset or abandoned as a reset, a peer breaking the protocol as a
/// malformed response.
fn failure(e: h2::Error) -> H1Error {
    if e.is_io() {
        return match e.into_io() {
            Some(io) => H1Error::Io(io),
            None => H1Error::Malformed("HTTP/2 I/O error"),
        };
    }
    if e.is_remote() || e.is_reset() || e.is_go_away() {
        if !e.is_remote() && is_protocol_error(e.reason()) {
            return H1Error::Malformed("HTTP/2 protocol error");
        }
        return H1Error::Io(io::Error::new(io::ErrorKind::ConnectionReset, e));
    }
    if is_protocol_error(e.reason()) || e.is_library() {
        return H1Error::Malformed("HTTP/2 protocol error");
    }
    H1Error::Io(io::Error::other(e))
}

fn is_protocol_error(reason: Option<Reason>) -> bool {
    matches!(
        reason,
        Some(
            Reason::PROTOCOL_ERROR
                | Reason::COMPRESSION_ERROR
                | Reason::FRAME_SIZE_ERROR
                | Reason::FLOW_CONTROL_ERROR
        )
    )
}

#[cfg(test)]
#[path = "h2_tests.rs"]
mod tests;
