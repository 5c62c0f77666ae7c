//! The HTTP/2 path against a real HTTP/2 server (the `h2` crate's, over rustls): one
//! connection per user and origin, multiplexing, flow control past the windows, GOAWAY, resets
//! and the same failure categories and limits as HTTP/1.1.

use super::super::tls::tests::self_signed;
use super::super::{ClientOptions, Request, Tag, UserClient};
use crate::metrics::{Outcome, SampleKind, Sink};
use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use url::Url;

/// What the HTTP/2 server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: AtomicUsize,
    /// Most streams open at once on one connection.
    peak_streams: AtomicUsize,
}

/// An HTTP/2-only TLS server on 127.0.0.1 (self-signed, accepted with `insecure`). Paths:
/// `/ok`; `/read` (reads the request body, answers its length); `/unread` (answers at once,
/// never reads the body: its window stays shut); `/slow` (after 100 ms); `/big/N` (N bytes, in 16 KB frames as the client's window
/// allows); `/reset` (RST_STREAM INTERNAL_ERROR). With `per_conn`, each connection is shut
/// down gracefully (GOAWAY) once it has accepted that many requests.
async fn h2_server(per_conn: Option<usize>) -> (u16, Arc<Seen>) {
    let (acceptor, _) = self_signed(&["localhost"], &[b"h2"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, seen) = (acceptor.clone(), seen2.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut conn) = h2::server::handshake(tls).await else {
                    return;
                };
                seen.connections.fetch_add(1, Ordering::SeqCst);
                let open = Arc::new(AtomicUsize::new(0));
                let mut accepted = 0;
                while let Some(Ok((req, respond))) = conn.accept().await {
                    accepted += 1;
                    seen.requests.fetch_add(1, Ordering::SeqCst);
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.peak_streams.fetch_max(now, Ordering::SeqCst);
                    let open = open.clone();
                    tokio::spawn(async move {
                        answer(req, respond).await;
                        open.fetch_sub(1, Ordering::SeqCst);
                    });
                    if per_conn == Some(accepted) {
                        conn.graceful_shutdown();
                    }
                }
            });
        }
    });
    (port, seen)
}

async fn answer(req: http::Request<h2::RecvStream>, mut respond: h2::server::SendResponse<Bytes>) {
    let path = req.uri().path().to_string();
    let path = path.as_str();
    let ok = http::Response::builder().status(200);
    if path == "/read" {
        let mut body = req.into_body();
        let mut n = 0;
        while let Some(Ok(chunk)) = body.data().await {
            n += chunk.len();
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        let mut stream = respond.send_response(ok.body(()).unwrap(), false).unwrap();
        let _ = stream.send_data(Bytes::from(n.to_string()), true);
        return;
    }
    if path == "/unread" {
        // Answers at once, never reads the body nor resets the stream.
        let mut stream = respond.send_response(ok.body(()).unwrap(), false).unwrap();
        let _ = stream.send_data(Bytes::from_static(b"ok"), true);
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(req);
        return;
    }
    if path == "/reset" {
        respond.send_reset(h2::Reason::INTERNAL_ERROR);
        return;
    }
    if path == "/slow" {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(n) = path.strip_prefix("/big/") {
        let mut left: usize = n.parse().unwrap();
        let head = ok.header("content-type", "text/html").body(()).unwrap();
        let mut stream = respond.send_response(head, false).unwrap();
        while left > 0 {
            let n = left.min(16 * 1024);
            stream.reserve_capacity(n);
            let Some(Ok(granted)) = std::future::poll_fn(|cx| stream.poll_capacity(cx)).await
            else {
                return;
            };
            let n = granted.min(n);
            left -= n;
            if stream
                .send_data(Bytes::from(vec![b'x'; n]), left == 0)
                .is_err()
            {
                return;
            }
        }
        return;
    }
    let mut stream = respond.send_response(ok.body(()).unwrap(), false).unwrap();
    let _ = stream.send_data(Bytes::from_static(b"ok"), true);
}

fn user(sink: &Sink, max_body: usize) -> UserClient {
    let opts = ClientOptions {
        insecure: true,
        max_body,
        ..ClientOptions::default()
    };
    UserClient::new(
        &opts,
        crate::replay::http::record::MetricObserver::shared(sink.recorder(0)),
    )
    .unwrap()
}

fn get(port: u16, path: &str, kind: SampleKind) -> Request {
    let url = Url::parse(&format!("https://localhost:{port}{path}")).unwrap();
    Request::get(url, kind)
}

fn tag() -> Tag {
    Tag {
        flow: Arc::from("f"),
        step: None,
        trace: None,
        capture: None,
    }
}

#[tokio::test]
async fn a_burst_is_multiplexed_over_one_connection_per_user() {
    let (port, seen) = h2_server(None).await;
    let sink = Sink::new();
    let client = user(&sink, 1 << 20);
    let t = tag();
    let burst = (0..10).map(|_| client.send(get(port, "/slow", SampleKind::Static), &t, &[]));
    let results = futures::future::join_all(burst).await;
    assert!(results
        .iter()
        .all(|r| r.as_ref().is_ok_and(|r| r.status == 200)));
    // All ten at once on one connection (HTTP/1.1 would have used six, two rounds).
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert_eq!(seen.peak_streams.load(Ordering::SeqCst), 10);
    let r = client
        .send(get(port, "/ok", SampleKind::Document), &tag(), &[])
        .await;
    assert_eq!(&r.unwrap().body[..], b"ok");
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    // A second user has its own connection.
    let other = user(&sink, 1 << 20);
    other
        .send(get(port, "/ok", SampleKind::Document), &tag(), &[])
        .await
        .unwrap();
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    let counters = sink.finish().counters;
    assert_eq!(counters[&format!("connections.h2.localhost:{port}")], 2);
}

#[tokio::test]
async fn bodies_past_the_flow_control_windows_arrive_whole_within_max_body() {
    let (port, _) = h2_server(None).await;
    let sink = Sink::new();
    // 20 MB: more than the stream (6 MB) and connection (15 MB) windows.
    let client = user(&sink, 32 << 20);
    let r = client
        .send(
            get(port, "/big/20000000", SampleKind::Document),
            &tag(),
            &[],
        )
        .await;
    assert_eq!(r.unwrap().body.len(), 20_000_000);
    // Twice more on the same connection: the windows were given back.
    for _ in 0..2 {
        let r = client
            .send(get(port, "/big/7000000", SampleKind::Ajax), &tag(), &[])
            .await;
        assert_eq!(r.unwrap().body.len(), 7_000_000);
    }
    // Over --max-body: body-too-large; not kept (an image): read and dropped, any size.
    let small = user(&sink, 1 << 20);
    let r = small
        .send(get(port, "/big/2000000", SampleKind::Document), &tag(), &[])
        .await;
    assert_eq!(r.err(), Some(Outcome::BodyTooLarge));
    let r = small
        .send(get(port, "/big/2000000", SampleKind::Static), &tag(), &[])
        .await;
    assert!(r.unwrap().body.is_empty());
    // The connection survived the reset of the too-large stream.
    let r = small
        .send(get(port, "/ok", SampleKind::Document), &tag(), &[])
        .await;
    assert_eq!(r.unwrap().status, 200);
}

#[tokio::test]
async fn goaway_moves_requests_to_a_new_connection_without_failures() {
    let (port, seen) = h2_server(Some(3)).await;
    let sink = Sink::new();
    let client = user(&sink, 1 << 20);
    for _ in 0..7 {
        let r = client
            .send(get(port, "/ok", SampleKind::Ajax), &tag(), &[])
            .await;
        assert_eq!(r.unwrap().status, 200);
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
    // A burst across a GOAWAY: the refused streams are retried, none fails.
    let t = tag();
    let burst = (0..8).map(|_| client.send(get(port, "/slow", SampleKind::Static), &t, &[]));
    let results = futures::future::join_all(burst).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let summary = sink.finish();
    let failed: u64 = summary.entries.iter().map(|e| e.failures).sum();
    assert_eq!(failed, 0);
}

#[tokio::test]
async fn a_reset_stream_is_a_reset_and_the_connection_goes_on() {
    let (port, seen) = h2_server(None).await;
    let sink = Sink::new();
    let client = user(&sink, 1 << 20);
    let r = client
        .send(get(port, "/reset", SampleKind::Ajax), &tag(), &[])
        .await;
    assert_eq!(r.err(), Some(Outcome::Reset));
    let r = client
        .send(get(port, "/ok", SampleKind::Ajax), &tag(), &[])
        .await;
    assert_eq!(r.unwrap().status, 200);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_deadline_cancels_open_streams_and_the_host_policy_holds() {
    let (port, _) = h2_server(None).await;
    let sink = Sink::new();
    let deadline = tokio_util::sync::CancellationToken::new();
    let opts = ClientOptions {
        insecure: true,
        deadline: deadline.clone(),
        hosts: Arc::new(super::super::HostPolicy::new(
            &[Url::parse("https://localhost/").unwrap()],
            &[],
        )),
        ..ClientOptions::default()
    };
    let client = UserClient::new(
        &opts,
        crate::replay::http::record::MetricObserver::shared(sink.recorder(0)),
    )
    .unwrap();
    let other = Url::parse(&format!("https://127.0.0.1:{port}/ok")).unwrap();
    let r = client
        .send(Request::get(other, SampleKind::Ajax), &tag(), &[])
        .await;
    assert_eq!(r.err(), Some(Outcome::Blocked));
    let t = tag();
    let slow = client.send(get(port, "/slow", SampleKind::Ajax), &t, &[]);
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        deadline.cancel();
    };
    let (r, ()) = tokio::join!(slow, cancel);
    assert_eq!(r.err(), Some(Outcome::Interrupted));
}

#[tokio::test]
async fn a_body_the_server_never_reads_is_in_flight_then_a_timeout_never_ok() {
    let (port, _) = h2_server(None).await;
    let sink = Sink::new();
    let opts = ClientOptions {
        insecure: true,
        timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    };
    let client = UserClient::new(
        &opts,
        crate::replay::http::record::MetricObserver::shared(sink.recorder(0)),
    )
    .unwrap();
    let post = |path| Request {
        method: http::Method::POST,
        body: Some("x".repeat(300_000)),
        ..get(port, path, SampleKind::Ajax)
    };
    // A server that reads: the body (past the 64 KB default window) arrives whole.
    let r = client.send(post("/read"), &tag(), &[]).await.unwrap();
    assert_eq!(&r.body[..], b"300000");
    // One that answers at once and never opens its window: the answer came but the body
    // never left, so the request is not done until it times out.
    let r = client.send(post("/unread"), &tag(), &[]).await;
    assert_eq!(r.err(), Some(Outcome::Timeout));
    // An empty body needs no window.
    let empty = Request {
        body: Some(String::new()),
        ..post("/read")
    };
    let other = UserClient::new(
        &opts,
        crate::replay::http::record::MetricObserver::shared(sink.recorder(0)),
    )
    .unwrap();
    assert_eq!(
        &other.send(empty, &tag(), &[]).await.unwrap().body[..],
        b"0"
    );
    let summary = sink.finish();
    let unread = summary
        .entries
        .iter()
        .find(|e| e.name.ends_with("/unread"))
        .unwrap();
    assert_eq!((unread.count, unread.failures), (1, 1), "{unread:?}");
}
