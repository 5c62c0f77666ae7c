//! Bad input for recording and import: one clear error line each, and what was recorded kept.

use super::{assert_browser_gone, has_request, start_recording_with, step_with, steps, Driver};
use crate::support;
use serde_json::{json, Value};
use throng_recorder::{record, RecordError, RecordOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_does_not_load_is_one_error_and_the_start_is_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nothing.json");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let mut opts = RecordOptions::new(&url, &out);
    opts.headless = true;
    opts.ctrl_c = false;
    let err = record(opts).await.expect_err("nothing listens");
    let msg = err.to_string();
    assert!(
        matches!(err, RecordError::Navigate { steps: 2, .. }),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{url} did not load")) && msg.contains("ERR_CONNECTION_REFUSED"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    let flow = throng::flow::load(&out).expect("what was recorded is a valid flow");
    assert_eq!(flow.flow.steps.len(), 2);
}

#[tokio::test]
async fn a_browser_that_cannot_start_is_one_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.json");
    for chrome in ["/nonexistent/chromium", "/bin/false"] {
        let mut opts = RecordOptions::new("http://127.0.0.1:9/", &out);
        opts.headless = true;
        opts.ctrl_c = false;
        opts.chrome = chrome.into();
        let err = record(opts).await.expect_err("no browser");
        let msg = err.to_string();
        assert!(matches!(err, RecordError::Launch(_)), "{msg}");
        assert!(
            msg.starts_with(&format!("cannot start the browser {chrome}: ")),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
    }
    assert!(!out.exists(), "nothing was recorded, nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_dies_mid_recording_keeps_what_was_recorded_with_secrets_hidden() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("crash.json");
    // `--secret search`: what is typed in the search box is a secret, like a password.
    let rec = start_recording_with(&format!("{base}/"), &out, &["search"]).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_page("/").await;
    d.click("[data-testid=search]").await;
    d.type_text("writing desk").await;
    d.press_enter().await;
    d.wait_page("/search").await;
    // The browser goes away under the recorder (as a crash or a kill would).
    let _ = d.cdp.call("Browser.crash", json!({}), None).await;
    let err = rec
        .task
        .await
        .unwrap()
        .expect_err("a headless browser that dies is an error");
    let msg = err.to_string();
    assert!(matches!(err, RecordError::BrowserDied { .. }), "{msg}");
    assert!(msg.contains("recorded so far are in"), "{msg}");
    let text = std::fs::read_to_string(&out).unwrap();
    throng::flow::load(&out).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let flow: Value = serde_json::from_str(&text).unwrap();
    let (i, change) = step_with(&flow, "change", "[data-testid='search']");
    assert_eq!(
        change["value"], "$THRONG_SEARCH",
        "a mask in the Recorder field"
    );
    assert_eq!(change["valueTemplate"], "${search}");
    assert!(has_request(
        &steps(&flow)[i + 1],
        "document",
        "/search?q=${search}"
    ));
    assert!(
        !text.contains("writing") && !text.contains("desk"),
        "{text}"
    );
    let var = flow["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "search");
    assert_eq!(
        var.expect("search variable")["secret"]["env"],
        "THRONG_SEARCH"
    );
    assert_browser_gone(&rec.ws_url).await;
    demo.shutdown().await;
}

#[test]
fn truncated_and_foreign_files_are_one_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("cut.har");
    std::fs::write(
        &har,
        r#"{"log": {"version": "1.2", "pages": [], "entries": [{"startedDateTime": "2024-"#,
    )
    .unwrap();
    let msg = throng_recorder::import_file(&har).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{}: truncated JSON", har.display())),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"hello": "world"}"#).unwrap();
    let msg = throng_recorder::import_file(&other)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("neither a Chrome DevTools Recorder export")
            && msg.starts_with(&other.display().to_string()),
        "{msg}"
    );
    let bad_entry = dir.path().join("bad.har");
    std::fs::write(
        &bad_entry,
        r#"{"log": {"entries": [{"request": {"url": "http://h/"}}]}}"#,
    )
    .unwrap();
    let msg = throng_recorder::import_file(&bad_entry)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("entry 1: no valid startedDateTime"), "{msg}");
}

#[test]
fn a_devtools_recorder_export_imports_with_its_steps_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.json");
    let export = json!({"title": "Recorder export", "steps": [
        {"type": "setViewport", "width": 1280, "height": 720, "deviceScaleFactor": 1, "isMobile": false, "hasTouch": false, "isLandscape": false},
        {"type": "navigate", "url": "http://127.0.0.1:8080/login", "assertedEvents": [{"type": "navigation", "url": "http://127.0.0.1:8080/login", "title": "Sign in"}]},
        {"type": "click", "target": "main", "selectors": [["aria/Username"], ["[data-testid='username']"]], "offsetX": 40, "offsetY": 9},
        {"type": "change", "value": "alice", "selectors": [["[data-testid='username']"]], "target": "main"},
        {"type": "change", "value": "wonderland", "selectors": [["aria/Password"], ["[data-testid='password']"]], "target": "main"},
        {"type": "keyDown", "target": "main", "key": "Enter"},
        {"type": "keyUp", "target": "main", "key": "Enter"}
    ]});
    std::fs::write(&path, serde_json::to_string(&export).unwrap()).unwrap();
    let flow = throng_recorder::import_file(&path).unwrap();
    let out = dir.path().join("flow.json");
    throng_recorder::write_flow(&out, &flow).unwrap();
    let flow = serde_json::to_value(&flow).unwrap();
    let loaded = throng::flow::load(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.flow.steps.len(), 7);
    assert_eq!(flow["origin"], "http://127.0.0.1:8080");
    // Every field kept (numbers by value: the typed model holds offsets as f64).
    for field in ["type", "target", "selectors"] {
        assert_eq!(
            flow["steps"][2][field], export["steps"][2][field],
            "{field}"
        );
    }
    assert_eq!(flow["steps"][2]["offsetX"].as_f64(), Some(40.0));
    // The Recorder types the mask (flows/replay-extension.mjs fills it in), throng the variable.
    assert_eq!(flow["steps"][4]["value"], "$THRONG_PASSWORD");
    assert_eq!(flow["steps"][4]["valueTemplate"], "${password}");
    assert!(!std::fs::read_to_string(&out)
        .unwrap()
        .contains("wonderland"));
}

#[test]
fn a_har_with_a_bearer_token_imports_it_as_a_secret_variable() {
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("api.har");
    let entry = |t: &str, url: &str, rt: &str, mime: &str, auth: bool| {
        let headers = if auth {
            json!([{"name": "Authorization", "value": "Bearer tok-9f8e7d6c5b4a"}])
        } else {
            json!([])
        };
        json!({"startedDateTime": t, "time": 5, "_resourceType": rt,
               "request": {"method": "GET", "url": url, "headers": headers},
               "response": {"status": 200, "headers": [], "content": {"mimeType": mime}}})
    };
    let doc = json!({"log": {"version": "1.2", "entries": [
        entry("2024-01-01T00:00:00.000Z", "http://127.0.0.1:8080/", "document", "text/html", false),
        entry("2024-01-01T00:00:01.000Z", "http://127.0.0.1:8080/api/me", "fetch", "application/json", true),
    ]}});
    std::fs::write(&har, doc.to_string()).unwrap();
    let flow = throng_recorder::import_file(&har).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("flow.json");
    throng_recorder::write_flow(&out, &flow).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("tok-9f8e7d6c5b4a"), "{text}");
    assert!(text.contains("Bearer ${authorization}"), "{text}");
    let var = flow
        .variables
        .iter()
        .find(|v| v.name == "authorization")
        .expect("a secret variable");
    assert_eq!(
        var.secret.as_ref().and_then(|s| s.env.as_deref()),
        Some("THRONG_AUTHORIZATION")
    );
}
