//! Tests of the user client against real sockets: connection limits, the socket budget,
//! request encoding.

use super::*;
use crate::metrics::Sink;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// A keep-alive server answering every request after `delay`; counts connections.
async fn slow_server(delay: Duration) -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/x", listener.local_addr().unwrap())).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move { answer_each_head(&mut s, delay, false, |_| {}).await });
        }
    });
    (url, accepted)
}

/// Test servers' side of a connection: answers each request head 200 "ok" after `delay`
/// (closing after the first when `close_each`), handing every head to `seen`.
pub(super) async fn answer_each_head<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    delay: Duration,
    close_each: bool,
    mut seen: impl FnMut(String),
) {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            seen(String::from_utf8_lossy(&got[..end]).to_string());
            got.drain(..end + 4);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            if s.write_all(reply).await.is_err() {
                return;
            }
            if close_each {
                let _ = s.shutdown().await;
                return;
            }
        }
    }
}

fn get(url: &Url) -> Request {
    Request::get(url.clone(), SampleKind::Static)
}

#[tokio::test]
async fn a_burst_uses_at_most_six_connections_and_keeps_one_idle() {
    let (url, accepted) = slow_server(Duration::from_millis(30)).await;
    let client = UserClient::new(
        &ClientOptions::default(),
        crate::replay::http::record::MetricObserver::shared(Sink::new().recorder(0)),
    )
    .unwrap();
    let tag = Tag {
        flow: Arc::from("f"),
        step: None,
        trace: None,
        capture: None,
    };
    let burst = (0..10).map(|_| client.send(get(&url), &tag, &[]));
    let results = futures::future::join_all(burst).await;
    assert!(results
        .iter()
        .all(|r| r.as_ref().is_ok_and(|r| r.status == 200)));
    assert_eq!(accepted.load(Ordering::SeqCst), 6);
    assert_eq!(client.pool.idle_count(), 1);
    // The next requests reuse an idle connection instead of opening one.
    client.send(get(&url), &tag, &[]).await.unwrap();
    client.send(get(&url), &tag, &[]).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn over_the_socket_budget_requests_wait_instead_of_failing() {
    let (url, accepted) = slow_server(Duration::from_millis(20)).await;
    let opts = ClientOptions {
        sockets: SocketBudget::new(2),
        ..ClientOptions::default()
    };
    let tag = Tag {
        flow: Arc::from("f"),
        step: None,
        trace: None,
        capture: None,
    };
    // Two users, six requests each, two sockets for both.
    let sink = Sink::new();
    let a = UserClient::new(
        &opts,
        crate::replay::http::record::MetricObserver::shared(sink.recorder(0)),
    )
    .unwrap();
    let b = UserClient::new(
        &opts,
        crate::replay::http::record::MetricObserver::shared(sink.recorder(1)),
    )
    .unwrap();
    let burst = (0..12).map(|i| if i % 2 == 0 { &a } else { &b }.send(get(&url), &tag, &[]));
    let results = futures::future::join_all(burst).await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert!(accepted.load(Ordering::SeqCst) >= 2);
    // Each user keeps one idle socket, so the budget is spent until they close.
    assert_eq!(opts.sockets.available(), 0);
    drop((a, b));
    assert_eq!(opts.sockets.available(), 2);
    // The wait is in those requests' latencies: the report says how many waited.
    let waited = sink.finish().counters["requests.waited_for_socket"];
    assert!((1..=10).contains(&waited), "{waited}");
}

#[test]
fn encodes_defaults_cookies_and_recorded_headers_once() {
    let client = UserClient::new(
        &ClientOptions::default(),
        crate::replay::http::record::MetricObserver::shared(Sink::new().recorder(0)),
    )
    .unwrap();
    let url = Url::parse("http://h:8080/p?q=1#frag").unwrap();
    let set = [HeaderValue::from_static("sid=1; Path=/")];
    client.jar.store_from(set.iter(), &url);
    let headers = vec![
        ("Accept".to_string(), "text/html".to_string()),
        ("Cookie".to_string(), "stale=1".to_string()),
    ];
    let hop = Hop {
        method: &Method::POST,
        url: &url,
        headers: &headers,
        body: Some("a=b"),
        extra_headers: &[("if-none-match", "\"e\"".to_string())],
        expect: None,
    };
    let cookies = client.jar.header_for(&url);
    let encode = |hop: &Hop<'_>| encode::h1(hop, &client.user_agent, cookies.as_deref());
    let text = String::from_utf8(encode(&hop).unwrap()).unwrap();
    assert!(
        text.starts_with("POST /p?q=1 HTTP/1.1\r\nhost: h:8080\r\n"),
        "{text}"
    );
    for line in [
        "Accept: text/html",
        "if-none-match: \"e\"",
        "cookie: sid=1",
        "content-length: 3",
    ] {
        assert!(
            text.contains(&format!("{line}\r\n")),
            "{line} missing in {text}"
        );
    }
    assert!(!text.contains("stale") && !text.contains("*/*"), "{text}");
    assert!(text.ends_with("\r\n\r\na=b"));
    // The same request as an HTTP/2 head: the same headers, lower-cased, the authority from
    // the URL, no connection-specific ones.
    let (h2, body) = encode::h2(&hop, &client.user_agent, cookies.as_deref()).unwrap();
    assert_eq!(h2.uri().to_string(), "http://h:8080/p?q=1");
    assert_eq!(body.as_deref(), Some(&b"a=b"[..]));
    let h = h2.headers();
    assert_eq!(h["accept"], "text/html");
    assert_eq!(h["if-none-match"], "\"e\"");
    assert_eq!(h["cookie"], "sid=1");
    assert_eq!(h["content-length"], "3");
    assert_eq!(h["accept-encoding"], "gzip");
    assert!(!h.contains_key("host"));
    let bad = vec![("x-bad".to_string(), "a\r\nb".to_string())];
    let hop = Hop {
        headers: &bad,
        body: None,
        extra_headers: &[],
        ..hop
    };
    assert!(encode(&hop).is_none());
    assert!(encode::h2(&hop, &client.user_agent, None).is_none());
}

fn gzipped(body: &[u8], encoding: &str) -> RawResponse {
    use http::header::CONTENT_ENCODING;
    use std::io::Write as _;
    let compressed = if encoding == "gzip" {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(body).unwrap();
        e.finish().unwrap()
    } else {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(body).unwrap();
        e.finish().unwrap()
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_ENCODING, HeaderValue::from_str(encoding).unwrap());
    RawResponse {
        status: 200,
        headers,
        received: compressed.len() as u64,
        body: Bytes::from(compressed),
        keep_alive: true,
    }
}

#[test]
fn inflating_stops_at_the_body_limit() {
    use http::header::CONTENT_ENCODING;
    for encoding in ["gzip", "deflate"] {
        let ok = decode(gzipped(&[b'a'; 1000], encoding), 1000).unwrap();
        assert_eq!(ok.body.len(), 1000);
        assert!(ok.headers.get(CONTENT_ENCODING).is_none());
        // 64 MB of zeros, about 64 KB compressed: refused after the limit, never held whole.
        let bomb = gzipped(&vec![0u8; 64 << 20], encoding);
        assert!(bomb.body.len() < 1 << 20);
        assert!(matches!(decode(bomb, 1 << 20), Err(H1Error::TooLarge(_))));
    }
    let mut garbled = gzipped(b"hello", "gzip");
    garbled.body = Bytes::from_static(b"\x1f\x8bnot gzip");
    assert!(matches!(decode(garbled, 1000), Err(H1Error::Malformed(_))));
}

#[test]
fn host_policy_allows_the_origin_host_on_any_port_and_listed_hosts() {
    let origin = Url::parse("http://127.0.0.1:8080/").unwrap();
    let p = HostPolicy::new(
        &[origin],
        &["cdn.example:443".into(), "fonts.example".into()],
    );
    let ok = |u: &str| p.allows(&Url::parse(u).unwrap());
    assert!(ok("http://127.0.0.1:8080/a") && ok("https://127.0.0.1/a"));
    assert!(ok("https://cdn.example/x") && !ok("http://cdn.example/x"));
    assert!(ok("http://fonts.example:81/f"));
    assert!(!ok("http://localhost:8080/") && !ok("http://127.0.0.2:8080/"));
    assert!(HostPolicy::any().allows(&Url::parse("http://anywhere/").unwrap()));
}
