//! A document or AJAX request the recording saw succeed fails its step and the session when it
//! fails at replay, in both modes: a login by `fetch` answered 400 fails, even though the page
//! then reloads as it did when recorded. A request the flow marks optional may fail.

use super::site::{Site, PASSWORD};
use super::{counter, flow, run_once};
use serde_json::json;
use throng::metrics::{Mode, RunSummary};

/// The login as a recording has it: the page, the password typed, the click that posts it by
/// `fetch` and reloads the page.
fn login_steps(base: &str, optional: bool) -> serde_json::Value {
    let page = |status: u16| {
        json!([
            {"kind": "document", "method": "GET", "url": format!("{base}/api-login"), "status": status},
            {"kind": "ajax", "method": "GET", "url": format!("{base}/api/profile"), "status": 200}
        ])
    };
    let mut after = vec![json!({
        "kind": "ajax", "method": "POST", "url": format!("{base}/api/login"), "status": 200,
        "headers": {"content-type": "application/json"},
        "body": "{\"user\":\"ann\",\"password\":\"${password}\"}",
        "optional": optional
    })];
    after.extend(page(200).as_array().unwrap().iter().cloned());
    json!([
        {"type": "navigate", "url": format!("{base}/api-login"), "network": {"requests": page(200)}},
        {"type": "change", "selectors": [["#password"]], "value": "${password}"},
        {"type": "click", "selectors": [["#login"]], "offsetX": 5, "offsetY": 5,
         "assertedEvents": [{"type": "navigation", "url": format!("{base}/api-login")}],
         "network": {"requests": after}}
    ])
}

fn failure_message(summary: &RunSummary) -> String {
    summary
        .counters
        .keys()
        .find_map(|k| k.strip_prefix("session failure: "))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_api_login_fails_the_session_in_both_modes() {
    let site = Site::start().await;
    let base = site.base();
    for mode in [Mode::Http, Mode::Browser] {
        let good = flow(&base, login_steps(&base, false), &[("password", PASSWORD)]);
        let summary = run_once(good, mode, 1).await;
        assert_eq!(
            counter(&summary, "sessions.completed"),
            1,
            "{mode:?}: {:?}",
            summary.counters
        );
        let bad = flow(&base, login_steps(&base, false), &[("password", "wrong")]);
        let summary = run_once(bad, mode, 1).await;
        assert_eq!(
            counter(&summary, "sessions.failed"),
            1,
            "{mode:?}: {:?}",
            summary.counters
        );
        let why = failure_message(&summary);
        assert!(
            why.starts_with("step 3 click #login: ")
                && why.contains(&format!(
                    "POST {base}/api/login answered 400; the recording saw 200"
                )),
            "{mode:?}: {why}"
        );
    }
    assert_eq!(site.effect("api login ok"), 2);
    assert_eq!(site.effect("api login bad"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_marked_optional_may_fail() {
    let site = Site::start().await;
    let base = site.base();
    for mode in [Mode::Http, Mode::Browser] {
        let bad = flow(&base, login_steps(&base, true), &[("password", "wrong")]);
        let summary = run_once(bad, mode, 1).await;
        assert_eq!(
            counter(&summary, "sessions.completed"),
            1,
            "{mode:?}: {:?}",
            summary.counters
        );
    }
    assert_eq!(site.effect("api login bad"), 2);
}

/// A click that lands on the wrong element (the recording's one is gone) passes as a click;
/// the save the recording saw it send never goes out, and that fails the step in browser mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_the_replay_never_sent_fails_its_step() {
    let site = Site::start().await;
    let base = site.base();
    let mut steps = login_steps(&base, false);
    // The click now lands on the password field: nothing is posted.
    steps[2]["selectors"] = json!([["#password"]]);
    steps[2].as_object_mut().unwrap().remove("assertedEvents");
    let summary = run_once(
        flow(&base, steps, &[("password", PASSWORD)]),
        Mode::Browser,
        1,
    )
    .await;
    assert_eq!(
        counter(&summary, "sessions.failed"),
        1,
        "{:?}",
        summary.counters
    );
    let why = failure_message(&summary);
    assert!(
        why.starts_with("step 3 click #password: ")
            && why.contains(&format!("POST {base}/api/login was never sent")),
        "{why}"
    );
    // The control: the right click sends it and the session completes.
    let summary = run_once(
        flow(&base, login_steps(&base, false), &[("password", PASSWORD)]),
        Mode::Browser,
        1,
    )
    .await;
    assert_eq!(counter(&summary, "sessions.completed"), 1);
    assert_eq!(site.effect("api login ok"), 1);
}
