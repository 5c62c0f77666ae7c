//! The recorder against the demo site: a headless recording driven over CDP with trusted input
//! events, a HAR built from a real browser's network events and imported, and bad input.

mod bad_input;
mod caret;
mod closing;
mod created;
mod encoding;
mod ending;
mod examples;
mod fake;
mod fixture;
mod fuzz;
mod har;
mod hostile;
mod keyboard;
mod live;
mod page_made;
mod passwords;
mod pasted;
mod pollers;
mod selectors;
mod spa;

use crate::support;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use throng_recorder::cdp::{Cdp, Event};
use throng_recorder::{record, EndReason, RecordError, RecordOptions, RecordSummary};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A headless recording in the background, and the URL to drive its browser with.
struct Recording {
    ws_url: String,
    stop: tokio_util::sync::CancellationToken,
    task: JoinHandle<Result<RecordSummary, RecordError>>,
}

async fn start_recording(url: &str, out: &Path) -> Recording {
    start_recording_with(url, out, &[]).await
}

/// A recording where the fields named in `secrets` are never written in clear.
async fn start_recording_with(url: &str, out: &Path, secrets: &[&str]) -> Recording {
    let mut opts = RecordOptions::new(url, out);
    opts.headless = true;
    opts.secrets = secrets.iter().map(|s| s.to_string()).collect();
    opts.ctrl_c = false;
    let (tx, rx) = oneshot::channel();
    opts.on_ready = Some(Box::new(move |ws| {
        let _ = tx.send(ws);
    }));
    let stop = opts.stop.clone();
    let task = tokio::spawn(record(opts));
    let ws_url = match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(ws)) => ws,
        _ => panic!("recorder not ready: {:?}", task.await),
    };
    Recording { ws_url, stop, task }
}

/// Drives the recorded tab like a person: real (trusted) mouse and keyboard input over CDP.
struct Driver {
    cdp: Arc<Cdp>,
    session: String,
}

impl Driver {
    async fn connect(ws_url: &str) -> Driver {
        Self::connect_with_events(ws_url).await.0
    }

    /// The driver and the events of its connection (its own session's network, once enabled).
    async fn connect_with_events(ws_url: &str) -> (Driver, mpsc::UnboundedReceiver<Event>) {
        let (cdp, events) = Cdp::connect(ws_url).await.expect("driver connects");
        let target = cdp
            .first_page_target()
            .await
            .unwrap()
            .expect("a tab to drive");
        let session = cdp.attach(&target).await.expect("driver attaches");
        let driver = Driver {
            cdp: Arc::new(cdp),
            session,
        };
        (driver, events)
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        self.cdp
            .call(method, params, Some(&self.session))
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Evaluates in the page; None while the page is between documents.
    async fn eval(&self, expr: &str) -> Option<Value> {
        let r = self
            .cdp
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true}),
                Some(&self.session),
            )
            .await
            .ok()?;
        r.get("exceptionDetails")
            .is_none()
            .then(|| r["result"]["value"].clone())
    }

    async fn wait_for(&self, what: &str, expr: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if self.eval(expr).await == Some(Value::Bool(true)) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for a page of the demo at `path` with its AJAX calls done.
    async fn wait_page(&self, path: &str) {
        let expr = format!(
            "location.pathname === {path:?} && document.readyState === 'complete' && document.body.getAttribute('data-ready') === '1'"
        );
        self.wait_for(path, &expr).await;
    }

    async fn click(&self, selector: &str) {
        // A point that hits the element itself (an inline link around blocks has gaps).
        let expr = format!(
            "(() => {{ const e = document.querySelector({selector:?}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
             const boxes = [e.getBoundingClientRect(), ...e.getClientRects(), ...[...e.querySelectorAll('*')].map(c => c.getBoundingClientRect())]; \
             for (const r of boxes) {{ const x = r.x + r.width / 2, y = r.y + r.height / 2; const hit = document.elementFromPoint(x, y); \
             if (hit && (hit === e || e.contains(hit))) return [x, y]; }} return null; }})()"
        );
        let mut at = None;
        for _ in 0..100 {
            at = self.eval(&expr).await.filter(Value::is_array);
            if at.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let at = at.unwrap_or_else(|| panic!("no element {selector}"));
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for (ty, count) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 1)] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": ty, "x": x, "y": y, "button": "left", "clickCount": count}),
            )
            .await;
        }
    }

    async fn type_text(&self, text: &str) {
        self.call("Input.insertText", json!({"text": text})).await;
    }

    async fn press_enter(&self) {
        let key = json!({"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13});
        let mut down = key.clone();
        down["type"] = json!("keyDown");
        down["text"] = json!("\r");
        let mut up = key;
        up["type"] = json!("keyUp");
        self.call("Input.dispatchKeyEvent", down).await;
        self.call("Input.dispatchKeyEvent", up).await;
    }

    async fn wheel(&self, dy: f64) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseWheel", "x": 300, "y": 300, "deltaX": 0, "deltaY": dy}),
        )
        .await;
    }

    /// A pause as a person would take (the recorder turns it into think time).
    async fn think(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

fn steps(flow: &Value) -> &Vec<Value> {
    flow["steps"].as_array().expect("steps")
}

fn requests(step: &Value) -> Vec<&Value> {
    step["network"]["requests"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn first_selector(step: &Value) -> &str {
    step["selectors"][0][0].as_str().unwrap_or("")
}

/// The step of type `ty` whose first (most robust) selector names `sel`.
fn step_with<'a>(flow: &'a Value, ty: &str, sel: &str) -> (usize, &'a Value) {
    steps(flow)
        .iter()
        .enumerate()
        .find(|(_, s)| s["type"] == ty && first_selector(s).contains(sel))
        .unwrap_or_else(|| panic!("no {ty} step on {sel} in {flow:#}"))
}

/// The step of type `ty` one of whose selectors names `sel` (a repeated test id is scoped by
/// position, and position chains come after names and text).
fn step_naming<'a>(flow: &'a Value, ty: &str, sel: &str) -> (usize, &'a Value) {
    steps(flow)
        .iter()
        .enumerate()
        .find(|(_, s)| s["type"] == ty && s["selectors"].to_string().contains(sel))
        .unwrap_or_else(|| panic!("no {ty} step on {sel} in {flow:#}"))
}

fn has_request(step: &Value, kind: &str, path_part: &str) -> bool {
    requests(step)
        .iter()
        .any(|r| r["kind"] == kind && r["url"].as_str().unwrap_or("").contains(path_part))
}

/// The browser's DevTools port is closed once the recorder returns: no Chromium left behind.
async fn assert_browser_gone(ws_url: &str) {
    let port: u16 = ws_url
        .trim_start_matches("ws://")
        .split(['/', ':'])
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("port in ws url");
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err();
    assert!(refused, "the recording browser still listens on {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_recording_of_the_shop_replays_its_network_and_hides_the_password() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shop.json");
    let rec = start_recording(&format!("{base}/"), &out).await;
    let d = Driver::connect(&rec.ws_url).await;

    d.wait_page("/").await;
    // Long enough on the home page for the poller to tick three times (two periods).
    d.think(6500).await;
    d.click("[data-testid=search]").await;
    d.think(300).await;
    d.type_text("lamp").await;
    d.think(400).await;
    d.press_enter().await;
    d.wait_page("/search").await;
    d.think(800).await;
    d.click("[data-testid=product-link]").await;
    d.wait_page(&product_path(&d).await).await;
    d.wheel(400.0).await;
    d.think(900).await;
    d.click("[data-testid=add-to-cart]").await;
    d.wait_page("/cart").await;
    d.think(500).await;
    d.click("[data-testid=login-link]").await;
    d.wait_page("/login").await;
    d.click("[data-testid=username]").await;
    d.type_text("alice").await;
    d.click("[data-testid=password]").await;
    d.type_text("wonderland").await;
    d.think(300).await;
    d.click("[data-testid=login-submit]").await;
    d.wait_page("/account").await;
    d.think(4500).await;
    drop(d);

    rec.stop.cancel();
    let summary = rec.task.await.unwrap().expect("recording succeeds");
    assert_eq!(summary.ended, EndReason::Stopped);
    assert_browser_gone(&rec.ws_url).await;

    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains("wonderland"),
        "password written in clear:\n{text}"
    );
    throng::flow::load(&out).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let flow: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(flow["format"], "throng-flow/1");
    assert_eq!(flow["origin"], base.as_str());
    assert_eq!(flow["selectorAttribute"], "data-testid");
    let s = steps(&flow);
    assert_eq!(s[0]["type"], "setViewport");
    assert_eq!(s[1]["type"], "navigate");

    // The home page: its document, assets and AJAX under the navigate step; the poller too.
    assert!(
        has_request(&s[1], "document", &format!("{base}/")),
        "{:#}",
        s[1]
    );
    assert!(has_request(&s[1], "static", "/static/app.js"));
    assert!(has_request(&s[1], "static", "/static/app.css"));
    assert!(has_request(&s[1], "ajax", "/api/featured"));
    let polls = s[1]["network"]["polling"]
        .as_array()
        .expect("poller on the home page");
    let poll = polls
        .iter()
        .find(|p| p["url"].as_str().unwrap().ends_with("/api/notifications"))
        .expect("notifications poller");
    let period = poll["periodMs"].as_u64().unwrap();
    assert!((1800..=2200).contains(&period), "poll period {period} ms");
    // Poll ticks are pollers, never one-off requests.
    for step in s {
        assert!(!has_request(step, "ajax", "/api/notifications"), "{step:#}");
    }

    // Search: the typed value, then Enter, which loaded the results page.
    let (ci, change) = step_with(&flow, "change", "[data-testid='search']");
    assert_eq!(change["value"], "lamp");
    let enter = &s[ci + 1];
    assert_eq!(enter["type"], "keyDown");
    assert_eq!(enter["key"], "Enter");
    assert!(
        has_request(enter, "document", "/search?q=lamp"),
        "{enter:#}"
    );
    assert!(has_request(enter, "static", "/static/app.js"));
    assert_eq!(enter["assertedEvents"][0]["type"], "navigation");
    let think = change["thinkTimeMs"].as_u64().unwrap();
    assert!(think >= 250, "think time before typing {think}");

    // Product: a click on a test-id link, its page and its three AJAX calls.
    let (_, product) = step_naming(&flow, "click", "[data-testid='product-link']");
    assert!(has_request(product, "document", "/product/"));
    for api in ["/api/reviews", "/api/stock", "/api/related"] {
        assert!(
            has_request(product, "ajax", api),
            "{api} under the product click"
        );
    }
    assert!(
        s.iter().any(|st| st["type"] == "scroll"),
        "the scroll is a step"
    );

    // Add to cart and login: form posts carry the CSRF token as an extracted variable.
    let vars = flow["variables"].as_array().expect("variables");
    let csrf_vars: Vec<&str> = vars
        .iter()
        .filter(|v| v["extract"]["css"] == "input[name=\"csrf\"]")
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(!csrf_vars.is_empty(), "csrf extraction in {vars:#?}");
    let (_, add) = step_with(&flow, "click", "[data-testid='add-to-cart']");
    let post = requests(add)
        .into_iter()
        .find(|r| r["method"] == "POST")
        .expect("cart POST");
    let body = post["body"].as_str().unwrap();
    assert!(
        csrf_vars
            .iter()
            .any(|v| body.contains(&format!("${{{v}}}"))),
        "{body}"
    );
    // Each redirect hop as the server answered it: the POST's 303, then the page it led to.
    assert_eq!(
        post["status"], 303,
        "the POST is recorded with its own status"
    );
    assert!(
        requests(add).iter().any(|r| r["kind"] == "document"
            && r["method"] == "GET"
            && r["url"].as_str().unwrap().ends_with("/cart")
            && r["status"] == 200),
        "the hop the 303 led to is its own document: {add:#}"
    );

    let (_, login) = step_with(&flow, "click", "[data-testid='login-submit']");
    let post = requests(login)
        .into_iter()
        .find(|r| r["method"] == "POST" && r["url"].as_str().unwrap().ends_with("/login"))
        .expect("login POST");
    assert_eq!(post["status"], 303);
    assert_eq!(
        login["assertedEvents"][0]["url"]
            .as_str()
            .map(|u| u.ends_with("/account")),
        Some(true),
        "the step asserts where the redirect landed: {login:#}"
    );
    let body = post["body"].as_str().unwrap();
    assert!(body.contains("username=alice"), "{body}");
    assert!(body.contains("password=${password}"), "{body}");
    assert!(
        csrf_vars
            .iter()
            .any(|v| body.contains(&format!("${{{v}}}"))),
        "{body}"
    );
    let (_, pw) = step_with(&flow, "change", "[data-testid='password']");
    assert_eq!(
        pw["value"], "$THRONG_PASSWORD",
        "a mask in the Recorder field"
    );
    assert_eq!(pw["valueTemplate"], "${password}");
    let secret = vars
        .iter()
        .find(|v| v["name"] == "password")
        .expect("password variable");
    assert_eq!(secret["secret"]["env"], "THRONG_PASSWORD");
    assert!(
        has_request(login, "ajax", "/api/orders"),
        "account page AJAX under the login click"
    );

    assert_eq!(summary.steps, s.len());
    assert!(summary.pollers >= 1);

    // The recording replays over HTTP: tokens extracted, password supplied, nothing refused.
    demo.reset_stats();
    let counters = replay_http_once(&base, &out).await;
    assert_eq!(
        counters.get("sessions.failed").copied().unwrap_or(0),
        0,
        "{counters:?}"
    );
    let stats = demo.stats();
    assert_eq!(stats.status(403), 0, "{stats:?}");
    assert_eq!(stats.route("POST /cart/add"), 1, "{stats:?}");
    assert_eq!(stats.route("POST /login"), 1, "{stats:?}");
    assert_eq!(stats.route("GET /account"), 1, "{stats:?}");
    demo.shutdown().await;
}

async fn product_path(d: &Driver) -> String {
    d.wait_for(
        "a product page",
        "location.pathname.startsWith('/product/')",
    )
    .await;
    d.eval("location.pathname")
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// Replays a flow file once in HTTP mode against the demo site; returns the run's counters.
async fn replay_http_once(base: &str, flow: &Path) -> std::collections::BTreeMap<String, u64> {
    replay_once(base, flow, throng::metrics::Mode::Http, 0.05)
        .await
        .counters
}

/// Replays a flow file once (one user, one iteration) in `mode` against `base`, think times
/// scaled by `think_scale` and not varied; returns the run's summary.
/// [`replay_once`], asserting that its one session did not fail.
async fn replay_cleanly(
    base: &str,
    flow: &Path,
    mode: throng::metrics::Mode,
    think_scale: f64,
) -> throng::metrics::RunSummary {
    let summary = replay_once(base, flow, mode, think_scale).await;
    let failed = summary
        .counters
        .get("sessions.failed")
        .copied()
        .unwrap_or(0);
    assert_eq!(failed, 0, "{mode:?} replay: {:?}", summary.counters);
    summary
}

async fn replay_once(
    base: &str,
    flow: &Path,
    mode: throng::metrics::Mode,
    think_scale: f64,
) -> throng::metrics::RunSummary {
    use throng::metrics::Sink;
    use throng::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
    use throng::run::RunSpec;
    let target = url::Url::parse(base).unwrap();
    let vars =
        std::collections::HashMap::from([("password".to_string(), "wonderland".to_string())]);
    let flow =
        throng::cli::config::prepare_flow(flow, Some(&target), &vars).expect("flow prepares");
    let spec = RunSpec::single(
        flow,
        LoadPlan {
            browsers: None,
            arrival: Arrival::Users(
                Stages::ramp_and_hold(1, Duration::ZERO, Duration::from_secs(60)).unwrap(),
            ),
            iterations: Some(1),
            think: ThinkPolicy::Recorded {
                scale: think_scale,
                jitter: 0.0,
            },
            dwell: Some(Duration::ZERO),
            grace: Duration::ZERO,
            drain: throng::plan::DEFAULT_DRAIN,
        },
        mode,
    );
    throng::run::execute(
        spec,
        Sink::new(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("replay runs")
}
