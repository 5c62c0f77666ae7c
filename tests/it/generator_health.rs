//! The generator's own health, through the binary: a browser run with more sessions than this
//! machine holds is warned about before it starts and flagged as saturated live, in the
//! summary, in results.json and by `generator-cpu<80%`; a light HTTP run is not flagged.

use crate::prometheus::run_throng_loud;
use crate::support;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_http_run_is_not_flagged_as_generator_saturated() {
    let site = support::demo().await;
    let out = tempfile::tempdir().unwrap();
    let base = site.base_url();
    let (run, stdout) = run_throng_loud(
        &args(&[
            "run",
            "flows/shop.json",
            "--var",
            "password=wonderland",
            "--target",
            &base,
            "--users",
            "2",
            "--duration",
            "3s",
            "--threshold",
            "generator-cpu<80%",
        ]),
        out.path(),
    )
    .await;
    assert_eq!(run.code, 0, "{}{stdout}", run.stderr);
    let g = run
        .summary
        .generator
        .as_ref()
        .expect("sampled in every run");
    assert!(g.samples.len() >= 2, "{g:?}");
    assert!(!g.saturated(), "{g:?}");
    assert!(g.peak_cpu < 0.5, "{g:?}");
    assert!(
        stdout.contains("generator: not saturated, CPU peak"),
        "{stdout}"
    );
    assert!(
        !run.stderr.contains("generator saturated"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("browser sessions need"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_run_beyond_the_machine_is_flagged_generator_saturated() {
    let site = support::demo().await;
    let out = tempfile::tempdir().unwrap();
    let base = site.base_url();
    // 40 sessions with a tenth of the recorded pauses: several times what 2 cores hold.
    let (run, stdout) = run_throng_loud(
        &args(&[
            "run",
            "flows/shop.json",
            "--mode",
            "browser",
            "--var",
            "password=wonderland",
            "--target",
            &base,
            "--users",
            "40",
            "--ramp",
            "2s",
            "--duration",
            "12s",
            "--think-scale",
            "0.1",
            "--threshold",
            "generator-cpu<80%",
        ]),
        out.path(),
    )
    .await;
    let all = format!("{}\n{stdout}", run.stderr);
    assert_eq!(run.code, 3, "the generator-cpu threshold fails: {all}");
    // Before the run: the estimate says the sessions do not fit.
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains("browser sessions need about"))
        .unwrap_or_else(|| panic!("no fit warning: {}", run.stderr));
    assert!(
        warning.contains("40 browser sessions") && warning.contains("holds about"),
        "{warning}"
    );
    // Live: the progress line (plain lines every 5 s on a pipe) said so.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with('[') && l.contains("! generator saturated")),
        "{}",
        run.stderr
    );
    let g = run.summary.generator.as_ref().expect("sampled");
    assert!(g.saturated(), "{g:?}");
    assert!(
        g.cpu_children_s > g.cpu_throng_s,
        "Chromium did the work: {g:?}"
    );
    assert!(stdout.contains("! generator saturated for "), "{stdout}");
    assert!(stdout.contains("run fewer users per machine"), "{stdout}");
    let json = std::fs::read_to_string(out.path().join("results.json")).unwrap();
    assert!(json.contains("\"saturated_seconds\""));
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains("id=\"generator\"") && html.contains("generator saturated"));
}
