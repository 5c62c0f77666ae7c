//! The Recorder's own replay library: the demo flows and a flow freshly written by
//! `throng record --headless` replay unchanged with @puppeteer/replay's CLI (npm, with Debian's
//! Chromium), and the demo site's /__stats shows what they did: the literal recorded search term,
//! a successful sign-in with the secret supplied by flows/replay-extension.mjs. The same
//! parametrised flows still replay with throng in both modes, their variables substituted.

use crate::support;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use throng::demo::Stats;

const PASSWORD: &str = "wonderland";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where .ci/setup installs @puppeteer/replay, puppeteer and playwright-core.
fn node_dir() -> PathBuf {
    let dir = repo().join("tests/fixtures/real-apps");
    for package in ["@puppeteer/replay", "puppeteer", "playwright-core"] {
        assert!(
            dir.join("node_modules").join(package).exists(),
            "{package} is not installed: run `bash .ci/setup`"
        );
    }
    dir
}

/// Debian's Chromium for puppeteer (PUPPETEER_EXECUTABLE_PATH): puppeteer downloads no browser
/// here, and Chromium refuses to run as root without --no-sandbox.
fn chromium_for_puppeteer(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("chromium");
    std::fs::write(&path, "#!/bin/sh\nexec chromium --no-sandbox \"$@\"\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `npx @puppeteer/replay [--extension flows/replay-extension.mjs] FLOW`; panics with the
/// output unless it reports the flow's success.
async fn puppeteer_replay(flow: &Path, chromium: &Path, secret: Option<(&str, &str)>) {
    let dir = node_dir();
    let mut cmd = tokio::process::Command::new("node");
    cmd.current_dir(&dir)
        .arg(dir.join("node_modules/@puppeteer/replay/lib/cli.js"))
        .env("PUPPETEER_EXECUTABLE_PATH", chromium)
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    if let Some((name, value)) = secret {
        cmd.arg("--extension")
            .arg(repo().join("flows/replay-extension.mjs"))
            .env(name, value);
    }
    cmd.arg(flow);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .expect("@puppeteer/replay ends within 3 minutes")
        .expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("Success") && !text.contains("Error running"),
        "{}: {text}",
        flow.display()
    );
}

/// An example flow rewritten by throng for the demo's port (`--target`), as throng writes it.
fn flow_for(name: &str, base: &str, dir: &Path) -> PathBuf {
    let mut flow = throng::flow::load(&support::flow_path(name))
        .expect("example flow loads")
        .flow;
    throng::flow::rewrite_origin(&mut flow, &url::Url::parse(base).unwrap());
    let path = dir.join(name);
    let text = throng::flow::to_checked_json(&flow, name).expect("flow writes");
    std::fs::write(&path, text).unwrap();
    path
}

/// No 4xx answers. 499 is the demo's note of a request the client abandoned: the replay closes
/// its browser when the flow ends, and on a loaded machine a last AJAX call may still be open.
fn no_client_errors(stats: &Stats) -> bool {
    stats
        .statuses
        .keys()
        .all(|s| !s.starts_with('4') || s == "499")
}

fn searches(terms: &[(&str, u64)]) -> BTreeMap<String, u64> {
    terms.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_flows_replay_unchanged_with_puppeteer_replay() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    let chromium = chromium_for_puppeteer(dir.path());

    // No secret: the plain CLI, no extension. The Recorder types what was recorded ("lamp"),
    // never throng's `${q}`, and follows the first result.
    let browse = flow_for("browse.json", &base, dir.path());
    demo.reset_stats();
    puppeteer_replay(&browse, &chromium, None).await;
    let stats = demo.stats();
    assert_eq!(stats.searches, searches(&[("lamp", 1)]), "{stats:?}");
    assert_eq!(stats.route("GET /product/1"), 1, "{stats:?}");
    assert!(no_client_errors(&stats), "{stats:?}");

    // The password is a mask in the file; the extension types it from the flow's env var.
    let shop = flow_for("shop.json", &base, dir.path());
    let text = std::fs::read_to_string(&shop).unwrap();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(
        text.contains("\"value\": \"$THRONG_DEMO_PASSWORD\""),
        "{text}"
    );
    demo.reset_stats();
    puppeteer_replay(&shop, &chromium, Some(("THRONG_DEMO_PASSWORD", PASSWORD))).await;
    let stats = demo.stats();
    assert_eq!(stats.searches, searches(&[("lamp", 1)]), "{stats:?}");
    assert_eq!(stats.route("POST /login"), 1, "{stats:?}");
    assert_eq!(stats.route("GET /account"), 1, "signed in: {stats:?}");
    assert!(no_client_errors(&stats), "{stats:?}");
    demo.shutdown().await;
}

/// A Chrome Recorder export (the password typed in clear, as the Recorder stores it) through
/// `throng import`: the imported flow masks the password and still replays in the Recorder's
/// library, the extension supplying it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_recorder_export_replays_with_puppeteer_replay() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    let chromium = chromium_for_puppeteer(dir.path());
    let export = serde_json::json!({"title": "Sign in", "steps": [
        {"type": "setViewport", "width": 1280, "height": 720, "deviceScaleFactor": 1,
         "isMobile": false, "hasTouch": false, "isLandscape": false},
        {"type": "navigate", "url": format!("{base}/login"),
         "assertedEvents": [{"type": "navigation", "url": format!("{base}/login"), "title": "Sign in"}]},
        {"type": "change", "value": "alice", "selectors": [["aria/Username"], ["[data-testid='username']"]], "target": "main"},
        {"type": "change", "value": PASSWORD, "selectors": [["aria/Password"], ["[data-testid='password']"]], "target": "main"},
        {"type": "click", "selectors": [["[data-testid='login-submit']"]], "offsetX": 10, "offsetY": 8,
         "target": "main", "assertedEvents": [{"type": "navigation", "url": format!("{base}/account")}]}
    ]});
    let src = dir.path().join("export.json");
    std::fs::write(&src, export.to_string()).unwrap();
    let flow = dir.path().join("imported.json");
    let out = crate::support::throng_async()
        .arg("import")
        .arg(&src)
        .arg("-o")
        .arg(&flow)
        .output()
        .await
        .expect("throng runs");
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&flow).unwrap();
    assert!(!text.contains(PASSWORD), "password in clear: {text}");

    demo.reset_stats();
    puppeteer_replay(&flow, &chromium, Some(("THRONG_PASSWORD", PASSWORD))).await;
    let stats = demo.stats();
    assert_eq!(stats.route("POST /login"), 1, "{stats:?}");
    assert_eq!(stats.route("GET /account"), 1, "signed in: {stats:?}");
    assert!(no_client_errors(&stats), "{stats:?}");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_recording_replays_unchanged_with_puppeteer_replay() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    let chromium = chromium_for_puppeteer(dir.path());
    let flow = dir.path().join("recorded.json");

    // `throng record --headless`, driven by playwright-core: search "desk", first result, sign in.
    let rec = tokio::process::Command::new("node")
        .arg(node_dir().join("record-demo.mjs"))
        .args([base.as_str(), flow.to_str().unwrap(), "desk", PASSWORD])
        .env("THRONG", crate::support::THRONG)
        .kill_on_drop(true)
        .output();
    let rec = tokio::time::timeout(Duration::from_secs(180), rec)
        .await
        .expect("the recording ends within 3 minutes")
        .expect("node runs");
    assert!(
        rec.status.success(),
        "{}{}",
        String::from_utf8_lossy(&rec.stdout),
        String::from_utf8_lossy(&rec.stderr)
    );
    let text = std::fs::read_to_string(&flow).unwrap();
    assert!(!text.contains(PASSWORD), "password in clear: {text}");
    let loaded = throng::flow::load(&flow).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let password = loaded
        .flow
        .steps
        .iter()
        .find(|s| s.action.replay_value() == Some("${password}"))
        .expect("the typed password is a variable for throng");
    assert!(
        matches!(&password.action, throng::flow::Action::Change { value, .. } if value == "$THRONG_PASSWORD"),
        "the Recorder field holds the mask: {password:?}"
    );

    demo.reset_stats();
    puppeteer_replay(&flow, &chromium, Some(("THRONG_PASSWORD", PASSWORD))).await;
    let stats = demo.stats();
    assert_eq!(
        stats.searches,
        searches(&[("desk", 1)]),
        "the recorded term: {stats:?}"
    );
    assert_eq!(stats.route("POST /login"), 1, "{stats:?}");
    assert_eq!(stats.route("GET /account"), 1, "signed in: {stats:?}");
    assert!(no_client_errors(&stats), "{stats:?}");
    demo.shutdown().await;
}

/// shop.json as flows were written before templates: `${...}` in the Recorder fields.
fn old_style_shop(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(support::flow_path("shop.json")).unwrap();
    let mut flow: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut moved = 0;
    let mut untemplate = |obj: &mut serde_json::Value, field: &str| {
        let Some(o) = obj.as_object_mut() else { return };
        if let Some(t) = o.remove(&format!("{field}Template")) {
            o.insert(field.to_string(), t);
            moved += 1;
        }
    };
    for step in flow["steps"].as_array_mut().unwrap() {
        untemplate(step, "value");
        untemplate(step, "url");
        let events = step
            .get_mut("assertedEvents")
            .and_then(|e| e.as_array_mut());
        for event in events.into_iter().flatten() {
            untemplate(event, "url");
        }
    }
    assert_eq!(
        moved, 4,
        "q typed and asserted, pid asserted, password typed"
    );
    let path = dir.join("old-shop.json");
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path
}

/// throng replays the parametrised form: each of 3 users types its own `${q}` (round robin
/// over lamp, chair, desk, not the recorded "lamp"), opens the product the search answered
/// (`${pid}`, asserted with `urlTemplate`) and signs in with `${password}`, in both modes; a
/// flow written before templates (`${q}` in the Recorder field itself) replays the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parametrised_flows_replay_with_throng_in_both_modes() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    let old = old_style_shop(dir.path());
    for (flow, mode) in [
        (support::flow_path("shop.json"), "http"),
        (support::flow_path("shop.json"), "browser"),
        (old.clone(), "http"),
        (old, "browser"),
    ] {
        demo.reset_stats();
        let out = crate::support::throng_async()
            .arg("run")
            .arg(&flow)
            .args(["--target", base.as_str(), "--mode", mode, "--users", "3"])
            .args([
                "--iterations",
                "1",
                "--duration",
                "120s",
                "--think-scale",
                "0.05",
            ])
            .args(["--think-jitter", "0", "--dwell", "0s", "-q"])
            .args(["--var", &format!("password={PASSWORD}")])
            .kill_on_drop(true)
            .output()
            .await
            .expect("throng runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mode = format!("{mode} {}", flow.display());
        assert!(out.status.success(), "{mode}: {text}");
        let stats = demo.stats();
        assert_eq!(
            stats.searches,
            searches(&[("chair", 1), ("desk", 1), ("lamp", 1)]),
            "{mode}: {stats:?}"
        );
        assert_eq!(stats.route("GET /account"), 3, "{mode}: {stats:?}\n{text}");
        assert!(no_client_errors(&stats), "{mode}: {stats:?}\n{text}");
    }
    demo.shutdown().await;
}
