//! Browser mode against hostile or foreign targets, with real Chromium: the host allow-list
//! holds for iframes and redirect hops, blocked requests are counted (not failed), a stalled
//! server's requests show up as interrupted at the run's deadline, and a 5xx document fails the
//! session as it does in HTTP mode.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use throng::flow::Flow;
use throng::metrics::{Mode, RunSummary, Sink};
use throng::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
use throng::replay::browser::BrowserOptions;
use throng::replay::{PreparedFlow, VarSources};
use throng::run::{self, FlowChoice, RunSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use url::Url;

/// A small site on 127.0.0.1 whose pages point at `localhost` (another host, same server);
/// it records the Host and path of every request.
struct Site {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Site {
    async fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve(s, addr.port(), log.clone()));
            }
        });
        Site { addr, seen }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Requests that reached the server under host name `host`.
    fn paths_on(&self, host: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(h, _)| h.split(':').next() == Some(host))
            .map(|(_, p)| p.clone())
            .collect()
    }
}

async fn serve(mut s: TcpStream, port: u16, seen: Arc<Mutex<Vec<(String, String)>>>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).to_string();
        got.drain(..end + 4);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let host = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("host: ")
                    .or_else(|| l.strip_prefix("Host: "))
            })
            .unwrap_or_default()
            .to_string();
        seen.lock().unwrap().push((host, path.clone()));
        let other = format!("http://localhost:{port}");
        let (status, extra, body) = match path.as_str() {
            "/frame-page" => (
                "200 OK",
                String::new(),
                format!("<html><body><iframe src='{other}/in-frame'></iframe></body></html>"),
            ),
            "/redirect" => (
                "302 Found",
                format!("Location: {other}/landed\r\n"),
                String::new(),
            ),
            "/stall" => {
                std::future::pending::<()>().await;
                unreachable!()
            }
            "/broken" => (
                "503 Service Unavailable",
                String::new(),
                "<html>down</html>".into(),
            ),
            _ => (
                "200 OK",
                String::new(),
                "<html><body>ok</body></html>".into(),
            ),
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn flow(base: &str, steps: serde_json::Value) -> Arc<PreparedFlow> {
    let flow: Flow = serde_json::from_value(serde_json::json!({"title": "t", "steps": steps}))
        .expect("flow parses");
    Arc::new(PreparedFlow::new(
        "t",
        flow,
        Url::parse(base).unwrap(),
        Arc::new(VarSources::default()),
    ))
}

/// One browser user running `flow` once (or until `secs` pass), no grace.
async fn run_browser(flow: Arc<PreparedFlow>, secs: u64, iterations: Option<u64>) -> RunSummary {
    let spec = RunSpec {
        keep_sessions: None,
        fake: Default::default(),
        logins: Vec::new(),
        flows: vec![FlowChoice {
            flow,
            weight: 1,
            mode: None,
        }],
        plan: LoadPlan {
            browsers: None,
            arrival: Arrival::Users(
                Stages::ramp_and_hold(1, Duration::ZERO, Duration::from_secs(secs)).unwrap(),
            ),
            iterations,
            think: ThinkPolicy::Recorded {
                scale: 0.0,
                jitter: 0.0,
            },
            dwell: Some(Duration::ZERO),
            grace: Duration::ZERO,
            drain: Duration::ZERO,
        },
        trace: None,
        mode: Mode::Browser,
        http: Default::default(),
        browser: BrowserOptions {
            processes: Some(1),
            sessions_per_process: Some(2),
            step_timeout: Duration::from_secs(20),
            ..BrowserOptions::default()
        },
    };
    run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .expect("run completes")
}

fn failures(summary: &RunSummary) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in summary.entries.iter().filter(|e| e.kind.is_request()) {
        for (k, v) in &e.failures_by_outcome {
            *out.entry(k.clone()).or_default() += v;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iframes_and_redirect_hops_to_other_hosts_are_blocked_and_counted_not_failed() {
    let site = Site::start().await;
    let base = site.base();
    let summary = run_browser(
        flow(
            &base,
            serde_json::json!([
                {"type": "navigate", "url": format!("{base}/frame-page")},
                {"type": "navigate", "url": format!("{base}/redirect")}
            ]),
        ),
        20,
        Some(1),
    )
    .await;
    assert_eq!(site.paths_on("localhost"), Vec::<String>::new());
    assert!(site
        .paths_on("127.0.0.1")
        .contains(&"/redirect".to_string()));
    assert_eq!(
        summary.counters.get("requests.blocked"),
        Some(&2),
        "{:?}",
        summary.counters
    );
    assert_eq!(
        failures(&summary).get("blocked"),
        None,
        "{:?}",
        failures(&summary)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_shows_its_requests_as_interrupted_at_the_deadline() {
    let site = Site::start().await;
    let base = site.base();
    let started = Instant::now();
    let summary = run_browser(
        flow(
            &base,
            serde_json::json!([{"type": "navigate", "url": format!("{base}/stall")}]),
        ),
        3,
        None,
    )
    .await;
    let took = started.elapsed();
    // Well before the 20 s step timeout (a browser start is part of the run).
    assert!(took < Duration::from_secs(12), "a 3 s run took {took:?}");
    let stalled = summary
        .entries
        .iter()
        .find(|e| e.kind.is_request() && e.name.ends_with("/stall"))
        .unwrap_or_else(|| panic!("no sample for the stalled request: {:?}", summary.entries));
    assert_eq!(stalled.count, 1);
    assert_eq!(stalled.interrupted, 1);
    assert_eq!(stalled.failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_document_fails_the_session_in_browser_mode_as_in_http_mode() {
    let site = Site::start().await;
    let base = site.base();
    let steps = serde_json::json!([
        {"type": "navigate", "url": format!("{base}/broken")},
        {"type": "navigate", "url": format!("{base}/after")}
    ]);
    let summary = run_browser(flow(&base, steps.clone()), 20, Some(1)).await;
    assert_eq!(
        summary.counters.get("sessions.failed"),
        Some(&1),
        "{:?}",
        summary.counters
    );
    assert_eq!(summary.counters.get("sessions.completed"), None);
    assert!(!site.paths_on("127.0.0.1").contains(&"/after".to_string()));
    let failure = summary
        .counters
        .keys()
        .find(|k| k.starts_with("session failure:"))
        .expect("a failure message");
    assert!(failure.contains("503"), "{failure}");

    // HTTP mode, same flow: the same rule.
    let spec = RunSpec {
        keep_sessions: None,
        fake: Default::default(),
        logins: Vec::new(),
        flows: vec![FlowChoice {
            mode: None,
            flow: flow(&base, steps),
            weight: 1,
        }],
        plan: LoadPlan {
            browsers: None,
            arrival: Arrival::Users(
                Stages::ramp_and_hold(1, Duration::ZERO, Duration::from_secs(20)).unwrap(),
            ),
            iterations: Some(1),
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
    };
    let http = run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(http.counters.get("sessions.failed"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdp_events_throng_never_reads_are_counted_by_method_but_not_flagged() {
    let site = crate::support::demo().await;
    let base = site.base_url();
    let steps = serde_json::json!([
        {"type": "navigate", "url": format!("{base}/")},
        {"type": "navigate", "url": format!("{base}/login")}
    ]);
    let summary = run_browser(flow(&base, steps), 20, Some(1)).await;
    site.shutdown().await;
    assert_eq!(summary.counters.get("sessions.completed"), Some(&1));
    let cdp: Vec<_> = summary
        .counters
        .keys()
        .filter(|k| k.starts_with("cdp."))
        .collect();
    // Chromium 156 sends `Network.requestWillBeSentExtraInfo`, which chromiumoxide 0.9
    // cannot parse; throng never reads it.
    assert!(
        !cdp.is_empty() && cdp.iter().all(|k| k.starts_with("cdp.ignored_unparsable.")),
        "{cdp:?}"
    );
}

#[tokio::test]
async fn http_mode_blocks_other_hosts_for_ajax_and_redirect_hops_and_counts_them() {
    let site = Site::start().await;
    let base = site.base();
    let other = format!("http://localhost:{}", site.addr.port());
    // Recorded without `external` (a hand-edited or imported flow): the host decides.
    let steps = serde_json::json!([
        {"type": "navigate", "url": format!("{base}/ok"), "network": {"requests": [
            {"kind": "document", "method": "GET", "url": format!("{base}/ok")},
            {"kind": "ajax", "method": "GET", "url": format!("{other}/api")}]}},
        {"type": "navigate", "url": format!("{base}/redirect")}
    ]);
    let spec = RunSpec {
        keep_sessions: None,
        fake: Default::default(),
        logins: Vec::new(),
        flows: vec![FlowChoice {
            mode: None,
            flow: flow(&base, steps),
            weight: 1,
        }],
        plan: LoadPlan {
            browsers: None,
            arrival: Arrival::Users(
                Stages::ramp_and_hold(1, Duration::ZERO, Duration::from_secs(20)).unwrap(),
            ),
            iterations: Some(1),
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
    };
    let summary = run::execute(spec, Sink::new(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(site.paths_on("localhost"), Vec::<String>::new());
    assert_eq!(site.paths_on("127.0.0.1"), ["/ok", "/redirect"]);
    assert_eq!(summary.counters.get("requests.blocked"), Some(&2));
    assert_eq!(failures(&summary), BTreeMap::new());
    // The redirect led off the allowed hosts: the step (and session) says so.
    let failure = summary
        .counters
        .keys()
        .find(|k| k.starts_with("session failure:"))
        .expect("the session failed");
    assert!(failure.contains("--allow-host"), "{failure}");
}
