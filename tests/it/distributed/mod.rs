//! Distributed runs with real processes on loopback: a coordinator and its workers (each given
//! only the coordinator's address and the token, as a pod would be) against the demo site.

use crate::support::{demo, wait_for};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

mod browser;

const TOKEN: &str = "test-token-5d1c";

fn throng() -> Command {
    let mut c = crate::support::throng_async();
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// A coordinator process, its address, and its stderr (once it has ended).
pub(crate) struct Coordinator {
    child: Child,
    pub(crate) addr: String,
    /// Its dashboard's URL (`--ui`).
    pub(crate) dashboard: Option<String>,
    stderr: tokio::sync::oneshot::Receiver<String>,
}

/// Starts a coordinator with `args` on a free port.
pub(crate) async fn coordinator(args: &[&str]) -> Coordinator {
    let mut child = throng()
        .args(["run", "--listen", "127.0.0.1:0", "--token", TOKEN])
        .args(args)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut dashboard = None;
    let addr = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the coordinator prints its address")
            .unwrap()
            .expect("the coordinator is running");
        if let Some(rest) = line.strip_prefix("coordinator: listening on ") {
            break rest.split(';').next().unwrap().to_string();
        }
        if let Some(url) = line.strip_prefix("coordinator: dashboard at ") {
            dashboard = Some(url.to_string());
        }
    };
    // Keep draining its stderr so it never blocks on a full pipe.
    let (tx, stderr) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(l)) = lines.next_line().await {
            all.push_str(&l);
            all.push('\n');
        }
        let _ = tx.send(all);
    });
    Coordinator {
        child,
        addr,
        dashboard,
        stderr,
    }
}

impl Coordinator {
    /// Waits for the end: exit code and what it wrote on stderr after its address.
    pub(crate) async fn end(self) -> (i32, String) {
        let (code, _, _) = exit_of(self.child).await;
        (code, self.stderr.await.unwrap_or_default())
    }
}

pub(crate) fn worker(addr: &str, name: &str, tmp: &Path) -> Child {
    throng()
        .args(["worker", "--connect", addr, "--name", name])
        .env("THRONG_TOKEN", TOKEN)
        .env("TMPDIR", tmp)
        .spawn()
        .unwrap()
}

/// A worker with `--role role`.
pub(crate) fn worker_as(addr: &str, name: &str, tmp: &Path, role: &str) -> Child {
    throng()
        .args(["worker", "--connect", addr, "--name", name, "--role", role])
        .env("THRONG_TOKEN", TOKEN)
        .env("TMPDIR", tmp)
        .spawn()
        .unwrap()
}

pub(crate) async fn exit_of(child: Child) -> (i32, String, String) {
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the process ends")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Requests throng counted, by "METHOD /path" (the demo's own route key).
fn throng_counts(results: &serde_json::Value) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for e in results["summary"]["entries"].as_array().unwrap() {
        let kind = e["kind"].as_str().unwrap();
        if !["document", "static", "ajax", "polling", "beacon", "other"].contains(&kind) {
            continue;
        }
        let (method, url) = e["name"].as_str().unwrap().split_once(' ').unwrap();
        let path = Url::parse(url).unwrap().path().to_string();
        *counts.entry(format!("{method} {path}")).or_default() += e["count"].as_u64().unwrap();
    }
    counts
}

fn read_results(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

/// Live processes whose command line mentions `needle` (zombies aside).
fn live_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
        if !zombie && String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_add_up_to_exactly_what_the_site_saw_and_thresholds_judge_the_merged_run() {
    let site = demo().await;
    let target = site.base_url();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // 7 users over 3 workers: shares 3, 2 and 2. Two iterations of browse.json (3 documents
    // each) make 42 documents in all, at most 18 on any one worker: only the merged run can
    // pass this threshold.
    let coord = coordinator(&[
        "flows/browse.json",
        "--target",
        &target,
        "-u",
        "7",
        "-d",
        "60s",
        "--iterations",
        "2",
        "--think-scale",
        "0.1",
        "--dwell",
        "0s",
        "--workers",
        "3",
        "-q",
        "--threshold",
        "count(document)>=42",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let workers: Vec<Child> = (0..3)
        .map(|i| worker(&coord.addr, &format!("w{i}"), tmp.path()))
        .collect();
    let (code, stderr) = coord.end().await;
    let mut starts = Vec::new();
    for w in workers {
        let (wcode, _, werr) = exit_of(w).await;
        assert_eq!(wcode, 0, "{werr}");
        let at = werr
            .split("started at ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("no start time: {werr}"));
        starts.push(at);
    }
    let spread = starts.iter().max().unwrap() - starts.iter().min().unwrap();
    assert!(
        spread <= 50,
        "workers started {spread} ms apart: {starts:?}"
    );
    assert_eq!(code, 0, "{stderr}");
    let results = read_results(&out);
    assert_eq!(
        throng_counts(&results),
        site.stats().routes,
        "merged counts = the site's"
    );
    // The merged run starts when the workers did and lasts about the plan, not since 1970.
    let started = results["summary"]["started_unix_ms"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(now - started < 120_000, "started {started}, now {now}");
    assert!(results["summary"]["duration_ms"].as_u64().unwrap() < 120_000);
    let rows = results["meta"]["workers"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let mut peaks: Vec<u64> = rows
        .iter()
        .map(|r| r["peak_users"].as_u64().unwrap())
        .collect();
    peaks.sort();
    assert_eq!(peaks, [2, 2, 3], "user shares add up to the plan");
    let requests = |r: &serde_json::Value| r["requests"].as_u64().unwrap();
    assert!(rows.iter().all(|r| r["status"] == "done"));
    let merged_docs: u64 = results["summary"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "document")
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    assert_eq!(merged_docs, 42);
    let merged_requests: u64 = throng_counts(&results).values().sum();
    assert_eq!(rows.iter().map(requests).sum::<u64>(), merged_requests);
    assert_eq!(results["thresholds"][0]["passed"], true);
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_is_counted_lost_and_its_share_moves_on() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let coord = coordinator(&[
        "flows/browse.json",
        "--target",
        &site.base_url(),
        "-u",
        "4",
        "-d",
        "15s",
        "--think-scale",
        "0.2",
        "--workers",
        "2",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let mut victim = worker(&coord.addr, "victim", tmp.path());
    let survivor = worker(&coord.addr, "survivor", tmp.path());
    // Once the run is under way (and has reported its users), kill -9 one worker.
    wait_for(
        "load from both workers",
        Duration::from_secs(30),
        || async { (site.stats().total >= 40).then_some(()) },
    )
    .await;
    victim.start_kill().unwrap();
    let victim_err = exit_of(victim).await.2;
    let (code, stderr) = coord.end().await;
    let (scode, _, serr) = exit_of(survivor).await;
    assert_eq!(scode, 0, "{serr}");
    assert!(
        serr.contains("share now 1 of 1"),
        "the survivor took the whole plan: {serr}"
    );
    assert_eq!(code, 0, "{stderr}");
    let results = read_results(&out);
    assert_eq!(results["summary"]["counters"]["workers.lost"], 1);
    let rows = results["meta"]["workers"].as_array().unwrap();
    let lost = rows.iter().find(|r| r["name"] == "victim").unwrap();
    assert_eq!(lost["status"], "lost");
    let counters = &results["summary"]["counters"];
    assert!(
        counters["sessions.lost"].as_u64().unwrap_or(0) >= 1,
        "{counters}\n{stderr}\nvictim: {victim_err}"
    );
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_the_token_is_refused_and_too_few_workers_is_one_clear_error() {
    let coord = coordinator(&[
        "http://127.0.0.1:9/",
        "-d",
        "2s",
        "--workers",
        "2",
        "--wait-workers",
        "2s",
        "-q",
    ])
    .await;
    let (code, _, stderr) = exit_of(
        throng()
            .args(["worker", "--connect", &coord.addr, "--wait", "1s"])
            .env("THRONG_TOKEN", "wrong")
            .spawn()
            .unwrap(),
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("did not prove it holds the token"),
        "{stderr}"
    );
    let (code, text) = coord.end().await;
    assert_eq!(code, 1);
    assert!(
        text.contains("only 0 of 2 workers joined within 2s"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_exports_the_merged_run_to_prometheus() {
    use crate::prometheus::{free_port, unix_now, Prom};
    let site = demo().await;
    let target = site.base_url();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let metrics = format!("127.0.0.1:{}", free_port());
    let prom = Prom::start(Some(metrics.parse().unwrap()), false).await;
    let coord = coordinator(&[
        "flows/browse.json",
        "--target",
        &target,
        "-u",
        "4",
        "-d",
        "4s",
        "--think-scale",
        "0.1",
        "--workers",
        "2",
        "-q",
        "--metrics",
        &metrics,
        "--metrics-linger",
        "3s",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let workers: Vec<Child> = (0..2)
        .map(|i| worker(&coord.addr, &format!("w{i}"), tmp.path()))
        .collect();
    let (code, stderr) = coord.end().await;
    let exited = unix_now();
    for w in workers {
        let (wcode, _, werr) = exit_of(w).await;
        assert_eq!(wcode, 0, "{werr}");
    }
    assert_eq!(code, 0, "{stderr}");
    let results = read_results(&out);
    let total: u64 = throng_counts(&results).values().sum();
    assert!(total > 20, "{total}");
    // During the linger the coordinator served the merged, final values.
    let at = Some(exited - 1.0);
    assert_eq!(prom.value("min(throng_run_finished)", at).await, 1.0);
    assert_eq!(
        prom.value("sum(throng_requests_total)", at).await,
        total as f64
    );
    // The workers' generator health reaches the merged view.
    let cpu = prom.query("throng_generator_cpu_ratio", at).await.unwrap();
    assert_eq!(cpu.len(), 3, "{cpu:?}");
    assert!(
        results["summary"]["generator"]["samples"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_browser_users_and_no_worker_to_run_them_is_refused_in_one_line() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let coord = coordinator(&[
        "flows/browse.json",
        "--target",
        &site.base_url(),
        "-u",
        "10",
        "--browsers",
        "1",
        "-d",
        "10s",
        "--workers",
        "1",
        "-q",
    ])
    .await;
    let w = worker_as(&coord.addr, "h1", tmp.path(), "http");
    let (code, text) = coord.end().await;
    assert_eq!(code, 2, "bad input: {text}");
    assert!(
        text.contains(
            "the run has browser users but no worker can run them (joined: h1 (--role http)): \
             start a worker with --role browser or --role any"
        ),
        "{text}"
    );
    let (wcode, _, werr) = exit_of(w).await;
    assert_eq!(wcode, 1, "{werr}");
    assert!(
        werr.contains("the coordinator says stop: the run has browser users"),
        "{werr}"
    );
    assert_eq!(site.stats().total, 0, "no load was sent");
    site.shutdown().await;
}

/// The coordinator's dashboard (`--ui`): a row per worker with its role, users and requests,
/// and a user count set there spread over the workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinators_dashboard_shows_each_worker_and_spreads_a_new_user_count() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let coord = coordinator(&[
        "flows/browse.json",
        "--target",
        &site.base_url(),
        "-u",
        "4",
        "-d",
        "90s",
        "--think-scale",
        "0.1",
        "--workers",
        "2",
        "-q",
        "--ui-bind",
        "127.0.0.1:0",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let dash = coord
        .dashboard
        .clone()
        .expect("the coordinator names its dashboard");
    let w1 = worker_as(&coord.addr, "h1", tmp.path(), "http");
    let w2 = worker_as(&coord.addr, "a1", tmp.path(), "any");
    let page = reqwest::get(&dash).await.unwrap().text().await.unwrap();
    assert!(page.contains("<h2>Workers</h2>"));
    let at = page
        .find(r#""x-throng-token": ""#)
        .expect("token in the page")
        + 19;
    let token = page[at..at + 32].to_string();
    let client = reqwest::Client::new();
    let api = |path: &str| {
        client
            .get(format!("{dash}api/{path}"))
            .header("x-throng-token", &token)
    };
    // Each worker's users as the dashboard shows them, once both run and their sum is `n`.
    let rows_with = |n: u64| {
        let api = &api;
        async move {
            let stats: serde_json::Value = api("stats").send().await.ok()?.json().await.ok()?;
            let rows: BTreeMap<String, (String, String, u64, u64)> = stats["workers"]
                .as_array()?
                .iter()
                .map(|w| {
                    let text = |k: &str| w[k].as_str().unwrap_or("").to_string();
                    let n = |k: &str| w[k].as_u64().unwrap_or(0);
                    (
                        text("name"),
                        (text("role"), text("status"), n("users"), n("requests")),
                    )
                })
                .collect();
            let users: u64 = rows.values().map(|r| r.2).sum();
            let busy = rows.values().all(|r| r.1 == "running" && r.3 > 0);
            (rows.len() == 2 && users == n && busy).then_some(rows)
        }
    };
    let rows = wait_for(
        "both workers running 4 users",
        Duration::from_secs(60),
        || rows_with(4),
    )
    .await;
    assert_eq!(rows["h1"].0, "http");
    assert_eq!(rows["a1"].0, "any");
    assert_eq!((rows["h1"].2, rows["a1"].2), (2, 2), "{rows:?}");
    // A new count from the page: every worker runs its share of it.
    let set: serde_json::Value = client
        .post(format!("{dash}api/users"))
        .header("x-throng-token", &token)
        .json(&serde_json::json!({"users": 10}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["ok"], true, "{set}");
    let rows = wait_for(
        "10 users over both workers",
        Duration::from_secs(30),
        || rows_with(10),
    )
    .await;
    assert_eq!((rows["h1"].2, rows["a1"].2), (5, 5), "{rows:?}");
    // The headline numbers are the merged ones (users between iterations come and go: wait
    // for a moment with all 10 in a session).
    wait_for(
        "the merged view at 10 users",
        Duration::from_secs(30),
        || async {
            let live: serde_json::Value = api("live").send().await.ok()?.json().await.ok()?;
            assert_eq!(live["target_users"], 10, "{live}");
            (live["users"] == 10).then_some(())
        },
    )
    .await;
    // Stop from the page: the run ends, with the merged report.
    let stop = client
        .post(format!("{dash}api/stop"))
        .header("x-throng-token", &token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(stop.status().is_success());
    let (code, stderr) = coord.end().await;
    for w in [w1, w2] {
        let (wcode, _, werr) = exit_of(w).await;
        assert_eq!(wcode, 0, "{werr}");
    }
    assert_eq!(code, 0, "{stderr}");
    let results = read_results(&out);
    let mut peaks: Vec<u64> = results["meta"]["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["peak_users"].as_u64().unwrap())
        .collect();
    peaks.sort();
    assert_eq!(peaks, [5, 5]);
    assert_eq!(throng_counts(&results), site.stats().routes);
    site.shutdown().await;
}
