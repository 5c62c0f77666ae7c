//! The demo's single-page app recorded by a person's clicks: a token login by `fetch` opens a
//! WebSocket whose URL carries a one-time ticket and whose first message carries the token,
//! and a button reads results as an event stream through `fetch()`. The flow files the socket
//! under the login click and the stream under its button, with the login's values as
//! variables; both modes replay them as the site counts: every socket opened after its own
//! login, authenticated, closed cleanly (1000), every stream held open, not waited for.

use super::{start_recording, steps, Driver};
use crate::support;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use throng::demo::SpaStats;

/// The step of the click on the element with test id `id`.
fn click_on<'a>(flow: &'a Value, id: &str) -> &'a Value {
    steps(flow)
        .iter()
        .find(|s| s["type"] == "click" && s["selectors"].to_string().contains(id))
        .unwrap_or_else(|| panic!("a click on {id}: {flow:#}"))
}

/// Runs `flow` in `mode` with `users` users once each; returns the results.
async fn run(flow: &std::path::Path, base: &str, mode: &str, users: u32) -> Value {
    let out = crate::support::throng_async()
        .arg("run")
        .arg(flow)
        .args(["--target", base, "--mode", mode, "--ramp", "0s"])
        .args(["--users", &users.to_string(), "--iterations", "1"])
        // The recorded pauses: the results button is enabled once the login answered.
        .args(["--duration", "60s", "--think-jitter", "0", "--dwell", "1s"])
        // A stream waited for as a request would fail the step at this timeout.
        .args(["--timeout", "8s", "--var", "password=wonderland"])
        .args(["-q", "--out", "-", "--format", "json"])
        .output()
        .await
        .expect("throng runs");
    assert!(
        out.status.success(),
        "{mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn counts(results: &Value) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut kinds = BTreeMap::new();
    for e in results["summary"]["entries"].as_array().unwrap() {
        assert_eq!(
            e["failures"], 0,
            "{e}\n{:#}",
            results["summary"]["counters"]
        );
        let kind = e["kind"].as_str().unwrap().to_string();
        *kinds.entry(kind).or_default() += e["count"].as_u64().unwrap();
    }
    let counters = serde_json::from_value(results["summary"]["counters"].clone()).unwrap();
    (counters, kinds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_opened_by_a_login_and_a_fetch_stream_replay_after_the_login_in_both_modes() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("spa.json");
    let rec = start_recording(&format!("{base}/app"), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for("the app", "document.readyState === 'complete'")
        .await;
    d.click("[data-testid=app-user]").await;
    d.type_text("alice").await;
    d.click("[data-testid=app-password]").await;
    d.type_text("wonderland").await;
    d.think(300).await;
    d.click("[data-testid=app-signin]").await;
    let fed = "document.querySelectorAll('[data-testid=app-feed] li').length === 3 && document.body.dataset.feedClosed === '1000'";
    d.wait_for("the feed", fed).await;
    d.think(300).await;
    d.click("[data-testid=app-results]").await;
    let streamed = "document.querySelectorAll('[data-testid=app-stream] li').length === 3";
    d.wait_for("the results", streamed).await;
    d.think(500).await;
    drop(d);
    rec.stop.cancel();
    rec.task.await.unwrap().expect("recording succeeds");

    let flow: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(
        !steps(&flow)
            .iter()
            .any(|s| s["type"] == "navigate" && s["network"].get("webSockets").is_some()),
        "the socket is not the page load's: {flow:#}"
    );
    let login = &click_on(&flow, "app-signin")["network"];
    let ws = &login["webSockets"][0];
    let url = ws["url"].as_str().unwrap();
    assert!(url.contains("/ws/app?ticket=${"), "{ws:#}");
    let auth = ws["sent"][0]["data"].as_str().unwrap();
    assert!(auth.contains(r#""token":"${"#), "{ws:#}");
    assert!(ws["afterMs"].as_u64().is_some(), "{ws:#}");
    // The server closed it (1000 after its feed): the server's to do again, not the page's.
    assert!(ws.get("closedMs").is_none(), "{ws:#}");
    let results = &click_on(&flow, "app-results")["network"];
    let stream = &results["streams"][0];
    assert_eq!(stream["method"], "POST", "{results:#}");
    assert_eq!(stream["events"], 3, "{results:#}");
    assert!(stream["headers"]["authorization"]
        .as_str()
        .unwrap()
        .starts_with("Bearer ${"));
    let requested = |net: &Value, path: &str| {
        net["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["url"].as_str().unwrap().contains(path))
    };
    assert!(!requested(results, "/api/app/results"), "{results:#}");
    assert!(requested(login, "/api/app/login"), "{login:#}");
    throng::flow::load(&out).expect("the recorded flow loads");

    for (mode, users) in [("http", 3u64), ("browser", 2)] {
        demo.reset_stats();
        let results = run(&out, &base, mode, users as u32).await;
        let spa = support::wait_for(
            "the site to count every socket's close",
            Duration::from_secs(10),
            || {
                let spa = demo.stats().spa;
                async move { (spa.ws_close_codes.values().sum::<u64>() == users).then_some(spa) }
            },
        )
        .await;
        let expected = SpaStats {
            logins: users,
            ws_connections: users,
            ws_authenticated: users,
            ws_close_codes: [("1000".to_string(), users)].into(),
            streams: users,
            stream_events: 3 * users,
            ..Default::default()
        };
        assert_eq!(spa, expected, "{mode}");
        let (counters, kinds) = counts(&results);
        let c = |name: &str| counters.get(name).copied().unwrap_or(0);
        assert_eq!(c("sessions.completed"), users, "{mode}: {counters:?}");
        assert_eq!(kinds.get("websocket"), Some(&users), "{mode}: {kinds:?}");
        // The stream is one stream sample per user, not a request waited for.
        assert_eq!(kinds.get("eventsource"), Some(&users), "{mode}: {kinds:?}");
        assert_eq!(c("websocket.closed.server"), users, "{mode}: {counters:?}");
        assert_eq!(
            c("websocket.messages_in"),
            4 * users,
            "{mode}: {counters:?}"
        );
        if mode == "http" {
            assert_eq!(c("stream.events"), 3 * users, "{counters:?}");
        }
    }
    demo.shutdown().await;
}
