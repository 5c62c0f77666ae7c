//! Hostile remote-write receivers (item 4): one answering an endless error body, one that
//! never answers. The run keeps its memory and its deadline, and writes its report.

use super::{ended, results, throng};
use crate::support::demo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The final push's budget (src/live/prometheus/mod.rs, FINAL_PUSH_BUDGET).
const FINAL_PUSH_BUDGET: Duration = Duration::from_secs(5);

/// A receiver on a free port: `endless` answers 500 with an 8 GiB body (and writes it until
/// the client goes); otherwise it reads the request and never answers. Returns its address and
/// the most bytes it wrote on one connection.
async fn receiver(endless: bool) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let most = Arc::new(AtomicU64::new(0));
    let record = most.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                let _ = tcp.read(&mut buf).await;
                if !endless {
                    // Hold the connection, say nothing.
                    let _ =
                        tokio::time::timeout(Duration::from_secs(300), tcp.read(&mut buf)).await;
                    return;
                }
                let head =
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 8589934592\r\n\r\n";
                if tcp.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 << 10];
                let mut sent = 0u64;
                // Bounded: 8 GiB at most, ended by the client's close.
                while sent < 8 << 30 {
                    if tcp.write_all(&chunk).await.is_err() {
                        break;
                    }
                    sent += chunk.len() as u64;
                    record.fetch_max(sent, Ordering::Relaxed);
                }
            });
        }
    });
    (format!("http://{addr}/api/v1/write"), most)
}

fn run_args(target: &str, out: &str) -> Vec<String> {
    ["run", target, "-d", "2s", "-q", "--out", out]
        .map(String::from)
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_error_body_is_read_a_few_kilobytes_deep() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let (url, most) = receiver(true).await;
    let mut args = run_args(
        &format!("{}/", site.base_url()),
        tmp.path().to_str().unwrap(),
    );
    args.extend(["--remote-write", &url, "--remote-write-interval", "300ms"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = ended(throng(&args).spawn().unwrap(), Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("the receiver answered 500: xxx"),
        "{stderr}"
    );
    assert!(
        results(tmp.path())["summary"]["entries"]
            .as_array()
            .unwrap()
            .len()
            > 1
    );
    // What the receiver could write before throng closed: socket buffers, not the body.
    let wrote = most.load(Ordering::Relaxed);
    assert!(
        wrote < 64 << 20,
        "the receiver wrote {wrote} bytes on one connection"
    );
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_the_end_of_the_run_at_most_the_final_budget() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let target = format!("{}/", site.base_url());
    let reference_dir = tmp.path().join("reference");
    let args = run_args(&target, reference_dir.to_str().unwrap());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let t0 = Instant::now();
    let (code, _, stderr) = ended(throng(&args).spawn().unwrap(), Duration::from_secs(60)).await;
    let reference = t0.elapsed();
    assert_eq!(code, 0, "{stderr}");

    let (url, _) = receiver(false).await;
    let hung_dir = tmp.path().join("hung");
    let mut args = run_args(&target, hung_dir.to_str().unwrap());
    args.extend(["--remote-write", &url, "--remote-write-interval", "300ms"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let t0 = Instant::now();
    let (code, _, stderr) = ended(throng(&args).spawn().unwrap(), Duration::from_secs(120)).await;
    let took = t0.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no answer within"), "{stderr}");
    assert!(hung_dir.join("results.json").exists());
    // Before: a periodic push's tries (4 x 10 s) then the final push's: 84 s for a 5 s run.
    assert!(
        took < reference + FINAL_PUSH_BUDGET + Duration::from_secs(4),
        "took {took:?}, the same run without remote write {reference:?}"
    );
    site.shutdown().await;
}
