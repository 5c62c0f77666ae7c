//! Session handoff (`throng run --login FLOW`): each HTTP user (or group of K with
//! `--login-share`) starts with what a real browser login ended with, checked against the
//! demo portal's own counts: every API call the HTTP users made carried a token the server
//! issued to a browser login, one login per handoff, and a wrong password fails the sessions.

use crate::support;
use throng::metrics::{Mode, SampleKind};

struct Run {
    code: Option<i32>,
    stderr: String,
    results: throng::report::Results,
    stats: throng::demo::Stats,
}

fn flow(name: &str) -> String {
    support::flow_path(name).to_str().unwrap().to_string()
}

/// `--login` on the command line: `users` users of the portal's API flow.
async fn run(users: u32, iterations: u32, extra: &[&str]) -> Run {
    let (api, login) = (flow("portal-api.json"), flow("portal-login.json"));
    let (users, iterations) = (users.to_string(), iterations.to_string());
    let mut args = vec![api.as_str(), "--login", &login, "--users", &users];
    args.extend(["--iterations", &iterations]);
    args.extend(extra);
    throng(&args).await
}

async fn throng(args: &[&str]) -> Run {
    let server = support::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let base = server.base_url();
    let output = support::throng_async()
        .args(["run", "--target", &base])
        .args(args)
        .args([
            "--think-scale",
            "0",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let results = throng::report::read_results(&out.join("results.json"))
        .unwrap_or_else(|e| panic!("results: {e}; {stderr}"));
    let stats = server.stats();
    server.shutdown().await;
    Run {
        code: output.status.code(),
        stderr,
        results,
        stats,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_user_calls_the_api_with_a_token_its_browser_login_was_issued() {
    // 6 users x 2 iterations: 6 browser logins, 24 API calls (2 per session).
    let r = run(6, 2, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let p = &r.stats.portal;
    assert_eq!(p.logins, 6, "one login per user, not per request: {p:?}");
    assert_eq!(p.logins_by.get("chrome"), Some(&6), "{p:?}");
    assert_eq!(p.logins_refused, 0);
    // The browsers' own home pages called the API once each; the HTTP users twice a session.
    assert_eq!(p.calls_refused, 0, "{p:?}");
    assert_eq!(p.http_calls_with_browser_tokens, 6 * 2 * 2, "{p:?}");
    assert_eq!(p.calls, 6 + 6 * 2 * 2, "{p:?}");
    assert_eq!(p.tokens_used, 6, "each user its own login's token: {p:?}");
    // The cookie came along: every home page was served signed in.
    assert_eq!(p.home_pages, 6 + 6 * 2, "{p:?}");
    assert_eq!(p.home_refused, 0, "{p:?}");
    let s = &r.results.summary;
    let logins = s.total(Some(Mode::Http), Some(SampleKind::Login));
    assert_eq!(logins.count, 6, "the logins' own time, one sample each");
    assert_eq!(s.counters["sessions.completed"], 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_logins_count_one_per_k_users_and_a_wrong_password_fails_the_sessions() {
    // A plan file's flow names its login and how many users share one.
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let text = serde_json::json!({
        "stages": [{"target": 6, "duration": "0s"}, {"target": 6, "duration": "4s"}],
        "flows": [{"flow": flow("portal-api.json"), "users": 6,
                   "login": flow("portal-login.json"), "loginShare": 3}]
    });
    std::fs::write(&plan, text.to_string()).unwrap();
    let r = throng(&["--plan", plan.to_str().unwrap()]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let p = &r.stats.portal;
    // The users iterate for the whole plan on the session their group's login handed them.
    assert_eq!(p.logins, 2, "6 users / 3 per login: {p:?}");
    assert_eq!(p.tokens_used, 2, "{p:?}");
    assert_eq!(p.calls_refused, 0, "{p:?}");
    let s = &r.results.summary;
    let completed = s.counters["sessions.completed"];
    assert!(completed >= 6, "{completed}");
    assert!(p.http_calls_with_browser_tokens >= 2 * completed, "{p:?}");
    assert_eq!(p.calls - p.http_calls_with_browser_tokens, 2, "{p:?}");
    assert_eq!(s.total(Some(Mode::Http), Some(SampleKind::Login)).count, 2);

    let r = run(2, 1, &["--var", "password=wrong"]).await;
    let p = &r.stats.portal;
    assert_eq!(p.logins, 0, "{p:?}");
    assert_eq!(p.logins_refused, 2, "{p:?}");
    assert_eq!(p.calls, 0, "no session went on without its login: {p:?}");
    assert_eq!(p.home_pages + p.home_refused, 0, "{p:?}");
    let s = &r.results.summary;
    assert_eq!(s.counters["sessions.failed"], 2);
    let login = s.total(Some(Mode::Http), Some(SampleKind::Login));
    assert_eq!((login.count, login.failures), (2, 2));
    let failures: Vec<&String> = s
        .counters
        .keys()
        .filter(|k| k.starts_with("session failure: "))
        .collect();
    assert!(
        failures
            .iter()
            .all(|f| f.contains("login flow `portal-login` failed")),
        "{failures:?}"
    );
    assert_ne!(r.code, Some(2));
}
