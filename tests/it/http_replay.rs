//! HTTP replay against the demo site: counts cross-checked with the server, CSRF login,
//! load plans, assets and cache, pollers, bad input.

use crate::support;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use throng::cli::config;
use throng::metrics::{Mode, RunSummary, SampleKind, Sink};
use throng::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
use throng::run::{self, RunSpec};
use tokio_util::sync::CancellationToken;
use url::Url;

fn overrides() -> HashMap<String, String> {
    HashMap::from([("password".to_string(), "wonderland".to_string())])
}

fn closed_plan(users: u32, iterations: Option<u64>, total: Duration, think_scale: f64) -> LoadPlan {
    LoadPlan {
        arrival: Arrival::Users(Stages::ramp_and_hold(users, Duration::ZERO, total).unwrap()),
        iterations,
        think: ThinkPolicy::Recorded {
            scale: think_scale,
            jitter: 0.0,
        },
        dwell: Some(Duration::from_millis(2500)),
        grace: Duration::ZERO,
    }
}

async fn run_flow(base: &str, flow_file: &str, plan: LoadPlan) -> RunSummary {
    let target = Url::parse(base).unwrap();
    let flow = config::prepare_flow(&support::flow_path(flow_file), Some(&target), &overrides())
        .expect("flow prepares");
    let spec = RunSpec::single(flow, plan, Mode::Http);
    run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .expect("run completes")
}

/// Requests throng recorded, by "METHOD /path" (the demo's own route key).
fn throng_counts(summary: &RunSummary) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for e in summary.entries.iter().filter(|e| e.kind.is_request()) {
        let (method, url) = e.name.split_once(' ').expect("METHOD URL");
        let path = Url::parse(url).expect("absolute url").path().to_string();
        *counts.entry(format!("{method} {path}")).or_default() += e.count;
    }
    counts
}

fn counter(summary: &RunSummary, name: &str) -> u64 {
    summary.counters.get(name).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_counts_equal_server_counts_and_csrf_login_succeeds() {
    let server = support::demo().await;
    let summary = run_flow(
        &server.base_url(),
        "shop.json",
        closed_plan(6, Some(2), Duration::from_secs(120), 0.05),
    )
    .await;
    let stats = server.stats();
    let ours = throng_counts(&summary);
    assert_eq!(
        ours, stats.routes,
        "throng's per-route counts equal the server's"
    );
    assert_eq!(ours.values().sum::<u64>(), stats.total);
    assert_eq!(
        counter(&summary, "sessions.completed"),
        12,
        "{:?}",
        summary.counters
    );
    assert_eq!(
        counter(&summary, "sessions.failed"),
        0,
        "{:?}",
        summary.counters
    );
    assert_eq!(stats.statuses.get("403"), None, "no CSRF rejections");
    assert_eq!(
        stats.routes.get("POST /login"),
        Some(&12),
        "every user logged in"
    );
    assert_eq!(
        stats.routes.get("GET /account"),
        Some(&12),
        "login redirect followed once"
    );
    // The second page view of a session does not refetch cached assets.
    assert_eq!(stats.routes.get("GET /static/app.js"), Some(&12));
    // Pollers ran while pages were open.
    let polls = summary
        .total(Some(Mode::Http), Some(SampleKind::Polling))
        .count;
    assert!(
        polls >= 12,
        "at least one poll per session during the dwell, got {polls}"
    );
    let page_loads = summary
        .total(Some(Mode::Http), Some(SampleKind::PageLoad))
        .count;
    assert_eq!(
        page_loads,
        12 * 5,
        "home, search, product, login page, account (after the redirect)"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_refetches_assets_on_every_page() {
    let server = support::demo().await;
    let target = Url::parse(&server.base_url()).unwrap();
    let flow = config::prepare_flow(
        &support::flow_path("browse.json"),
        Some(&target),
        &overrides(),
    )
    .unwrap();
    let mut spec = RunSpec::single(
        flow,
        closed_plan(1, Some(1), Duration::from_secs(60), 0.0),
        Mode::Http,
    );
    spec.http.client.cache = false;
    let summary = run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .unwrap();
    let stats = server.stats();
    assert_eq!(throng_counts(&summary), stats.routes);
    let css = stats
        .routes
        .get("GET /static/app.css")
        .copied()
        .unwrap_or(0);
    assert!(
        css >= 2,
        "without a cache every page fetches its stylesheet again, got {css}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_ramp_users_up_and_down() {
    let server = support::demo().await;
    let plan = LoadPlan {
        arrival: Arrival::Users(Stages::parse("4@1s,4@1s,0@1s").unwrap()),
        iterations: None,
        think: ThinkPolicy::Recorded {
            scale: 0.02,
            jitter: 0.0,
        },
        dwell: Some(Duration::ZERO),
        grace: Duration::ZERO,
    };
    let summary = run_flow(&server.base_url(), "browse.json", plan).await;
    let peak = summary.series.iter().map(|s| s.users).max().unwrap_or(0);
    assert!((3..=4).contains(&peak), "peak users {peak}");
    assert_eq!(counter(&summary, "users.started"), 4);
    assert_eq!(throng_counts(&summary), server.stats().routes);
    server.shutdown().await;
}

/// Open model: `rate` arrivals per second for `hold`, each running the flow once, no think time.
fn arrivals_running_once(rate: f64, hold: Duration) -> LoadPlan {
    LoadPlan {
        arrival: Arrival::Rate {
            stages: Stages::ramp_and_hold_rate(rate, Duration::ZERO, hold).unwrap(),
            max_users: 100,
        },
        iterations: Some(1),
        think: ThinkPolicy::Recorded {
            scale: 0.0,
            jitter: 0.0,
        },
        dwell: Some(Duration::ZERO),
        grace: Duration::from_secs(10),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrival_rate_starts_sessions_at_the_planned_rate() {
    let server = support::demo().await;
    let plan = arrivals_running_once(5.0, Duration::from_secs(2));
    let summary = run_flow(&server.base_url(), "browse.json", plan).await;
    let started = counter(&summary, "users.started");
    assert!(
        (9..=10).contains(&started),
        "5/s for 2 s starts about 10 sessions, got {started}"
    );
    assert_eq!(counter(&summary, "sessions.completed"), started);
    assert_eq!(throng_counts(&summary), server.stats().routes);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_still_returns_what_was_measured() {
    let server = support::demo().await;
    let target = Url::parse(&server.base_url()).unwrap();
    let flow = config::prepare_flow(
        &support::flow_path("shop.json"),
        Some(&target),
        &overrides(),
    )
    .unwrap();
    let spec = RunSpec::single(
        flow,
        closed_plan(5, None, Duration::from_secs(600), 1.0),
        Mode::Http,
    );
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        stopper.cancel();
    });
    let summary = run::execute(spec, Sink::new(), stop).await.unwrap();
    assert_eq!(counter(&summary, "run.interrupted"), 1);
    assert_eq!(counter(&summary, "sessions.abandoned"), 5);
    let ours = throng_counts(&summary);
    assert!(!ours.is_empty());
    assert_eq!(
        ours,
        server.stats().routes,
        "requests in flight at the stop are still counted"
    );
    server.shutdown().await;
}

fn throng_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_throng"))
}

fn one_line_error(args: &[&str]) -> (i32, String) {
    let out = throng_bin().args(args).output().expect("throng runs");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn bad_stages_string_is_one_line_exit_2() {
    let (code, err) = one_line_error(&[
        "run",
        "http://127.0.0.1:9/",
        "--stages",
        "10@30s,x@1m",
        "-q",
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "throng: --stages `10@30s,x@1m`: stage 2 `x@1m`: `x` is not a number"
    );
}

#[test]
fn zero_user_threads_is_one_line_exit_2() {
    let (code, err) = one_line_error(&["run", "http://127.0.0.1:9/", "--threads", "0", "-q"]);
    assert_eq!(
        (code, err.as_str()),
        (2, "throng: --threads must be at least 1")
    );
}

#[test]
fn missing_csv_file_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("csv.json");
    std::fs::write(
        &flow,
        r#"{"title":"t","origin":"http://127.0.0.1:9","variables":[{"name":"u","csv":{"file":"users.csv","column":"name"}}],
            "steps":[{"type":"navigate","url":"http://127.0.0.1:9/?u=${u}"}]}"#,
    )
    .unwrap();
    let (code, err) = one_line_error(&["run", flow.to_str().unwrap(), "-q"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("throng: ") && err.contains("users.csv") && err.contains("No such file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn unreachable_target_is_counted_as_refused_not_a_crash() {
    // Port 9 (discard) is closed on loopback: every request is refused.
    let out = throng_bin()
        .args([
            "run",
            "http://127.0.0.1:9/",
            "--users",
            "2",
            "--duration",
            "1s",
            "-q",
            "--threshold",
            "errors<1%",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "failed threshold exit code; stdout: {stdout}"
    );
    assert!(stdout.contains("refused"), "{stdout}");
}

#[test]
fn flow_whose_origin_is_down_fails_sessions_with_a_clear_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = throng_bin()
        .args([
            "run",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("flows/browse.json")
                .to_str()
                .unwrap(),
        ])
        .args([
            "--target",
            "http://127.0.0.1:9",
            "--users",
            "1",
            "--duration",
            "1s",
            "-q",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Every session failed: the run fails even without a threshold, naming the failure.
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("every session failed") && stderr.contains("Refused"),
        "{stderr}"
    );
    assert!(
        stdout.contains("document request failed (Refused)"),
        "{stdout}"
    );
    assert!(out_dir.join("results.json").exists());
}

/// Coordinated omission in the open model: arrivals due while the run's runtime is stalled
/// start late, and their first page is recorded from the planned start as well as raw.
#[test]
fn late_arrivals_record_their_first_page_from_the_planned_start() {
    // The demo site on its own runtime, so the stall below delays throng only.
    let site = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = site.block_on(support::demo());
    let base = server.base_url();
    let run_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let summary = run_rt.block_on(async {
        // A blocked scheduler: nothing on this runtime runs for 400 ms, while about eight
        // arrivals fall due.
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::thread::sleep(Duration::from_millis(400));
        });
        run_flow(
            &base,
            "browse.json",
            arrivals_running_once(20.0, Duration::from_secs(1)),
        )
        .await
    });
    let late = counter(&summary, "arrivals.late");
    assert!(late >= 1, "arrivals due during the stall start late");
    assert_eq!(
        counter(&summary, "sessions.completed"),
        counter(&summary, "users.started")
    );
    let page_load = |step: u32| {
        summary
            .entries
            .iter()
            .find(|e| e.kind == SampleKind::PageLoad && e.step == Some(step))
            .unwrap_or_else(|| panic!("page load of step {step}"))
    };
    let first = page_load(1);
    let corrected = first
        .corrected
        .as_ref()
        .expect("the first page of late arrivals is corrected");
    assert!(
        corrected.mean_ms > first.latency.mean_ms,
        "corrected {corrected:?} vs raw {:?}",
        first.latency
    );
    // Only the first page: after it, a user runs on its own clock.
    assert!(page_load(4).corrected.is_none());
    assert_eq!(throng_counts(&summary), server.stats().routes);
    site.block_on(server.shutdown());
}

/// HTTPS test host: a TLS server on 127.0.0.1 with a certificate for "localhost" made at test
/// time, and a plain HTTP server beside it that redirects everything to it (as a site's port 80
/// does). `/login` sets a Secure cookie and redirects to `/account`; anything else is 200.
struct HttpsHost {
    tls_port: u16,
    plain_port: u16,
    /// Request heads received over TLS, and over plain HTTP.
    tls_heads: Arc<std::sync::Mutex<Vec<String>>>,
    plain_heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl HttpsHost {
    async fn start() -> HttpsHost {
        use tokio::net::TcpListener;
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![key.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls_port = tls.local_addr().unwrap().port();
        let host = HttpsHost {
            tls_port,
            plain_port: plain.local_addr().unwrap().port(),
            tls_heads: Default::default(),
            plain_heads: Default::default(),
        };
        let heads = host.tls_heads.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tls.accept().await.unwrap();
                let (acceptor, heads) = (acceptor.clone(), heads.clone());
                tokio::spawn(async move {
                    // A client that rejects the certificate ends the handshake: nothing served.
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        serve_http1(stream, heads, |path| match path {
                            "/login" => "HTTP/1.1 302 Found\r\nLocation: /account\r\nSet-Cookie: sid=s3cret; Secure; HttpOnly; Path=/\r\nContent-Length: 0\r\n\r\n".to_string(),
                            _ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string(),
                        })
                        .await;
                    }
                });
            }
        });
        let heads = host.plain_heads.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = plain.accept().await.unwrap();
                let heads = heads.clone();
                tokio::spawn(serve_http1(tcp, heads, move |path| {
                    format!("HTTP/1.1 301 Moved Permanently\r\nLocation: https://localhost:{tls_port}{path}\r\nContent-Length: 0\r\n\r\n")
                }));
            }
        });
        host
    }
}

/// Answers each request head read from `stream` with `reply(path)`, keeping the connection.
async fn serve_http1<S>(
    mut stream: S,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
    reply: impl Fn(&str) -> String,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut buf, mut got) = (vec![0u8; 4096], Vec::new());
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            got.drain(..end + 4);
            let path = head.split(' ').nth(1).unwrap_or("/").to_string();
            heads.lock().unwrap().push(head);
            if stream.write_all(reply(&path).as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

fn https_run_spec(url: &str, insecure: bool, iterations: u64) -> RunSpec {
    let mut spec = RunSpec::single(
        config::url_flow(url).unwrap(),
        LoadPlan {
            arrival: Arrival::Users(
                Stages::ramp_and_hold(2, Duration::ZERO, Duration::from_secs(20)).unwrap(),
            ),
            iterations: Some(iterations),
            think: ThinkPolicy::Recorded {
                scale: 0.0,
                jitter: 0.0,
            },
            dwell: Some(Duration::ZERO),
            grace: Duration::ZERO,
        },
        Mode::Http,
    );
    spec.http.client.insecure = insecure;
    spec
}

fn requests_by_outcome(summary: &RunSummary) -> (u64, BTreeMap<String, u64>) {
    let mut failures = BTreeMap::new();
    let mut count = 0;
    for e in summary.entries.iter().filter(|e| e.kind.is_request()) {
        count += e.count;
        for (k, v) in &e.failures_by_outcome {
            *failures.entry(k.clone()).or_default() += v;
        }
    }
    (count, failures)
}

#[tokio::test]
async fn https_with_insecure_counts_match_the_server_and_http_redirects_to_https() {
    let host = HttpsHost::start().await;
    // Self-signed: accepted with --insecure. Two users, four iterations each.
    let url = format!("https://localhost:{}/page", host.tls_port);
    let summary = run::execute(
        https_run_spec(&url, true, 4),
        Sink::new(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let (count, failures) = requests_by_outcome(&summary);
    assert_eq!(failures, BTreeMap::new());
    assert_eq!(count, 8);
    assert_eq!(host.tls_heads.lock().unwrap().len() as u64, count);

    // http -> https (301), a Secure session cookie set over TLS (302), sent back over TLS.
    host.tls_heads.lock().unwrap().clear();
    let url = format!("http://localhost:{}/login", host.plain_port);
    let summary = run::execute(
        https_run_spec(&url, true, 1),
        Sink::new(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let (count, failures) = requests_by_outcome(&summary);
    assert_eq!(failures, BTreeMap::new());
    let names: BTreeMap<&str, u64> = summary
        .entries
        .iter()
        .filter(|e| e.kind.is_request())
        .map(|e| (e.name.as_str(), e.count))
        .collect();
    let (plain, tls) = (host.plain_port, host.tls_port);
    assert_eq!(
        names,
        BTreeMap::from([
            (format!("GET http://localhost:{plain}/login").as_str(), 2),
            (format!("GET https://localhost:{tls}/login").as_str(), 2),
            (format!("GET https://localhost:{tls}/account").as_str(), 2),
        ])
    );
    let tls_heads = host.tls_heads.lock().unwrap().clone();
    assert_eq!(
        host.plain_heads.lock().unwrap().len() + tls_heads.len(),
        count as usize
    );
    let account: Vec<_> = tls_heads
        .iter()
        .filter(|h| h.starts_with("GET /account "))
        .collect();
    assert_eq!(account.len(), 2);
    assert!(
        account.iter().all(|h| h.contains("\r\ncookie: sid=s3cret")),
        "{account:?}"
    );
}

#[test]
fn an_untrusted_certificate_is_a_tls_failure_unless_insecure() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let host = rt.block_on(HttpsHost::start());
    let url = format!("https://localhost:{}/", host.tls_port);
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], out: &Path| {
        throng_bin()
            .args(["run", &url, "--users", "1", "--iterations", "3", "-q"])
            .args(["--duration", "20s", "--out"])
            .arg(out)
            .args(extra)
            .output()
            .unwrap()
    };
    let results = |out: &Path| {
        throng::report::read_results(&out.join("results.json"))
            .unwrap()
            .summary
    };

    // Without --insecure the self-signed certificate fails the check: counted, reported.
    let out = run(&[], &dir.path().join("strict"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Every session failed (each of the 3 iterations): exit 1 even without a threshold.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("tls"), "{stdout}");
    let (count, failures) = requests_by_outcome(&results(&dir.path().join("strict")));
    assert_eq!(count, 3);
    assert_eq!(failures, BTreeMap::from([("tls".to_string(), 3)]));
    assert!(host.tls_heads.lock().unwrap().is_empty());

    // -k accepts it: every request reaches the server.
    let out = run(&["-k"], &dir.path().join("insecure"));
    assert_eq!(out.status.code(), Some(0));
    let (count, failures) = requests_by_outcome(&results(&dir.path().join("insecure")));
    assert_eq!((count, failures.len()), (3, 0));
    assert_eq!(host.tls_heads.lock().unwrap().len(), 3);
}

/// A flow whose click lands on `landed` while the recording asserted `asserted` (and `title`).
fn asserting_flow(base: &str, landed: &str, asserted: &str, title: &str) -> serde_json::Value {
    serde_json::json!({
        "title": "asserting",
        "origin": base,
        "steps": [
            {"type": "navigate", "url": format!("{base}/")},
            {"type": "click", "selectors": [["a"]],
             "assertedEvents": [{"type": "navigation", "url": format!("{base}{asserted}"), "title": title}],
             "network": {"requests": [
                {"kind": "document", "method": "GET", "url": format!("{base}{landed}"), "status": 200}]}}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_checks_the_asserted_navigation_like_a_browser() {
    let server = support::demo().await;
    let base = server.base_url();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // Where the recording landed, fragment and all: passes.
        ("/", "/#top", "Home · Throng Shop", None),
        // A login answering its form again lands elsewhere: the step fails.
        ("/login", "/", "Home · Throng Shop", Some("navigated to")),
        (
            "/",
            "/",
            "Your account · Throng Shop",
            Some("page title is"),
        ),
    ];
    for (n, (landed, asserted, title, failure)) in cases.into_iter().enumerate() {
        let file = dir.path().join(format!("asserting{n}.json"));
        let flow = asserting_flow(&base, landed, asserted, title);
        std::fs::write(&file, flow.to_string()).unwrap();
        let prepared = config::prepare_flow(&file, None, &HashMap::new()).expect("flow prepares");
        let plan = closed_plan(1, Some(1), Duration::from_secs(30), 1.0);
        let spec = RunSpec::single(prepared, plan, Mode::Http);
        let summary = run::execute(spec, Sink::new(), CancellationToken::new())
            .await
            .expect("run completes");
        let reason = summary
            .counters
            .keys()
            .find(|k| k.starts_with("session failure"))
            .cloned();
        match failure {
            None => assert_eq!(reason, None, "case {n}: {:?}", summary.counters),
            Some(why) => {
                let reason =
                    reason.unwrap_or_else(|| panic!("case {n} passed: {:?}", summary.counters));
                assert!(reason.contains(why), "case {n}: {reason}");
                assert_eq!(counter(&summary, "sessions.failed"), 1);
            }
        }
    }
    server.shutdown().await;
}
