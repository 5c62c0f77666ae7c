//! Keyboard: a page with a prefilled contenteditable editor, keyboard shortcuts of its own
//! (Control+S saves, Control+A on a list, Escape), a form where Tab accepts a suggestion and a
//! paste the page reports (Control+A, Control+C, Control+V through the browser's clipboard),
//! recorded with real CDP key events and replayed: the server sees exactly the new text (not
//! the old text with the new inside it) and what each key did, in browser and HTTP mode.

use super::{replay_cleanly, start_recording, steps, Driver};
use axum::extract::{RawQuery, State};
use axum::response::Html;
use axum::routing::{get, post};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use throng::metrics::Mode;

const PAGE: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>Notes</title>
<style>#editor{border:1px solid #888;min-height:60px;padding:4px;font-family:monospace}
ul{border:1px solid #ccc;padding:8px 24px}</style></head>
<body><h1>Notes</h1>
<div id="editor" contenteditable="true" aria-label="Query"><div>select * from old_table</div><div>where stale = 1</div></div>
<p><button id="save" type="button">Save</button></p>
<ul id="mail" tabindex="0"><li>one</li><li>two</li><li>three</li></ul>
<form method="post" action="/submit">
  <label>City <input id="city" name="city" autocomplete="off"></label>
  <input type="hidden" id="code" name="code" value="">
  <label>Note <input id="note" name="note" autocomplete="off"></label>
  <label>Copy <input id="copy" name="copy" autocomplete="off"></label>
  <button type="submit">Send</button>
</form>
<script>
const editor = document.getElementById('editor');
const save = () => fetch('/save', {method: 'POST', body: editor.innerText});
document.getElementById('save').addEventListener('click', save);
document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === 's') { e.preventDefault(); save(); }
  if (e.key === 'Escape') fetch('/key?k=Escape');
  if ((e.ctrlKey || e.metaKey) && e.key === 'a' && document.activeElement.id === 'mail') {
    e.preventDefault();
    fetch('/key?k=select-all&rows=' + document.querySelectorAll('#mail li').length);
  }
});
document.addEventListener('paste', (e) => fetch('/key?k=paste&text=' + encodeURIComponent(e.clipboardData.getData('text'))));
const city = document.getElementById('city');
// Tab accepts the suggestion, as address forms do.
city.addEventListener('keydown', (e) => {
  if (e.key === 'Tab' && !e.shiftKey && city.value && 'paris'.startsWith(city.value.toLowerCase())) { city.value = 'Paris'; document.getElementById('code').value = 'FR-75'; }
});
</script></body></html>"#;

type Log = Arc<Mutex<Vec<String>>>;

/// The page's server on a free loopback port; every request it answered, as "METHOD path body".
async fn serve() -> (String, Log) {
    let log: Log = Arc::default();
    let app = axum::Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/save",
            post(|State(log): State<Log>, body: String| async move {
                log.lock().unwrap().push(format!("POST /save {body}"));
                "saved"
            }),
        )
        .route(
            "/key",
            get(|State(log): State<Log>, RawQuery(q): RawQuery| async move {
                log.lock()
                    .unwrap()
                    .push(format!("GET /key {}", q.unwrap_or_default()));
                "ok"
            }),
        )
        .route(
            "/submit",
            post(|State(log): State<Log>, body: String| async move {
                log.lock().unwrap().push(format!("POST /submit {body}"));
                Html("<!doctype html><title>Thanks</title><p>Thanks</p>")
            }),
        )
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, log)
}

/// What the page's scripts and forms sent (not the page, its favicon or other loads).
fn effects(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

impl Driver {
    /// One key as a US keyboard sends it, with the modifiers held (CDP bits: 2 Control).
    async fn key(&self, down: bool, key: &str, code: &str, vk: u32, modifiers: u32, text: &str) {
        let mut e = json!({"type": if down { "rawKeyDown" } else { "keyUp" }, "key": key, "code": code,
            "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk, "modifiers": modifiers});
        if down && !text.is_empty() {
            e["type"] = json!("keyDown");
            e["text"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", e).await;
    }

    async fn press(&self, key: &str, code: &str, vk: u32, text: &str) {
        self.key(true, key, code, vk, 0, text).await;
        self.key(false, key, code, vk, 0, "").await;
    }

    /// Control+<letter>, as a person presses it: Control down, the letter, both up.
    async fn control(&self, letter: char) {
        let (key, code, vk) = (
            letter.to_string(),
            format!("Key{}", letter.to_ascii_uppercase()),
            letter.to_ascii_uppercase() as u32,
        );
        self.key(true, "Control", "ControlLeft", 17, 2, "").await;
        self.key(true, &key, &code, vk, 2, "").await;
        self.key(false, &key, &code, vk, 2, "").await;
        self.key(false, "Control", "ControlLeft", 17, 0, "").await;
    }
}

fn key_steps(flow: &Value) -> Vec<String> {
    steps(flow)
        .iter()
        .filter(|s| s["type"] == "keyDown" || s["type"] == "keyUp")
        .map(|s| {
            format!(
                "{} {}",
                s["type"].as_str().unwrap(),
                s["key"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_editor_typing_replay_with_their_effects_and_only_the_new_text() {
    let (base, log) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys.json");
    let rec = start_recording(&format!("{base}/"), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for(
        "the page",
        "document.readyState === 'complete' && !!document.getElementById('editor')",
    )
    .await;

    // The editor: click into the old text, select all, type two new lines, save with Control+S.
    d.click("#editor").await;
    d.think(300).await;
    d.control('a').await;
    d.type_text("SELECT title").await;
    d.press("Enter", "Enter", 13, "\r").await;
    d.type_text("FROM films").await;
    d.think(300).await;
    d.control('s').await;
    d.think(500).await;
    // The list's own shortcut, then Escape.
    d.click("#mail li").await;
    d.control('a').await;
    d.think(300).await;
    d.press("Escape", "Escape", 27, "").await;
    d.think(300).await;
    // The form: "Pa", Tab accepts "Paris" (and its code, in a hidden field) and moves on, the note, Enter submits.
    d.click("#city").await;
    d.type_text("Pa").await;
    d.press("Tab", "Tab", 9, "").await;
    d.type_text("rainy").await;
    d.think(200).await;
    // Copy the note and paste it into the next field (the page sees the paste), Enter sends.
    d.control('a').await;
    d.control('c').await;
    d.click("#copy").await;
    d.control('v').await;
    d.think(200).await;
    d.press("Enter", "Enter", 13, "\r").await;
    d.wait_for("the answer", "document.title === 'Thanks'")
        .await;
    d.think(300).await;
    drop(d);
    rec.stop.cancel();
    rec.task.await.unwrap().expect("recording succeeds");

    let recorded = effects(&log);
    let want = vec![
        "POST /save SELECT title\nFROM films".to_string(),
        "GET /key k=select-all&rows=3".to_string(),
        "GET /key k=Escape".to_string(),
        "GET /key k=paste&text=rainy".to_string(),
        "POST /submit city=Paris&code=FR-75&note=rainy&copy=rainy".to_string(),
    ];
    assert_eq!(recorded, want, "what the person did");

    let text = std::fs::read_to_string(&out).unwrap();
    throng::flow::load(&out).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let flow: Value = serde_json::from_str(&text).unwrap();
    let keys = key_steps(&flow);
    let shortcut = |c: &str| {
        [
            "keyDown Control".to_string(),
            format!("keyDown {c}"),
            format!("keyUp {c}"),
            "keyUp Control".to_string(),
        ]
    };
    for c in ["a", "s", "c", "v"] {
        assert!(
            keys.windows(4).any(|w| w == shortcut(c)),
            "Control+{c} as four key steps: {keys:?}"
        );
    }
    for k in ["Enter", "Escape", "Tab"] {
        assert!(keys.contains(&format!("keyDown {k}")), "{k}: {keys:?}");
    }
    // Typing is a change step, never keys; the editor's last value is the new text only.
    let editor_values: Vec<&str> = steps(&flow)
        .iter()
        .filter(|s| s["type"] == "change" && s["selectors"].to_string().contains("editor"))
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        editor_values.last(),
        Some(&"SELECT title\nFROM films"),
        "{text}"
    );
    assert!(
        editor_values.iter().all(|v| !v.contains("old_table")),
        "{editor_values:?}"
    );
    let city = steps(&flow)
        .iter()
        .find(|s| s["type"] == "change" && s["selectors"].to_string().contains("city"))
        .expect("a change on the city field");
    assert_eq!(city["value"], "Pa", "Tab did the rest");

    // Browser replay: the keys do what they did; the editor holds only the new text.
    log.lock().unwrap().clear();
    replay_cleanly(&base, &out, Mode::Browser, 0.2).await;
    assert_eq!(effects(&log), want, "browser replay");

    // HTTP replay: the recorded requests, in order (the keys themselves send nothing).
    log.lock().unwrap().clear();
    replay_cleanly(&base, &out, Mode::Http, 0.05).await;
    assert_eq!(effects(&log), want, "HTTP replay");
}
