//! `throng record --fake email.unique=user`: the address typed in a sign-up form becomes
//! `${fake.email.unique}` in the typed text and in the JSON the page posted, so each replayed
//! user signs up with its own address.

use super::fixture::{replay_http, Site};
use super::Driver;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_sign_up_types_generated_unique_addresses_at_replay() {
    let site = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("signup.json");
    let mut rec = tokio::process::Command::new(crate::support::THRONG)
        .args([
            "record",
            "--headless",
            "--no-verify",
            "--fake",
            "email.unique=user",
        ])
        .arg(format!("{}/signup", site.base))
        .arg("-o")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(rec.stdout.take().unwrap()).lines();
    let ws_url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("devtools: ") {
                return url.to_string();
            }
        }
        panic!("the recorder printed no DevTools URL");
    })
    .await
    .expect("the recorder starts");
    let d = Driver::connect(&ws_url).await;
    d.wait_for("the page", "document.readyState === 'complete'")
        .await;
    d.click("[data-testid=user]").await;
    d.type_text("alice@example.com").await;
    d.click("[data-testid=pw]").await;
    d.type_text("Hu7nq2-Vxq7Kw").await;
    d.click("[data-testid=signup]").await;
    d.wait_for(
        "signed up",
        "document.body.getAttribute('data-done') === '201'",
    )
    .await;
    d.think(300).await;
    let _ = d.cdp.call("Browser.close", json!({}), None).await;
    let status = tokio::time::timeout(Duration::from_secs(60), rec.wait())
        .await
        .expect("the recorder ends")
        .unwrap();
    let mut stderr = String::new();
    rec.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("generated data: `user` typed in step"),
        "{stderr}"
    );
    assert!(site.seen().signups.contains_key("alice@example.com"));

    let text = std::fs::read_to_string(&out).unwrap();
    throng::flow::load(&out).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        text.contains(r#""valueTemplate": "${fake.email.unique}""#),
        "{text}"
    );
    assert!(
        text.contains(r#"\"user\":\"${fake.email.unique}\""#),
        "the posted JSON: {text}"
    );

    // Three users sign up, each with its own generated address.
    site.reset();
    let run = replay_http(&site.base, &out, 3, &[("password", "pw-1234")], 0.0).await;
    assert_eq!(
        run.counters.get("sessions.completed"),
        Some(&3),
        "{:?}",
        run.counters
    );
    let signups = site.seen().signups;
    assert_eq!(signups.len(), 3, "{signups:?}");
    assert!(
        signups
            .keys()
            .all(|u| u.contains('@') && u != "alice@example.com"),
        "{signups:?}"
    );
}
