//! One HTTP/1.1 keep-alive connection, plain or TLS: writes a serialized request, reads the
//! response head (httparse) and body (Content-Length, chunked, or to EOF). Lean on purpose: one
//! write and usually one read per request, and an idle plain connection holds no buffer (10,000
//! users' idle sockets must not cost 16 KB each, as a general-purpose client's buffers do; a TLS
//! connection has rustls's buffers, which only https targets pay for).

use super::head::take_head;
use super::shape::Shaper;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderValue};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::client::TlsStream;

/// Largest response head accepted (what hyper allows by default is similar).
const MAX_HEAD: usize = 64 * 1024;
/// Bytes read at a time when the length to come is unknown (a head, a chunk, a body to EOF).
const STACK_READ: usize = 4 * 1024;
/// Most plaintext one TLS record carries.
const TLS_RECORD: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum H1Error {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// The peer closed (or reset) the connection before sending any byte of a response: on a
    /// reused keep-alive connection this is a stale socket and the request may be resent.
    #[error("connection closed before a response")]
    ClosedEarly,
    /// The body (as sent, or as announced by Content-Length or a chunk size) is larger than
    /// the run's `--max-body`: the rest is not read and the connection is dropped.
    #[error("response body larger than {0} bytes")]
    TooLarge(usize),
}

/// Which response bodies are kept in memory; the others are read and dropped as they
/// arrive (only counted), so a 200 MB image or video costs no memory and is no failure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Keep {
    /// Documents and AJAX: extraction, checks and asset discovery read them.
    Always,
    /// Static assets: a stylesheet is read for its fonts, nothing else is.
    Css,
    /// Polling: nothing reads a poll's answer.
    Never,
}

/// How much of a response body is kept, and which.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit {
    /// A kept body over this many bytes fails as `TooLarge`.
    pub max: usize,
    pub keep: Keep,
}

/// How a streamed response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Framing {
    Chunked,
    /// Bytes left.
    Length(u64),
    ToEof,
}

/// Largest chunk of a streamed body (an event stream's chunks are small).
const MAX_STREAM_CHUNK: usize = 16 << 20;

/// A response read to its end.
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    /// Empty when the body was not kept (see [`Keep`]).
    pub body: Bytes,
    /// Body bytes received (as sent, before any content decoding).
    pub received: u64,
    /// Whether the connection may carry another request.
    pub keep_alive: bool,
}

/// What a connection runs over. An enum, not a trait object: the plain path keeps its direct
/// `readable()` + `try_read` on the socket; the TLS stream is boxed so a plain connection stays
/// small.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl From<TcpStream> for Transport {
    fn from(tcp: TcpStream) -> Self {
        Transport::Plain(tcp)
    }
}

pub struct Conn {
    io: Transport,
    buf: BytesMut,
    /// This socket's share of the run's socket budget, returned when the connection closes.
    _budget: Option<OwnedSemaphorePermit>,
    /// The user's shaped link (`--network`), if any.
    shape: Option<Arc<Shaper>>,
}

impl Conn {
    pub fn new(io: Transport, budget: Option<OwnedSemaphorePermit>) -> Self {
        Conn {
            io,
            buf: BytesMut::new(),
            _budget: budget,
            shape: None,
        }
    }

    /// Shapes this connection's requests from now on (a reused one follows the user's
    /// current conditions).
    pub fn set_shape(&mut self, shape: Option<Arc<Shaper>>) {
        self.shape = shape;
    }

    /// Whether an idle connection still looks usable: the peer has not closed it and sent
    /// nothing unasked. Costs no syscall unless the socket became readable.
    pub fn is_reusable(&mut self) -> bool {
        let mut probe = [0u8; 1];
        match &mut self.io {
            Transport::Plain(tcp) => {
                matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            // Polled once, not read raw: the socket may hold TLS records that are not data
            // (a session ticket), which rustls consumes; only plaintext, an alert or a close
            // make the connection unusable.
            Transport::Tls(tls) => {
                let mut cx = Context::from_waker(Waker::noop());
                let mut probe = ReadBuf::new(&mut probe);
                Pin::new(&mut **tls)
                    .poll_read(&mut cx, &mut probe)
                    .is_pending()
            }
        }
    }

    /// Drops the read buffer of an idle connection (its body bytes live on in the response).
    pub fn park(&mut self) {
        self.buf = BytesMut::new();
    }

    /// Sends `request` (head and body, already serialized) and reads the whole response.
    /// `head_request`: the response to a HEAD has no body whatever its headers say. A kept
    /// body over `limit.max` bytes is not read (announced) or not read further (sent):
    /// `TooLarge`; a body not kept is read and dropped, whatever its size.
    pub async fn roundtrip(
        &mut self,
        request: &[u8],
        head_request: bool,
        limit: BodyLimit,
    ) -> Result<RawResponse, H1Error> {
        let max_body = limit.max;
        self.send(request).await?;
        loop {
            let (status, version, headers) = self.read_head().await?;
            // Interim responses (100 Continue, 103 Early Hints) precede the real one.
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let no_body = head_request || status == 204 || status == 304 || status < 200;
            let mut keep_alive = keeps_alive(version, &headers);
            let keep = match limit.keep {
                Keep::Always => true,
                Keep::Css => is_css(&headers),
                Keep::Never => false,
            };
            let (body, received) = if no_body {
                (Bytes::new(), 0)
            } else if is_chunked(&headers) {
                self.read_chunked(max_body, keep).await?
            } else if let Some(len) = content_length(&headers)? {
                if !keep {
                    (Bytes::new(), self.discard(len as u64).await?)
                } else if len > max_body {
                    return Err(H1Error::TooLarge(max_body));
                } else {
                    (self.read_exact_body(len).await?, len as u64)
                }
            } else {
                keep_alive = false;
                self.read_to_eof(max_body, keep).await?
            };
            return Ok(RawResponse {
                status,
                headers,
                body,
                received,
                keep_alive: keep_alive && self.buf.is_empty(),
            });
        }
    }

    /// Writes a serialized request; a peer that already closed is `ClosedEarly`.
    async fn send(&mut self, request: &[u8]) -> Result<(), H1Error> {
        if let Some(shape) = &self.shape {
            shape.upload(request.len()).await;
        }
        let sent = match &mut self.io {
            Transport::Plain(tcp) => tcp.write_all(request).await,
            // rustls may hold back part of a record until flushed.
            Transport::Tls(tls) => match tls.write_all(request).await {
                Ok(()) => tls.flush().await,
                Err(e) => Err(e),
            },
        };
        sent.map_err(|e| {
            if is_stale(&e) {
                H1Error::ClosedEarly
            } else {
                H1Error::from(e)
            }
        })?;
        if let Some(shape) = &self.shape {
            shape.await_latency().await;
        }
        Ok(())
    }

    /// Sends `request` and reads the response head only: the body is a stream the caller
    /// reads with [`Conn::stream_chunk`] (an event stream held open).
    pub async fn open_stream(
        &mut self,
        request: &[u8],
    ) -> Result<(u16, HeaderMap, Framing), H1Error> {
        self.send(request).await?;
        loop {
            let (status, _, headers) = self.read_head().await?;
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let framing = if status == 204 || status == 304 {
                Framing::Length(0)
            } else if is_chunked(&headers) {
                Framing::Chunked
            } else if let Some(len) = content_length(&headers)? {
                Framing::Length(len as u64)
            } else {
                Framing::ToEof
            };
            return Ok((status, headers, framing));
        }
    }

    /// The next piece of a streamed body as it arrives; `None` at its end.
    pub async fn stream_chunk(&mut self, framing: &mut Framing) -> Result<Option<Bytes>, H1Error> {
        match framing {
            Framing::Chunked => {
                let size = chunk_size(&self.read_line().await?)?;
                if size == 0 {
                    while !self.read_line().await?.is_empty() {}
                    *framing = Framing::Length(0);
                    return Ok(None);
                }
                if size > MAX_STREAM_CHUNK {
                    return Err(H1Error::TooLarge(MAX_STREAM_CHUNK));
                }
                while self.buf.len() < size + 2 {
                    let missing = size + 2 - self.buf.len();
                    if self.read_more(missing).await? == 0 {
                        return Err(eof());
                    }
                }
                let data = self.buf.split_to(size).freeze();
                if &self.buf[..2] != b"\r\n" {
                    return Err(H1Error::Malformed("chunk not followed by CRLF"));
                }
                self.buf.advance(2);
                Ok(Some(data))
            }
            Framing::Length(0) => Ok(None),
            Framing::Length(left) => {
                if self.buf.is_empty() && self.read_more(STACK_READ).await? == 0 {
                    return Err(eof());
                }
                let n = (*left).min(self.buf.len() as u64) as usize;
                *left -= n as u64;
                Ok(Some(self.buf.split_to(n).freeze()))
            }
            Framing::ToEof => {
                if self.buf.is_empty() && self.read_more(STACK_READ).await? == 0 {
                    return Ok(None);
                }
                Ok(Some(self.buf.split().freeze()))
            }
        }
    }

    /// Reads what the socket has, holding on to no more memory than the bytes read: nothing
    /// while a request waits on a slow server (thousands may wait at once), and no 8 KB
    /// buffer under a 300-byte reply. A known remainder of `want` bytes is read into space
    /// reserved for exactly that; anything else goes through a small stack buffer.
    async fn read_more(&mut self, want: usize) -> io::Result<usize> {
        let n = self.read_raw(want).await?;
        if let Some(shape) = &self.shape {
            shape.download(n).await;
        }
        Ok(n)
    }

    async fn read_raw(&mut self, want: usize) -> io::Result<usize> {
        let tcp = match &mut self.io {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => {
                let buf = &mut self.buf;
                return std::future::poll_fn(|cx| poll_read_tls(tls, cx, buf, want)).await;
            }
        };
        loop {
            tcp.readable().await?;
            let result = if want > STACK_READ {
                self.buf.reserve(want);
                tcp.try_read_buf(&mut self.buf)
            } else {
                let mut chunk = [0u8; STACK_READ];
                tcp.try_read(&mut chunk).inspect(|&n| {
                    self.buf.extend_from_slice(&chunk[..n]);
                })
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return result,
            }
        }
    }

    async fn read_head(&mut self) -> Result<(u16, u8, HeaderMap), H1Error> {
        let mut received = !self.buf.is_empty();
        loop {
            if !self.buf.is_empty() {
                if let Some(head) = take_head(&mut self.buf)? {
                    return Ok(head);
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(H1Error::Malformed("response head too large"));
                }
            }
            match self.read_more(STACK_READ).await {
                Ok(0) if !received => return Err(H1Error::ClosedEarly),
                Ok(0) => return Err(eof()),
                Ok(_) => received = true,
                Err(e) if !received && is_stale(&e) => return Err(H1Error::ClosedEarly),
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn read_exact_body(&mut self, len: usize) -> Result<Bytes, H1Error> {
        while self.buf.len() < len {
            let missing = len - self.buf.len();
            if self.read_more(missing).await? == 0 {
                return Err(eof());
            }
        }
        // A body that arrived with its head is copied out, so the response does not pin the
        // whole read buffer; a large one was read into space reserved for it.
        if self.buf.capacity() > 2 * len {
            let body = Bytes::copy_from_slice(&self.buf[..len]);
            self.buf.advance(len);
            return Ok(body);
        }
        Ok(self.buf.split_to(len).freeze())
    }

    async fn read_to_eof(&mut self, max_body: usize, keep: bool) -> Result<(Bytes, u64), H1Error> {
        let mut received = self.buf.len() as u64;
        loop {
            if !keep {
                self.buf.clear();
            } else if self.buf.len() > max_body {
                return Err(H1Error::TooLarge(max_body));
            }
            match self.read_more(STACK_READ).await? {
                0 => break,
                n => received += n as u64,
            }
        }
        Ok((std::mem::take(&mut self.buf).freeze(), received))
    }

    /// Reads `len` body bytes and drops them, a few KB at a time.
    async fn discard(&mut self, len: u64) -> Result<u64, H1Error> {
        let mut left = len;
        loop {
            let n = left.min(self.buf.len() as u64);
            self.buf.advance(n as usize);
            left -= n;
            if left == 0 {
                return Ok(len);
            }
            if self.read_more(STACK_READ).await? == 0 {
                return Err(eof());
            }
        }
    }

    async fn read_line(&mut self) -> Result<BytesMut, H1Error> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(pos);
                self.buf.advance(2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(H1Error::Malformed("chunk line too long"));
            }
            if self.read_more(STACK_READ).await? == 0 {
                return Err(eof());
            }
        }
    }

    /// A chunked body; when kept, chunk sizes are checked against what is left of
    /// `max_body` before any byte of the chunk is awaited or any space reserved for it.
    async fn read_chunked(&mut self, max_body: usize, keep: bool) -> Result<(Bytes, u64), H1Error> {
        let mut body = BytesMut::new();
        let mut received = 0u64;
        loop {
            let line = self.read_line().await?;
            let size = chunk_size(&line)?;
            received = received.saturating_add(size as u64);
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok((body.freeze(), received));
            }
            if !keep {
                self.discard(size as u64).await?;
                if !self.read_line().await?.is_empty() {
                    return Err(H1Error::Malformed("chunk not followed by CRLF"));
                }
                continue;
            }
            if size > max_body.saturating_sub(body.len()) {
                return Err(H1Error::TooLarge(max_body));
            }
            // size <= max_body, so neither sum overflows.
            let framed = size + 2;
            while self.buf.len() < framed {
                let missing = framed - self.buf.len();
                if self.read_more(missing).await? == 0 {
                    return Err(eof());
                }
            }
            body.extend_from_slice(&self.buf[..size]);
            if &self.buf[size..framed] != b"\r\n" {
                return Err(H1Error::Malformed("chunk not followed by CRLF"));
            }
            self.buf.advance(framed);
        }
    }
}

/// [`Conn::read_more`] over TLS, with the same buffer policy (the stack chunk lives in this
/// poll only, not in the request's future). A peer closing without a TLS close_notify, as many
/// servers do after `Connection: close`, reads as a plain end of stream.
fn poll_read_tls(
    tls: &mut TlsStream<TcpStream>,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    want: usize,
) -> Poll<io::Result<usize>> {
    let result = if want > STACK_READ {
        // Space for the whole remainder, as on the plain path, filled a record at a time.
        buf.reserve(want);
        let start = buf.len();
        buf.resize(start + want.min(TLS_RECORD), 0);
        let mut read = ReadBuf::new(&mut buf[start..]);
        let polled = Pin::new(tls).poll_read(cx, &mut read);
        let n = read.filled().len();
        buf.truncate(start + n);
        polled.map_ok(|()| n)
    } else {
        let mut chunk = [0u8; STACK_READ];
        let mut read = ReadBuf::new(&mut chunk);
        Pin::new(tls).poll_read(cx, &mut read).map_ok(|()| {
            buf.extend_from_slice(read.filled());
            read.filled().len()
        })
    };
    result.map(|r| match r {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !super::tls::is_tls_error(&e) => {
            Ok(0)
        }
        r => r,
    })
}

fn eof() -> H1Error {
    H1Error::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed in the middle of a response",
    ))
}

fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

fn has_token(headers: &HeaderMap, name: &str, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

fn keeps_alive(version: u8, headers: &HeaderMap) -> bool {
    if version >= 1 {
        !has_token(headers, "connection", "close")
    } else {
        has_token(headers, "connection", "keep-alive")
    }
}

pub(super) fn is_css(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/css"))
}

fn is_chunked(headers: &HeaderMap) -> bool {
    headers
        .get_all("transfer-encoding")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

/// The size on a chunk line (extensions after `;` ignored): hex digits only, at most 16.
fn chunk_size(line: &[u8]) -> Result<usize, H1Error> {
    let text = line.split(|b| *b == b';').next().unwrap_or_default();
    let text = text.trim_ascii();
    if text.is_empty() || text.len() > 16 || !text.iter().all(u8::is_ascii_hexdigit) {
        return Err(H1Error::Malformed("bad chunk size"));
    }
    let text = std::str::from_utf8(text).map_err(|_| H1Error::Malformed("bad chunk size"))?;
    usize::from_str_radix(text, 16).map_err(|_| H1Error::Malformed("bad chunk size"))
}

fn content_length(headers: &HeaderMap) -> Result<Option<usize>, H1Error> {
    let Some(value) = headers.get("content-length") else {
        return Ok(None);
    };
    let parse = |v: &HeaderValue| {
        let text = v.as_bytes().trim_ascii();
        if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
            return Err(H1Error::Malformed("bad content-length"));
        }
        // Digits only: a value too large for usize is larger than any --max-body.
        Ok(std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or(usize::MAX))
    };
    let len = parse(value)?;
    // Several Content-Length fields must agree (RFC 9112 6.3), else the framing is unknown.
    for other in headers.get_all("content-length").iter().skip(1) {
        if parse(other)? != len {
            return Err(H1Error::Malformed("conflicting content-length"));
        }
    }
    Ok(Some(len))
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
