//! The HTTP replay against hostile peers (tests/it/hostile_peers.rs), run as an attacker would
//! meet it: the real `throng` binary, real sockets, its resident memory watched and the process
//! killed past a limit (so a failure aborts instead of filling the machine). Each run must end
//! at its deadline with its report, with memory bounded and counts honest.

use crate::hostile_peers::{self, Peer};
use crate::support::bin::throng;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Resident memory a run may reach (a few hundred MB); the process is killed past it.
const RSS_LIMIT_MB: u64 = 400;
/// A run still going this long after its plan's end is hung: killed.
const HUNG_AFTER: Duration = Duration::from_secs(60);

/// How a watched run ended.
#[derive(Debug)]
struct Finished {
    code: Option<i32>,
    stderr: String,
    peak_rss_mb: u64,
    took: Duration,
    /// From the SIGTERM to the exit, when one was sent.
    after_term: Option<Duration>,
    over_limit: bool,
    hung: bool,
}

/// Runs `throng ARGS` (stdout dropped, stderr kept), sampling its RSS every 20 ms; sends
/// SIGTERM `term_after` its start when given.
fn watched(args: &[String], term_after: Option<Duration>) -> Finished {
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = throng()
        .args(args)
        .stdout(Stdio::null())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let started = Instant::now();
    let (mut peak, mut termed, mut over_limit, mut hung) = (0, None, false, false);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        peak = peak.max(rss_mb(pid));
        if peak > RSS_LIMIT_MB && !over_limit {
            over_limit = true;
            let _ = child.kill();
        }
        if started.elapsed() > HUNG_AFTER && !hung {
            hung = true;
            let _ = child.kill();
        }
        if term_after.is_some_and(|t| started.elapsed() >= t) && termed.is_none() {
            // SAFETY: kill(2) on the child we spawned.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            termed = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Finished {
        code: status.code(),
        stderr: std::fs::read_to_string(err.path()).unwrap(),
        peak_rss_mb: peak,
        took: started.elapsed(),
        after_term: termed.map(|t| t.elapsed()),
        over_limit,
        hung,
    }
}

fn rss_mb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// `throng run TARGET -u USERS -d SECS -q --out OUT EXTRA...`, watched.
async fn run(
    target: &Path,
    users: u32,
    secs: u64,
    out: &Path,
    extra: &[&str],
    term_after: Option<Duration>,
) -> Finished {
    let mut args: Vec<String> = ["run", &target.to_string_lossy(), "-u", &users.to_string()]
        .map(String::from)
        .to_vec();
    args.extend(["-d".into(), format!("{secs}s"), "-q".into(), "--out".into()]);
    args.push(out.to_string_lossy().into_owned());
    args.extend(extra.iter().map(|s| s.to_string()));
    let finished = tokio::task::spawn_blocking(move || watched(&args, term_after))
        .await
        .unwrap();
    assert!(
        !finished.over_limit,
        "over {RSS_LIMIT_MB} MB: killed ({finished:?})"
    );
    assert!(!finished.hung, "hung: killed after {HUNG_AFTER:?}");
    finished
}

fn results(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("results.json"))
        .unwrap_or_else(|e| panic!("no report in {}: {e}", out.display()));
    serde_json::from_str(&text).unwrap()
}

fn counter(results: &Value, name: &str) -> u64 {
    results["summary"]["counters"][name].as_u64().unwrap_or(0)
}

/// The request entries whose name ends with `suffix`: (count, failures, failures by outcome).
fn entry(results: &Value, suffix: &str) -> (u64, u64, Value) {
    let entries = results["summary"]["entries"].as_array().unwrap();
    let e = entries
        .iter()
        .find(|e| e["name"].as_str().unwrap().ends_with(suffix) && e["kind"] != "step")
        .unwrap_or_else(|| panic!("no entry for {suffix}: {entries:?}"));
    (
        e["count"].as_u64().unwrap(),
        e["failures"].as_u64().unwrap(),
        e["failures_by_outcome"].clone(),
    )
}

/// A one-step flow file: a navigation to `page` with `network` (the step's recorded traffic;
/// without it, the document alone, its assets found in its HTML).
fn flow(dir: &Path, page: &str, network: Option<Value>) -> PathBuf {
    let path = dir.join("hostile.json");
    let mut step = serde_json::json!({"type": "navigate", "url": page});
    if let Some(network) = network {
        step["network"] = network;
    }
    let flow = serde_json::json!({"title": "hostile", "steps": [step]});
    std::fs::write(&path, flow.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_html_ends_the_run_at_its_deadline_and_sigterm_within_seconds() {
    // 2 MB of `<div>`: parsed uncapped (to find the page's assets), hours of CPU on a user
    // thread.
    let (addr, seen) = hostile_peers::start(Peer::NestedHtml(2 << 20), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let url = flow(dir.path(), &format!("http://{addr}/"), None);
    let out = dir.path().join("out");
    let secs = 3;
    let done = run(&url, 2, secs, &out, &[], None).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.took < Duration::from_secs(secs + 5),
        "a {secs} s run took {:?}: {}",
        done.took,
        done.stderr
    );
    let r = results(&out);
    let (documents, failed, _) = entry(&r, &format!("{addr}/"));
    assert!(
        documents >= 2 && failed == 0,
        "{documents} documents, {failed} failed"
    );
    assert!(
        counter(&r, "html.too_deep") + counter(&r, "html.cut") >= 2,
        "{}",
        r["summary"]["counters"]
    );
    // SIGTERM while pages are being parsed: the run stops within the drain and wind-down
    // (1.7 s) and writes its report.
    let before = seen.requests.load(Ordering::Relaxed);
    let out = dir.path().join("term");
    let termed = run(&url, 2, 60, &out, &[], Some(Duration::from_secs(2))).await;
    assert!(seen.requests.load(Ordering::Relaxed) > before);
    let after = termed.after_term.unwrap();
    assert!(after < Duration::from_secs(3), "SIGTERM took {after:?}");
    assert!(
        termed.stderr.contains("SIGTERM: stopping"),
        "{}",
        termed.stderr
    );
    assert!(entry(&results(&out), &format!("{addr}/")).0 >= 1);
    eprintln!(
        "nested HTML: {secs} s run took {:?} ({} MB peak); SIGTERM honoured in {after:?} ({} MB)",
        done.took, done.peak_rss_mb, termed.peak_rss_mb
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_bodies_a_server_never_reads_stay_in_flight_then_time_out_never_ok() {
    let (addr, seen) = hostile_peers::start(Peer::H2Unread, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let base = format!("https://{addr}");
    let upload = serde_json::json!({"kind": "ajax", "method": "POST", "url": format!("{base}/upload"),
        "headers": {"content-type": "text/plain"}, "body": "x".repeat(300_000)});
    let path = flow(
        dir.path(),
        &format!("{base}/"),
        Some(serde_json::json!({"requests": [upload]})),
    );
    let out = dir.path().join("out");
    let secs = 4;
    let extra = ["-k", "--timeout", "1s", "--think", "0s"];
    let done = run(&path, 5, secs, &out, &extra, None).await;
    assert!(done.took < Duration::from_secs(secs + 5), "{done:?}");
    let r = results(&out);
    let (posts, failed, by) = entry(&r, "/upload");
    // The server saw each POST's head, answered at once, read none of its body: none may
    // count as ok; each is in flight until it times out.
    let heads = seen.requests.load(Ordering::Relaxed);
    assert!(
        posts >= 5 && heads >= posts,
        "{posts} POSTs, {heads} seen: {by}"
    );
    assert_eq!(failed, posts, "{by}");
    assert!(by["timeout"].as_u64().unwrap_or(0) >= 1, "{by}");
    eprintln!(
        "HTTP/2 unread bodies: {posts} POSTs, all failed ({by}); {} MB peak",
        done.peak_rss_mb
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_server_that_pings_and_never_reads_or_sends_a_huge_message_is_bounded() {
    // One user: its pongs fill the kernel's buffers (a few MB) within a second or two.
    let flood = ws_attack(Peer::WsPingFlood, 1, &["--timeout", "500ms"]);
    // 60 MiB in 8 MiB frames, past a 1 MB --max-body.
    let big = ws_attack(Peer::WsBigMessage(60 << 20), 3, &["--max-body", "1MB"]);
    tokio::join!(flood, big);
}

/// A page holding a WebSocket to `peer` open through a 5 s run: each user's socket must end
/// in error (a pong owed past the timeout, a message over --max-body), memory bounded.
async fn ws_attack(peer: Peer, users: u32, extra: &[&str]) {
    let (addr, _) = hostile_peers::start(peer, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let socket = serde_json::json!({"url": format!("ws://{addr}/ws"),
        "sent": [{"offsetMs": 0, "data": "hello"}]});
    let network = serde_json::json!({
        "requests": [{"kind": "document", "method": "GET", "url": format!("http://{addr}/")}],
        "webSockets": [socket],
    });
    let path = flow(dir.path(), &format!("http://{addr}/"), Some(network));
    let out = dir.path().join("out");
    let secs = 5;
    let mut args = vec!["--dwell", "30s"];
    args.extend_from_slice(extra);
    let done = run(&path, users, secs, &out, &args, None).await;
    assert!(done.took < Duration::from_secs(secs + 5), "{done:?}");
    let r = results(&out);
    assert!(
        counter(&r, "websocket.closed.error") >= u64::from(users),
        "{peer:?}: {}",
        r["summary"]["counters"]
    );
    // Every page closed within the run's wind-down: no user had to be aborted.
    assert_eq!(
        counter(&r, "users.aborted"),
        0,
        "{}",
        r["summary"]["counters"]
    );
    eprintln!(
        "{peer:?}: {} MB peak, {:?}, {}",
        done.peak_rss_mb, done.took, r["summary"]["counters"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_flood_keeps_the_cookie_header_within_a_browsers_limits() {
    // 1 KB values keep the debug build's requests quick (bench/hostile-peers.sh sends 4 KB).
    let (addr, seen) = hostile_peers::start(Peer::CookieFlood(1_000), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // One session per user, repeated requests to the same page: the jar is never cleared.
    let extra = ["--think", "0s", "--dwell", "0s"];
    let flow_path = flow(
        dir.path(),
        &format!("http://{addr}/"),
        Some(
            serde_json::json!({"requests": (0..60).map(|i| serde_json::json!(
            {"kind": "ajax", "method": "GET", "url": format!("http://{addr}/p{i}")})).collect::<Vec<_>>()}),
        ),
    );
    let done = run(&flow_path, 1, 4, &out, &extra, None).await;
    let requests = seen.requests.load(Ordering::Relaxed);
    // 14 cookies a response: 13 responses pass the 180 cap.
    assert!(requests >= 14, "{requests} requests");
    let most = seen.most_cookies.load(Ordering::Relaxed);
    assert!((150..=180).contains(&most), "{most} cookies in one request");
    let longest = seen.longest_cookie_header.load(Ordering::Relaxed);
    assert!(longest <= 180 * 1_030, "a {longest}-byte Cookie header");
    assert_eq!(seen.oversized_cookie_sent.load(Ordering::Relaxed), 0);
    assert!(entry(&results(&out), "/p0").0 >= 1);
    eprintln!(
        "cookie flood: {requests} requests, at most {most} cookies ({longest} bytes); {} MB peak",
        done.peak_rss_mb
    );
}
