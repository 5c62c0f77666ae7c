//! A hostile peer on loopback for bench/hostile-peers.sh (the same peers the tests use):
//! `hostile-peer KIND [PORT]`, KIND one of `html-nest:BYTES`, `h2-unread`, `ws-ping`,
//! `ws-big:BYTES`, `cookies`. Prints its address, then once a second what it saw.

#[allow(dead_code)]
#[path = "../tests/it/hostile_peers.rs"]
mod hostile_peers;

use std::sync::atomic::Ordering;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let Some(peer) = hostile_peers::Peer::parse(&kind) else {
        eprintln!("hostile-peer: unknown kind `{kind}` (html-nest:BYTES, h2-unread, ws-ping, ws-big:BYTES, cookies)");
        std::process::exit(2);
    };
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let (addr, seen) = hostile_peers::start(peer, port).await;
    println!("{addr}");
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        println!(
            "requests={} most_cookies={} longest_cookie_header={} oversized_cookie_sent={}",
            seen.requests.load(Ordering::Relaxed),
            seen.most_cookies.load(Ordering::Relaxed),
            seen.longest_cookie_header.load(Ordering::Relaxed),
            seen.oversized_cookie_sent.load(Ordering::Relaxed),
        );
    }
}
