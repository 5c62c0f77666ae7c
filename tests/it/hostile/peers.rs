//! A worker obeys only its own coordinator (items 7, 12, 14), and a coordinator trusts no
//! peer's numbers (item 9): fake coordinators against a real worker, a hostile worker
//! (speaking the real handshake with the token) against a real coordinator.

use super::{ended, fds_and_rss, throng, worker, Coordinator, TOKEN};
use crate::support::demo;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use throng::dist::protocol::{Assignment, Orders, Welcome};
use throng::dist::secure::{Answer, Binding, Challenge, CoordinatorSide, Hello, Keys, WorkerSide};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn now_ms() -> u64 {
    throng::dist::protocol::now_unix_ms()
}

/// A server that is not the coordinator: it records every byte a worker sends and answers
/// the hello with a proof it cannot make.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_sends_no_token_to_a_server_that_cannot_prove_it_and_takes_no_orders() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(300), tcp.read(&mut buf)).await
                {
                    if n == 0 {
                        break;
                    }
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let challenge = serde_json::json!({
                    "run": "r", "id": "i", "nonce": "n", "key": "AAAA",
                    "now_unix_ms": 0, "proof": "Zm9yZ2Vk",
                })
                .to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{challenge}",
                    challenge.len()
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
            });
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let w = worker(&format!("http://{addr}"), "victim", TOKEN, tmp.path());
    let (code, _, stderr) = ended(w, Duration::from_secs(30)).await;
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("did not prove it holds the token"),
        "{stderr}"
    );
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(seen.contains("POST /v1/hello"), "{seen}");
    assert!(
        !seen.contains(TOKEN),
        "the token reached the impostor: {seen}"
    );
    assert!(
        !seen.to_ascii_lowercase().contains("authorization"),
        "{seen}"
    );
}

/// What a token-holding fake coordinator ships and how it answers reports.
struct Fake {
    side: Mutex<Option<CoordinatorSide>>,
    keys: Mutex<Option<Arc<Keys>>>,
    assignment: Assignment,
    /// Answer reports (else every report gets a 503).
    reports_ok: bool,
}

const RUN: &str = "fake-run";

fn open(fake: &Fake, headers: &HeaderMap, path: &str, body: Bytes) -> Option<(Arc<Keys>, u64)> {
    let seq: u64 = headers.get("x-throng-seq")?.to_str().ok()?.parse().ok()?;
    let keys = fake.keys.lock().unwrap().clone()?;
    let at = Binding {
        run: RUN,
        worker: 0,
        path,
        seq,
    };
    keys.open(at, body.to_vec()).ok()?;
    Some((keys, seq))
}

fn sealed<T: serde::Serialize>(keys: &Keys, path: &str, seq: u64, v: &T) -> Response {
    let at = Binding {
        run: RUN,
        worker: 0,
        path,
        seq,
    };
    keys.seal(at, serde_json::to_vec(v).unwrap())
        .into_response()
}

/// A coordinator that holds the token (so the worker joins it) and ships `assignment`.
async fn fake_coordinator(assignment: Assignment, reports_ok: bool) -> String {
    let fake = Arc::new(Fake {
        side: Mutex::new(None),
        keys: Mutex::new(None),
        assignment,
        reports_ok,
    });
    let app = Router::new()
        .route(
            "/v1/hello",
            post(
                |State(f): State<Arc<Fake>>, Json(h): Json<Hello>| async move {
                    let (side, c) = CoordinatorSide::challenge(TOKEN, RUN, h);
                    *f.side.lock().unwrap() = Some(side);
                    Json(c)
                },
            ),
        )
        .route(
            "/v1/join",
            post(
                |State(f): State<Arc<Fake>>, Json(a): Json<Answer>| async move {
                    let side = f.side.lock().unwrap().take().unwrap();
                    let keys = Arc::new(side.accept(TOKEN, &a).unwrap());
                    *f.keys.lock().unwrap() = Some(keys.clone());
                    sealed(&keys, "/v1/join", 0, &Welcome { worker_id: 0 })
                },
            ),
        )
        .route(
            "/v1/assignment",
            post(
                |State(f): State<Arc<Fake>>, h: HeaderMap, b: Bytes| async move {
                    let (keys, seq) = open(&f, &h, "/v1/assignment", b).unwrap();
                    let mut a = f.assignment.clone();
                    a.start_unix_ms = now_ms();
                    sealed(&keys, "/v1/assignment", seq, &Orders::Start(Box::new(a)))
                },
            ),
        )
        .route(
            "/v1/report",
            post(
                |State(f): State<Arc<Fake>>, h: HeaderMap, b: Bytes| async move {
                    let (keys, seq) = open(&f, &h, "/v1/report", b).unwrap();
                    if !f.reports_ok {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let reply = serde_json::json!({
                        "stop": false, "share": {"index": 0, "of": 1}, "users": null,
                        "series_acked_ms": 0,
                    });
                    sealed(&keys, "/v1/report", seq, &reply)
                },
            ),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// An assignment of `flow_json` under `throng run` flags `plan`.
fn assignment(flow_json: &str, plan: &[&str]) -> Assignment {
    use throng::cli::args::Command;
    let argv = ["throng", "run", "x"].iter().chain(plan);
    let Command::Run(args) = throng::cli::Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let plan = throng::cli::config::plan(&args.plan, 1, "2s").unwrap();
    let flow = throng::flow::parse(flow_json, "shipped.json").unwrap();
    Assignment {
        start_unix_ms: 0,
        plan_offset_ms: 0,
        share: throng::plan::Share::WHOLE,
        modes: throng::plan::ModeShares::default(),
        mode: args.mode,
        plan,
        flows: vec![throng::dist::protocol::ShippedFlow {
            name: "shipped".into(),
            label: "shipped.json".into(),
            weight: 1,
            url: None,
            flow: Some(flow),
            network: None,
        }],
        target: None,
        vars: Default::default(),
        replay: args.replay,
        cacert: None,
    }
}

use clap::Parser as _;

/// A token-holding coordinator still cannot make a worker read this machine's files or
/// environment, nor run a share that does not fit it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_uses_only_what_is_shipped_and_refuses_a_share_that_does_not_fit() {
    let exfil = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    exfil.set_nonblocking(true).unwrap();
    let to = exfil.local_addr().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let creds = tmp.path().join("credentials.csv");
    std::fs::write(&creds, "k\nAKIA-LOCAL-SECRET\n").unwrap();
    let file_flow = format!(
        r#"{{"title": "x", "origin": "http://{to}",
            "variables": [{{"name": "k", "csv": {{"file": "{}", "column": "k"}}}}],
            "steps": [{{"type": "navigate", "url": "http://{to}/?k=${{k}}"}}]}}"#,
        creds.display()
    );
    let env_flow = format!(
        r#"{{"title": "x", "origin": "http://{to}",
            "variables": [{{"name": "k", "secret": {{"env": "AWS_SECRET_ACCESS_KEY"}}}}],
            "steps": [{{"type": "navigate", "url": "http://{to}/?k=${{k}}"}}]}}"#
    );
    let plain = format!(
        r#"{{"title": "x", "origin": "http://{to}",
            "steps": [{{"type": "navigate", "url": "http://{to}/"}}]}}"#
    );
    let cases = [
        (
            assignment(&file_flow, &["-d", "2s"]),
            "a worker reads no local files",
        ),
        (
            assignment(&env_flow, &["-d", "2s"]),
            "reads no environment variables",
        ),
        (
            assignment(&plain, &["-u", "10000000", "-d", "2s"]),
            "would need about",
        ),
    ];
    for (a, why) in cases {
        let addr = fake_coordinator(a, true).await;
        // The worker's own environment holds the secret the fake asks for.
        let w = super::throng(&["worker", "--connect", &addr, "--wait", "5s"])
            .env("THRONG_TOKEN", TOKEN)
            .env("AWS_SECRET_ACCESS_KEY", "aws-local-secret")
            .env("TMPDIR", tmp.path())
            .spawn()
            .unwrap();
        let (code, _, stderr) = ended(w, Duration::from_secs(30)).await;
        assert_eq!(code, 2, "{why}: {stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
    assert!(exfil.accept().is_err(), "nothing reached the other host");
}

/// The run goes, but no report is taken: the worker says so and exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_final_report_is_not_delivered_exits_1() {
    let site = demo().await;
    let flow = format!(
        r#"{{"title": "x", "origin": "{0}", "steps": [{{"type": "navigate", "url": "{0}/"}}]}}"#,
        site.base_url()
    );
    let addr = fake_coordinator(assignment(&flow, &["-d", "1s"]), false).await;
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, stderr) = ended(
        worker(&addr, "w", TOKEN, tmp.path()),
        Duration::from_secs(60),
    )
    .await;
    assert!(site.stats().total > 0, "the share ran");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the final report was not delivered"),
        "{stderr}"
    );
}

/// The test's side of a worker that holds the token: the real handshake, then whatever it
/// chooses to send.
pub(super) struct Peer {
    http: reqwest::Client,
    base: String,
    run: String,
    pub(super) id: u64,
    keys: Keys,
    pub(super) seq: u64,
}

impl Peer {
    pub(super) async fn join(base: &str, name: &str) -> Peer {
        let http = reqwest::Client::new();
        let (side, hello) = WorkerSide::hello(name, now_ms(), Some(8 << 30));
        let c: Challenge = http
            .post(format!("{base}/v1/hello"))
            .json(&hello)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (answer, keys) = side.answer(TOKEN, &c).unwrap();
        let sealed = http
            .post(format!("{base}/v1/join"))
            .json(&answer)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let at = Binding {
            run: &c.run,
            worker: 0,
            path: "/v1/join",
            seq: 0,
        };
        let welcome: Welcome =
            serde_json::from_slice(&keys.open(at, sealed.to_vec()).unwrap()).unwrap();
        Peer {
            http,
            base: base.to_string(),
            run: c.run,
            id: welcome.worker_id,
            keys,
            seq: 0,
        }
    }

    /// Sends `body` sealed as message `seq` of worker `as_id` (this peer's keys); returns the
    /// status and the opened answer.
    pub(super) async fn send_as(&mut self, as_id: u64, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        self.seq += 1;
        self.resend(as_id, path, body, self.seq).await
    }

    async fn resend(&self, as_id: u64, path: &str, body: &[u8], seq: u64) -> (u16, Vec<u8>) {
        let at = Binding {
            run: &self.run,
            worker: as_id,
            path,
            seq,
        };
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-throng-run", &self.run)
            .header("x-throng-worker", as_id.to_string())
            .header("x-throng-seq", seq.to_string())
            .body(self.keys.seal(at, body.to_vec()))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let bytes = r.bytes().await.unwrap().to_vec();
        let opened = self.keys.open(at, bytes.clone()).unwrap_or(bytes);
        (status, opened)
    }
}

/// A report with one entry and these per-second points and numbers.
fn report(id: u64, histogram: &str, points: usize, count: u64) -> Vec<u8> {
    let started = now_ms();
    let series: Vec<_> = (1..=points)
        .map(|i| {
            serde_json::json!({"t_ms": i as u64, "interval_ms": 1, "users": 1,
            "requests": 1, "failures": 0, "rps": 1.0, "p50_ms": null, "p95_ms": null,
            "p99_ms": null, "page_loads": 0, "page_load_p95_ms": null})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "worker_id": id, "users": 1, "done": false, "cpu_s": 0.1, "mem_mb": 10.0,
        "summary": {
            "started_unix_ms": started, "duration_ms": 500, "peak_users": 1,
            "entries": [{"mode": "http", "flow": "f", "step": 1, "kind": "document",
                "name": "GET http://h/", "count": count, "failures": 0,
                "failures_by_outcome": {}, "bytes": 10, "rps": 1.0,
                "latency": {"p50_ms": 1.0, "p90_ms": 1.0, "p95_ms": 1.0, "p99_ms": 1.0,
                            "max_ms": 1.0, "mean_ms": 1.0},
                "histogram": histogram}],
            "series": series, "counters": {},
        },
    }))
    .unwrap()
}

/// The 56 characters of a V2 histogram header that announces 4 GiB of counts.
fn histogram_bomb() -> String {
    use base64::Engine as _;
    let mut b = Vec::new();
    b.extend_from_slice(&0x1c84_9313u32.to_be_bytes());
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&3u32.to_be_bytes());
    b.extend_from_slice(&1u64.to_be_bytes());
    b.extend_from_slice(&3_600_000_000u64.to_be_bytes());
    b.extend_from_slice(&1f64.to_be_bytes());
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A worker with the token sends what a real run never produces: the coordinator refuses
/// each report (a gzip bomb too), stays small, binds ids to sessions, and the run still ends with its report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_worker_cannot_crash_bloat_or_impersonate_and_report_refuses_the_bomb() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let target = format!("{}/", site.base_url());
    // Made before the run starts: compressing 64 MiB takes seconds in a debug build on a
    // loaded machine, longer than the 4 s plan the attacks must fit in.
    let gzip_bomb = tokio::task::spawn_blocking(|| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &vec![0u8; 64 << 20]).unwrap();
        gz.finish().unwrap()
    })
    .await
    .unwrap();
    let coord = Coordinator::start(
        "127.0.0.1:0",
        true,
        &[
            &target,
            "-u",
            "2",
            "-d",
            "4s",
            "--workers",
            "2",
            "-q",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    let mut evil = Peer::join(&coord.addr, "evil").await;
    let real = worker(&coord.addr, "real", TOKEN, tmp.path());
    // Wait for the start (its assignment), as a worker does.
    loop {
        let (status, body) = evil.send_as(evil.id, "/v1/assignment", b"null").await;
        assert_eq!(status, 200);
        if String::from_utf8_lossy(&body).contains("Start") {
            break;
        }
    }
    let fine = throng::metrics::encode_histogram(&throng::metrics::new_histogram());
    let other = if evil.id == 0 { 1 } else { 0 };
    let cases: Vec<(Vec<u8>, u64, &str)> = vec![
        (
            report(evil.id, &histogram_bomb(), 0, 1),
            evil.id,
            "announces 4294967295 bytes",
        ),
        (report(other, &fine, 0, 1), evil.id, "a report for worker"),
        (
            report(evil.id, &fine, 5_000, 1),
            evil.id,
            "5000 per-second points",
        ),
        (
            report(evil.id, &fine, 0, u64::MAX - 3),
            evil.id,
            "beyond any run",
        ),
    ];
    for (body, as_id, why) in cases {
        let (got, text) = evil.send_as(as_id, "/v1/report", &body).await;
        let text = String::from_utf8_lossy(&text);
        assert_eq!(got, 422, "{why}: {text}");
        assert!(text.contains(why), "{why}: {text}");
    }
    // A gzipped report that inflates past the report limit (64 MiB of zeros in about
    // 64 KiB) is refused, not inflated whole.
    let (got, text) = evil.send_as(evil.id, "/v1/report", &gzip_bomb).await;
    let text = String::from_utf8_lossy(&text);
    assert_eq!(got, 400, "{text}");
    assert!(text.contains("larger than"), "{text}");
    // Another worker's session cannot be used without its keys, and a message replayed
    // (its number used) changes nothing.
    let honest = report(evil.id, &fine, 0, 1);
    let (got, text) = evil.resend(other, "/v1/report", &honest, 1 << 40).await;
    assert_eq!(got, 401, "{}", String::from_utf8_lossy(&text));
    let (got, _) = evil.resend(evil.id, "/v1/report", &honest, evil.seq).await;
    assert_eq!(got, 401);
    let (_, rss) = fds_and_rss(coord.pid);
    assert!(rss < 300.0, "the coordinator grew to {rss} MB");
    // The hostile worker goes silent: lost, its share moves on, the run ends honestly.
    let (wcode, _, werr) = ended(real, Duration::from_secs(60)).await;
    assert_eq!(wcode, 0, "{werr}");
    let (code, stderr) = coord.end(Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{stderr}");
    let results = super::results(&out);
    assert!(results["summary"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["count"].as_u64().unwrap() < 1 << 48));

    // The same histogram in a results.json: `throng report` and `throng diff` refuse it.
    let mut bombed = results.clone();
    bombed["summary"]["entries"][0]["histogram"] = histogram_bomb().into();
    let file = tmp.path().join("bombed.json");
    std::fs::write(&file, bombed.to_string()).unwrap();
    let good_file = out.join("results.json");
    for args in [
        vec!["report", file.to_str().unwrap()],
        vec!["diff", good_file.to_str().unwrap(), file.to_str().unwrap()],
    ] {
        let (code, _, stderr) =
            ended(throng(&args).spawn().unwrap(), Duration::from_secs(30)).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("announces 4294967295 bytes"), "{stderr}");
    }
    site.shutdown().await;
}
