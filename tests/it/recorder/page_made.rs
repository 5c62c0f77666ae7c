//! A page that makes up its session id in JavaScript, recorded headless: the id becomes a
//! generated variable wherever it recurs; verifying the flow (one HTTP replay diffed with the
//! recording) finds the job id the recording could not correlate and extracts it; then three
//! HTTP users each get a session of their own and their own result.

use super::fixture::{replay_http, Site};
use super::{start_recording, Driver};
use serde_json::Value;
use std::collections::BTreeSet;
use throng::app::verify::{verify, Verified};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_made_session_id_is_generated_per_user_and_verify_correlates_the_job() {
    let site = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("queue.json");
    let rec = start_recording(&format!("{}/queue", site.base), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for("the queue page", "document.readyState === 'complete'")
        .await;
    d.click("[data-testid=prompt]").await;
    d.type_text("hello").await;
    d.think(300).await;
    d.click("[data-testid=run]").await;
    d.wait_for(
        "the result",
        "document.body.getAttribute('data-done') === '1'",
    )
    .await;
    d.think(300).await;
    drop(d);
    rec.stop.cancel();
    let summary = rec.task.await.unwrap().expect("recording succeeds");
    let recorded = site.seen();
    assert_eq!(recorded.jobs.len(), 1, "{recorded:?}");
    let recorded_hash = recorded.jobs[&1].0.clone();

    // The flow: the page's hash is a generated variable in the join body and the result URL.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains(&format!("\"{recorded_hash}\",")), "{text}");
    let flow: Value = serde_json::from_str(&text).unwrap();
    let vars = flow["variables"].as_array().expect("variables");
    let hash_var = vars
        .iter()
        .find(|v| v["generate"]["like"] == recorded_hash.as_str())
        .unwrap_or_else(|| panic!("no generated session hash in {vars:#?}"));
    let name = hash_var["name"].as_str().unwrap();
    let use_ = format!("${{{name}}}");
    assert_eq!(
        text.matches(&use_).count(),
        2,
        "join body and result URL: {text}"
    );
    assert!(
        summary.made.iter().any(|m| m.contains(&recorded_hash)),
        "{:?}",
        summary.made
    );
    assert!(
        text.contains("/api/result/1?"),
        "the job id is not correlated yet: {text}"
    );

    // Verify: the replay's join answers another job id; the diff makes it a variable and the
    // second replay gets its result.
    let verdict = verify(&out, &summary.recording).await.expect("verify runs");
    assert_eq!(verdict, Verified::Replays);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("/api/result/${job_id}?"), "{text}");
    let checked = site.seen();
    assert_eq!(
        checked.not_found, 1,
        "the first replay's result fetch: {checked:?}"
    );
    assert_eq!(checked.jobs.len(), 3, "{checked:?}");
    let (h2, h3) = (&checked.jobs[&2].0, &checked.jobs[&3].0);
    assert!(
        h2 != &recorded_hash && h3 != &recorded_hash && h2 != h3,
        "{checked:?}"
    );
    assert!(
        checked.jobs[&3].2,
        "the second replay got its result: {checked:?}"
    );

    // Three users at once: three sessions, each with its own job and its own result.
    site.reset();
    let run = replay_http(&site.base, &out, 3, &[], 0.2).await;
    assert_eq!(
        run.counters.get("sessions.completed"),
        Some(&3),
        "{:?}",
        run.counters
    );
    let seen = site.seen();
    assert_eq!(seen.busy, 0, "no user joined another's session: {seen:?}");
    assert_eq!(seen.not_found, 0, "{seen:?}");
    let hashes: BTreeSet<&str> = seen.jobs.values().map(|(h, _, _)| h.as_str()).collect();
    assert_eq!(hashes.len(), 3, "one session per user: {seen:?}");
    assert!(
        seen.jobs.values().all(|(h, data, done)| *done
            && data == "hello"
            && h.len() == recorded_hash.len()
            && h.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())),
        "each job delivered to its own session, ids shaped like the page's: {seen:?}"
    );
}
