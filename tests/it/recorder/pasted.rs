//! A click on an element the page just made and that has no name of its own (a pasted shape
//! that follows the pointer until a click drops it, as Node-RED's editor does): the recorder
//! writes it as a click at the same spot of the nearest container that was there before, so
//! the replay drops it where the person did, not on the shape the position chain named when
//! recording (the board holds one more shape at every replay).

use super::{start_recording, steps, Driver};
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCRIPT: &str = r#"<script>
const board = document.getElementById('board');
let moving = null;
document.getElementById('paste').onclick = () => {
  moving = document.createElement('div');
  moving.className = 'shape';
  // A random hex id as Node-RED makes them, never three digits in a row (a3f9c1e0...).
  moving.id = 'n' + Array.from({ length: 16 }, (_, i) =>
    i % 2 ? String(Math.floor(Math.random() * 10)) : 'abcdef'[Math.floor(Math.random() * 6)]).join('');
  board.appendChild(moving);
};
board.addEventListener('mousemove', (e) => {
  if (!moving) return;
  const r = board.getBoundingClientRect();
  moving.style.left = (e.clientX - r.left - 30) + 'px';
  moving.style.top = (e.clientY - r.top - 15) + 'px';
});
board.addEventListener('click', (e) => {
  if (!moving || e.target !== moving) return;
  const r = board.getBoundingClientRect();
  fetch('/drop?x=' + Math.round(e.clientX - r.left) + '&y=' + Math.round(e.clientY - r.top), { method: 'POST' });
  moving = null;
});
</script>"#;

/// Drops the board keeps (x, y relative to the board), drawn as shapes on every page.
type Drops = Arc<Mutex<Vec<(i64, i64)>>>;

async fn page(State(drops): State<Drops>) -> Html<String> {
    // One shape drawn before any drop, so a shape is never the only one of its kind.
    let shapes: String = std::iter::once((20, 20))
        .chain(drops.lock().unwrap().iter().copied())
        .map(|(x, y)| {
            format!(
                r#"<div class="shape" style="left:{}px;top:{}px"></div>"#,
                x - 30,
                y - 15
            )
        })
        .collect();
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Board</title><style>
body{{margin:0}} #board{{position:relative;width:600px;height:400px;background:#eee}}
.shape{{position:absolute;width:60px;height:30px;background:#48c}}</style></head><body>
<button id="paste">Paste</button><div id="board">{shapes}</div>{SCRIPT}</body></html>"#
    ))
}

async fn drop_shape(State(drops): State<Drops>, Query(q): Query<HashMap<String, i64>>) {
    drops.lock().unwrap().push((q["x"], q["y"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_dropping_a_shape_the_page_just_made_replays_at_the_same_spot() {
    let drops = Drops::default();
    let app = axum::Router::new()
        .route("/", get(page))
        .route("/drop", post(drop_shape))
        .with_state(drops.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("board.json");
    let rec = start_recording(&format!("{base}/"), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for("the board", "document.readyState === 'complete'")
        .await;
    d.click("#paste").await;
    d.wait_for(
        "the pasted shape",
        "document.querySelectorAll('.shape').length === 2",
    )
    .await;
    d.think(300).await;
    // The pointer moves onto the board, carrying the shape, and a click drops it there.
    let board = d
        .eval("(() => { const r = board.getBoundingClientRect(); return [r.left, r.top]; })()")
        .await
        .unwrap();
    let (x, y) = (
        board[0].as_f64().unwrap() + 250.0,
        board[1].as_f64().unwrap() + 180.0,
    );
    for (ty, count) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 1)] {
        d.call(
            "Input.dispatchMouseEvent",
            serde_json::json!({"type": ty, "x": x, "y": y, "button": "left", "clickCount": count}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.wait_for(
        "the drop",
        "document.querySelector('.shape[id]') && !!document.querySelector('.shape[id]').style.left",
    )
    .await;
    d.think(500).await;
    drop(d);
    rec.stop.cancel();
    rec.task.await.unwrap().expect("recording succeeds");
    assert_eq!(
        *drops.lock().unwrap(),
        vec![(250, 180)],
        "the recording's drop"
    );

    let flow: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let drop = steps(&flow)
        .iter()
        .rfind(|s| s["type"] == "click")
        .expect("the drop's click");
    assert_eq!(drop["selectors"][0][0], "#board", "{drop:#}");
    assert_eq!(
        (drop["offsetX"].as_f64(), drop["offsetY"].as_f64()),
        (Some(250.0), Some(180.0)),
        "{drop:#}"
    );
    assert!(
        !drop["selectors"].to_string().contains("#s"),
        "no page-made id: {drop:#}"
    );

    // The board now draws the recording's shape too: a position chain would name it.
    super::replay_cleanly(&base, &out, throng::metrics::Mode::Browser, 0.2).await;
    let got = drops.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![(250, 180), (250, 180)],
        "the replay drops where the person did"
    );
}
