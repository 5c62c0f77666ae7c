//! Pollers are requests repeated on a steady period, nothing else: a request sent before login
//! (401) and after it (200) stays two one-off requests with their statuses, two POSTs to one URL
//! with different bodies stay two actions, and the status poll is one poller. Replayed over HTTP,
//! each user logs in once and acts once per click.

use super::fixture::{replay_http, Site, POLL_PASSWORD};
use super::{requests, start_recording, step_with, steps, Driver};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_steady_repeats_become_pollers_and_one_offs_keep_their_step_and_status() {
    let site = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("poll.json");
    let rec = start_recording(&format!("{}/poll", site.base), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for(
        "the first /api/me",
        "document.getElementById('me').textContent === '401'",
    )
    .await;
    // Long enough for the status poll to tick three times or more.
    d.think(1800).await;
    d.click("[data-testid=user]").await;
    d.type_text("alice").await;
    d.click("[data-testid=pw]").await;
    d.type_text(POLL_PASSWORD).await;
    d.click("[data-testid=login]").await;
    d.wait_for("logged in", "document.body.getAttribute('data-in') === '1'")
        .await;
    d.think(300).await;
    d.click("[data-testid=preview]").await;
    d.think(839).await;
    d.click("[data-testid=save]").await;
    d.think(400).await;
    drop(d);
    rec.stop.cancel();
    rec.task.await.unwrap().expect("recording succeeds");

    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains(POLL_PASSWORD), "{text}");
    let flow: Value = serde_json::from_str(&text).unwrap();
    let pollers: Vec<&Value> = steps(&flow)
        .iter()
        .filter_map(|s| s["network"]["polling"].as_array())
        .flatten()
        .collect();
    assert_eq!(pollers.len(), 1, "only the status poll: {pollers:#?}");
    let p = pollers[0];
    assert!(p["url"].as_str().unwrap().ends_with("/api/status"), "{p}");
    assert_eq!(p["method"], "POST");
    assert_eq!(p["status"], 200);
    let period = p["periodMs"].as_u64().unwrap();
    assert!((400..=650).contains(&period), "{period}");

    // /api/me: once with the page (401), once after the login click (200).
    let me: Vec<(usize, &Value)> = steps(&flow)
        .iter()
        .enumerate()
        .flat_map(|(i, s)| requests(s).into_iter().map(move |r| (i, r)))
        .filter(|(_, r)| r["url"].as_str().unwrap().ends_with("/api/me"))
        .collect();
    let (login_step, _) = step_with(&flow, "click", "[data-testid='login']");
    assert_eq!(me.len(), 2, "{me:#?}");
    assert_eq!(
        (me[0].1["status"].as_u64(), me[1].1["status"].as_u64()),
        (Some(401), Some(200))
    );
    assert_eq!(steps(&flow)[me[0].0]["type"], "navigate");
    assert_eq!(me[1].0, login_step);
    // The two actions: each with its click, its own body.
    for (button, op) in [("preview", "preview"), ("save", "save")] {
        let (_, click) = step_with(&flow, "click", &format!("[data-testid='{button}']"));
        let acts: Vec<&Value> = requests(click)
            .into_iter()
            .filter(|r| r["url"].as_str().unwrap().ends_with("/api/act"))
            .collect();
        assert_eq!(acts.len(), 1, "{click:#}");
        assert!(acts[0]["body"].as_str().unwrap().contains(op), "{click:#}");
    }

    // Two users replay it: each logs in once, asks who it is before (401) and after (200),
    // previews and saves once, and polls the status; nothing else.
    site.reset();
    let run = replay_http(&site.base, &out, 2, &[("password", POLL_PASSWORD)], 1.0).await;
    assert_eq!(
        run.counters.get("sessions.completed"),
        Some(&2),
        "{:?}",
        run.counters
    );
    let seen = site.seen();
    assert_eq!(seen.visitors.len(), 2, "{seen:?}");
    for (id, v) in &seen.visitors {
        assert_eq!((v.me_401, v.me_200, v.logins), (1, 1, 1), "{id}: {v:?}");
        assert_eq!(v.acts, ["preview", "save"], "{id}: {v:?}");
        assert!(v.polls >= 2, "{id} polled while its page was open: {v:?}");
    }
}
