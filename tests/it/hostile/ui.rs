//! The coordinator's dashboard (`--ui`) against hostile peers (hostile peers III): a worker
//! named with markup and terminal escapes, a page of another origin changing the user count,
//! a rebound Host name, a caller without the page's token. The names reach the dashboard and
//! the coordinator's terminal without their control characters (the page shows them as text),
//! and every change but the page's own is refused.

use super::peers::Peer;
use super::{worker, Coordinator};
use crate::support::demo;
use std::time::Duration;

const NAME: &str = "<img src=x onerror=alert(1)>\u{1b}[2J\u{1b}]0;pwned\u{7}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_refuses_other_origins_and_shows_worker_names_as_text() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let target = format!("{}/", site.base_url());
    let coord = Coordinator::start(
        "127.0.0.1:0",
        true,
        &[
            &target,
            "-u",
            "2",
            "-d",
            "4s",
            "--workers",
            "2",
            "--ui-bind",
            "127.0.0.1:0",
        ],
    )
    .await;
    let mut evil = Peer::join(&coord.addr, NAME).await;
    let real = worker(&coord.addr, "real", super::TOKEN, tmp.path());
    let dash = loop {
        let found = coord.stderr().lines().find_map(|l| {
            l.strip_prefix("coordinator: dashboard at ")
                .map(String::from)
        });
        if let Some(d) = found {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    loop {
        let (_, body) = evil.send_as(evil.id, "/v1/assignment", b"null").await;
        if String::from_utf8_lossy(&body).contains("Start") {
            break;
        }
    }
    let client = reqwest::Client::new();
    let page = client
        .get(&dash)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = page
        .find(r#""x-throng-token": ""#)
        .expect("token in the page")
        + 19;
    let token = page[at..at + 32].to_string();
    let users = format!("{dash}api/users");
    let body = serde_json::json!({"users": 50});
    // No token; another origin; a rebound Host name: refused, the count unchanged.
    let refused = [
        client.post(&users).json(&body),
        client
            .post(&users)
            .header("x-throng-token", &token)
            .header("origin", "http://evil.example")
            .json(&body),
        client
            .post(&users)
            .header("x-throng-token", &token)
            .header("sec-fetch-site", "cross-site")
            .json(&body),
        client
            .post(&users)
            .header("x-throng-token", &token)
            .header("host", "evil.example")
            .json(&body),
        client
            .get(format!("{dash}api/stats"))
            .header("x-throng-token", "0".repeat(32)),
    ];
    for request in refused {
        let status = request.send().await.unwrap().status().as_u16();
        assert!(matches!(status, 403 | 421), "{status}");
    }
    // The dashboard's rows, once both workers are in them.
    let mut names: Vec<String> = Vec::new();
    for _ in 0..100 {
        let stats: serde_json::Value = client
            .get(format!("{dash}api/stats"))
            .header("x-throng-token", &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        names = (stats["workers"].as_array().into_iter().flatten())
            .map(|w| w["name"].as_str().unwrap_or_default().to_string())
            .collect();
        if names.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shown = names
        .iter()
        .find(|n| n.contains("img"))
        .unwrap_or_else(|| panic!("the worker's row: {names:?}"));
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.chars().count() <= 64, "{shown:?}");
    // The page writes names as text (no markup is ever built from them).
    assert!(page.contains("textContent"), "the page writes text");
    assert!(
        !page.contains("innerHTML"),
        "the page builds no markup from data"
    );
    let (wcode, _, werr) = super::ended(real, Duration::from_secs(60)).await;
    assert_eq!(wcode, 0, "{werr}");
    let (_, stderr) = coord.end(Duration::from_secs(90)).await;
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    site.shutdown().await;
}
