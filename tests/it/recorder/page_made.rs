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

/// A HAR entry: `path` on `base`, with its request body and JSON or HTML answer.
fn entry(
    base: &str,
    method: &str,
    path: &str,
    at: &str,
    body: Option<&str>,
    answer: &str,
) -> Value {
    let mime = if answer.starts_with('<') {
        "text/html"
    } else {
        "application/json"
    };
    let mut request = serde_json::json!({"method": method, "url": format!("{base}{path}"),
        "httpVersion": "HTTP/1.1", "headers": [], "queryString": [], "cookies": [],
        "headersSize": -1, "bodySize": -1});
    if let Some(b) = body {
        request["postData"] = serde_json::json!({"mimeType": "application/json", "text": b});
        request["headers"] =
            serde_json::json!([{"name": "Content-Type", "value": "application/json"}]);
    }
    let rt = if mime == "text/html" {
        "document"
    } else {
        "fetch"
    };
    serde_json::json!({"startedDateTime": at, "time": 5, "pageref": "p1", "_resourceType": rt,
        "request": request,
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Content-Type", "value": mime}], "cookies": [],
            "content": {"size": answer.len(), "mimeType": mime, "text": answer},
            "redirectURL": "", "headersSize": -1, "bodySize": -1},
        "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 0}})
}

#[test]
fn throng_import_verifies_a_har_against_its_site_unless_told_not_to() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let site = rt.block_on(Site::start());
    let base = site.base.clone();
    let hash = "k3x9q0zt1m";
    let har = serde_json::json!({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
    "pages": [{"id": "p1", "startedDateTime": "2026-11-28T10:00:00.000Z", "title": "Queue",
               "pageTimings": {}}],
    "entries": [
        entry(&base, "GET", "/queue", "2026-11-28T10:00:00.000Z", None, "<title>Queue</title>"),
        entry(&base, "POST", "/api/join", "2026-11-28T10:00:01.000Z",
              Some(&format!(r#"{{"session_hash":"{hash}","data":"hello"}}"#)), r#"{"job_id":1}"#),
        entry(&base, "GET", &format!("/api/result/1?session_hash={hash}"),
              "2026-11-28T10:00:01.100Z", None, r#"{"result":"HELLO #1"}"#),
    ]}});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queue.har");
    std::fs::write(&file, har.to_string()).unwrap();

    let out = dir.path().join("unchecked.json");
    let (code, _, err) = crate::support::bin::output(
        crate::support::bin::throng()
            .arg("import")
            .arg(&file)
            .arg("-o")
            .arg(&out)
            .arg("--no-verify"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("verify:"), "{err}");
    assert!(
        err.contains(&format!(
            "generated ${{session_hash}}: made up by the page (recorded as {hash})"
        )),
        "{err}"
    );
    assert!(
        site.seen().jobs.is_empty(),
        "nothing replayed: {:?}",
        site.seen()
    );

    // The job the HAR's session made: the replay's join gets the next id.
    rt.block_on(async {
        let join = reqwest::Client::new()
            .post(format!("{base}/api/join"))
            .json(&serde_json::json!({"session_hash": hash, "data": "hello"}))
            .send()
            .await
            .unwrap();
        assert_eq!(join.status(), 200);
    });
    let out = dir.path().join("queue.json");
    let (code, _, err) = crate::support::bin::output(
        crate::support::bin::throng()
            .arg("import")
            .arg(&file)
            .arg("-o")
            .arg(&out),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("verify: step 1 GET {base}/api/result/1?session_hash=${{session_hash}}: recorded 200, replay 404")),
        "{err}"
    );
    assert!(
        err.contains("verify: correlated: ${job_id} is extracted from step 1 (JSON /job_id)"),
        "{err}"
    );
    assert!(
        err.contains("verify: replayed once over HTTP as recorded"),
        "{err}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("/api/result/${job_id}?session_hash=${session_hash}"),
        "{text}"
    );
    let seen = site.seen();
    assert_eq!(
        (seen.jobs.len(), seen.not_found),
        (3, 1),
        "two replays, the first one's result missed: {seen:?}"
    );
    assert!(
        seen.jobs.values().skip(1).all(|(h, _, _)| h != hash),
        "{seen:?}"
    );

    // A flow the site no longer answers as recorded: written, and the exit status says so.
    let mut stale = har.clone();
    let entries = stale["log"]["entries"].as_array_mut().unwrap();
    entries.truncate(1);
    entries.push(entry(
        &base,
        "GET",
        "/api/result/999?session_hash=zzzzzz",
        "2026-11-28T10:00:02.000Z",
        None,
        r#"{"result":"OLD"}"#,
    ));
    std::fs::write(&file, stale.to_string()).unwrap();
    let (code, _, err) = crate::support::bin::output(
        crate::support::bin::throng()
            .arg("import")
            .arg(&file)
            .arg("-o")
            .arg(&out),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/api/result/999?session_hash=${session_hash}: recorded 200, replay 404"),
        "{err}"
    );
    assert!(
        err.contains("does not replay over HTTP as recorded; it was written anyway"),
        "{err}"
    );
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("/api/result/999"));
    drop(site);
}
