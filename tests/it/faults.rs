//! Hostile targets on loopback (tokio listeners answering raw bytes): stalls, resets, garbage,
//! broken framing, bombs. A short HTTP run against each must end soon after its plan (never
//! waiting out the 30 s request timeout), never panic, and count failures by category.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use throng::cli::config;
use throng::metrics::{Mode, RunSummary, Sink};
use throng::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
use throng::run::{self, FlowChoice, RunSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// How a fault server answers every request.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Reads the request, never answers.
    Stall,
    /// Sends a head announcing 100 bytes, then nothing.
    HeadThenStall,
    /// `Content-Length: 2^64-1`.
    HugeContentLength,
    /// A chunk size of `ffffffffffffffff`.
    BadChunking,
    /// Bytes that are not HTTP.
    Garbage,
    /// A 1 MB response head.
    HugeHeaders,
    /// 64 MB of gzip-compressed zeros (about 64 KB on the wire).
    GzipBomb,
    /// A 40 MB body.
    BigBody,
    /// Accepts and resets the connection.
    Reset,
    /// 302 to itself with a new query each time.
    RedirectLoop,
    /// 302 to a path never seen before (letters only, so not grouped as an id).
    UniquePaths,
    /// A 40 MB image (any path): an asset nothing reads, larger than `--max-body`.
    BigImage,
}

/// Paths handed out by [`Fault::UniquePaths`], across connections.
static UNIQUE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn letters(mut i: u64) -> String {
    let mut s = String::new();
    loop {
        s.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            return s;
        }
    }
}

/// A fault server on a free loopback port, serving until the test ends.
pub async fn fault_server(fault: Fault) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Compressing 64 MiB takes seconds in a debug build: off the runtime, so the runs the
    // test polls beside this one keep their clocks.
    let bomb = Arc::new(match fault {
        Fault::GzipBomb => tokio::task::spawn_blocking(|| gzip_zeros(64 << 20))
            .await
            .unwrap(),
        _ => Vec::new(),
    });
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let bomb = bomb.clone();
            tokio::spawn(async move { serve(s, fault, &bomb).await });
        }
    });
    addr
}

async fn serve(mut s: TcpStream, fault: Fault, bomb: &[u8]) {
    let mut seen = 0u64;
    loop {
        if !read_head(&mut s).await {
            return;
        }
        seen += 1;
        let result = match fault {
            Fault::Stall => {
                std::future::pending::<()>().await;
                Ok(())
            }
            Fault::HeadThenStall => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
                    .await;
                std::future::pending::<()>().await;
                Ok(())
            }
            Fault::HugeContentLength => {
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc")
                    .await
            }
            Fault::BadChunking => {
                s.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc",
                )
                .await
            }
            Fault::Garbage => {
                s.write_all(b"\x00\xff\xfeNOT HTTP AT ALL\r\n\r\n\x01\x02")
                    .await
            }
            Fault::HugeHeaders => {
                let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
                for i in 0..16_000 {
                    let _ = write!(head, "X-Filler-{i}: {}\r\n", "y".repeat(48));
                }
                head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
                s.write_all(&head).await
            }
            Fault::GzipBomb => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    bomb.len()
                );
                match s.write_all(head.as_bytes()).await {
                    Ok(()) => s.write_all(bomb).await,
                    Err(e) => Err(e),
                }
            }
            Fault::BigBody | Fault::BigImage => {
                let len = 40usize << 20;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {len}\r\n\r\n"
                );
                let mut r = s.write_all(head.as_bytes()).await;
                let chunk = vec![b'x'; 64 << 10];
                for _ in 0..len / chunk.len() {
                    if r.is_err() {
                        break;
                    }
                    r = s.write_all(&chunk).await;
                }
                r
            }
            Fault::Reset => {
                #[allow(deprecated)] // zero linger: an immediate RST, no blocking
                let _ = s.set_linger(Some(Duration::ZERO));
                return;
            }
            Fault::UniquePaths => {
                let n = UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let reply = format!(
                    "HTTP/1.1 302 Found\r\nLocation: /u/{}\r\nContent-Length: 0\r\n\r\n",
                    letters(n)
                );
                s.write_all(reply.as_bytes()).await
            }
            Fault::RedirectLoop => {
                let reply = format!(
                    "HTTP/1.1 302 Found\r\nLocation: /loop?n={seen}\r\nContent-Length: 0\r\n\r\n"
                );
                s.write_all(reply.as_bytes()).await
            }
        };
        if result.is_err() {
            return;
        }
        if !matches!(fault, Fault::RedirectLoop | Fault::UniquePaths) {
            // Framing is broken (or the body unread): close, as such a server would.
            return;
        }
    }
}

/// Reads one request head; false when the peer went away first.
async fn read_head(s: &mut TcpStream) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// `len` zero bytes, gzip-compressed.
pub fn gzip_zeros(len: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..len / zeros.len() {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap()
}

/// A one-URL HTTP run: `users` users for `secs` seconds, no grace, the default 30 s timeout.
pub fn url_spec(url: &str, users: u32, secs: u64) -> RunSpec {
    RunSpec {
        keep_sessions: None,
        fake: Default::default(),
        logins: Vec::new(),
        flows: vec![FlowChoice {
            mode: None,
            flow: Arc::new(config::url_flow(url).unwrap()),
            weight: 1,
        }],
        plan: LoadPlan {
            browsers: None,
            arrival: Arrival::Users(
                Stages::ramp_and_hold(users, Duration::ZERO, Duration::from_secs(secs)).unwrap(),
            ),
            iterations: None,
            think: ThinkPolicy::Recorded {
                scale: 0.0,
                jitter: 0.0,
            },
            dwell: Some(Duration::ZERO),
            grace: Duration::ZERO,
            drain: Duration::ZERO,
        },
        trace: None,
        mode: Mode::Http,
        http: Default::default(),
        browser: Default::default(),
    }
}

/// Request failures by category, over every request entry, with `interrupted` (counted
/// apart from failures) as one more category.
pub fn failures(summary: &RunSummary) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in summary.entries.iter().filter(|e| e.kind.is_request()) {
        for (k, v) in &e.failures_by_outcome {
            *out.entry(k.clone()).or_default() += v;
        }
        if e.interrupted > 0 {
            *out.entry("interrupted".to_string()).or_default() += e.interrupted;
        }
    }
    out
}

async fn run_against(fault: Fault, users: u32, secs: u64) -> (Duration, RunSummary) {
    let addr = fault_server(fault).await;
    let spec = url_spec(&format!("http://{addr}/"), users, secs);
    let started = Instant::now();
    let summary = run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .expect("run completes");
    (started.elapsed(), summary)
}

/// Each fault with the category its requests must fail with.
const EXPECTED: [(Fault, &str); 9] = [
    (Fault::HugeContentLength, "body-too-large"),
    (Fault::BadChunking, "body-too-large"),
    (Fault::GzipBomb, "body-too-large"),
    (Fault::BigBody, "body-too-large"),
    (Fault::Garbage, "malformed"),
    (Fault::HugeHeaders, "malformed"),
    (Fault::Reset, "reset"),
    (Fault::Stall, "interrupted"),
    (Fault::HeadThenStall, "interrupted"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_target_ends_on_time_without_panics_and_counts_its_category() {
    // All at once: each is a 2 s plan; the request timeout is 30 s, so a run that waited
    // for it (or hung) would blow the bound by far.
    let runs = EXPECTED.map(|(fault, want)| async move {
        let (took, summary) = run_against(fault, 3, 2).await;
        (fault, want, took, summary)
    });
    for (fault, want, took, summary) in futures::future::join_all(runs).await {
        let fails = failures(&summary);
        assert!(
            took < Duration::from_secs(12),
            "{fault:?}: a 2 s run took {took:?}"
        );
        assert_eq!(
            summary.counters.get("users.panicked"),
            None,
            "{fault:?}: {:?}",
            summary.counters
        );
        assert!(
            fails.get(want).copied().unwrap_or(0) > 0,
            "{fault:?}: expected `{want}` failures, got {fails:?}"
        );
        // A request under way when the 2 s plan ends is cut (interrupted), whatever the fault.
        let total: u64 = fails
            .iter()
            .filter(|(k, _)| *k == want || *k != "interrupted")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(fails[want], total, "{fault:?}: other categories: {fails:?}");
    }
}

#[tokio::test]
async fn requests_open_at_the_deadline_are_interrupted_and_counted_once() {
    let (took, summary) = run_against(Fault::Stall, 4, 1).await;
    assert!(took < Duration::from_secs(6), "a 1 s run took {took:?}");
    // Each user had exactly one request open: each is one `interrupted` sample, no failure.
    let fails = failures(&summary);
    assert_eq!(fails, BTreeMap::from([("interrupted".to_string(), 4)]));
    assert_eq!(summary.total(None, None).failures, 0);
    let requests: u64 = summary
        .entries
        .iter()
        .filter(|e| e.kind.is_request())
        .map(|e| e.count)
        .sum();
    assert_eq!(requests, 4);
}

#[tokio::test]
async fn ctrl_c_cancels_a_stalled_run_within_two_seconds() {
    let addr = fault_server(Fault::Stall).await;
    let spec = url_spec(&format!("http://{addr}/"), 3, 600);
    let stop = CancellationToken::new();
    let run = tokio::spawn(run::execute(spec, Sink::new(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pressed = Instant::now();
    stop.cancel();
    let summary = run.await.unwrap().unwrap();
    let took = pressed.elapsed();
    assert!(took < Duration::from_secs(2), "Ctrl-C took {took:?}");
    assert_eq!(failures(&summary).get("interrupted"), Some(&3));
    assert_eq!(summary.counters.get("run.interrupted"), Some(&1));
}

#[tokio::test]
async fn a_redirect_loop_is_bounded_and_every_hop_is_counted() {
    let (took, summary) = run_against(Fault::RedirectLoop, 2, 1).await;
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert_eq!(summary.counters.get("users.panicked"), None);
    let hops: u64 = summary
        .entries
        .iter()
        .filter(|e| e.kind.is_request())
        .map(|e| e.count)
        .sum();
    assert!(hops >= 11, "{hops} hops");
}

#[tokio::test]
async fn redirects_to_ever_new_paths_keep_a_bounded_number_of_names() {
    let (_, summary) = run_against(Fault::UniquePaths, 4, 3).await;
    let names = summary
        .entries
        .iter()
        .filter(|e| e.kind.is_request())
        .count();
    let hops: u64 = summary
        .entries
        .iter()
        .filter(|e| e.kind.is_request())
        .map(|e| e.count)
        .sum();
    let cap = throng::metrics::NAMES_PER_GROUP as u64;
    assert!(hops > cap + 20, "only {hops} hops: the cap was not reached");
    assert_eq!(names, throng::metrics::NAMES_PER_GROUP + 1);
    assert!(summary
        .entries
        .iter()
        .any(|e| e.name == throng::metrics::OTHER_NAME));
    assert!(summary.counters["metrics.names_folded_into_other"] > 0);
}

#[test]
fn absurd_user_counts_are_refused_before_any_load_with_exit_2() {
    for args in [
        &["-u", "10000000", "-d", "5s"][..],
        &["--stages", "99999999999999999999@1s"],
    ] {
        let started = Instant::now();
        let out = crate::support::throng()
            .args(["run", "http://127.0.0.1:9/", "-q"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(args[0]) && stderr.contains("available"),
            "{stderr}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn a_large_asset_nothing_reads_is_counted_not_kept_nor_failed() {
    let addr = fault_server(Fault::BigImage).await;
    let base = format!("http://{addr}");
    // The document is the image server too: only the static request matters here.
    let flow = throng::flow::parse(
        &serde_json::json!({"title": "t", "steps": [{"type": "navigate", "url": format!("{base}/"),
            "network": {"requests": [
                {"kind": "static", "method": "GET", "url": format!("{base}/big.png")}]}}]})
        .to_string(),
        "t.json",
    )
    .unwrap();
    let flow = config::prepare(
        flow,
        "t",
        "t.json",
        std::path::Path::new("."),
        None,
        &Default::default(),
    )
    .unwrap();
    let mut spec = url_spec(&format!("{base}/"), 1, 30);
    spec.flows[0].flow = Arc::new(flow);
    spec.plan.iterations = Some(2);
    let summary = run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .unwrap();
    let image = summary
        .entries
        .iter()
        .find(|e| e.name.ends_with("/big.png"))
        .expect("the image was fetched");
    assert_eq!((image.count, image.failures), (2, 0), "{image:?}");
    assert_eq!(image.bytes, 2 * (40 << 20));
}
