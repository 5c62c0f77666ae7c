//! The dashboard keeps other web pages out: a real cross-origin page in Chromium tries to
//! stop the run (no-cors fetch, JSON fetch, a plain form post) and read its numbers, and
//! fails; a foreign Host header, a missing or wrong token, a foreign Origin, a non-JSON body
//! and an absurd user count are refused; the page's own controls still work.

use super::chromium::Checker;
use super::Throng;
use crate::support::{self, wait_for};
use axum::response::Html;
use serde_json::Value;
use std::time::Duration;

/// The attacker's page: every way a page can send a POST to another origin without CORS.
fn evil_page(dashboard: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html><body>
<form id="f" method="POST" action="{dashboard}api/stop" enctype="text/plain" target="sink">
<input name='{{"users":1,"x":"' value='"}}'></form>
<iframe name="sink"></iframe>
<script>
window.report = {{}};
const D = "{dashboard}";
async function attempt(name, f) {{
  try {{ const r = await f(); window.report[name] = "sent:" + r.type; }}
  catch (e) {{ window.report[name] = "blocked:" + e.name; }}
}}
(async () => {{
  await attempt("no-cors stop", () => fetch(D + "api/stop", {{method: "POST", mode: "no-cors", headers: {{"content-type": "text/plain"}}, body: "{{}}"}}));
  await attempt("no-cors start", () => fetch(D + "api/start", {{method: "POST", mode: "no-cors", body: '{{"users": 4000000000}}'}}));
  await attempt("json stop", () => fetch(D + "api/stop", {{method: "POST", headers: {{"content-type": "application/json"}}, body: "{{}}"}}));
  await attempt("read live", async () => {{ const r = await fetch(D + "api/live"); await r.json(); return r; }});
  await attempt("read results", async () => {{ const r = await fetch(D + "download/results.json"); await r.text(); return r; }});
  await attempt("read page", async () => {{ const r = await fetch(D); await r.text(); return r; }});
  document.getElementById("f").submit();
  await new Promise(r => setTimeout(r, 1500));
  document.title = "done";
}})();
</script></body></html>"#
    )
}

/// The token from the dashboard page (as the page's own script reads it).
async fn token_of(url: &str) -> String {
    let page = reqwest::get(url).await.unwrap().text().await.unwrap();
    let start = page
        .find(r#""x-throng-token": ""#)
        .expect("token in the page")
        + 19;
    page[start..start + 32].to_string()
}

async fn live(url: &str, token: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{url}api/live"))
        .header("x-throng-token", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_refuses_a_cross_origin_page_and_a_foreign_host() {
    let site = support::demo().await;
    let base = site.base_url();
    let flow = support::flow_path("browse.json");
    let mut throng = Throng::start(&[
        "run",
        flow.to_str().unwrap(),
        "--target",
        &base,
        "--users",
        "2",
        "--duration",
        "5m",
        "--think-scale",
        "0.3",
        "--ui-bind",
        "127.0.0.1:0",
        "--quiet",
    ]);
    let url = wait_for("the dashboard address", Duration::from_secs(30), || {
        let err = throng.stderr();
        async move {
            err.lines()
                .find_map(|l| l.strip_prefix("dashboard at "))
                .map(str::to_string)
        }
    })
    .await;
    let token = token_of(&url).await;
    assert_eq!(live(&url, &token).await["state"], "running");

    // The attacker's site: another origin (another port) on loopback.
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_url = format!("http://{}/", evil.local_addr().unwrap());
    let html = evil_page(&url);
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { Html(html) }));
    let evil_server = tokio::spawn(async move { axum::serve(evil, app).await });
    let checker = Checker::open(&evil_url).await;
    wait_for("the attack page to finish", Duration::from_secs(20), || {
        let c = &checker;
        async move { (c.eval::<String>("document.title").await == "done").then_some(()) }
    })
    .await;
    let report: Value = checker.eval("window.report").await;
    // The no-cors posts were sent (opaque answers): the dashboard refused them itself.
    assert_eq!(report["no-cors stop"], "sent:opaque", "{report}");
    assert_eq!(report["no-cors start"], "sent:opaque", "{report}");
    for read in ["json stop", "read live", "read results", "read page"] {
        assert!(
            report[read].as_str().unwrap().starts_with("blocked:"),
            "{read}: {report}"
        );
    }
    checker.close().await;
    evil_server.abort();
    // ... and the run goes on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = live(&url, &token).await;
    assert_eq!(state["state"], "running", "{state}");
    assert!(!throng.stderr().contains("stopping"), "{}", throng.stderr());

    // Direct requests, header by header.
    let client = reqwest::Client::new();
    let stop = |host: Option<&str>, token: Option<&str>, origin: Option<&str>, json: bool| {
        let mut r = client.post(format!("{url}api/stop")).body("{}");
        if let Some(h) = host {
            r = r.header("host", h);
        }
        if let Some(t) = token {
            r = r.header("x-throng-token", t);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r = r.header(
            "content-type",
            if json {
                "application/json"
            } else {
                "text/plain"
            },
        );
        async move { r.send().await.unwrap().status().as_u16() }
    };
    let port = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let foreign = format!("rebound.example:{port}");
    assert_eq!(
        stop(Some(&foreign), Some(&token), None, true).await,
        421,
        "a foreign Host"
    );
    let page = client
        .get(&url)
        .header("host", &foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status().as_u16(),
        421,
        "not even the page for a foreign Host"
    );
    assert_eq!(stop(None, None, None, true).await, 403, "no token");
    assert_eq!(
        stop(None, Some("0123456789abcdef0123456789abcdef"), None, true).await,
        403
    );
    assert_eq!(
        stop(None, Some(&token), Some("http://evil.example"), true).await,
        403
    );
    assert_eq!(
        stop(None, Some(&token), None, false).await,
        415,
        "JSON only"
    );
    let dl = client
        .get(format!("{url}download/results.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(dl.status().as_u16(), 403, "downloads need the token");
    let too_many = client
        .post(format!("{url}api/users"))
        .header("x-throng-token", &token)
        .header("content-type", "application/json")
        .body(r#"{"users": 4000000000}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(too_many.status().as_u16(), 400);
    assert!(too_many.text().await.unwrap().contains("at most 100000"));
    // /metrics is read-only and serves Prometheus without a token.
    let metrics = client.get(format!("{url}metrics")).send().await.unwrap();
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert!(metrics
        .text()
        .await
        .unwrap()
        .contains("throng_requests_total{mode=\"http\""));
    assert_eq!(live(&url, &token).await["state"], "running");

    // The page's own way still works: same origin, token, JSON.
    let origin = url.trim_end_matches('/').to_string();
    assert_eq!(stop(None, Some(&token), Some(&origin), true).await, 200);
    wait_for("finished", Duration::from_secs(60), || {
        let (u, t) = (url.clone(), token.clone());
        async move { (live(&u, &t).await["state"] == "finished").then_some(()) }
    })
    .await;
    throng.interrupt();
    assert_eq!(
        throng.wait_exit(Duration::from_secs(20)).await,
        0,
        "{}",
        throng.stderr()
    );
    site.shutdown().await;
}
