//! A WebSocket the page's own script closes while the page stays open: the recording keeps
//! when (`closedMs`, after it opened) and both modes close it then, with the page's code
//! (1000), not at the page's end as a page leaving does (1001).

use super::{start_recording, steps, Driver};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{Html, Response};
use axum::routing::get;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PAGE: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>Ticker</title></head>
<body><a id="next" href="/next">Next</a><script>
const ws = new WebSocket('ws://' + location.host + '/ws');
ws.onopen = () => { ws.send('hello'); setTimeout(() => ws.close(1000), 700); };
ws.onclose = (e) => { document.body.dataset.closed = String(e.code); };
</script></body></html>"#;

/// How each socket ended at the server: the client's close code, and when (ms after it opened).
type Closes = Arc<Mutex<Vec<(u16, u128)>>>;

async fn socket(State(closes): State<Closes>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |mut ws: WebSocket| async move {
        let opened = Instant::now();
        let mut code = 1006;
        // Reading on after the client's Close sends the answer and sees the connection end.
        while let Some(Ok(m)) = ws.recv().await {
            if let Message::Close(frame) = m {
                code = frame.map_or(1005, |f| f.code);
            }
        }
        closes
            .lock()
            .unwrap()
            .push((code, opened.elapsed().as_millis()));
    })
}

/// Waits (bounded) until the server has seen `n` sockets end; returns them.
async fn ended(closes: &Closes, n: usize) -> Vec<(u16, u128)> {
    for _ in 0..100 {
        if closes.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::mem::take(&mut *closes.lock().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_the_page_closes_mid_page_is_closed_then_in_both_modes() {
    let closes = Closes::default();
    let app = axum::Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/next",
            get(|| async { Html("<title>Next</title><p>next</p>") }),
        )
        .route("/ws", get(socket))
        .with_state(closes.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ticker.json");
    let rec = start_recording(&format!("{base}/"), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for(
        "the page to close its socket",
        "document.body.dataset.closed === '1000'",
    )
    .await;
    d.think(1500).await;
    d.click("#next").await;
    d.wait_for("the next page", "location.pathname === '/next'")
        .await;
    d.think(300).await;
    drop(d);
    rec.stop.cancel();
    rec.task.await.unwrap().expect("recording succeeds");
    let recorded = ended(&closes, 1).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].0, 1000, "{recorded:?}");

    let flow: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let ws = steps(&flow)
        .iter()
        .find_map(|s| s["network"]["webSockets"].get(0))
        .unwrap_or_else(|| panic!("a socket: {flow:#}"));
    let closed = ws["closedMs"].as_u64().unwrap_or_else(|| panic!("{ws:#}"));
    assert!(
        closed >= 650,
        "the page closed it 700 ms after it opened: {ws:#}"
    );

    for mode in [throng::metrics::Mode::Http, throng::metrics::Mode::Browser] {
        let summary = super::replay_cleanly(&base, &out, mode, 1.0).await;
        let seen = ended(&closes, 1).await;
        assert_eq!(seen.len(), 1, "{mode:?}: {seen:?}");
        // Closed by the page's script (1000) after its recorded time, not by the page leaving
        // (1001) a second and a half later.
        assert_eq!(seen[0].0, 1000, "{mode:?}: {seen:?} {:?}", summary.counters);
        assert!(seen[0].1 >= 600, "{mode:?}: {seen:?}");
    }
}
