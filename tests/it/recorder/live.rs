//! The demo's live page (an EventSource and a WebSocket) recorded by a person's clicks and
//! replayed in both modes: the flow carries the streams, and each mode's connections and
//! messages equal what the demo site counted (`/__stats`).

use super::{start_recording, Driver};
use crate::support::{self, wait_for};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use throng::demo::LiveStats;

/// Every message the live page gets: 5 deals, 5 ticks, 2 acknowledgements.
const FEED: usize = 12;

/// Runs `flow` with 2 users once each in `mode` (and `extra` flags), the page held open 1.5 s
/// after loading;
/// returns the counters and the number of samples per kind.
async fn run(
    flow: &std::path::Path,
    base: &str,
    mode: &str,
    extra: &[&std::ffi::OsStr],
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let out = crate::support::throng_async()
        .arg("run")
        .arg(flow)
        .args(extra)
        .args([
            "--target", base, "--mode", mode, "--users", "2", "--ramp", "0s",
        ])
        .args([
            "--iterations",
            "1",
            "--duration",
            "60s",
            "--think",
            "0s",
            "--dwell",
            "1500ms",
        ])
        .args(["-q", "--out", "-", "--format", "json"])
        .output()
        .await
        .expect("throng runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut kinds = BTreeMap::new();
    for e in results["summary"]["entries"].as_array().unwrap() {
        let kind = e["kind"].as_str().unwrap().to_string();
        if matches!(kind.as_str(), "eventsource" | "websocket") {
            assert_eq!(e["failures"], 0, "{e}");
        }
        *kinds.entry(kind).or_default() += e["count"].as_u64().unwrap();
    }
    let counters = serde_json::from_value(results["summary"]["counters"].clone()).unwrap();
    (counters, kinds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_websocket_and_event_stream_replay_in_both_modes_as_the_site_counts() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.json");
    let rec = start_recording(&format!("{base}/live"), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    let all = format!("document.querySelectorAll('[data-testid=live-feed] li').length >= {FEED}");
    d.wait_for("the live feed", &all).await;
    d.think(800).await;
    drop(d);
    rec.stop.cancel();
    rec.task.await.unwrap().expect("recording succeeds");

    // The flow: the stream and the socket with what the page sent, not requests that never
    // ended.
    let flow: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let net = flow["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s.get("network").filter(|n| n.get("webSockets").is_some()))
        .unwrap_or_else(|| panic!("a step with the live streams: {flow:#}"));
    let streams = net["eventSources"].as_array().expect("eventSources");
    assert_eq!(streams.len(), 1, "{net:#}");
    assert!(streams[0]["url"]
        .as_str()
        .unwrap()
        .ends_with("/api/live/events"));
    assert_eq!(streams[0]["events"], 5);
    let requests = net["requests"].as_array().unwrap();
    assert!(!requests
        .iter()
        .any(|r| r["url"].as_str().unwrap().contains("/live/events")));
    let ws = &net["webSockets"][0];
    assert_eq!(
        ws["url"],
        format!("{}/ws/live", base.replacen("http", "ws", 1))
    );
    let sent = ws["sent"].as_array().unwrap();
    assert_eq!(sent.len(), 2, "{ws:#}");
    assert_eq!(sent[0]["data"], r#"{"type":"hello"}"#);
    assert!(sent[1]["offsetMs"].as_u64().unwrap() >= 250, "{ws:#}");
    assert_eq!(ws["received"], 7);
    throng::flow::load(&out).expect("the recorded flow loads");

    // Over HTTPS too: the event stream is an HTTP/2 stream, the socket a wss:// one.
    let tls = throng::demo::spawn_tls(support::test_config())
        .await
        .unwrap();
    let pem = dir.path().join("demo.pem");
    std::fs::write(&pem, tls.cert_pem().unwrap()).unwrap();
    let cacert = [std::ffi::OsStr::new("--cacert"), pem.as_os_str()];
    let runs = [
        (&demo, "http", &[][..]),
        (&demo, "browser", &[][..]),
        (&tls, "http", &cacert[..]),
    ];
    for (site, mode, extra) in runs {
        site.reset_stats();
        let (counters, kinds) = run(&out, &site.base_url(), mode, extra).await;
        // The sockets are closed by the pages; the site counts them once it has seen that.
        let live = wait_for(
            "the site to see both sockets closed",
            Duration::from_secs(10),
            || {
                let live = site.stats().live;
                async move { (live.ws_closed == 2).then_some(live) }
            },
        )
        .await;
        let expected = LiveStats {
            sse_connections: 2,
            sse_events: 10,
            ws_connections: 2,
            ws_messages_in: 4,
            ws_messages_out: 14,
            ws_closed: 2,
        };
        assert_eq!(live, expected, "{mode}");
        let c = |name: &str| counters.get(name).copied().unwrap_or(0);
        assert_eq!(
            kinds.get("eventsource"),
            Some(&live.sse_connections),
            "{mode}: {kinds:?}"
        );
        assert_eq!(
            kinds.get("websocket"),
            Some(&live.ws_connections),
            "{mode}: {kinds:?}"
        );
        assert_eq!(
            c("eventsource.events"),
            live.sse_events,
            "{mode}: {counters:?}"
        );
        assert_eq!(
            c("websocket.messages_out"),
            live.ws_messages_in,
            "{mode}: {counters:?}"
        );
        assert_eq!(
            c("websocket.messages_in"),
            live.ws_messages_out,
            "{mode}: {counters:?}"
        );
        assert_eq!(c("websocket.closed.page"), 2, "{mode}: {counters:?}");
        if site.cert_pem().is_some() {
            let port = site.addr().port();
            assert_eq!(
                c(&format!("connections.h2.127.0.0.1:{port}")),
                2,
                "{counters:?}"
            );
        }
    }
    tls.shutdown().await;
    demo.shutdown().await;
}
