//! Real web applications nobody here wrote (tests/fixtures/real-apps): each is installed by
//! .ci/setup, served on loopback, recorded with `throng record --headless` driven by
//! playwright-core, then replayed in both modes with the server's own log as the count. The
//! harness (harness.mjs) checks everything issues 12 and 20 ask; CI runs Node-RED (a
//! single-page app with a token login and a live socket, about 3 min); the rest runs with
//! tests/fixtures/real-apps/run.sh.

use std::path::PathBuf;
use std::process::Command;

fn check_app(app: &str) {
    check_app_with(app, &[]);
}

/// Runs the harness on `app`; every check must pass, and the named `extra` ones must have run.
fn check_app_with(app: &str, extra: &[&str]) {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-apps");
    assert!(
        here.join(".venv/bin/python").exists()
            && here.join("node_modules/playwright-core").exists(),
        "the real apps are not installed: run `bash .ci/setup`"
    );
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("node")
        .arg(here.join("harness.mjs"))
        .arg("--out")
        .arg(out.path())
        .arg(app)
        .env("THRONG", crate::support::THRONG)
        .output()
        .expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    eprintln!("{text}");
    assert!(run.status.success(), "{app}: {text}");
    // Every check ran and passed, the login ones included.
    assert!(!text.contains("FAIL"), "{text}");
    for check in [
        "flow validates",
        "recording verifies with no difference left unexplained",
        "flow holds no password",
        "http replay: throng's count = server's log",
        "browser replay: throng's count = server's log",
        "http replay with a wrong password fails",
        "browser replay with a wrong password fails",
        "@puppeteer/replay replays the flow",
    ]
    .iter()
    .chain(extra)
    {
        assert!(
            text.contains(&format!("ok   {app}: {check}")),
            "{check}: {text}"
        );
    }
}

/// Outside CI's subset since Node-RED joined it (both in one lane made it the test phase's
/// longest, past its 400 s budget); the demo shop's tests cover CSRF forms in CI.
/// `tests/fixtures/real-apps/run.sh` and `cargo nextest run --run-ignored all real_apps` run it.
#[test]
#[ignore]
fn django_admin_records_and_replays_in_both_modes() {
    check_app_with(
        "django",
        &[
            "http replay: the app's effects = what the sessions did",
            "browser replay: the app's effects = what the sessions did",
            "http replay with a wrong password: the app did nothing",
        ],
    );
}

/// Outside CI's subset (the test phase's budget): `tests/fixtures/real-apps/run.sh` and
/// `cargo nextest run --run-ignored all real_apps` run it.
#[test]
#[ignore]
fn datasette_records_and_replays_in_both_modes() {
    check_app("datasette");
}

/// Issue 20: a single-page app with a token login whose live socket opens after the login
/// (Node-RED: POST /auth/token with a password holding `& + % =` and spaces, then /comms
/// authenticated by its first message), a pasted node (a page-made id, dropped where the
/// pointer is: the recorder writes that click at its spot of the canvas), a deploy as the
/// save, and the app's own audit log as the effects. In CI (about 3 minutes).
#[test]
fn node_red_spa_with_socket_records_and_replays_in_both_modes() {
    check_app_with(
        "node-red",
        &[
            "http replay: 0 interrupted",
            "browser replay: 0 interrupted",
            "http replay: throng's sockets = server's",
            "browser replay: throng's sockets = server's",
            "http replay: the app's effects = what the sessions did",
            "browser replay: the app's effects = what the sessions did",
            "http replay with a wrong password: the app did nothing",
            "browser replay with a wrong password: the app did nothing",
        ],
    );
}

/// Issue 23: session handoff (`--login`) against a real app whose login is JavaScript keeping
/// its token in localStorage (Node-RED's editor): one audited login per handoff, every HTTP
/// session's admin calls accepted with the handed token, nothing done with a wrong password
/// (tests/fixtures/real-apps/handoff.mjs, about 90 s: outside CI's subset).
#[test]
#[ignore]
fn node_red_login_is_handed_to_http_users() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-apps");
    assert!(
        here.join("node_modules/node-red").exists(),
        "the real apps are not installed: run `bash .ci/setup`"
    );
    let run = Command::new("node")
        .arg(here.join("handoff.mjs"))
        .env("THRONG", crate::support::THRONG)
        .output()
        .expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert_eq!(text.matches("ok   node-red handoff: ").count(), 3, "{text}");
}
