//! Hostile OTLP collectors (hostile peers III): one that refuses every export with a body
//! echoing the request's headers (as debugging endpoints do), one that answers gigabytes,
//! one that never answers. The run ends as without `--otlp` (its exports bounded in time and
//! memory), and the `--otlp-header` value never reaches its output, results or report.

use super::{ended, throng};
use crate::support::demo;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "otlp-sekrit-4b9e1d";

#[derive(Clone, Copy)]
enum Collector {
    /// 400 with every request header in the body.
    Echo,
    /// 200 with a body that never ends.
    Endless,
    /// Reads the request, never answers.
    Silent,
}

async fn collector(kind: Collector) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = vec![0u8; 65536];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&got).into_owned();
                let head = head
                    .split("\r\n\r\n")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                match kind {
                    Collector::Echo => {
                        let body = format!("bad request; you sent:\n{head}\n");
                        let answer = format!(
                            "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = tcp.write_all(answer.as_bytes()).await;
                    }
                    Collector::Endless => {
                        let _ = tcp
                            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                            .await;
                        let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                        while tcp.write_all(chunk.as_bytes()).await.is_ok() {}
                    }
                    Collector::Silent => {
                        // Keep reading (the body), answer nothing.
                        while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// `throng run` of the demo for 2 s, with `--otlp` to `otlp` if any: exit code, stdout +
/// stderr, results.json and report.html, and how long it took.
async fn run(target: &str, otlp: Option<&str>) -> (i32, String, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let header = format!("Authorization=Bearer {SECRET}");
    let mut args = vec![
        "run",
        target,
        "-u",
        "2",
        "-d",
        "2s",
        "--out",
        out.to_str().unwrap(),
    ];
    if let Some(url) = otlp {
        args.extend([
            "--otlp",
            url,
            "--otlp-interval",
            "300ms",
            "--otlp-header",
            &header,
        ]);
    }
    let began = Instant::now();
    let (code, stdout, stderr) =
        ended(throng(&args).spawn().unwrap(), Duration::from_secs(120)).await;
    let took = began.elapsed();
    let mut files = String::new();
    for name in ["results.json", "report.html"] {
        files.push_str(&std::fs::read_to_string(out.join(name)).unwrap_or_default());
    }
    (code, format!("{stdout}\n{stderr}"), files, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otlp_collector_cannot_stall_bloat_or_leak_the_header_secret() {
    let site = demo().await;
    let target = format!("{}/", site.base_url());
    let (code, _, _, reference) = run(&target, None).await;
    assert_eq!(code, 0);
    for kind in [Collector::Echo, Collector::Endless, Collector::Silent] {
        let url = collector(kind).await;
        let (code, output, files, took) = run(&target, Some(&url)).await;
        let what = match kind {
            Collector::Echo => "echo",
            Collector::Endless => "endless",
            Collector::Silent => "silent",
        };
        eprintln!("{what}: {took:?} (reference {reference:?})\n{output}");
        assert_eq!(code, 0, "{what}: {output}");
        assert!(
            !output.contains(SECRET) && !files.contains(SECRET),
            "{what}: the header's value was shown: {output}"
        );
        assert!(output.contains("otlp: "), "{what}: {output}");
        // The final export's budget (5 s) bounds what a collector adds, whatever its pace.
        assert!(
            took < reference + Duration::from_secs(12),
            "{what}: {took:?} against {reference:?} without --otlp"
        );
    }
    site.shutdown().await;
}
