//! A narrow password field scrolls itself as a person types past its width, and back to its
//! start when the login button takes the focus: neither is a scroll the person made. Recorded
//! as a `scroll` step (Jupyter's login), it landed between the click and the page the login led
//! to, so the click's step asserted the POST's own URL and the landing page went to the scroll:
//! every replay then failed the step ("navigated to /home, expected /login").

use super::{start_recording, steps, Driver};
use axum::response::{Html, Redirect};
use axum::routing::get;
use serde_json::{json, Value};
use std::time::Duration;

const LOGIN: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>Log in</title></head>
<body><form method="post" action="/login">
<label>Password <input id="pw" type="password" name="password" style="width:60px"></label>
<button id="go" type="submit">Log in</button></form></body></html>"#;

impl Driver {
    /// Types `text` key by key, as a keyboard does (keyDown with its text, keyUp).
    async fn type_keys(&self, text: &str) {
        for c in text.chars() {
            let key = c.to_string();
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": "keyDown", "key": key, "text": key}),
            )
            .await;
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": "keyUp", "key": key}),
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_field_scrolling_to_its_caret_is_no_scroll_step() {
    let app = axum::Router::new()
        .route(
            "/login",
            get(|| async { Html(LOGIN) }).post(|| async {
                // A login that takes a while (a slow password hash): the field's scroll back
                // is reported before the next page comes.
                tokio::time::sleep(Duration::from_millis(700)).await;
                Redirect::to("/home")
            }),
        )
        .route(
            "/home",
            get(|| async { Html("<title>Home</title><p>in</p>") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("login.json");
    let rec = start_recording(&format!("{base}/login"), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for("the login page", "document.readyState === 'complete'")
        .await;
    d.click("#pw").await;
    d.type_keys("a long pass phrase & more + 100% = ok").await;
    d.wait_for(
        "the field to scroll to its caret",
        "document.getElementById('pw').scrollLeft > 0",
    )
    .await;
    d.click("#go").await;
    d.wait_for("the home page", "location.pathname === '/home'")
        .await;
    d.think(500).await;
    drop(d);
    rec.stop.cancel();
    rec.task.await.unwrap().expect("recording succeeds");

    let flow: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let steps = steps(&flow);
    assert!(
        steps.iter().all(|s| s["type"] != "scroll"),
        "no scroll step: {flow:#}"
    );
    let click = steps
        .iter()
        .rfind(|s| s["type"] == "click")
        .unwrap_or_else(|| panic!("{flow:#}"));
    assert_eq!(
        click["assertedEvents"][0]["url"],
        format!("{base}/home"),
        "the login's step lands where the login led: {click:#}"
    );
    let urls: Vec<&str> = super::requests(click)
        .iter()
        .filter_map(|r| r["url"].as_str())
        .collect();
    assert!(
        urls.contains(&format!("{base}/home").as_str()),
        "the landing page belongs to the click: {click:#}"
    );
    for mode in [throng::metrics::Mode::Http, throng::metrics::Mode::Browser] {
        super::replay_cleanly(&base, &out, mode, 0.2).await;
    }
}
