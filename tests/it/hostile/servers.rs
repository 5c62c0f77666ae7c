//! Every server throng runs holds against idle, half-sent requests (item 10): the
//! coordinator, `--metrics` and the dashboard keep their descriptors and memory bounded, close
//! what sits idle, and still answer a real client during the attack.

use super::{ended, fds_and_rss, raise_fd_limit, throng, worker, Coordinator, TOKEN};
use crate::prometheus::free_port;
use crate::support::{demo, wait_for};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Connections per server, each with a request's headers half sent and never finished.
const HELD: usize = 400;

async fn half_sent(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            break;
        };
        let _ = s
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await;
        held.push(s);
    }
    held
}

/// How many of `held` the server has closed.
fn closed(held: &[TcpStream]) -> usize {
    let mut buf = [0u8; 64];
    held.iter()
        .filter(|s| match s.try_read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_cannot_hold_the_coordinator_metrics_or_dashboard() {
    raise_fd_limit();
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let target = format!("{}/", site.base_url());
    let (metrics, ui) = (free_port(), free_port());
    let local = throng(&[
        "run",
        &target,
        "-d",
        "40s",
        "-q",
        "--think",
        "200ms",
        "--metrics",
        &format!("127.0.0.1:{metrics}"),
        "--ui-bind",
        &format!("127.0.0.1:{ui}"),
    ])
    .spawn()
    .unwrap();
    let local_pid = local.id().unwrap();
    let coord = Coordinator::start(
        "127.0.0.1:0",
        true,
        &[&target, "-d", "3s", "--workers", "1", "-q"],
    )
    .await;
    let http = reqwest::Client::new();
    let dashboard = format!("http://127.0.0.1:{ui}/");
    wait_for("the dashboard", Duration::from_secs(30), || async {
        http.get(&dashboard).send().await.ok().map(|_| ())
    })
    .await;
    let coord_addr: SocketAddr = coord.addr.trim_start_matches("http://").parse().unwrap();
    let mut attack = Vec::new();
    for addr in [
        coord_addr,
        format!("127.0.0.1:{metrics}").parse().unwrap(),
        format!("127.0.0.1:{ui}").parse().unwrap(),
    ] {
        attack.push(half_sent(addr, HELD).await);
    }
    // Under attack: bounded descriptors, and real clients are still served.
    let (coord_fds, coord_rss) = fds_and_rss(coord.pid);
    let (local_fds, local_rss) = fds_and_rss(local_pid);
    assert!(
        coord_fds < HELD / 2,
        "the coordinator holds {coord_fds} descriptors"
    );
    assert!(
        local_fds < HELD,
        "the run holds {local_fds} descriptors for 2 servers"
    );
    assert!(
        coord_rss < 200.0 && local_rss < 300.0,
        "{coord_rss} MB, {local_rss} MB"
    );
    let scrape = http
        .get(format!("http://127.0.0.1:{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    assert_eq!(http.get(&dashboard).send().await.unwrap().status(), 200);
    let (wcode, _, werr) = ended(
        worker(&coord.addr, "real", TOKEN, tmp.path()),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(wcode, 0, "a real worker joined and ran: {werr}");
    // What stays idle is closed: every held connection, in about the idle timeout.
    wait_for(
        "idle connections closed",
        Duration::from_secs(30),
        || async {
            let left: usize = attack.iter().map(|h| h.len() - closed(h)).sum();
            (left == 0).then_some(())
        },
    )
    .await;
    let (code, stderr) = coord.end(Duration::from_secs(30)).await;
    assert_eq!(code, 0, "{stderr}");
    drop(local);
    site.shutdown().await;
}
