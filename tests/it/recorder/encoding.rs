//! Values the recording correlated, replayed where they go: a form token holding `+ / = & % #`
//! and a backslash, sent back by the page in a form body, a query, a path segment, a JSON body
//! and a header, and a typed password with `& + % =`, a space and non-ASCII. Recorded headless
//! against a site that checks every one, replayed in both modes, the site's own checks counted.

use super::{start_recording, Driver};
use crate::fidelity::site::{Site, PASSWORD};
use std::path::Path;
use std::time::Duration;
use throng::metrics::{Mode, RunSummary, Sink};
use throng::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
use throng::run::RunSpec;

const PLACES: [&str; 4] = ["query", "path", "json", "header"];

async fn replay(base: &str, flow: &Path, mode: Mode, users: u32) -> RunSummary {
    let target = url::Url::parse(base).unwrap();
    let vars = std::collections::HashMap::from([("password".to_string(), PASSWORD.to_string())]);
    let flow = throng::cli::config::prepare_flow(flow, Some(&target), &vars).expect("prepares");
    let plan = LoadPlan {
        browsers: None,
        arrival: Arrival::Users(
            Stages::ramp_and_hold(users, Duration::ZERO, Duration::from_secs(60)).unwrap(),
        ),
        iterations: Some(1),
        think: ThinkPolicy::Recorded {
            scale: 0.05,
            jitter: 0.0,
        },
        dwell: Some(Duration::ZERO),
        grace: Duration::ZERO,
        drain: throng::plan::DEFAULT_DRAIN,
    };
    let mut spec = RunSpec::single(flow, plan, mode);
    spec.browser.processes = Some(1);
    throng::run::execute(
        spec,
        Sink::new(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("replay runs")
}

/// Every check the site made, by outcome; `bad` lists the failed ones.
fn effects(site: &Site) -> (std::collections::BTreeMap<String, u64>, Vec<String>) {
    site.counts(|c| {
        let bad = c
            .effects
            .keys()
            .filter(|k| k.contains("bad") || k.contains("no session"))
            .cloned()
            .collect();
        (c.effects.clone(), bad)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_passwords_with_special_characters_replay_encoded_for_where_they_go() {
    let site = Site::start().await;
    let base = site.base();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("form.json");
    let rec = start_recording(&format!("{base}/form"), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for(
        "the form",
        "document.readyState === 'complete' && !!document.getElementById('go')",
    )
    .await;
    d.click("#user").await;
    d.type_text("ann").await;
    d.click("#password").await;
    d.type_text(PASSWORD).await;
    d.think(300).await;
    d.click("#go").await;
    d.wait_for(
        "the checks",
        "document.body && document.body.dataset.ready === '1'",
    )
    .await;
    d.think(500).await;
    drop(d);
    rec.stop.cancel();
    rec.task.await.unwrap().expect("recording succeeds");

    // The recording itself passed every check the site makes.
    let (seen, bad) = effects(&site);
    assert!(bad.is_empty(), "{seen:?}");
    assert_eq!(seen.get("login ok ann"), Some(&1), "{seen:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("wörd"), "the password in clear:\n{text}");
    // The token is a variable wherever the page sent it, never the recorded value.
    assert!(!text.contains("tok%2B1"), "a recorded token kept:\n{text}");
    assert!(!text.contains("tok+1"), "a recorded token kept:\n{text}");

    for (mode, users) in [(Mode::Http, 2), (Mode::Browser, 1)] {
        let before = effects(&site).0;
        let summary = replay(&base, &out, mode, users).await;
        let (after, bad) = effects(&site);
        assert!(
            bad.is_empty(),
            "{mode:?}: {after:?}\n{:?}",
            summary.counters
        );
        let grew = |k: &str| after.get(k).unwrap_or(&0) - before.get(k).unwrap_or(&0);
        assert_eq!(
            grew("login ok ann"),
            u64::from(users),
            "{mode:?}: {after:?}"
        );
        for place in PLACES {
            assert_eq!(
                grew(&format!("token ok {place}")),
                u64::from(users),
                "{mode:?} {place}: {after:?}\n{:?}\n{text}",
                site.counts(|c| c.requests.clone())
            );
        }
        assert_eq!(
            summary.counters.get("sessions.completed"),
            Some(&u64::from(users)),
            "{mode:?}: {:?}",
            summary.counters
        );
    }
}
