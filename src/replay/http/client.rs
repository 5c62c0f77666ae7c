//! One virtual user's HTTP client: its own connections, cookie jar and asset cache; sends a
//! request, follows redirects hop by hop (each hop is a request the server saw, so each is
//! recorded once), and turns transport errors into outcome categories.
//!
//! HTTP/1.1 over TCP or TLS (rustls, [`tls`]), written for load: a per-user pool ([`pool`]) of
//! lean connections ([`h1`]) driven inside the user's own task (no connection task, no channel
//! per request), requests serialized straight into one buffer, cookies from the user's jar.
//! A TLS handshake is part of the latency of the request that opened the connection, as a
//! browser's connection setup is.

mod encode;
mod h1;
mod head;
mod http2;
mod link;
mod observe;
mod options;
mod pool;
mod shape;
mod stream;
mod tls;
mod wire;
mod ws;

use super::cache::{AssetCache, Lookup};
use super::cookies::UserJar;
use super::offload::{Budget, Offload};
use crate::metrics::sessions::SessionCapture;
use crate::metrics::{Outcome, RequestSpan, SampleKind, SessionTrace};
pub use crate::replay::hosts::HostPolicy;
use crate::sync::Locked;
use bytes::Bytes;
use encode::Hop;
use h1::{BodyLimit, Conn, H1Error, Keep, RawResponse, Transport};
use http::header::{HeaderMap, HeaderValue};
use http::Method;
use http2::{H2Conn, H2Failure};
pub use observe::{HopDetail, HopReport, Observer};
pub use options::{ClientOptions, DEFAULT_MAX_BODY};
pub use pool::SocketBudget;
use pool::{Origin, Pool, PoolLimits};
use shape::{ShapedIo, Shaper};
use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use stream::open as open_stream;
pub use tls::SharedTls;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use url::{Host, Url};
pub use wire::classify;
use wire::{decode, redirect_target};
pub use ws::{run as run_web_socket, Exchange, Outgoing};

/// A request to send, already filled in (no `${...}` left).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub kind: SampleKind,
    /// The name of the first hop when the flow precomputed it (see `StepCache`).
    pub name: Option<Arc<str>>,
    /// An error status the recording saw (a missing favicon's 404): the same answer at replay
    /// is what the site does, not a failure.
    pub expect: Option<u16>,
}

impl Request {
    /// A plain GET: no recorded headers, no body, named when sent.
    pub fn get(url: Url, kind: SampleKind) -> Self {
        Request {
            method: Method::GET,
            url,
            headers: Vec::new(),
            body: None,
            kind,
            name: None,
            expect: None,
        }
    }
}

/// A response read to its end.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub final_url: Url,
}

/// Where a user's samples go: which flow and step they belong to.
#[derive(Clone)]
pub struct Tag {
    pub flow: Arc<str>,
    pub step: Option<u32>,
    /// `--trace`: the session's trace context (requests to the flow's origin carry it).
    pub trace: Option<Arc<SessionTrace>>,
    /// `--keep-sessions`: the session's buffer while it may still be kept.
    pub capture: Option<Arc<SessionCapture>>,
}

pub struct UserClient {
    pool: Pool,
    jar: UserJar,
    cache: Mutex<AssetCache>,
    observer: Arc<dyn Observer>,
    sockets: SocketBudget,
    user_agent: HeaderValue,
    timeout: Duration,
    connect_timeout: Duration,
    tls: SharedTls,
    insecure: bool,
    /// This user's TLS connector (its own session cache), made on its first https connection.
    tls_connector: Mutex<Option<tokio_rustls::TlsConnector>>,
    max_body: usize,
    deadline: CancellationToken,
    hosts: Arc<HostPolicy>,
    http2: bool,
    connections_per_host: usize,
    offload: Offload,
    /// This user's shaped link (`--network`, a flow's network conditions), if any.
    shape: Mutex<Option<Arc<Shaper>>>,
    /// Whether `shape` holds one: an unshaped user's requests never take its lock.
    shaped: AtomicBool,
}

const MAX_REDIRECTS: usize = 10;
/// Requests a page keeps in flight on one HTTP/2 connection (Chromium sends every request it
/// has; servers allow 100 to 128 streams at once).
const H2_PARALLEL: usize = 100;
/// Connections an HTTP/2 request may try when servers refuse it unprocessed (GOAWAY).
const H2_ATTEMPTS: usize = 3;
/// How often a request waiting for the socket budget looks for an idle connection of its own.
const BUDGET_RECHECK: Duration = Duration::from_millis(20);

/// Why a hop got no response.
enum HopError {
    /// Could not be sent as given (bad header, unsupported scheme).
    Invalid,
    Timeout,
    Transport(H1Error),
    /// The TLS handshake failed.
    Handshake(io::Error),
    /// The run's hard deadline came first.
    Cancelled,
}

impl UserClient {
    pub fn new(
        opts: &ClientOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<Self, http::header::InvalidHeaderValue> {
        Ok(UserClient {
            pool: Pool::new(PoolLimits {
                per_host: opts.connections_per_host,
                max_idle_per_host: opts.max_idle_per_host,
                idle_timeout: opts.idle_timeout,
            }),
            jar: UserJar::default(),
            cache: Mutex::new(AssetCache::new(opts.cache)),
            observer,
            sockets: opts.sockets.clone(),
            user_agent: HeaderValue::from_str(&opts.user_agent)?,
            timeout: opts.timeout,
            connect_timeout: opts.timeout.min(Duration::from_secs(10)),
            tls: opts.tls.clone(),
            insecure: opts.insecure,
            tls_connector: Mutex::new(None),
            max_body: opts.max_body,
            deadline: opts.deadline.clone(),
            hosts: opts.hosts.clone(),
            http2: opts.http2,
            connections_per_host: opts.connections_per_host.max(1),
            offload: opts.offload.clone(),
            shape: Mutex::new(None),
            shaped: AtomicBool::new(false),
        })
        .inspect(|client| client.set_network(opts.network.as_deref().copied()))
    }

    /// Forget cookies and cached assets: the next session is a new person on the same machine.
    pub fn new_session(&self) {
        self.jar.clear();
        self.cache.locked().clear();
        // A new person's browser has no TLS sessions to resume.
        self.tls_connector.locked().take();
    }

    /// Puts a browser login's cookies in the jar (`--login`), after [`Self::new_session`].
    pub fn seed_cookies(&self, cookies: &[crate::replay::handoff::HandedCookie]) {
        for cookie in cookies {
            let Some((url, line)) = cookie.as_set_cookie() else {
                continue;
            };
            if let Ok(value) = HeaderValue::from_str(&line) {
                self.jar.store_from(std::iter::once(&value), &url);
            }
        }
    }

    /// How many requests to `url`'s origin a page has in flight at once: a browser's six
    /// connections per host on HTTP/1.1, all of them (up to the server's stream limit, which
    /// h2 enforces) on an HTTP/2 connection.
    pub fn parallel_requests(&self, url: &Url) -> usize {
        let origin = Origin::of(url);
        if origin.tls && self.http2 && self.pool.h2(origin).is_some() {
            H2_PARALLEL
        } else {
            self.connections_per_host
        }
    }

    /// Adds to a run counter (what a page's streams count).
    pub fn count(&self, counter: &str, n: u64) {
        self.observer.count(counter, n);
    }

    /// Runs CPU work on a body off the runtime, within its budget ([`Offload`]); `None` when
    /// the run's hard deadline came first.
    pub async fn off_runtime<T, F>(&self, job: F) -> Option<T>
    where
        F: FnOnce(&Budget) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.offload.run(&self.deadline, job).await
    }

    /// Whether the run's hard deadline has passed (no request may start).
    pub fn past_deadline(&self) -> bool {
        self.deadline.is_cancelled()
    }

    pub fn cache_lookup(&self, url: &str, now: std::time::SystemTime) -> Lookup {
        self.cache.locked().lookup(url, now)
    }

    pub fn cache_store(
        &self,
        url: &str,
        status: u16,
        headers: &HeaderMap,
        now: std::time::SystemTime,
    ) {
        self.cache.locked().store(url, status, headers, now);
    }

    /// Sends `req`, following redirects like a browser. Every hop is recorded as one sample.
    /// `Err` carries the failure outcome (already recorded). A hop to a host the run does not
    /// allow is not sent: it is counted as `requests.blocked` (no sample) and ends the chain
    /// with `Err(Blocked)`.
    pub async fn send(
        &self,
        req: Request,
        tag: &Tag,
        extra_headers: &[(&'static str, String)],
    ) -> Result<Response, Outcome> {
        self.send_late(req, tag, Duration::ZERO, extra_headers)
            .await
    }

    /// Like [`send`](Self::send) for a timer or arrival that fired `late`: the latency is also
    /// recorded from the intended start (coordinated-omission correction).
    pub async fn send_late(
        &self,
        req: Request,
        tag: &Tag,
        late: Duration,
        extra_headers: &[(&'static str, String)],
    ) -> Result<Response, Outcome> {
        if self.past_deadline() {
            // Never sent: nothing to record.
            return Err(Outcome::Interrupted);
        }
        let mut method = req.method;
        let mut url = req.url;
        let mut body = req.body;
        let mut headers = req.headers;
        let mut name = req.name;
        let trace = tag.trace.as_deref();
        if trace.is_some() {
            // A recorded trace context would repeat one trace for every user: ours replaces it.
            headers.retain(|(k, _)| !super::trace_context::is_trace_header(k));
        }
        for hop_index in 0..=MAX_REDIRECTS {
            if !self.hosts.allows(&url) {
                self.observer.count("requests.blocked", 1);
                return Err(Outcome::Blocked);
            }
            let document = req.kind == SampleKind::Document && hop_index == 0;
            let span = trace.and_then(|t| t.http_request(tag.step, document, &url));
            let traced;
            let hop = Hop {
                method: &method,
                url: &url,
                headers: &headers,
                body: body.as_deref(),
                extra_headers: match (&span, trace) {
                    (Some(span), Some(t)) => {
                        traced = super::trace_context::headers(extra_headers, span, t);
                        &traced
                    }
                    _ => extra_headers,
                },
                expect: req.expect,
            };
            let about = About {
                tag,
                kind: req.kind,
                name: name.take(),
                span: span.as_ref(),
            };
            let result = self.send_once(about, hop, late).await;
            let response = result?;
            let Some(next) = redirect_target(&response, &url) else {
                return Ok(response);
            };
            if matches!(response.status, 301..=303) && method == Method::POST
                || response.status == 303
            {
                method = Method::GET;
                body = None;
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            }
            url = next;
        }
        Err(Outcome::Error)
    }

    async fn send_once(
        &self,
        about: About<'_>,
        hop: Hop<'_>,
        late: Duration,
    ) -> Result<Response, Outcome> {
        let started = Instant::now();
        let head = *hop.method == Method::HEAD;
        let limit = BodyLimit {
            max: self.max_body,
            keep: match about.kind {
                SampleKind::Static => Keep::Css,
                SampleKind::Polling => Keep::Never,
                _ => Keep::Always,
            },
        };
        let exchange = tokio::time::timeout(self.timeout, self.exchange(&hop, head, limit));
        let result = tokio::select! {
            biased;
            _ = self.deadline.cancelled() => Err(HopError::Cancelled),
            done = exchange => match done {
                Ok(Ok(raw)) => decode(raw, self.max_body).map_err(HopError::Transport),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(HopError::Timeout),
            },
        };
        let elapsed = started.elapsed();
        match result {
            Ok(raw) => {
                let outcome = if hop.expect == Some(raw.status) {
                    Outcome::Ok
                } else {
                    Outcome::from_status(raw.status)
                };
                // What the body was as received, unless it was kept (and decoded).
                let bytes = if raw.body.is_empty() {
                    raw.received
                } else {
                    raw.body.len() as u64
                };
                self.report(&about, &hop, (elapsed, late), outcome, Some((&raw, bytes)));
                // After the report: its detail names the cookies the request was sent with.
                self.jar
                    .store_from(raw.headers.get_all("set-cookie").iter(), hop.url);
                Ok(Response {
                    status: raw.status,
                    headers: raw.headers,
                    body: raw.body,
                    final_url: hop.url.clone(),
                })
            }
            Err(e) => {
                let outcome = match e {
                    HopError::Invalid => Outcome::Error,
                    HopError::Timeout => Outcome::Timeout,
                    HopError::Transport(H1Error::Io(io)) => classify(&io),
                    HopError::Cancelled => Outcome::Interrupted,
                    HopError::Transport(H1Error::ClosedEarly) => Outcome::Reset,
                    HopError::Transport(H1Error::Malformed(_)) => Outcome::Malformed,
                    HopError::Transport(H1Error::TooLarge(_)) => Outcome::BodyTooLarge,
                    HopError::Handshake(io) => {
                        let outcome = match classify(&io) {
                            // The peer hung up mid-handshake: it refused the TLS session.
                            Outcome::Reset if io.kind() == io::ErrorKind::UnexpectedEof => {
                                Outcome::Tls
                            }
                            Outcome::Error => Outcome::Tls,
                            other => other,
                        };
                        if outcome == Outcome::Tls {
                            tls::report_first_failure(hop.url, &io, self.insecure);
                        }
                        outcome
                    }
                };
                self.report(&about, &hop, (elapsed, late), outcome, None);
                Err(outcome)
            }
        }
    }

    /// One request: over the origin's HTTP/2 connection when it has (or negotiates) one, else
    /// on a pooled HTTP/1.1 connection (waiting for a free slot to the host); a reused
    /// connection the server had closed is replaced and the request resent, as browsers do.
    async fn exchange(
        &self,
        hop: &Hop<'_>,
        head: bool,
        limit: BodyLimit,
    ) -> Result<RawResponse, HopError> {
        let url = hop.url;
        let origin = Origin::of(url);
        let shape = self.shaper()?;
        if origin.tls && self.http2 {
            // Boxed: HTTP/1.1 requests should not carry the HTTP/2 path's future.
            if let Some(raw) = Box::pin(self.exchange_h2(hop, origin, head, limit)).await? {
                return Ok(raw);
            }
        }
        let cookies = self.jar.header_for(url);
        let request =
            encode::h1(hop, &self.user_agent, cookies.as_deref()).ok_or(HopError::Invalid)?;
        let request = &request[..];
        let _slot = self.pool.slot(origin).await;
        let mut waited = false;
        loop {
            let (mut conn, reused) = match self.pool.take_idle(origin) {
                Some(conn) => (conn, true),
                // Boxed: the rare path's large future (budget wait, DNS, connect, handshake)
                // would otherwise be part of, and be moved with, every request's future.
                None => match Box::pin(self.open(url, origin, &mut waited)).await? {
                    Some(conn) => (conn, false),
                    None => continue,
                },
            };
            conn.set_shape(shape.clone());
            match conn.roundtrip(request, head, limit).await {
                Ok(raw) => {
                    if raw.keep_alive {
                        self.pool.put_idle(origin, conn);
                    }
                    return Ok(raw);
                }
                Err(H1Error::ClosedEarly) if reused => continue,
                Err(e) => return Err(HopError::Transport(e)),
            }
        }
    }

    /// One request over the origin's HTTP/2 connection (opened, or found to speak HTTP/1.1,
    /// on first use): `None` when the origin speaks HTTP/1.1. A request the server did not
    /// process is sent again on a new connection, at most [`H2_ATTEMPTS`] times in all.
    async fn exchange_h2(
        &self,
        hop: &Hop<'_>,
        origin: Origin<'_>,
        head: bool,
        limit: BodyLimit,
    ) -> Result<Option<RawResponse>, HopError> {
        for _ in 0..H2_ATTEMPTS {
            let Some(conn) = self.h2_conn(hop.url, origin).await? else {
                return Ok(None);
            };
            let cookies = self.jar.header_for(hop.url);
            let (request, body) =
                encode::h2(hop, &self.user_agent, cookies.as_deref()).ok_or(HopError::Invalid)?;
            match conn.roundtrip(request, body, head, limit).await {
                Ok(raw) => return Ok(Some(raw)),
                Err(H2Failure::Retry) => self.pool.drop_h2(origin, &conn),
                Err(H2Failure::Failed(e)) => return Err(HopError::Transport(e)),
            }
        }
        Err(HopError::Transport(H1Error::Io(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "HTTP/2 connections went away before answering",
        ))))
    }

    /// The origin's HTTP/2 connection, opening one (TLS with ALPN) if it has none: one
    /// connection at a time, so a page's burst shares it. `None` when the server chose
    /// HTTP/1.1; that first connection then goes to the HTTP/1.1 pool.
    async fn h2_conn(&self, url: &Url, origin: Origin<'_>) -> Result<Option<H2Conn>, HopError> {
        let shape = self.shaper()?;
        if let Some(conn) = self.current_h2(origin, &shape) {
            return Ok(Some(conn));
        }
        let connecting = self.pool.connecting(origin);
        let _opening = connecting.lock().await;
        if let Some(conn) = self.current_h2(origin, &shape) {
            return Ok(Some(conn));
        }
        if self.pool.speaks_h1(origin) {
            return Ok(None);
        }
        if self.sockets.available() == 0 {
            self.observer.count("requests.waited_for_socket", 1);
        }
        let budget = self.sockets.take().await;
        let tcp = self.connect(url, origin.port).await?;
        let tls = self.handshake(url, tcp).await?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            self.pool.set_speaks_h1(origin);
            self.count_connection(origin, "http1");
            let conn = Conn::new(Transport::Tls(Box::new(tls)), Some(budget));
            self.pool.put_idle(origin, conn);
            return Ok(None);
        }
        self.count_connection(origin, "h2");
        let deadline = self.deadline.clone();
        let handshake = async {
            match &shape {
                Some(s) => H2Conn::handshake(ShapedIo::new(tls, s.clone()), budget, deadline)
                    .await
                    .map(|c| c.with_shape(shape.clone())),
                None => H2Conn::handshake(tls, budget, deadline).await,
            }
        };
        let conn = tokio::time::timeout(self.connect_timeout, handshake)
            .await
            .map_err(|_| HopError::Timeout)?
            .map_err(HopError::Transport)?;
        self.pool.set_h2(origin, conn.clone());
        Ok(Some(conn))
    }

    /// Counts a connection opened, by protocol and origin (`connections.h2.HOST:PORT`).
    fn count_connection(&self, origin: Origin<'_>, protocol: &str) {
        let name = format!("connections.{protocol}.{}:{}", origin.host, origin.port);
        self.observer.count(&name, 1);
    }

    /// A new connection once the run's socket budget allows one; `None` when the budget
    /// stayed spent for a while (one of this user's own connections may have come back).
    /// A request that finds the budget spent is counted once (`waited`): its latency then
    /// includes throng's own wait for a socket, which the report must show.
    async fn open(
        &self,
        url: &Url,
        origin: Origin<'_>,
        waited: &mut bool,
    ) -> Result<Option<Conn>, HopError> {
        if !*waited && self.sockets.available() == 0 {
            *waited = true;
            self.observer.count("requests.waited_for_socket", 1);
        }
        let budget = tokio::select! {
            biased;
            permit = self.sockets.take() => permit,
            _ = tokio::time::sleep(BUDGET_RECHECK) => return Ok(None),
        };
        let tcp = self.connect(url, origin.port).await?;
        self.count_connection(origin, "http1");
        let io = if origin.tls {
            Transport::Tls(Box::new(self.handshake(url, tcp).await?))
        } else {
            Transport::Plain(tcp)
        };
        Ok(Some(Conn::new(io, Some(budget))))
    }

    async fn connect(&self, url: &Url, port: u16) -> Result<TcpStream, HopError> {
        let addrs: Vec<std::net::SocketAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => vec![(ip, port).into()],
            Some(Host::Ipv6(ip)) => vec![(ip, port).into()],
            Some(Host::Domain(name)) => tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| HopError::Transport(e.into()))?
                .collect(),
            None => return Err(HopError::Invalid),
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    stream
                        .set_nodelay(true)
                        .map_err(|e| HopError::Transport(e.into()))?;
                    return Ok(stream);
                }
                Ok(Err(e)) => last = e,
                Err(_) => return Err(HopError::Timeout),
            }
        }
        Err(HopError::Transport(last.into()))
    }

    /// A TLS session over `tcp` with the host of `url` (SNI and certificate name), ALPN
    /// h2 and http/1.1 (http/1.1 only with `--http1`), within the connect timeout.
    async fn handshake(
        &self,
        url: &Url,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, HopError> {
        let name = url
            .host()
            .as_ref()
            .and_then(tls::server_name)
            .ok_or(HopError::Invalid)?;
        let connector = self
            .tls_connector
            .locked()
            .get_or_insert_with(|| self.tls.user_connector(self.insecure, self.http2))
            .clone();
        match tokio::time::timeout(self.connect_timeout, connector.connect(name, tcp)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(HopError::Handshake(e)),
            Err(_) => Err(HopError::Timeout),
        }
    }

    /// Tells the observer what one hop did (`answer`: its response and body bytes).
    fn report(
        &self,
        about: &About<'_>,
        hop: &Hop<'_>,
        (elapsed, late): (Duration, Duration),
        outcome: Outcome,
        answer: Option<(&RawResponse, u64)>,
    ) {
        let detail = self.observer.wants_detail(about.tag).then(|| {
            let h2 = self.pool.h2(Origin::of(hop.url)).is_some();
            let cookies = self.jar.header_for(hop.url);
            let sent = (&self.user_agent, cookies.as_deref(), h2);
            HopDetail::of(hop, sent, elapsed, answer.map(|(raw, _)| raw))
        });
        let answer = answer.map(|(raw, bytes)| (raw.status, bytes));
        self.observer.hop(&HopReport {
            tag: about.tag,
            kind: about.kind,
            name: about.name.as_ref(),
            method: hop.method.as_str(),
            url: hop.url,
            elapsed,
            late,
            outcome,
            status: answer.map(|(status, _)| status),
            bytes: answer.map(|(_, bytes)| bytes),
            span: about.span,
            detail: detail.as_ref(),
        });
    }
}

/// Whose request a hop is, for its report.
struct About<'a> {
    tag: &'a Tag,
    kind: SampleKind,
    /// The caller's name (first hop only).
    name: Option<Arc<str>>,
    span: Option<&'a RequestSpan>,
}

#[cfg(test)]
mod h1_fuzz;
#[cfg(test)]
mod tests;
