//! Hostile login pages (`--login`, hostile peers III): a page that fills both storages to
//! Chromium's quota with thousands of entries and sets every cookie it can, and a login that
//! never finishes. Real Chromium, the real `throng run`: the HTTP users still get the one
//! value their flow names, throng stays small, and a login that hangs fails its users within
//! the login flow's timeout instead of holding them.

use super::fds_and_rss;
use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::get;
use std::time::Duration;

/// Thousands of storage entries (as many as the quota takes), every cookie Chromium keeps
/// (on another path: a server refuses a 700 KB Cookie header, from a browser too), then the
/// token.
const HOARD: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>hoard</title></head>
<body><h1>signing in</h1><script>
  const filler = 'x'.repeat(1000);
  for (const store of [localStorage, sessionStorage]) {
    try { for (let i = 0; i < 20000; i++) store.setItem('k' + i, filler + i); } catch (e) {}
  }
  for (let i = 0; i < 400; i++) document.cookie = 'c' + i + '=' + 'y'.repeat(3500) + '; path=/junk';
  localStorage.setItem('token', 'tok-7c1e');
  document.body.dataset.done = '1';
</script></body></html>"#;

/// A login whose page never says it is done.
const STUCK: &str = r#"<!doctype html><html><body><h1>please wait</h1></body></html>"#;

async fn site() -> String {
    let app = axum::Router::new()
        .route("/hoard", get(|| async { Html(HOARD) }))
        .route("/stuck", get(|| async { Html(STUCK) }))
        .route(
            "/api",
            get(|h: HeaderMap| async move {
                let ok = h.get("x-token").and_then(|v| v.to_str().ok()) == Some("tok-7c1e");
                if ok {
                    (axum::http::StatusCode::OK, "ok")
                } else {
                    (axum::http::StatusCode::UNAUTHORIZED, "who are you")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Writes the login flow (its page `path`) and the API flow; runs them with `--login`:
/// exit code, stderr, results.json, peak RSS of throng (MB).
async fn run(base: &str, path: &str) -> (i32, String, serde_json::Value, f64) {
    let dir = tempfile::tempdir().unwrap();
    let login = serde_json::json!({"title": "login", "origin": base, "timeout": 4000,
    "steps": [
        {"type": "navigate", "url": format!("{base}{path}")},
        {"type": "waitForElement", "selectors": [["body[data-done='1']"]]},
    ]});
    let api = serde_json::json!({"title": "api", "origin": base, "steps": [
        {"type": "navigate", "url": format!("{base}/api"), "network": {"requests": [
            {"id": "api", "kind": "document", "resourceType": "Document", "method": "GET",
             "url": format!("{base}/api"), "headers": {"x-token": "${storage.token}"},
             "status": 200}]}},
    ]});
    let (login_file, api_file) = (dir.path().join("login.json"), dir.path().join("api.json"));
    std::fs::write(&login_file, login.to_string()).unwrap();
    std::fs::write(&api_file, api.to_string()).unwrap();
    let out = dir.path().join("out");
    let mut child = super::throng_uncapped(&["run", api_file.to_str().unwrap(), "--login"])
        .arg(&login_file)
        .args([
            "--users",
            "2",
            "--iterations",
            "2",
            "--quiet",
            "--think-scale",
            "0",
        ])
        .args(["--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut peak = 0f64;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        peak = peak.max(fds_and_rss(pid).1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        e.read_to_string(&mut stderr).await.unwrap();
    }
    let results = std::fs::read_to_string(out.join("results.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    (status.code().unwrap_or(-1), stderr, results, peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_hoarding_storage_or_never_finishing_cannot_hold_the_users() {
    let base = site().await;
    let (code, stderr, results, peak) = run(&base, "/hoard").await;
    eprintln!("hoard: peak RSS {peak:.0} MB");
    assert_eq!(code, 0, "{stderr}");
    let entries = results["summary"]["entries"].as_array().unwrap();
    let api = entries
        .iter()
        .find(|e| e["kind"] == "document" && e["name"].as_str().unwrap().ends_with("/api"))
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(api["failures"], 0, "the token reached the API: {api}");
    assert!(peak < 400.0, "throng grew to {peak} MB");

    let (code, stderr, results, _) = run(&base, "/stuck").await;
    assert_eq!(code, 1, "the sessions failed: {stderr}");
    let failed = results["summary"]["counters"]["sessions.failed"].as_u64();
    assert!(failed.unwrap_or(0) > 0, "{stderr}");
}
