//! A token-holding worker inventing metric names (hostile peers III): changed-keys-only
//! reports let it add keys a few thousand at a time, each with a histogram that spans the
//! whole 1 h range. The coordinator merges every worker's keys each second; it must stay
//! small (memory bounded by what it stores, not by what the histograms decode to), refuse
//! names past what a real worker can make, and still end the run with its report.

use super::peers::Peer;
use super::{fds_and_rss, worker, Coordinator};
use crate::support::demo;
use std::time::Duration;

/// One entry of `flow`/`step` named `name`, whose histograms hold one sample at 1 h (the
/// widest a histogram decodes to).
fn entry(flow: &str, step: u32, name: &str, histogram: &str) -> serde_json::Value {
    let corrected = bench().then_some(histogram);
    serde_json::json!({"mode": "http", "flow": flow, "step": step, "kind": "static",
        "name": name, "count": 1, "failures": 0, "failures_by_outcome": {}, "bytes": 10,
        "rps": 1.0,
        "latency": {"p50_ms": 1.0, "p90_ms": 1.0, "p95_ms": 1.0, "p99_ms": 1.0,
                    "max_ms": 1.0, "mean_ms": 1.0},
        "histogram": histogram, "corrected_histogram": corrected})
}

/// A changed-keys-only report from worker `id` with these entries (`done`: its last).
fn partial(id: u64, entries: Vec<serde_json::Value>, done: bool) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "worker_id": id, "users": 1, "done": done, "partial": true, "cpu_s": 0.1,
        "mem_mb": 10.0,
        "summary": {"started_unix_ms": throng::dist::protocol::now_unix_ms(),
            "duration_ms": 500, "peak_users": 1, "entries": entries, "series": [],
            "counters": {}},
    }))
    .unwrap()
}

/// A histogram of one sample of `us` microseconds.
fn histogram(us: u64) -> String {
    let mut h = throng::metrics::new_histogram();
    h.record(us).unwrap();
    throng::metrics::encode_histogram(&h)
}

/// `HOSTILE_KEYS_BENCH=1` (bench/hostile-peers-3.sh): 40,000 keys (or `HOSTILE_KEYS`) with
/// histograms spanning the 1 h range, raw and corrected, and only the measurements (the
/// binary may be one without the names rule); else 2,000 keys of 1 ms (merging and reporting
/// each key costs a debug build milliseconds).
fn bench() -> bool {
    std::env::var_os("HOSTILE_KEYS_BENCH").is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_inventing_names_cannot_bloat_the_coordinator() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let target = format!("{}/", site.base_url());
    let coord = Coordinator::start(
        "127.0.0.1:0",
        true,
        &[
            &target,
            "-u",
            "2",
            "-d",
            "6s",
            "--workers",
            "2",
            "-q",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    let mut evil = Peer::join(&coord.addr, "evil").await;
    let real = worker(&coord.addr, "real", super::TOKEN, tmp.path());
    loop {
        let (status, body) = evil.send_as(evil.id, "/v1/assignment", b"null").await;
        assert_eq!(status, 200);
        if String::from_utf8_lossy(&body).contains("Start") {
            break;
        }
    }
    let (us, batches, per_batch) = if bench() {
        // HOSTILE_KEYS: how many (in reports of 10,000), 40,000 unless said.
        let keys: u32 = std::env::var("HOSTILE_KEYS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40_000);
        (
            throng::metrics::HIST_HIGH_US,
            keys.div_ceil(10_000) as usize,
            keys.min(10_000),
        )
    } else {
        (1_000, 1, 2_000)
    };
    let wide = histogram(us);
    // Names past a real worker's bound in one (mode, flow, step, kind): refused.
    let one_group: Vec<_> = (0..2_000)
        .map(|i| entry("shipped", 0, &format!("GET http://h/{i}"), &wide))
        .collect();
    let (got, text) = evil
        .send_as(evil.id, "/v1/report", &partial(evil.id, one_group, false))
        .await;
    let text = String::from_utf8_lossy(&text);
    if !bench() {
        assert_eq!(got, 422, "{text}");
        assert!(text.contains("names in one group"), "{text}");
    }
    // Within the per-group bound but spread over invented steps, a report at a time.
    let mut accepted = 0;
    for batch in 0..batches {
        let entries: Vec<_> = (0..per_batch)
            .map(|i| {
                let step = batch as u32 * 100 + i / 100;
                entry("shipped", step, &format!("GET http://h/{i}"), &wide)
            })
            .collect();
        let (got, _) = evil
            .send_as(evil.id, "/v1/report", &partial(evil.id, entries, false))
            .await;
        accepted += usize::from(got == 200);
    }
    assert_eq!(accepted, batches, "keys a real worker could have are taken");
    // Its run is over (so the coordinator need not wait for it to go silent).
    let (got, _) = evil
        .send_as(evil.id, "/v1/report", &partial(evil.id, vec![], true))
        .await;
    assert_eq!(got, 200);
    let attacked = std::time::Instant::now();
    // The coordinator merges every second, and once more for its results: its peak RSS
    // until it has ended.
    let pid = coord.pid;
    let sampler = tokio::spawn(async move {
        let mut peak = 0f64;
        loop {
            let (fds, rss) = fds_and_rss(pid);
            if fds == 0 {
                return peak;
            }
            peak = peak.max(rss);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    if bench() {
        // Its end within 3 minutes (killed past them), and its peak until then.
        let mut coord = coord;
        let ended = tokio::time::timeout(Duration::from_secs(180), coord.child.wait()).await;
        let how = match ended {
            Ok(Ok(status)) => format!("exit {:?}", status.code()),
            _ => {
                let _ = coord.child.kill().await;
                "still running (killed)".into()
            }
        };
        let peak = sampler.await.unwrap();
        eprintln!(
            "coordinator: peak RSS {peak:.0} MB; {how} {:.1} s after the attack",
            attacked.elapsed().as_secs_f64()
        );
        return;
    }
    let (wcode, _, werr) = super::ended(real, Duration::from_secs(90)).await;
    let (code, stderr) = coord.end(Duration::from_secs(120)).await;
    let peak = sampler.await.unwrap();
    eprintln!(
        "coordinator: peak RSS {peak:.0} MB; exit {code} {:.1} s after the attack",
        attacked.elapsed().as_secs_f64()
    );
    assert!(peak < 300.0, "the coordinator grew to {peak} MB");
    assert_eq!(wcode, 0, "{werr}");
    assert_eq!(code, 0, "{stderr}");
    let results = super::results(&out);
    assert!(!results["summary"]["entries"].as_array().unwrap().is_empty());
    site.shutdown().await;
}
