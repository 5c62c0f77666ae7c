//! Serving an axum app in the background until told to stop (the coordinator, `--metrics`,
//! the dashboard, the demo site), over plain HTTP or over TLS with HTTP/2 and HTTP/1.1 (ALPN),
//! always under [`Limits`]: a connection with no request in progress (headers half sent,
//! idle between requests, a TLS handshake that stalls) is closed after the idle timeout, a
//! handler must answer in time, and at the connection cap a new connection replaces the one
//! idle longest (or is closed when every connection is in a request). Idle peers can then
//! neither use up descriptors and memory nor lock a real client out.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::sync::Locked;
use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one server allows its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// A connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// A handler's time to answer (None: responses may stream, e.g. a site's SSE).
    pub request_timeout: Option<Duration>,
}

impl Limits {
    /// throng's own servers (coordinator, `--metrics`, dashboard): a few clients that
    /// send whole requests at once.
    pub const fn control(max_connections: usize) -> Limits {
        Limits {
            max_connections,
            idle_timeout: Duration::from_secs(10),
            request_timeout: Some(Duration::from_secs(60)),
        }
    }

    /// A load target (the demo site): as many connections as descriptors allow (10,000 users
    /// each keep some), browsers' idle times (nginx's keepalive_timeout is 75 s), streams.
    pub const SITE: Limits = Limits {
        max_connections: 1 << 16,
        idle_timeout: Duration::from_secs(75),
        request_timeout: None,
    };
}

/// An app served on its own task; [`Served::shutdown`] stops it gracefully.
pub struct Served {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    conns: Registry,
}

impl Served {
    /// Serves `app` on `listener` (HTTP/1.1, and HTTP/2 with prior knowledge) until
    /// [`Served::shutdown`].
    pub fn start(listener: TcpListener, app: axum::Router, limits: Limits) -> Self {
        Self::spawn(listener, app, None, limits)
    }

    /// Serves `app` over TLS on `listener`: HTTP/2 or HTTP/1.1 as the client's ALPN picks
    /// (WebSocket upgrades on HTTP/1.1), until [`Served::shutdown`].
    pub fn start_tls(
        listener: TcpListener,
        app: axum::Router,
        tls: Arc<rustls::ServerConfig>,
        limits: Limits,
    ) -> Self {
        Self::spawn(
            listener,
            app,
            Some(tokio_rustls::TlsAcceptor::from(tls)),
            limits,
        )
    }

    fn spawn(
        listener: TcpListener,
        app: axum::Router,
        tls: Option<tokio_rustls::TlsAcceptor>,
        limits: Limits,
    ) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let conns = Registry::default();
        let task = tokio::spawn(accept_loop(
            listener,
            app,
            tls,
            limits,
            conns.clone(),
            stopped,
        ));
        Served { stop, task, conns }
    }

    /// Stops accepting and lets open requests finish, for at most `limit` (then closes them).
    pub async fn shutdown(self, limit: Duration) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(limit, &mut task).await.is_err() {
            task.abort();
            for c in self.conns.locked().values() {
                c.close.cancel();
            }
        }
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.conns.locked().len()
    }
}

/// One connection as the accept loop sees it.
struct Conn {
    /// Requests in progress (a response still streaming counts).
    busy: AtomicUsize,
    /// Requests started on it so far.
    requests: AtomicU64,
    /// When it last started or ended a request (ms since `epoch`).
    last_ms: AtomicU64,
    epoch: Instant,
    close: CancellationToken,
}

impl Conn {
    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_since(&self) -> Option<Instant> {
        (self.busy.load(Ordering::Relaxed) == 0)
            .then(|| self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

type Registry = Arc<Mutex<HashMap<u64, Arc<Conn>>>>;

/// Room for one more connection: true if there is (a long-idle one closed to make it).
fn make_room(conns: &Registry, max: usize) -> bool {
    let mut map = conns.locked();
    if map.len() < max {
        return true;
    }
    let victim = map
        .iter()
        .filter_map(|(id, c)| c.idle_since().map(|t| (t, *id)))
        .min()
        .map(|(_, id)| id);
    match victim.and_then(|id| map.remove(&id)) {
        Some(c) => {
            c.close.cancel();
            true
        }
        None => false,
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    conns: Registry,
    mut stopped: oneshot::Receiver<()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    let epoch = Instant::now();
    let mut next_id = 0u64;
    loop {
        let tcp = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of descriptors: give closing connections a moment.
                    tracing::debug!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if !make_room(&conns, limits.max_connections) {
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let conn = Arc::new(Conn {
            busy: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
            epoch,
            close: CancellationToken::new(),
        });
        conn.touch();
        conns.locked().insert(id, conn.clone());
        let served = serve_connection(
            tcp,
            app.clone(),
            tls.clone(),
            builder.clone(),
            graceful.watcher(),
            conn.clone(),
            limits.request_timeout,
        );
        let conns = conns.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = served => {}
                _ = conn.close.cancelled() => {}
                _ = idle_watch(&conn, limits.idle_timeout) => {}
            }
            conns.locked().remove(&id);
        });
    }
    // Connections that never sent a whole request (a TLS handshake, half-sent headers)
    // have nothing to finish; the others finish their requests first.
    for c in conns.locked().values() {
        if c.requests.load(Ordering::Relaxed) == 0 {
            c.close.cancel();
        }
    }
    graceful.shutdown().await;
}

/// Ends when the connection has had no request in progress for `idle`.
async fn idle_watch(conn: &Conn, idle: Duration) {
    loop {
        let wait = match conn.idle_since() {
            Some(since) => {
                let deadline = since + idle;
                if Instant::now() >= deadline {
                    return;
                }
                deadline - Instant::now()
            }
            None => idle,
        };
        tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
    }
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    app: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    builder: hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    conn: Arc<Conn>,
    request_timeout: Option<Duration>,
) {
    let io = match tls {
        Some(acceptor) => match acceptor.accept(tcp).await {
            Ok(s) => tokio_util::either::Either::Left(s),
            Err(_) => return,
        },
        None => tokio_util::either::Either::Right(tcp),
    };
    let io = hyper_util::rt::TokioIo::new(io);
    let served = builder.serve_connection_with_upgrades(io, tracked(app, conn, request_timeout));
    if let Err(e) = watcher.watch(served.into_owned()).await {
        tracing::debug!("connection ended: {e}");
    }
}

/// `app` as a hyper service that keeps `conn`'s request count and time, answers 503 when a
/// handler overruns the request timeout, and counts a streaming response as in progress.
fn tracked(
    app: axum::Router,
    conn: Arc<Conn>,
    request_timeout: Option<Duration>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = hyper::Response<Guarded>,
    Error = std::convert::Infallible,
    Future = impl std::future::Future<
        Output = Result<hyper::Response<Guarded>, std::convert::Infallible>,
    > + Send,
> + Clone {
    let service = hyper_util::service::TowerToHyperService::new(app);
    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        use hyper::service::Service as _;
        let guard = Busy::start(conn.clone());
        let answer = service.call(req);
        async move {
            let response = match request_timeout {
                Some(limit) => match tokio::time::timeout(limit, answer).await {
                    Ok(r) => r,
                    Err(_) => Ok(overrun()),
                },
                None => answer.await,
            };
            response.map(|r| {
                r.map(|inner| Guarded {
                    inner,
                    _busy: guard,
                })
            })
        }
    })
}

fn overrun() -> hyper::Response<Body> {
    let mut r = hyper::Response::new(Body::from("the request took too long\n"));
    *r.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
    r
}

/// A request in progress on a connection, until its response body is done.
struct Busy(Arc<Conn>);

impl Busy {
    fn start(conn: Arc<Conn>) -> Busy {
        conn.busy.fetch_add(1, Ordering::Relaxed);
        conn.requests.fetch_add(1, Ordering::Relaxed);
        conn.touch();
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request in progress while it streams.
pub struct Guarded {
    inner: Body,
    _busy: Busy,
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
