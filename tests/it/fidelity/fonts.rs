//! A stylesheet that declares more fonts than the page uses (an icon font the page never
//! shows, missing on the server, as in Bootstrap 3's glyphicons under Jupyter's classic
//! notebook): a browser fetches only the font its text is drawn with, so the recording lists
//! only that one, and HTTP mode replaying the recorded assets must not fetch the others (it
//! counted their 404s as failures and sent requests no browser sends).

use super::{flow, run_once};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use throng::metrics::Mode;

const PAGE: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>Type</title>
<link rel="stylesheet" href="/type.css"></head><body><p class="used">Hello</p></body></html>"#;
const CSS: &str = "@font-face{font-family:Used;src:url(/fonts/used.woff2) format('woff2')}\n\
@font-face{font-family:Spare;src:url(/fonts/spare.woff2) format('woff2'),url(/fonts/spare.ttf) format('truetype')}\n\
.used{font-family:Used,sans-serif}\n.icon{font-family:Spare}\n";

type Hits = Arc<Mutex<BTreeMap<String, u32>>>;

fn hit(hits: &Hits, path: &str) {
    *hits.lock().unwrap().entry(path.to_string()).or_default() += 1;
}

async fn font(State(hits): State<Hits>, Path(name): Path<String>) -> impl IntoResponse {
    hit(&hits, &format!("/fonts/{name}"));
    if name == "used.woff2" {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "font/woff2")],
            "wOF2 not a real font",
        )
            .into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_fetches_the_fonts_the_recording_lists_not_every_font_a_stylesheet_declares() {
    let hits = Hits::default();
    let app = axum::Router::new()
        .route(
            "/typeset",
            get(|State(h): State<Hits>| async move {
                hit(&h, "/typeset");
                Html(PAGE)
            }),
        )
        .route(
            "/type.css",
            get(|State(h): State<Hits>| async move {
                hit(&h, "/type.css");
                ([(header::CONTENT_TYPE, "text/css")], CSS)
            }),
        )
        .route("/fonts/{name}", get(font))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // What a recording of the page lists: the document, its stylesheet, the one font used.
    let steps = json!([{
        "type": "navigate", "url": format!("{base}/typeset"),
        "network": {"requests": [
            {"kind": "document", "method": "GET", "url": format!("{base}/typeset"), "status": 200},
            {"kind": "static", "method": "GET", "url": format!("{base}/type.css"), "status": 200},
            {"kind": "static", "method": "GET", "url": format!("{base}/fonts/used.woff2"), "status": 200}
        ]}
    }]);
    for mode in [Mode::Browser, Mode::Http] {
        let summary = run_once(flow(&base, steps.clone(), &[]), mode, 1).await;
        let seen = std::mem::take(&mut *hits.lock().unwrap());
        assert_eq!(
            super::counter(&summary, "sessions.completed"),
            1,
            "{mode:?}: {:?} {seen:?}",
            summary.counters
        );
        let failures: u64 = summary.entries.iter().map(|e| e.failures).sum();
        assert_eq!(failures, 0, "{mode:?}: {seen:?}");
        assert_eq!(
            seen.keys().map(String::as_str).collect::<Vec<_>>(),
            ["/fonts/used.woff2", "/type.css", "/typeset"],
            "{mode:?}: only the font the page's text uses"
        );
    }
}
