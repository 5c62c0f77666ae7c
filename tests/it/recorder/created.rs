//! A page that asks the server to create something and goes to it at once: the API answer
//! names the new document (`Untitled.txt`, `Untitled1.txt`, ... as Jupyter names notebooks) and
//! the page navigates there as soon as it has read it. The answer's body must be kept although
//! the page left right after it (Chromium drops an old document's bodies when the next one
//! commits), verify must extract the name the server chose, and each replayed user, in both
//! modes, must open the document it created itself (the step's navigation asserts the recorded
//! name, which every other session differs in).

use super::{start_recording, Driver};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::Json;
use std::sync::{Arc, Mutex};
use throng::app::verify::{verify, Verified};

const HOME: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>Docs</title></head>
<body><button id="new">New document</button><script>
document.getElementById('new').onclick = async () => {
  const r = await fetch('/api/docs', {method: 'POST', headers: {'content-type': 'application/json'}, body: '{"type":"text"}'});
  const doc = await r.json();
  location.href = '/docs/' + encodeURIComponent(doc.name);
};
</script></body></html>"#;

/// The documents created (in order) and the ones opened.
#[derive(Default, Debug)]
struct Docs {
    created: Vec<String>,
    opened: Vec<String>,
}

type Shared = Arc<Mutex<Docs>>;

async fn create(State(docs): State<Shared>) -> impl IntoResponse {
    let mut d = docs.lock().unwrap();
    let name = match d.created.len() {
        0 => "Untitled.txt".to_string(),
        n => format!("Untitled{n}.txt"),
    };
    d.created.push(name.clone());
    (
        StatusCode::CREATED,
        Json(serde_json::json!({"name": name, "path": name, "type": "text"})),
    )
}

async fn open(State(docs): State<Shared>, Path(name): Path<String>) -> impl IntoResponse {
    let mut d = docs.lock().unwrap();
    if !d.created.contains(&name) {
        return (
            StatusCode::NOT_FOUND,
            Html("<title>Not found</title>".to_string()),
        );
    }
    d.opened.push(name.clone());
    (
        StatusCode::OK,
        Html(format!("<title>{name}</title><h1>{name}</h1>")),
    )
}

/// What the server saw since `mark` (created, opened): each document opened once, by the
/// session that created it. Returns the new mark.
fn each_opened_its_own(docs: &Shared, mark: (usize, usize), users: usize) -> (usize, usize) {
    let d = docs.lock().unwrap();
    let mut created = d.created[mark.0..].to_vec();
    let mut opened = d.opened[mark.1..].to_vec();
    created.sort();
    opened.sort();
    assert_eq!(created.len(), users, "{d:?}");
    assert_eq!(
        opened, created,
        "each user opened the document it created: {d:?}"
    );
    (d.created.len(), d.opened.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_the_server_names_and_the_page_opens_at_once_is_each_users_own() {
    let docs = Shared::default();
    let app = axum::Router::new()
        .route("/", get(|| async { Html(HOME) }))
        .route("/api/docs", post(create))
        .route("/docs/{name}", get(open))
        .with_state(docs.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("docs.json");
    let rec = start_recording(&format!("{base}/"), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for("the home page", "document.readyState === 'complete'")
        .await;
    d.think(300).await;
    d.click("#new").await;
    d.wait_for(
        "the new document",
        "location.pathname === '/docs/Untitled.txt'",
    )
    .await;
    d.think(500).await;
    drop(d);
    rec.stop.cancel();
    let summary = rec.task.await.unwrap().expect("recording succeeds");
    each_opened_its_own(&docs, (0, 0), 1);

    // Verify's replay creates `Untitled1.txt`: the name differs, and the answer holding it was
    // recorded although the page left at once, so the name becomes an extracted variable.
    let verdict = verify(&out, &summary.recording).await.expect("verify runs");
    assert_eq!(verdict, Verified::Replays);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("/docs/${name}") || text.contains("/docs/${path}"),
        "the document's URL takes the name the server chose: {text}"
    );
    let mut mark = {
        let d = docs.lock().unwrap();
        (d.created.len(), d.opened.len())
    };
    // The recording's `Untitled.txt` still exists: a replay that opened it would pass unseen
    // but for the server's own record.
    for mode in [throng::metrics::Mode::Http, throng::metrics::Mode::Browser] {
        super::replay_cleanly(&base, &out, mode, 0.2).await;
        mark = each_opened_its_own(&docs, mark, 1);
    }
}
