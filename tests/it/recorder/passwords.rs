//! A typed password leaves nothing behind: not the prefixes a strength meter fetched on every
//! keystroke, not its base64 form in a JSON body, not the value of a field a "show password"
//! toggle made `type=text`; not even in the checkpoints written while typing. The flow replays
//! with another password, encoded as the page did.

use super::fixture::{replay_http, Site};
use super::{start_recording, Driver};
use std::time::Duration;

const PASSWORD: &str = "Hu7nq2-Vxq7Kw";

/// Every piece of 4+ characters of the password, and the base64 of every prefix, that is in
/// `text` (none may be).
fn leaks(text: &str) -> Vec<String> {
    use base64::Engine as _;
    let chars: Vec<char> = PASSWORD.chars().collect();
    let mut out = Vec::new();
    for n in 4..=chars.len() {
        for piece in chars.windows(n) {
            let piece: String = piece.iter().collect();
            if text.contains(&piece) {
                out.push(piece);
            }
        }
        let prefix: String = chars[..n].iter().collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&prefix);
        if text.contains(b64.trim_end_matches('=')) {
            out.push(b64);
        }
    }
    out
}

/// The flow file once a checkpoint holds a strength check per character of `typed`.
async fn checkpoint(out: &std::path::Path, typed: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        let enough = text.matches("/strength").count() >= typed.len();
        if enough || tokio::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_password_leaves_no_prefix_encoding_or_shown_value_behind() {
    let site = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("signup.json");
    let rec = start_recording(&format!("{}/signup", site.base), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for("the page", "document.readyState === 'complete'")
        .await;
    d.click("[data-testid=user]").await;
    d.type_text("alice").await;
    d.click("[data-testid=pw]").await;
    // Key by key, as a person types: the meter asks about every prefix.
    for c in PASSWORD[..8].chars() {
        d.type_text(&c.to_string()).await;
    }
    // A checkpoint while the field has the focus (its value not reported yet) holds no piece
    // of it: the recorder learns each version as it is typed.
    let text = checkpoint(&out, &PASSWORD[..8]).await;
    assert!(
        text.contains("/strength"),
        "a checkpoint was written: {text}"
    );
    assert_eq!(leaks(&text), Vec::<String>::new(), "{text}");
    // "Show password": the field is type=text from here on.
    d.click("[data-testid=show]").await;
    d.wait_for("shown", "document.getElementById('pw').type === 'text'")
        .await;
    d.click("[data-testid=pw]").await;
    for c in PASSWORD[8..].chars() {
        d.type_text(&c.to_string()).await;
    }
    let text = checkpoint(&out, PASSWORD).await;
    assert_eq!(leaks(&text), Vec::<String>::new(), "{text}");
    d.click("[data-testid=signup]").await;
    d.wait_for(
        "signed up",
        "document.body.getAttribute('data-done') === '201'",
    )
    .await;
    d.think(300).await;
    drop(d);
    rec.stop.cancel();
    rec.task.await.unwrap().expect("recording succeeds");
    assert_eq!(
        site.seen().signups.get("alice").map(String::as_str),
        Some(PASSWORD)
    );
    assert!(site.seen().strength >= PASSWORD.len() as u64);

    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(leaks(&text), Vec::<String>::new(), "{text}");
    throng::flow::load(&out).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let flow: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = flow["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["password", "password_base64"], "{text}");
    assert_eq!(flow["variables"][1]["encode"]["value"], "${password}");
    assert!(
        text.contains(r#"\"pw_b64\":\"${password_base64}\""#),
        "{text}"
    );
    assert!(text.contains("/strength?p=${password}"), "{text}");

    // Replayed with another password (with the characters passwords hold): the site gets it
    // base64-encoded as the page sent it.
    site.reset();
    let other = "Pa ss&w+rd%=9";
    let run = replay_http(&site.base, &out, 1, &[("password", other)], 0.0).await;
    assert_eq!(
        run.counters.get("sessions.completed"),
        Some(&1),
        "{:?}",
        run.counters
    );
    assert_eq!(
        site.seen().signups.get("alice").map(String::as_str),
        Some(other)
    );
}
