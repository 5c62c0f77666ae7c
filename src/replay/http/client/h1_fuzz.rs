//! Property tests of the HTTP/1.1 response reader: whatever bytes a server sends (mutated
//! real responses, hostile sizes), reading ends with a response or an error, never a panic,
//! never a body over the limit, never more memory reserved than the limit allows.

use super::h1::{BodyLimit, Conn, H1Error, Keep};
use proptest::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
const MAX: usize = 4096;

/// Well-formed responses to mutate.
const SEEDS: [&[u8]; 6] = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nto the end",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"e\"\r\n\r\n",
    b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\nSet-Cookie: a=b\r\n\r\n",
];

/// Serves `bytes` to one connection (after its request), then closes; returns the
/// reader's result.
fn read_response(bytes: Vec<u8>) -> Result<(u16, usize), H1Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
            // Keep the socket until the reader is done with it (a reset would hide bugs).
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        });
        let mut conn = Conn::new(TcpStream::connect(addr).await.unwrap().into(), None);
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            conn.roundtrip(
                GET,
                false,
                BodyLimit {
                    max: MAX,
                    keep: Keep::Always,
                },
            ),
        )
        .await
        .expect("the reader ends once the server closed");
        server.abort();
        read.map(|r| (r.status, r.body.len()))
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let hostile = prop_oneof![
        Just(b"ffffffffffffffff".to_vec()),
        Just(b"18446744073709551615".to_vec()),
        Just(b"99999999999999999999999".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"Content-Length: 7\r\n".to_vec()),
        Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (any::<prop::sample::Index>(), hostile).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<prop::sample::Index>(), 1usize..20).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn mutate(seed: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for m in muts {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
            Mutation::Flip(i, x) => {
                let at = i.index(bytes.len());
                bytes[at] ^= x;
            }
            Mutation::Insert(i, b) => {
                let at = i.index(bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i.index(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutated_responses_read_or_fail_without_panicking(
        seed in 0..SEEDS.len(),
        muts in prop::collection::vec(mutation(), 1..5),
    ) {
        if let Ok((_, body)) = read_response(mutate(SEEDS[seed], &muts)) {
            prop_assert!(body <= MAX);
        }
    }

    #[test]
    fn any_chunk_size_or_length_is_read_or_refused(size in "[0-9a-fA-F]{1,24}", digits in "[0-9]{1,30}") {
        let chunked = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc\r\n0\r\n\r\n");
        if let Ok((_, body)) = read_response(chunked.into_bytes()) {
            prop_assert!(body <= MAX);
        }
        let length = format!("HTTP/1.1 200 OK\r\nContent-Length: {digits}\r\n\r\nabc");
        if let Ok((_, body)) = read_response(length.into_bytes()) {
            prop_assert_eq!(body, digits.parse::<usize>().unwrap());
        }
    }
}

#[test]
fn hostile_sizes_are_refused_before_any_byte_is_awaited() {
    for reply in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1001\r\n",
    ] {
        match read_response(reply.to_vec()) {
            Err(H1Error::TooLarge(MAX)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(reply)),
        }
    }
    for reply in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"\x00\xffnot http\r\n\r\n",
    ] {
        match read_response(reply.to_vec()) {
            Err(H1Error::Malformed(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(reply)),
        }
    }
}
