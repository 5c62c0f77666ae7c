//! Targets against a shaped link (`--network`, hostile peers III): one floods 10 MB bodies
//! as fast as loopback goes (far past the link's rate), one trickles a byte at a time. The
//! shaper paces reads (the rest waits in the kernel's socket buffer), so throng's memory is
//! what an unshaped run of the same users takes, and a run ends on its plan either way.

use super::{fds_and_rss, throng};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Copy)]
enum Target {
    /// A 10 MB body per request, written as fast as the socket takes it.
    Flood,
    /// Headers, then one body byte every 50 ms.
    Trickle,
}

async fn target(kind: Target) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let mut got = Vec::new();
                loop {
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    got.clear();
                    let ok = match kind {
                        Target::Flood => {
                            let n = 10_000_000;
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {n}\r\n\r\n"
                            );
                            let body = vec![b'z'; n];
                            tcp.write_all(head.as_bytes()).await.is_ok()
                                && tcp.write_all(&body).await.is_ok()
                        }
                        Target::Trickle => {
                            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100000\r\n\r\n";
                            let mut ok = tcp.write_all(head.as_bytes()).await.is_ok();
                            while ok {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                ok = tcp.write_all(b"t").await.is_ok();
                            }
                            false
                        }
                    };
                    if !ok {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/")
}

/// `throng run URL -u 4 -d 3s --drain 2s [--network N]`: exit code, wall time, peak RSS (MB).
async fn run(url: &str, network: Option<&str>) -> (i32, Duration, f64, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut args = vec![
        "run",
        url,
        "-u",
        "4",
        "-d",
        "3s",
        "--drain",
        "2s",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ];
    if let Some(n) = network {
        args.extend(["--network", n]);
    }
    let began = Instant::now();
    let child = throng(&args).spawn().unwrap();
    let pid = child.id().unwrap();
    let sampler = tokio::spawn(async move {
        let mut peak = 0f64;
        loop {
            let (fds, rss) = fds_and_rss(pid);
            if fds == 0 {
                return peak;
            }
            peak = peak.max(rss);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let (code, _, stderr) = super::ended(child, Duration::from_secs(120)).await;
    (code, began.elapsed(), sampler.await.unwrap(), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shaped_link_buffers_nothing_a_flood_or_a_trickle_sends() {
    for kind in [Target::Flood, Target::Trickle] {
        let url = target(kind).await;
        let (_, plain_took, plain_peak, _) = run(&url, None).await;
        let (code, took, peak, stderr) = run(&url, Some("down=400kbps,up=400kbps,rtt=50ms")).await;
        let what = match kind {
            Target::Flood => "flood",
            Target::Trickle => "trickle",
        };
        eprintln!(
            "{what}: shaped {took:?}, {peak:.0} MB; unshaped {plain_took:?}, {plain_peak:.0} MB"
        );
        assert!(code == 0 || code == 1, "{what}: {stderr}");
        assert!(
            peak < plain_peak + 64.0,
            "{what}: shaped {peak} MB against {plain_peak} MB unshaped"
        );
        assert!(
            took < plain_took + Duration::from_secs(10),
            "{what}: shaped {took:?} against {plain_took:?}"
        );
    }
}
