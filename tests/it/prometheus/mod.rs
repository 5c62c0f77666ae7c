//! throng's live metrics in a real Prometheus (Debian's package, started here on loopback):
//! scraped from `--metrics` and pushed with `--remote-write`, the totals equal results.json's
//! and the p95 from the histogram lands in the bucket of results.json's p95. Also the Grafana
//! dashboard's queries: every metric they name is exported and every query evaluates.

mod dashboard;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use throng::live::prometheus::families::BUCKETS_S;
use throng::metrics::RunSummary;

use crate::support;

/// A free loopback port (bound, then released for the process that will use it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A Prometheus server of our own, stopped (and its data removed) on drop.
pub struct Prom {
    child: tokio::process::Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prom {
    /// Starts Prometheus on a free loopback port; `scrape` adds a 250 ms scrape of that
    /// `/metrics`; `receiver` accepts remote write.
    pub async fn start(scrape: Option<SocketAddr>, receiver: bool) -> Prom {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            String::from("global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\n");
        if let Some(target) = scrape {
            config.push_str(&format!(
                "scrape_configs:\n  - job_name: throng\n    static_configs:\n      - targets: ['{target}']\n"
            ));
        }
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = tokio::process::Command::new("prometheus");
        cmd.arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if receiver {
            cmd.arg("--web.enable-remote-write-receiver");
        }
        let child = cmd
            .spawn()
            .expect("prometheus runs (Debian's `prometheus` package: bash .ci/setup)");
        let prom = Prom {
            child,
            addr,
            _dir: dir,
        };
        let ready = format!("http://{addr}/-/ready");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(&ready).await {
                if r.status().is_success() {
                    return prom;
                }
            }
            assert!(Instant::now() < deadline, "prometheus not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An instant query (at `at`, Unix seconds, or now): the raw `data.result` list.
    pub async fn query(&self, expr: &str, at: Option<f64>) -> Result<Vec<Value>, String> {
        let mut url = url::Url::parse(&format!("http://{}/api/v1/query", self.addr)).unwrap();
        url.query_pairs_mut().append_pair("query", expr);
        if let Some(t) = at {
            url.query_pairs_mut()
                .append_pair("time", &format!("{t:.3}"));
        }
        let body: Value = reqwest::Client::new()
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(format!("{expr}: {body}"));
        }
        Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The one value of a query that yields a single series or a scalar.
    pub async fn value(&self, expr: &str, at: Option<f64>) -> f64 {
        let result = self.query(expr, at).await.unwrap();
        assert_eq!(result.len(), 1, "{expr}: {result:?}");
        result[0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{expr}: {result:?}"))
    }
}

impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// What a finished throng run left.
pub struct Finished {
    pub code: i32,
    pub stderr: String,
    pub summary: RunSummary,
    /// When the process exited, Unix seconds.
    pub exited_at: f64,
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Runs the throng binary with `args` (plus `--out DIR -q`) and reads its results.json.
pub async fn run_throng(args: &[String], out: &Path) -> Finished {
    let mut args = args.to_vec();
    args.push("-q".into());
    run_throng_loud(&args, out).await.0
}

/// Runs the throng binary with `args` (plus `--out DIR`); also returns its stdout.
pub async fn run_throng_loud(args: &[String], out: &Path) -> (Finished, String) {
    let child = crate::support::throng_async()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("throng starts");
    let output = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("throng ends within 90 s")
        .unwrap();
    let exited_at = unix_now();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = std::fs::read_to_string(out.join("results.json"))
        .unwrap_or_else(|e| panic!("results.json: {e}\n{stderr}"));
    let finished = Finished {
        code: output.status.code().unwrap_or(-1),
        stderr,
        summary: RunSummary::from_json(&text).unwrap(),
        exited_at,
    };
    (
        finished,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// The demo shop flow against `base`, 4 users for 4 s.
fn shop_args(base: &str) -> Vec<String> {
    [
        "run",
        "flows/shop.json",
        "--var",
        "password=wonderland",
        "--target",
        base,
        "--users",
        "4",
        "--duration",
        "4s",
        "--think-scale",
        "0.2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The bucket (lower, upper] of BUCKETS_S that holds `seconds`.
fn bucket_of(seconds: f64) -> (f64, f64) {
    let mut lower = 0.0;
    for upper in BUCKETS_S {
        if seconds <= upper {
            return (lower, upper);
        }
        lower = upper;
    }
    (lower, f64::INFINITY)
}

/// Prometheus's totals and p95 equal what results.json says.
async fn check_against_results(prom: &Prom, run: &Finished, at: Option<f64>) {
    let total = run.summary.total(None, None);
    assert!(total.count > 100, "a real run: {}", total.count);
    let sum = prom.value("sum(throng_requests_total)", at).await;
    assert_eq!(
        sum, total.count as f64,
        "sum(throng_requests_total) vs results.json"
    );
    let failed = prom
        .query("sum(throng_requests_total{outcome!=\"ok\"})", at)
        .await
        .unwrap();
    let failed = failed
        .first()
        .and_then(|r| r["value"][1].as_str()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert_eq!(failed, total.failures as f64);
    let p95_ms = total.stats().p95_ms;
    let q = prom
        .value(
            "histogram_quantile(0.95, sum by (le) (throng_request_duration_seconds_bucket))",
            at,
        )
        .await;
    let (lo, hi) = bucket_of(p95_ms / 1000.0);
    assert!(
        q >= lo && q <= hi,
        "histogram_quantile gave {q} s; results.json's p95 is {p95_ms} ms, in bucket ({lo}, {hi}]"
    );
    let sessions = prom.value("sum(throng_sessions_total)", at).await;
    let counted: u64 = [
        "sessions.completed",
        "sessions.failed",
        "sessions.lost",
        "sessions.abandoned",
    ]
    .iter()
    .filter_map(|k| run.summary.counters.get(*k))
    .sum();
    assert_eq!(sessions, counted as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrape_sees_exactly_the_totals_of_results_json() {
    let site = support::demo().await;
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prom = Prom::start(Some(metrics), false).await;
    let out = tempfile::tempdir().unwrap();
    let mut args = shop_args(&site.base_url());
    args.extend([
        "--metrics".into(),
        metrics.to_string(),
        "--metrics-linger".into(),
        "3s".into(),
    ]);
    let run = run_throng(&args, out.path()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("final values at http://{metrics}/metrics")),
        "{}",
        run.stderr
    );
    // During the linger the endpoint served the final values: look 1 s before the exit.
    let at = Some(run.exited_at - 1.0);
    assert_eq!(
        prom.value("min(throng_run_finished)", at).await,
        1.0,
        "the final values"
    );
    check_against_results(&prom, &run, at).await;
    // The generator's CPU was exported. Whether a second counted as saturated depends on what
    // else the machine runs beside this test (tests run in parallel): the light-run verdict is
    // checked by the health test, which runs alone; here only that the series is there.
    let cpu = prom.query("throng_generator_cpu_ratio", at).await.unwrap();
    assert_eq!(cpu.len(), 3, "throng, chromium, machine: {cpu:?}");
    let saturated = prom
        .value("max(throng_generator_saturated_seconds_total)", at)
        .await;
    assert!(run.summary.generator.is_some(), "sampled");
    assert!(saturated >= 0.0 && saturated.fract() == 0.0, "{saturated}");
    dashboard::every_query_evaluates(&prom, at).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_write_receives_exactly_the_totals_of_results_json() {
    let site = support::demo().await;
    let prom = Prom::start(None, true).await;
    let out = tempfile::tempdir().unwrap();
    let mut args = shop_args(&site.base_url());
    args.extend([
        "--remote-write".into(),
        format!("http://{}/api/v1/write", prom.addr),
        "--remote-write-interval".into(),
        "1s".into(),
    ]);
    let started = unix_now();
    let run = run_throng(&args, out.path()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pushes = run
        .stderr
        .lines()
        .find(|l| l.starts_with("remote write: "))
        .unwrap_or_else(|| panic!("no remote-write line: {}", run.stderr));
    assert!(pushes.ends_with(" pushes, 0 failed"), "{pushes}");
    let n: u32 = pushes["remote write: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 4, "pushed every second and at the end: {pushes}");
    // Remote-written samples carry no staleness: "now" sees the final push.
    check_against_results(&prom, &run, None).await;
    let runs = prom
        .query("count by (run) (throng_users)", None)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "one run label: {runs:?}");
    let label = runs[0]["metric"]["run"].as_str().unwrap();
    assert!(label.ends_with('Z') && label.contains('T'), "{label}");
    // Pushes came during the run, not only at its end.
    let during = format!(
        "count_over_time(throng_run_elapsed_seconds[{}s])",
        (unix_now() - started).ceil() as u64 + 1
    );
    assert!(prom.value(&format!("sum({during})"), None).await >= 3.0);
    dashboard::every_query_evaluates(&prom, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_to_a_dead_receiver_counts_failures_and_never_holds_the_run() {
    let site = support::demo().await;
    let dead = free_port();
    let out = tempfile::tempdir().unwrap();
    let mut args = shop_args(&site.base_url());
    args[9] = "2s".into(); // --duration
                           // The same run without remote write, as the reference for the time taken (a loaded machine
                           // stretches start-up and reports alike).
    let reference_out = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let reference = run_throng(&args, reference_out.path()).await;
    let reference_took = t0.elapsed();
    assert_eq!(reference.code, 0, "{}", reference.stderr);
    args.extend([
        "--remote-write".into(),
        format!("http://127.0.0.1:{dead}/api/v1/write"),
        "--remote-write-interval".into(),
        "500ms".into(),
    ]);
    let t0 = Instant::now();
    let run = run_throng(&args, out.path()).await;
    let took = t0.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary.total(None, None).count > 20);
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("remote write: "))
        .unwrap()
        .to_string();
    let n: Vec<u32> = line["remote write: ".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        n[0] >= 2 && n[0] == n[1],
        "every push failed and was counted: {line}"
    );
    assert!(
        run.stderr.contains("failed: connecting to"),
        "{}",
        run.stderr
    );
    // The final push's retries add under 2 s to the same run without remote write; a run held
    // by the dead receiver would take its whole timeout more.
    assert!(
        took < reference_took + Duration::from_secs(8),
        "{took:?} against {reference_took:?} without remote write"
    );
}

/// The repository's Grafana dashboard.
pub fn grafana_dashboard() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/throng.json")
}
