//! OpenTelemetry (`--trace`, `--otlp`) against a real instrumented backend: a Flask app with
//! the OpenTelemetry SDK and its Flask instrumentation (tests/fixtures/otel/app.py), exporting
//! its server spans over OTLP/HTTP to a receiver built on the official protobuf package
//! (receiver.py), which also receives throng's own metrics and spans. A second instance of the
//! app stands for another origin the pages reach. Installed by .ci/setup
//! (tests/fixtures/otel/setup.sh).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::prometheus::run_throng;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/otel")
}

fn python() -> PathBuf {
    let p = fixtures().join(".venv/bin/python");
    assert!(
        p.exists(),
        "the OpenTelemetry test backend is not installed: run `bash .ci/setup` \
         (or tests/fixtures/otel/setup.sh)"
    );
    p
}

/// The receiver, the instrumented app and the other origin, on free loopback ports; killed
/// on drop.
struct Backend {
    dir: tempfile::TempDir,
    receiver: Child,
    apps: Vec<Child>,
    receiver_port: u16,
    app_port: u16,
    other_port: u16,
}

/// The port a fixture process printed (`listening PORT`), waited for up to 30 s.
fn listening_port(child: &mut std::process::Child, dir: &std::path::Path, log: &str) -> u16 {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
        // Read on: the process never writes into a closed pipe.
        lines.for_each(drop);
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    line.trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no port printed in 30 s ({line:?}): {}",
                std::fs::read_to_string(dir.join(log)).unwrap_or_default()
            )
        })
}

impl Backend {
    fn start() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Each process takes a free port itself and prints it: a port picked here and bound
        // there later could be taken meanwhile by another test's server.
        let mut receiver = Command::new(python())
            .arg(fixtures().join("receiver.py"))
            .arg("0")
            .arg(d.join("spans.jsonl"))
            .arg(d.join("metrics.jsonl"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(d.join("receiver.log")).unwrap())
            .spawn()
            .expect("the receiver starts");
        let receiver_port = listening_port(&mut receiver, d, "receiver.log");
        let app = |name: &str, other: Option<u16>| {
            let mut c = Command::new(python());
            c.arg(fixtures().join("app.py"))
                .args(["--name", name, "--port", "0"])
                .args(["--otlp", &format!("http://127.0.0.1:{receiver_port}")])
                .arg("--log")
                .arg(d.join(format!("{name}.jsonl")))
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(d.join(format!("{name}.log"))).unwrap());
            if let Some(o) = other {
                c.args(["--other", &format!("http://127.0.0.1:{o}")]);
            }
            let mut child = c.spawn().expect("the app starts");
            let port = listening_port(&mut child, d, &format!("{name}.log"));
            (child, port)
        };
        let (other, other_port) = app("otel-other", None);
        let (main, app_port) = app("otel-app", Some(other_port));
        Backend {
            dir,
            receiver,
            apps: vec![main, other],
            receiver_port,
            app_port,
            other_port,
        }
    }

    fn logs(&self) -> String {
        ["receiver.log", "otel-app.log", "otel-other.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.app_port)
    }

    fn otlp(&self) -> String {
        format!("http://127.0.0.1:{}", self.receiver_port)
    }

    /// Home (its assets, its AJAX, an image and a fetch from the other origin), a slow page,
    /// and an old address that redirects home.
    fn flow(&self) -> PathBuf {
        let (o, other) = (
            self.origin(),
            format!("http://127.0.0.1:{}", self.other_port),
        );
        let flow = json!({
            "title": "otel", "origin": o, "tracestate": "throng=test",
            "steps": [
                {"type": "navigate", "url": format!("{o}/"), "network": {"requests": [
                    {"kind": "document", "method": "GET", "url": format!("{o}/")},
                    {"kind": "static", "method": "GET", "url": format!("{o}/static/app.css")},
                    {"kind": "static", "method": "GET", "url": format!("{o}/static/app.js")},
                    {"kind": "ajax", "method": "GET", "url": format!("{o}/api/items")},
                    {"kind": "ajax", "method": "GET", "url": format!("{other}/api/ping")}
                ]}},
                {"type": "navigate", "url": format!("{o}/slow")},
                {"type": "navigate", "url": format!("{o}/old")}
            ]
        });
        let path = self.dir.path().join("flow.json");
        std::fs::write(&path, flow.to_string()).unwrap();
        path
    }

    /// Stops the apps (SIGTERM: they flush their batched spans) and waits for them.
    fn stop_apps(&mut self) {
        for app in &mut self.apps {
            let _ = Command::new("kill")
                .args(["-TERM", &app.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for app in &mut self.apps {
            while app.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "the apps did not stop");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn lines(&self, file: &str) -> Vec<Value> {
        read_lines(&self.dir.path().join(file))
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        for c in self.apps.iter_mut().chain([&mut self.receiver]) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// An OTLP/JSON attribute list as a map (string and int values).
fn attrs(list: &Value) -> HashMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let v = &a["value"];
            let text = v["stringValue"]
                .as_str()
                .map(str::to_string)
                .or_else(|| v["intValue"].as_str().map(str::to_string))
                .unwrap_or_default();
            (s(a, "key"), text)
        })
        .collect()
}

/// Runs the flow with `--trace --otlp` in `mode` and checks what the backend saw.
async fn traced_run(mode: &str, users: &str) {
    let mut backend = Backend::start();
    let out = tempfile::tempdir().unwrap();
    let flow = backend.flow();
    let args: Vec<String> = [
        "run",
        flow.to_str().unwrap(),
        "--mode",
        mode,
        "--users",
        users,
        "--iterations",
        "2",
        "--think-scale",
        "0",
        "--trace",
        "--otlp",
        &backend.otlp(),
        "--otlp-interval",
        "500ms",
        "--otlp-header",
        "X-Collector-Key=s3cret-key",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = run_throng(&args, out.path()).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, backend.logs());
    assert!(!run.stderr.contains("s3cret-key"), "{}", run.stderr);
    backend.stop_apps();

    let spans = backend.lines("spans.jsonl");
    let of = |service: &str| -> Vec<&Value> {
        spans.iter().filter(|x| x["service"] == service).collect()
    };
    let (ours, server, other) = (of("throng"), of("otel-app"), of("otel-other"));
    let by_id: HashMap<String, &Value> = ours.iter().map(|x| (s(x, "span_id"), *x)).collect();
    let role = |x: &Value| {
        x["attributes"]["throng.role"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let requests: HashSet<String> = ours
        .iter()
        .filter(|x| role(x) == "request")
        .map(|x| s(x, "span_id"))
        .collect();
    let traces: HashSet<String> = ours.iter().map(|x| s(x, "trace_id")).collect();
    let served = backend.lines("otel-app.jsonl");
    assert!(served.len() >= 12, "{served:?}");
    // Every server span of a request throng sent: a trace throng reported, under the request
    // span throng exported (the target's parent is the request span).
    assert_eq!(
        server.len(),
        served.len(),
        "a server span per request served"
    );
    for x in &server {
        assert!(
            traces.contains(&s(x, "trace_id")),
            "{x} not in throng's traces"
        );
        assert!(
            requests.contains(&s(x, "parent_span_id")),
            "{x}: its parent is not one of throng's request spans"
        );
    }
    // Each request carried the flow's tracestate; the other origin got no trace context
    // (and so made only root spans).
    assert!(
        served.iter().all(|r| r["tracestate"] == "throng=test"),
        "{served:?}"
    );
    let reached = backend.lines("otel-other.jsonl");
    assert!(
        reached.len() >= 4,
        "the other origin was reached: {reached:?}"
    );
    assert!(
        reached
            .iter()
            .all(|r| r["traceparent"].is_null() && r["tracestate"].is_null()),
        "{reached:?}"
    );
    assert!(other.iter().all(|x| s(x, "parent_span_id").is_empty()));
    // session > step > page load > request.
    for x in &ours {
        let parent = by_id.get(&s(x, "parent_span_id")).map(|p| role(p));
        let want = match role(x).as_str() {
            "request" => vec!["page-load", "step"],
            "page-load" => vec!["step"],
            _ => vec![],
        };
        match parent {
            Some(p) => assert!(want.contains(&p.as_str()), "{x} under a {p}"),
            None => assert!(want.is_empty(), "{x} has no parent"),
        }
        if role(x) == "step" {
            let link = &x["links"][0][1];
            assert_eq!(
                by_id
                    .get(link.as_str().unwrap())
                    .map(|p| role(p))
                    .as_deref(),
                Some("session")
            );
        }
        for key in ["throng.mode", "throng.flow", "throng.outcome"] {
            assert!(x["attributes"].get(key).is_some(), "{key} in {x}");
        }
        assert_eq!(x["attributes"]["throng.mode"], mode);
    }

    // The last metrics export holds the final totals: results.json's.
    let exports = backend.lines("metrics.jsonl");
    let last = exports.last().expect("metrics exported");
    assert_eq!(last["headers"]["x-collector-key"], "s3cret-key");
    let metrics = &last["request"]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
    let metric = |name: &str| {
        metrics
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name} exported"))
            .clone()
    };
    let mut exported: BTreeMap<(String, String), f64> = BTreeMap::new();
    for p in metric("throng_requests_total")["sum"]["dataPoints"]
        .as_array()
        .unwrap()
    {
        let a = attrs(&p["attributes"]);
        *exported
            .entry((a["kind"].clone(), a["name"].clone()))
            .or_default() += p["asDouble"].as_f64().unwrap();
    }
    let mut counted: BTreeMap<(String, String), f64> = BTreeMap::new();
    for e in run.summary.entries.iter().filter(|e| e.kind.is_request()) {
        *counted
            .entry((e.kind.to_string(), e.name.clone()))
            .or_default() += e.count as f64;
    }
    assert_eq!(exported, counted);
    let pages: u64 = metric("throng_page_load_seconds")["histogram"]["dataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(pages, run.summary.page_loads());
    let finished = &metric("throng_run_finished")["gauge"]["dataPoints"][0];
    assert_eq!(finished["asDouble"], 1.0);
    let resource = attrs(&last["request"]["resourceMetrics"][0]["resource"]["attributes"]);
    assert_eq!(resource["service.name"], "throng");
    assert!(!resource["throng.run"].is_empty());

    // The slowest request report.html names: its trace is among the server's spans.
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    let table = html
        .split(&format!(r#"id="slowest-requests-{mode}""#))
        .nth(1)
        .expect("report.html lists the slowest requests");
    let trace = table
        .split(r#"data-trace-id=""#)
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap();
    assert!(
        server.iter().any(|x| s(x, "trace_id") == trace),
        "{trace} not among the server's spans"
    );
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    assert!(results["slowest"].as_array().is_some_and(|a| !a.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_run_with_trace_links_every_server_span_to_throngs_request_span() {
    traced_run("http", "2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_run_with_trace_links_every_server_span_to_throngs_request_span() {
    traced_run("browser", "1").await;
}

/// A collector that accepts connections and never answers: the run still ends on time, and
/// the exports are counted as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_collector_never_holds_the_run() {
    let site = crate::support::demo().await;
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = hanging.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = hanging.accept().await {
            open.push(conn);
        }
    });
    let args: Vec<String> = [
        "run",
        "flows/shop.json",
        "--var",
        "password=wonderland",
        "--target",
        &site.base_url(),
        "--users",
        "2",
        "--duration",
        "2s",
        "--think-scale",
        "0.2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let reference_out = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let reference = run_throng(&args, reference_out.path()).await;
    let reference_took = t0.elapsed();
    assert_eq!(reference.code, 0, "{}", reference.stderr);
    let mut traced = args.clone();
    traced.extend(
        [
            "--trace",
            "--otlp",
            &format!("http://127.0.0.1:{port}"),
            "--otlp-interval",
            "500ms",
        ]
        .map(String::from),
    );
    let out = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let run = run_throng(&traced, out.path()).await;
    let took = t0.elapsed();
    held.abort();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary.total(None, None).count > 10);
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("otlp: "))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(
        !line.contains(" 0 failed") && run.stderr.contains("OTLP export to"),
        "{}",
        run.stderr
    );
    // The final export's budget (5 s) bounds what a hanging collector adds.
    assert!(
        took < reference_took + Duration::from_secs(9),
        "{took:?} against {reference_took:?} without --otlp"
    );
}

/// A distributed run: each worker exports its own spans (the coordinator the merged metrics),
/// all under the coordinator's run, and every server span's parent is a request span a worker
/// exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_export_their_spans_under_the_coordinators_run() {
    use crate::distributed::{coordinator, exit_of, worker};
    let mut backend = Backend::start();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let flow = backend.flow();
    let otlp = backend.otlp();
    let coord = coordinator(&[
        flow.to_str().unwrap(),
        "--users",
        "2",
        "--iterations",
        "2",
        "--think-scale",
        "0",
        "--trace",
        "--otlp",
        &otlp,
        "--otlp-interval",
        "500ms",
        "--workers",
        "2",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let workers = [
        worker(&coord.addr, "w1", tmp.path()),
        worker(&coord.addr, "w2", tmp.path()),
    ];
    let (code, stderr) = coord.end().await;
    assert_eq!(code, 0, "{stderr}\n{}", backend.logs());
    for w in workers {
        let (wcode, _, werr) = exit_of(w).await;
        assert_eq!(wcode, 0, "{werr}");
    }
    backend.stop_apps();
    let spans = backend.lines("spans.jsonl");
    let ours: Vec<&Value> = spans.iter().filter(|x| x["service"] == "throng").collect();
    let requests: HashSet<String> = ours
        .iter()
        .filter(|x| x["attributes"]["throng.role"] == "request")
        .map(|x| s(x, "span_id"))
        .collect();
    let served = backend.lines("otel-app.jsonl");
    // 2 users x 2 iterations x (home + its 3 requests + slow + old and its redirect target).
    assert!(served.len() >= 4 * 6, "{served:?}");
    let server: Vec<&Value> = spans
        .iter()
        .filter(|x| x["service"] == "otel-app")
        .collect();
    assert_eq!(
        server.len(),
        served.len(),
        "a server span per request served"
    );
    for x in &server {
        assert!(
            requests.contains(&s(x, "parent_span_id")),
            "{x}: its parent is not a request span a worker exported"
        );
    }
    let runs: HashSet<String> = ours.iter().map(|x| s(x, "run")).collect();
    assert_eq!(runs.len(), 1, "one run for every worker's spans: {runs:?}");
    let metric_runs: HashSet<String> = backend
        .lines("metrics.jsonl")
        .iter()
        .flat_map(|m| {
            m["request"]["resourceMetrics"][0]["resource"]["attributes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|a| a["key"] == "throng.run")
        .map(|a| s(&a["value"], "stringValue"))
        .collect();
    assert_eq!(
        metric_runs, runs,
        "the coordinator's metrics name the same run"
    );
}
