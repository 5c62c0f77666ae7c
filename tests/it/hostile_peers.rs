//! Hostile HTTP peers on loopback, as an attacker would write them: a page nested megabytes
//! deep, an HTTP/2 server that answers at once and never reads a request body, a WebSocket
//! server that pings without end and never reads (or sends one huge message), and a server
//! that sets ever more cookies of up to 4 KB. Used by tests/it/hostile_http.rs and by
//! `bench/hostile-peer.rs` (bench/hostile-peers.sh).

use bytes::Bytes;
use rustls::pki_types::PrivateKeyDer;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a peer saw, for the tests' checks.
#[derive(Default, Debug)]
pub struct Seen {
    pub requests: AtomicU64,
    /// Most cookies one request carried.
    pub most_cookies: AtomicUsize,
    /// Longest Cookie header one request carried.
    pub longest_cookie_header: AtomicUsize,
    /// Requests that carried a cookie the peer set over 4 KB.
    pub oversized_cookie_sent: AtomicU64,
}

/// The kinds of peer.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    /// Every request answered with `<div>` nested this many bytes deep.
    NestedHtml(usize),
    /// HTTP/2 over TLS (self-signed): answers at once, never reads the body.
    H2Unread,
    /// A page whose WebSocket (any path under /ws) pings without end and never reads.
    WsPingFlood,
    /// A page whose WebSocket sends one binary message this many bytes long.
    WsBigMessage(usize),
    /// Every response sets 14 new cookies with values this long (up to 4 KB) and one of 5 KB.
    CookieFlood(usize),
}

impl Peer {
    #[allow(dead_code)] // bench/hostile-peer.rs
    /// Parses `html-nest:BYTES`, `h2-unread`, `ws-ping`, `ws-big:BYTES` or `cookies[:BYTES]`.
    pub fn parse(s: &str) -> Option<Peer> {
        let (kind, n) = s.split_once(':').unwrap_or((s, ""));
        Some(match kind {
            "html-nest" => Peer::NestedHtml(n.parse().ok()?),
            "h2-unread" => Peer::H2Unread,
            "ws-ping" => Peer::WsPingFlood,
            "ws-big" => Peer::WsBigMessage(n.parse().ok()?),
            "cookies" => Peer::CookieFlood(n.parse().unwrap_or(4_000)),
            _ => return None,
        })
    }
}

/// Starts `peer` on `port` (0: any free port) on 127.0.0.1; serves until the runtime ends.
pub async fn start(peer: Peer, port: u16) -> (SocketAddr, Arc<Seen>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    if let Peer::WsPingFlood = peer {
        // A small window: the client's pongs back up at once, as behind a slow link.
        socket.set_recv_buffer_size(4 << 10).unwrap();
    }
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap();
    let listener = socket.listen(1024).unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let tls = matches!(peer, Peer::H2Unread).then(tls_acceptor);
    let seen2 = seen.clone();
    let page: Arc<Vec<u8>> = Arc::new(match peer {
        Peer::NestedHtml(n) => {
            let mut body = b"<!doctype html><html><body>".to_vec();
            body.extend(b"<div>".iter().cycle().take(n));
            body
        }
        _ => b"<!doctype html><title>t</title><p>page</p>".to_vec(),
    });
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (seen, page, tls) = (seen2.clone(), page.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            h2_unread(stream, &seen).await;
                        }
                    }
                    None => http1(tcp, peer, &page, &seen).await,
                }
            });
        }
    });
    (addr, seen)
}

/// A self-signed certificate for localhost and 127.0.0.1, ALPN h2 only.
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let key =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![key.cert.der().clone()],
        PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
    )
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Answers every stream at once and keeps its body unread (so its window never reopens).
async fn h2_unread<T>(io: T, seen: &Seen)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Ok(mut conn) = h2::server::handshake(io).await else {
        return;
    };
    // Bodies held unread until the connection ends (at most one window each).
    let mut unread = Vec::new();
    while let Some(Ok((request, mut respond))) = conn.accept().await {
        seen.requests.fetch_add(1, Ordering::Relaxed);
        let head = http::Response::builder().status(200).body(()).unwrap();
        if let Ok(mut stream) = respond.send_response(head, false) {
            let _ = stream.send_data(Bytes::from_static(b"ok"), true);
        }
        unread.push(request);
    }
}

/// HTTP/1.1, keep-alive: documents, cookies and WebSocket upgrades.
async fn http1(mut tcp: TcpStream, peer: Peer, page: &[u8], seen: &Seen) {
    let mut buf = Vec::new();
    loop {
        let Some(head) = read_head(&mut tcp, &mut buf).await else {
            return;
        };
        seen.requests.fetch_add(1, Ordering::Relaxed);
        let lower = head.to_ascii_lowercase();
        if lower.contains("upgrade: websocket") {
            let key = header(&head, "sec-websocket-key").unwrap_or_default();
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
                 sec-websocket-accept: {accept}\r\n\r\n"
            );
            if tcp.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
            return web_socket(tcp, peer).await;
        }
        let mut extra = String::new();
        if let Peer::CookieFlood(len) = peer {
            note_cookies(&head, seen);
            let n = seen.requests.load(Ordering::Relaxed);
            let value = "v".repeat(len.min(4_000));
            for i in 0..14 {
                extra.push_str(&format!("set-cookie: c{n}x{i}={value}; Path=/\r\n"));
            }
            extra.push_str(&format!(
                "set-cookie: huge{n}={}; Path=/\r\n",
                "h".repeat(5_000)
            ));
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n{extra}\r\n",
            page.len()
        );
        if tcp.write_all(reply.as_bytes()).await.is_err() || tcp.write_all(page).await.is_err() {
            return;
        }
    }
}

fn note_cookies(head: &str, seen: &Seen) {
    let cookies = header(head, "cookie").unwrap_or_default();
    let count = cookies.split("; ").filter(|c| !c.is_empty()).count();
    seen.most_cookies.fetch_max(count, Ordering::Relaxed);
    seen.longest_cookie_header
        .fetch_max(cookies.len(), Ordering::Relaxed);
    if cookies.contains("huge") {
        seen.oversized_cookie_sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// After the upgrade: pings (125-byte payloads, the most a control frame holds) as fast as the
/// socket takes them, never reading; or one huge binary message (in fragments), then silence.
async fn web_socket(mut tcp: TcpStream, peer: Peer) {
    match peer {
        Peer::WsBigMessage(len) => {
            // Fragments of 8 MiB: each under the frame limits clients use by default.
            let zeros = vec![0u8; 64 << 10];
            let (mut left, mut first) = (len, true);
            while left > 0 {
                let n = left.min(8 << 20);
                let fin = if n == left { 0x80 } else { 0 };
                let opcode = if first { 0x02 } else { 0x00 };
                let mut head = vec![fin | opcode, 127];
                head.extend_from_slice(&(n as u64).to_be_bytes());
                if tcp.write_all(&head).await.is_err() {
                    return;
                }
                let mut frame_left = n;
                while frame_left > 0 {
                    let k = frame_left.min(zeros.len());
                    if tcp.write_all(&zeros[..k]).await.is_err() {
                        return;
                    }
                    frame_left -= k;
                }
                left -= n;
                first = false;
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        _ => {
            let mut frames = Vec::new();
            for _ in 0..64 {
                frames.extend_from_slice(&[0x89, 125]);
                frames.extend(std::iter::repeat_n(b'p', 125));
            }
            while tcp.write_all(&frames).await.is_ok() {}
        }
    }
}

/// One request head (its body, if any, is skipped by the peers' clients never sending one).
async fn read_head(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    let mut scanned = 0;
    loop {
        if let Some(end) = buf[scanned..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = scanned + end;
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return Some(head);
        }
        scanned = buf.len().saturating_sub(3);
        if buf.len() > 64 << 20 {
            return None;
        }
        let mut chunk = [0u8; 16 << 10];
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}
