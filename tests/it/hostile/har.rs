//! A target that makes kept sessions big (`--keep-sessions`, hostile peers III): every
//! response a 64 KiB body of control bytes (6 bytes each once written as JSON text), huge
//! headers, a redirect chain first. The stated caps hold for the files as written (4 MiB per
//! HAR), and kept files go only under the results' `sessions/`, whatever the flow's and
//! steps' names say.

use super::throng;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use std::time::Duration;

async fn blob(Path(_i): Path<u32>) -> impl IntoResponse {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    for n in 0..8 {
        let v = HeaderValue::from_str(&"v".repeat(4000)).unwrap();
        h.insert(
            header::HeaderName::from_bytes(format!("x-big-{n}").as_bytes()).unwrap(),
            v,
        );
    }
    (h, vec![1u8; 64 << 10])
}

async fn hop(Path(n): Path<u32>) -> impl IntoResponse {
    let to = if n == 0 {
        "/blob/0".to_string()
    } else {
        format!("/hop/{}", n - 1)
    };
    (StatusCode::FOUND, [(header::LOCATION, to)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_cannot_push_a_kept_session_past_its_caps_or_out_of_its_directory() {
    let app = axum::Router::new()
        .route("/blob/{i}", get(blob))
        .route("/hop/{n}", get(hop));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let requests: Vec<_> = (0..300)
        .map(|i| {
            serde_json::json!({"kind": "ajax", "resourceType": "Fetch", "method": "GET",
                "url": format!("{base}/blob/{i}"), "status": 200})
        })
        .collect();
    let mut requests = requests;
    requests.insert(
        0,
        serde_json::json!({"id": "doc", "kind": "document", "resourceType": "Document",
            "method": "GET", "url": format!("{base}/hop/5"), "status": 200}),
    );
    let flow = serde_json::json!({"title": "../../../escaped", "origin": base, "steps": [
        {"type": "navigate", "url": format!("{base}/hop/5"), "network": {"requests": requests}},
    ]});
    let dir = tempfile::tempdir().unwrap();
    let flow_file = dir.path().join("escaped.json");
    std::fs::write(&flow_file, flow.to_string()).unwrap();
    let out = dir.path().join("nested/out");
    let args = [
        "run",
        flow_file.to_str().unwrap(),
        "-u",
        "2",
        "--iterations",
        "2",
        "--keep-sessions",
        "all",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ];
    let (code, _, stderr) =
        super::ended(throng(&args).spawn().unwrap(), Duration::from_secs(120)).await;
    assert!(code == 0 || code == 1, "{stderr}");
    let results = super::results(&out);
    let kept = results["summary"]["sessions"].as_array().unwrap();
    assert!(!kept.is_empty(), "{stderr}");
    let sizes: Vec<u64> = (kept.iter())
        .map(|s| {
            std::fs::metadata(out.join(s["har"].as_str().unwrap()))
                .unwrap()
                .len()
        })
        .collect();
    eprintln!(
        "kept HARs: {} of at most {} bytes",
        sizes.len(),
        sizes.iter().max().unwrap()
    );
    for s in kept {
        let har = out.join(s["har"].as_str().unwrap());
        let size = std::fs::metadata(&har).unwrap().len();
        assert!(
            size <= 4 << 20,
            "{} is {size} bytes, past the 4 MiB cap",
            har.display()
        );
        let text = std::fs::read_to_string(&har).unwrap();
        assert!(text.contains("later requests not kept"), "the cut is said");
    }
    // Nothing was written outside the output directory.
    let mut stray = Vec::new();
    for entry in walk(dir.path()) {
        let inside = entry.starts_with(&out) || entry == flow_file;
        if !inside && entry.is_file() {
            stray.push(entry);
        }
    }
    assert!(stray.is_empty(), "{stray:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            all.extend(walk(&p));
        }
        all.push(p);
    }
    all
}
