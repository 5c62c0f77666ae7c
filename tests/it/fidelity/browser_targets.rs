//! Browser mode counts what a page makes besides its own requests: a Web Worker's requests
//! (held to the host rules), the popups a click opens (a popup opened without a gesture is
//! blocked, as browsers do, and one to another host is held to the allow-list), a stream the
//! page aborts after its last event and a response cut by a navigation after its head:
//! completed requests, not lost ones.

use super::site::Site;
use super::{counter, flow, run_once, tally};
use serde_json::json;
use throng::metrics::Mode;

fn ready() -> serde_json::Value {
    json!({"type": "waitForElement", "selectors": [["body[data-ready='1']"]]})
}

fn pause(ms: u64) -> serde_json::Value {
    json!({"type": "waitForExpression",
           "expression": format!("new Promise(r => setTimeout(() => r(true), {ms}))")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_waits_for_its_disabled_button_to_be_enabled() {
    let site = Site::start().await;
    let base = site.base();
    // No think time: the click comes before the page enables the button.
    let steps = json!([
        {"type": "navigate", "url": format!("{base}/late-button")},
        {"type": "click", "selectors": [["#go"]], "offsetX": 5, "offsetY": 5},
        ready()
    ]);
    let summary = run_once(flow(&base, steps, &[]), Mode::Browser, 2).await;
    assert_eq!(
        counter(&summary, "sessions.completed"),
        2,
        "{:?}",
        summary.counters
    );
    assert_eq!(site.seen("POST /api/pressed"), 2, "{:?}", summary.counters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_workers_requests_are_completed_requests_of_its_page() {
    let site = Site::start().await;
    let base = site.base();
    let steps = json!([{"type": "navigate", "url": format!("{base}/worker")}, ready()]);
    let summary = run_once(flow(&base, steps, &[]), Mode::Browser, 2).await;
    assert_eq!(
        counter(&summary, "sessions.completed"),
        2,
        "{:?}",
        summary.counters
    );
    for path in ["/worker.js", "/api/from-worker"] {
        let got = tally(&summary, &format!("GET {base}{path}"));
        assert_eq!(got, (2, 0, 0), "{path}: (count, failed, interrupted)");
        assert_eq!(site.seen(&format!("GET {path}")), 2, "{path}");
    }
    assert!(
        counter(&summary, "workers.attached") >= 2,
        "{:?}",
        summary.counters
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popups_open_only_from_a_gesture_to_allowed_hosts_and_what_they_load_is_counted() {
    let site = Site::start().await;
    let base = site.base();
    let click =
        |id: &str| json!({"type": "click", "selectors": [[id]], "offsetX": 5, "offsetY": 5});
    let steps = json!([
        {"type": "navigate", "url": format!("{base}/popups")},
        click("#open"),
        click("#away"),
        pause(800)
    ]);
    let summary = run_once(flow(&base, steps, &[]), Mode::Browser, 2).await;
    assert_eq!(
        counter(&summary, "sessions.completed"),
        2,
        "{:?}",
        summary.counters
    );
    // On load, no gesture: blocked before it loads anything.
    assert_eq!(site.seen("GET /popup-onload"), 0, "{:?}", summary.counters);
    assert_eq!(
        counter(&summary, "popups.blocked"),
        2,
        "{:?}",
        summary.counters
    );
    // The clicked popup loads, and throng counts what it loads like the server does.
    assert_eq!(site.seen("GET /popup-page"), 2);
    assert_eq!(site.seen("GET /popup.css"), 2);
    assert_eq!(
        tally(&summary, &format!("GET {base}/popup-page")),
        (2, 0, 0)
    );
    assert_eq!(tally(&summary, &format!("GET {base}/popup.css")), (2, 0, 0));
    // The popup to another host never reaches it.
    assert_eq!(site.seen("GET /popup-page @localhost"), 0);
    assert!(
        counter(&summary, "requests.blocked") >= 2,
        "{:?}",
        summary.counters
    );
    assert_eq!(
        counter(&summary, "popups.opened"),
        4,
        "{:?}",
        summary.counters
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_page_aborts_and_a_response_cut_by_a_navigation_are_completed_requests() {
    let site = Site::start().await;
    let base = site.base();
    let steps = json!([
        {"type": "navigate", "url": format!("{base}/stream-page")},
        ready(),
        {"type": "navigate", "url": format!("{base}/cut-page")},
        {"type": "waitForExpression", "expression": "location.pathname === '/after-cut'"}
    ]);
    let summary = run_once(flow(&base, steps, &[]), Mode::Browser, 1).await;
    assert_eq!(
        counter(&summary, "sessions.completed"),
        1,
        "{:?}",
        summary.counters
    );
    // A stream, as HTTP mode counts one (timed to its head), not a request the page lost.
    assert_eq!(tally(&summary, &format!("GET {base}/stream")), (1, 0, 0));
    assert_eq!(tally(&summary, &format!("GET {base}/slow-body")), (1, 0, 0));
    assert_eq!(
        counter(&summary, "requests.canceled"),
        0,
        "{:?}",
        summary.counters
    );
    assert_eq!(site.seen("GET /stream"), 1);
    assert_eq!(site.seen("GET /slow-body"), 1);
}
