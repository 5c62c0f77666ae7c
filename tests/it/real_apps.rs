//! Real web applications nobody here wrote (tests/fixtures/real-apps): each is installed by
//! .ci/setup, served on loopback, recorded with `throng record --headless` driven by
//! playwright-core, then replayed in both modes with the server's own log as the count. The
//! harness (harness.mjs) checks everything issue 12 asks; these tests run two of the apps.

use std::path::PathBuf;
use std::process::Command;

fn check_app(app: &str) {
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
        "flow holds no password",
        "http replay: throng's count = server's log",
        "browser replay: throng's count = server's log",
        "http replay with a wrong password fails",
        "browser replay with a wrong password fails",
        "@puppeteer/replay replays the flow",
    ] {
        assert!(
            text.contains(&format!("ok   {app}: {check}")),
            "{check}: {text}"
        );
    }
}

#[test]
fn django_admin_records_and_replays_in_both_modes() {
    check_app("django");
}

#[test]
fn datasette_records_and_replays_in_both_modes() {
    check_app("datasette");
}
