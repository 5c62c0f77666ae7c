//! The demo shop over HTTPS (`throng demo-site --tls`): HTTP mode speaks HTTP/2 to it, one
//! connection per user, with per-route counts equal to the shop's own; `--http1` falls back.

use crate::support;
use std::collections::BTreeMap;
use url::Url;

/// Runs the shop flow with `users` users once each against `base`, trusting `pem`; returns
/// throng's per-route counts (`METHOD /path`) and counters.
async fn run_shop(
    base: &str,
    pem: &std::path::Path,
    users: u32,
    extra: &[&str],
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let out = crate::support::throng_async()
        .arg("run")
        .arg(support::flow_path("shop.json"))
        .args(["--target", base, "--var", "password=wonderland"])
        .args([
            "--users",
            &users.to_string(),
            "--ramp",
            "0s",
            "--iterations",
            "1",
        ])
        .args([
            "--duration",
            "60s",
            "--think-scale",
            "0.05",
            "--dwell",
            "0s",
        ])
        .args(["-q", "--out", "-", "--format", "json", "--cacert"])
        .arg(pem)
        .args(extra)
        .output()
        .await
        .expect("throng runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut routes = BTreeMap::new();
    for e in results["summary"]["entries"].as_array().unwrap() {
        let kind = e["kind"].as_str().unwrap();
        if !matches!(
            kind,
            "document" | "static" | "ajax" | "polling" | "beacon" | "other"
        ) {
            continue;
        }
        assert_eq!(e["failures"], 0, "{e}");
        let (method, url) = e["name"].as_str().unwrap().split_once(' ').unwrap();
        let path = Url::parse(url).unwrap().path().to_string();
        *routes.entry(format!("{method} {path}")).or_default() += e["count"].as_u64().unwrap();
    }
    let counters = serde_json::from_value(results["summary"]["counters"].clone()).unwrap();
    (routes, counters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_site_tls_serves_http2_and_http_mode_uses_one_connection_per_user() {
    let server = throng::demo::spawn_tls(support::test_config())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("demo.pem");
    std::fs::write(&pem, server.cert_pem().unwrap()).unwrap();
    let base = server.base_url();
    assert!(base.starts_with("https://127.0.0.1:"));
    let port = server.addr().port();

    let (ours, counters) = run_shop(&base, &pem, 3, &[]).await;
    assert_eq!(ours, server.stats().routes);
    assert_eq!(
        counters.get(&format!("connections.h2.127.0.0.1:{port}")),
        Some(&3),
        "{counters:?}"
    );
    assert!(!counters.keys().any(|k| k.starts_with("connections.http1")));

    server.reset_stats();
    let (ours, counters) = run_shop(&base, &pem, 2, &["--http1"]).await;
    assert_eq!(ours, server.stats().routes);
    let http1 = counters[&format!("connections.http1.127.0.0.1:{port}")];
    // A page's burst opens up to six HTTP/1.1 connections per user.
    assert!(http1 > 2, "{counters:?}");
    assert!(!counters.keys().any(|k| k.starts_with("connections.h2")));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_speak_http2_to_the_tls_demo_and_count_connections_like_http_mode() {
    let server = throng::demo::spawn_tls(support::test_config())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("demo.pem");
    std::fs::write(&pem, server.cert_pem().unwrap()).unwrap();
    let port = server.addr().port();
    let (ours, counters) = run_shop(&server.base_url(), &pem, 2, &["--mode", "browser"]).await;
    assert_eq!(ours, server.stats().routes);
    // Chromium keeps credentialed and anonymous (CORS font) requests apart: one or two
    // connections per user, all HTTP/2.
    let h2 = counters[&format!("connections.h2.127.0.0.1:{port}")];
    assert!((2..=4).contains(&h2), "{counters:?}");
    assert!(!counters.keys().any(|k| k.starts_with("connections.http1")));
    server.shutdown().await;
}
