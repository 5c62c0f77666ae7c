//! A WebSocket whose handshake is slow (Jupyter's kernel channel answers once the kernel has
//! started, seconds under load): HTTP mode sends a socket's messages at their recorded offsets
//! after it opened, and went on with the next steps meanwhile, so the messages the recording
//! sent during those steps (the cell run) came after them, or never, the page being closed by
//! then. The next step now waits for the handshake, as the page's next action would find its
//! socket connected.

use super::{counter, flow, run_once};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{Html, Response};
use axum::routing::get;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use throng::metrics::Mode;

/// What the server saw, in order: `upgraded`, each message, `after`.
type Seen = Arc<Mutex<Vec<(String, Instant)>>>;

fn note(seen: &Seen, what: &str) {
    seen.lock()
        .unwrap()
        .push((what.to_string(), Instant::now()));
}

async fn socket(State(seen): State<Seen>, upgrade: WebSocketUpgrade) -> Response {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    note(&seen, "upgraded");
    upgrade.on_upgrade(move |mut ws: WebSocket| async move {
        while let Some(Ok(m)) = ws.recv().await {
            if let Message::Text(t) = m {
                note(&seen, &format!("message {}", t.as_str()));
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_step_after_a_socket_opened_waits_for_its_slow_handshake_in_http_mode() {
    let seen = Seen::default();
    let app = axum::Router::new()
        .route(
            "/page",
            get(|| async { Html("<title>Page</title><p>page</p>") }),
        )
        .route(
            "/after",
            get(|State(s): State<Seen>| async move {
                note(&s, "after");
                "ok"
            }),
        )
        .route("/ws", get(socket))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let steps = json!([
        {"type": "navigate", "url": format!("{base}/page"), "network": {
            "requests": [{"kind": "document", "method": "GET", "url": format!("{base}/page"), "status": 200}],
            "webSockets": [{"url": format!("ws://{addr}/ws"), "afterMs": 0,
                "sent": [{"offsetMs": 0, "data": "run"}]}]
        }},
        {"type": "click", "selectors": [["#go"]], "offsetX": 1, "offsetY": 1, "network": {
            "requests": [{"kind": "ajax", "method": "GET", "url": format!("{base}/after"), "status": 200}]
        }}
    ]);
    let summary = run_once(flow(&base, steps, &[]), Mode::Http, 1).await;
    assert_eq!(
        counter(&summary, "sessions.completed"),
        1,
        "{:?}",
        summary.counters
    );
    // Give the server a moment to read the last frames.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(w, _)| w.clone())
        .collect();
    let at = |w: &str| seen.iter().position(|s| s == w);
    assert!(
        matches!((at("upgraded"), at("after")), (Some(u), Some(a)) if u < a),
        "the next step's request came after the handshake: {seen:?}"
    );
    assert!(
        at("message run").is_some(),
        "the socket's message was sent before the page closed: {seen:?}"
    );
}
