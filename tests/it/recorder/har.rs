//! A HAR 1.2 log built from a real browser's network events on the demo shop imports into a
//! flow that validates, hides the password, correlates the CSRF token and replays over HTTP.

use super::{
    has_request, product_path, replay_http_once, requests, start_recording, steps, Driver,
};
use crate::support;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use throng_recorder::cdp::{Cdp, Event};
use tokio::sync::{mpsc, oneshot};

/// Milliseconds since the epoch as an ISO 8601 UTC date-time, as HAR files write them.
fn iso(ms: f64) -> String {
    let secs = (ms / 1000.0).floor() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let millis = (ms - secs as f64 * 1000.0).round() as i64;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn har_headers(h: &Value) -> Value {
    let list: Vec<Value> = h
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    Value::Array(list)
}

/// Builds a HAR 1.2 log from a browser session's Network events, the way DevTools exports one:
/// a page per top-level document, an entry per request (each redirect hop its own entry),
/// text bodies included, `_resourceType` and `_initiator` set.
async fn collect_har(
    cdp: Arc<Cdp>,
    session: String,
    main_frame: String,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut stop: oneshot::Receiver<()>,
) -> Value {
    let mut pages: Vec<Value> = Vec::new();
    let mut entries: Vec<Value> = Vec::new();
    let mut open: HashMap<String, (Value, f64, f64)> = HashMap::new(); // id -> (entry, wall ms, ts)
    loop {
        let ev = tokio::select! {
            ev = events.recv() => match ev { Some(ev) => ev, None => break },
            _ = &mut stop => break,
        };
        if ev.session_id.as_deref() != Some(session.as_str()) {
            continue;
        }
        let p = &ev.params;
        let id = p["requestId"].as_str().unwrap_or("").to_string();
        match ev.method.as_str() {
            "Network.requestWillBeSent" => {
                let ts = p["timestamp"].as_f64().unwrap();
                if let (Some(r), Some((mut e, wall, t0))) =
                    (p.get("redirectResponse"), open.remove(&id))
                {
                    e["response"] = json!({"status": r["status"], "statusText": r["statusText"],
                        "httpVersion": "HTTP/1.1", "headers": har_headers(&r["headers"]), "cookies": [],
                        "content": {"size": 0, "mimeType": r["mimeType"]}, "redirectURL": p["request"]["url"],
                        "headersSize": -1, "bodySize": -1});
                    e["time"] = json!((ts - t0) * 1000.0);
                    let _ = wall;
                    entries.push(e);
                }
                let wall = p["wallTime"].as_f64().unwrap() * 1000.0;
                let req = &p["request"];
                let ty = p["type"].as_str().unwrap_or("Other");
                if ty == "Document"
                    && p["frameId"] == main_frame.as_str()
                    && p.get("redirectResponse").is_none()
                {
                    pages.push(json!({"startedDateTime": iso(wall), "id": format!("page_{}", pages.len() + 1),
                        "title": req["url"], "pageTimings": {}}));
                }
                let mut e = json!({
                    "pageref": format!("page_{}", pages.len()),
                    "startedDateTime": iso(wall),
                    "request": {"method": req["method"], "url": req["url"], "httpVersion": "HTTP/1.1",
                        "headers": har_headers(&req["headers"]), "queryString": [], "cookies": [],
                        "headersSize": -1, "bodySize": 0},
                    "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0},
                    "_resourceType": ty.to_ascii_lowercase(),
                    "_initiator": p["initiator"],
                });
                if let Some(body) = req["postData"].as_str() {
                    let mime = req["headers"]["Content-Type"].as_str().unwrap_or("");
                    e["request"]["postData"] = json!({"mimeType": mime, "text": body});
                }
                open.insert(id, (e, wall, ts));
            }
            "Network.responseReceived" => {
                if let Some((e, _, _)) = open.get_mut(&id) {
                    let r = &p["response"];
                    e["response"] = json!({"status": r["status"], "statusText": r["statusText"],
                        "httpVersion": "HTTP/1.1", "headers": har_headers(&r["headers"]), "cookies": [],
                        "content": {"size": 0, "mimeType": r["mimeType"]}, "redirectURL": "",
                        "headersSize": -1, "bodySize": -1});
                }
            }
            "Network.loadingFinished" | "Network.loadingFailed" => {
                let Some((mut e, _, t0)) = open.remove(&id) else {
                    continue;
                };
                e["time"] = json!((p["timestamp"].as_f64().unwrap() - t0) * 1000.0);
                let mime = e["response"]["content"]["mimeType"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                if ev.method == "Network.loadingFinished"
                    && (mime.contains("html") || mime.contains("json"))
                {
                    let body = cdp
                        .call(
                            "Network.getResponseBody",
                            json!({"requestId": id}),
                            Some(&session),
                        )
                        .await;
                    if let Ok(b) = body {
                        e["response"]["content"]["text"] = b["body"].clone();
                    }
                }
                if e.get("response").is_none() {
                    e["response"] = json!({"status": 0, "statusText": "", "httpVersion": "", "headers": [],
                        "cookies": [], "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
                        "headersSize": -1, "bodySize": -1});
                }
                entries.push(e);
            }
            _ => {}
        }
    }
    json!({"log": {"version": "1.2", "creator": {"name": "throng tests", "version": "1"},
        "pages": pages, "entries": entries}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_har_of_the_shop_imports_with_pages_kinds_correlation_and_no_password() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    // The recorder only provides the browser here; the HAR comes from the test's own session.
    let rec = start_recording(&format!("{base}/login"), &dir.path().join("unused.json")).await;
    let (d, events) = Driver::connect_with_events(&rec.ws_url).await;
    let tree = d.call("Page.getFrameTree", json!({})).await;
    let main_frame = tree["frameTree"]["frame"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    d.call("Network.enable", json!({})).await;
    d.call("Network.setCacheDisabled", json!({"cacheDisabled": true}))
        .await;
    let (stop_tx, stop_rx) = oneshot::channel();
    let har = tokio::spawn(collect_har(
        d.cdp.clone(),
        d.session.clone(),
        main_frame,
        events,
        stop_rx,
    ));

    d.call("Page.navigate", json!({"url": format!("{base}/")}))
        .await;
    d.wait_page("/").await;
    // Long enough for the poller to tick three times.
    d.think(6500).await;
    d.click("[data-testid=catalog] [data-testid=product-link]")
        .await;
    let product = product_path(&d).await;
    d.wait_page(&product).await;
    d.click("[data-testid=login-link]").await;
    d.wait_page("/login").await;
    d.click("[data-testid=username]").await;
    d.type_text("alice").await;
    d.click("[data-testid=password]").await;
    d.type_text("wonderland").await;
    d.click("[data-testid=login-submit]").await;
    d.wait_page("/account").await;
    d.think(4500).await;
    stop_tx.send(()).unwrap();
    let har = har.await.unwrap();
    rec.stop.cancel();
    rec.task
        .await
        .unwrap()
        .expect("the browser's recorder ends cleanly");

    let har_path = dir.path().join("shop.har");
    std::fs::write(&har_path, serde_json::to_string_pretty(&har).unwrap()).unwrap();
    let flow = throng_recorder::import_file(&har_path).unwrap_or_else(|e| panic!("{e}"));
    let flow_path = dir.path().join("from-har.json");
    throng_recorder::write_flow(&flow_path, &flow).unwrap();
    let flow = serde_json::to_value(&flow).unwrap();
    let text = std::fs::read_to_string(&flow_path).unwrap();
    throng::flow::load(&flow_path).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(!text.contains("wonderland"), "password in clear:\n{text}");

    let s = steps(&flow);
    let navs: Vec<&str> = s
        .iter()
        .filter(|st| st["type"] == "navigate")
        .map(|st| st["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        navs,
        [
            format!("{base}/"),
            format!("{base}{product}"),
            format!("{base}/login"),
            format!("{base}/account")
        ],
        "one navigate step per page (the login POST lands on /account)"
    );
    assert!(has_request(&s[0], "static", "/static/app.css"));
    assert!(has_request(&s[0], "ajax", "/api/featured"));
    assert!(has_request(&s[1], "ajax", "/api/reviews"));
    let think = s[1]["thinkTimeMs"].as_u64().unwrap();
    assert!(
        think >= 3000,
        "the pause on the home page is a think time, got {think}"
    );
    let poll = s[0]["network"]["polling"][0]["periodMs"]
        .as_u64()
        .expect("home page poller");
    assert!((1800..=2200).contains(&poll), "poll period {poll}");
    let login = requests(&s[3])
        .into_iter()
        .find(|r| r["method"] == "POST")
        .expect("login POST");
    let body = login["body"].as_str().unwrap();
    assert!(
        body.contains("password=${password}") && body.contains("csrf=${csrf"),
        "{body}"
    );
    assert_eq!(
        flow["variables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["secret"]["env"] == "THRONG_PASSWORD")
            .count(),
        1
    );

    demo.reset_stats();
    let counters = replay_http_once(&base, &flow_path).await;
    assert_eq!(
        counters.get("sessions.failed").copied().unwrap_or(0),
        0,
        "{counters:?}"
    );
    let stats = demo.stats();
    assert_eq!(stats.status(403), 0, "{stats:?}");
    assert_eq!(stats.route("POST /login"), 1, "{stats:?}");
    demo.shutdown().await;
}

/// A HAR as Playwright writes it (tests/fixtures/real-apps/har.mjs, real playwright-core and
/// Chromium): a 7-page visit of the shop, one HAR page for the whole tab.
fn playwright_har(base: &str, out: &std::path::Path, pause_ms: u64) {
    let here =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-apps");
    assert!(
        here.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `bash .ci/setup`"
    );
    let chrome = ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("a Chromium");
    let run = std::process::Command::new("node")
        .arg(here.join("har.mjs"))
        .arg(base)
        .arg(out)
        .arg(pause_ms.to_string())
        .env("CHROME", chrome)
        .output()
        .expect("node runs");
    assert!(
        run.status.success(),
        "har.mjs: {}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playwright_har_of_seven_pages_imports_as_seven_spaced_navigations() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    let har_path = dir.path().join("visit.har");
    let (b, p) = (base.clone(), har_path.clone());
    tokio::task::spawn_blocking(move || playwright_har(&b, &p, 1000))
        .await
        .unwrap();
    let har: Value = serde_json::from_str(&std::fs::read_to_string(&har_path).unwrap()).unwrap();
    assert_eq!(
        har["log"]["pages"].as_array().map(Vec::len),
        Some(1),
        "Playwright writes one page for the tab"
    );

    let flow = throng_recorder::import_file(&har_path).unwrap_or_else(|e| panic!("{e}"));
    let flow_path = dir.path().join("from-har.json");
    throng_recorder::write_flow(&flow_path, &flow).unwrap();
    let text = std::fs::read_to_string(&flow_path).unwrap();
    throng::flow::load(&flow_path).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(!text.contains("wonderland"), "password in clear:\n{text}");
    let flow = serde_json::to_value(&flow).unwrap();
    let s = steps(&flow);

    // One navigate step per page, in order; a page reached by a form POST loads where its
    // redirect landed.
    assert!(s.iter().all(|st| st["type"] == "navigate"), "{text}");
    let paths: Vec<String> = s
        .iter()
        .map(|st| {
            st["url"]
                .as_str()
                .unwrap()
                .trim_start_matches(&base)
                .to_string()
        })
        .collect();
    assert_eq!(paths.len(), 7, "{paths:?}");
    assert_eq!(paths[0], "/");
    assert!(paths[1].starts_with("/product/"), "{paths:?}");
    assert_eq!(paths[2], "/search?q=lamp");
    assert!(paths[3].starts_with("/product/"), "{paths:?}");
    assert_eq!(&paths[4..], ["/cart", "/login", "/account"]);

    // Think times from the gaps: the visit paused a second on every page.
    let thinks: Vec<u64> = s[1..]
        .iter()
        .map(|st| st["thinkTimeMs"].as_u64().unwrap_or(0))
        .collect();
    assert!(thinks.iter().all(|&t| t >= 600), "think times {thinks:?}");

    // Entries under their page, redirect hops as answered.
    assert!(has_request(&s[0], "ajax", "/api/featured"));
    assert!(has_request(&s[1], "ajax", "/api/reviews"));
    assert!(has_request(&s[2], "document", "/search?q=lamp"));
    assert!(!has_request(&s[0], "document", "/product/"));
    let cart: Vec<(String, u64)> = requests(&s[4])
        .iter()
        .filter(|r| r["kind"] == "document")
        .map(|r| {
            let url = r["url"].as_str().unwrap().trim_start_matches(&base);
            (
                format!("{} {url}", r["method"].as_str().unwrap()),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cart,
        [
            ("POST /cart/add".to_string(), 303),
            ("GET /cart".to_string(), 200)
        ]
    );
    let login = requests(&s[6])
        .into_iter()
        .find(|r| r["method"] == "POST")
        .expect("the login POST under the account page");
    let body = login["body"].as_str().unwrap();
    assert!(
        body.contains("password=${password}") && body.contains("csrf=${csrf"),
        "{body}"
    );

    // HTTP: the pages one after another, spaced by the think times (never back to back).
    demo.reset_stats();
    let started = std::time::Instant::now();
    super::replay_cleanly(&base, &flow_path, throng::metrics::Mode::Http, 1.0).await;
    let took = started.elapsed();
    let total: u64 = thinks.iter().sum();
    assert!(
        took.as_millis() as u64 >= total,
        "7 pages in {took:?}, the think times add up to {total} ms"
    );
    let stats = demo.stats();
    assert_eq!(stats.status(403), 0, "{stats:?}");
    for route in [
        "GET /",
        "GET /search",
        "POST /cart/add",
        "GET /cart",
        "POST /login",
        "GET /account",
    ] {
        assert_eq!(stats.route(route), 1, "{route}: {stats:?}");
    }

    // Browser: every page loads (not only the first).
    demo.reset_stats();
    super::replay_cleanly(&base, &flow_path, throng::metrics::Mode::Browser, 0.1).await;
    let stats = demo.stats();
    for route in ["GET /", "GET /search", "GET /cart", "GET /account"] {
        assert_eq!(stats.route(route), 1, "{route}: {stats:?}");
    }
    let products: u64 = stats
        .routes
        .iter()
        .filter(|(k, _)| k.starts_with("GET /product/"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(products, 2, "{stats:?}");
    assert!(stats.route("GET /login") >= 1, "{stats:?}");
    demo.shutdown().await;
}
