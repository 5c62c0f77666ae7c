//! Tests of the HTTP/1.1 connection against real sockets: framing, interim responses,
//! stale keep-alive connections, truncated bodies.

use super::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Serves each accepted connection the canned `replies` (one per request read) then closes.
async fn server(replies: Vec<&'static [u8]>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        for reply in replies {
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(reply).await.unwrap();
        }
    });
    addr
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
const KEEP: BodyLimit = BodyLimit {
    max: 1 << 20,
    keep: Keep::Always,
};

#[tokio::test]
async fn reads_length_chunked_interim_and_no_body_responses_on_one_connection() {
    let addr = server(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"e\"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end",
    ])
    .await;
    let mut c = Conn::new(TcpStream::connect(addr).await.unwrap().into(), None);
    let r = c.roundtrip(GET, false, KEEP).await.unwrap();
    assert_eq!(
        (r.status, &r.body[..], r.keep_alive),
        (200, &b"hello"[..], true)
    );
    c.park();
    assert!(c.is_reusable());
    let r = c.roundtrip(GET, false, KEEP).await.unwrap();
    assert_eq!(
        (r.status, &r.body[..], r.keep_alive),
        (200, &b"abcde"[..], true)
    );
    let r = c.roundtrip(GET, false, KEEP).await.unwrap();
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.headers["etag"], "\"e\"");
    let r = c.roundtrip(GET, false, KEEP).await.unwrap();
    assert_eq!((&r.body[..], r.keep_alive), (&b"to the end"[..], false));
}

#[tokio::test]
async fn a_closed_idle_connection_is_stale() {
    let addr = server(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]).await;
    let mut c = Conn::new(TcpStream::connect(addr).await.unwrap().into(), None);
    c.roundtrip(GET, false, KEEP).await.unwrap();
    // The server closed after its only reply: the next request finds nothing.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    match c.roundtrip(GET, false, KEEP).await {
        Err(H1Error::ClosedEarly) => {}
        Err(e) => panic!("expected ClosedEarly, got {e}"),
        Ok(_) => panic!("expected ClosedEarly, got a response"),
    }
}

#[tokio::test]
async fn truncated_body_is_an_error() {
    let addr = server(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]).await;
    let mut c = Conn::new(TcpStream::connect(addr).await.unwrap().into(), None);
    let err = c.roundtrip(GET, false, KEEP).await.err().expect("error");
    assert!(matches!(err, H1Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof));
}
