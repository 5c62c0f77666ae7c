//! HTTP mode: throng shapes each user's link itself.

use super::*;

/// `--network slow-4g`: the page's load (document and assets) takes what the preset's latency
/// and download rate predict, within 25%; unshaped, the same page on loopback takes a small
/// part of that (so shaping, not the machine, makes the time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_4g_page_load_in_http_mode_is_what_the_preset_predicts() {
    let (base, server) = serve().await;
    let flow = flow(&base);
    let predicted = predicted_ms("slow-4g");
    fastest_of_3("http, slow-4g", predicted, async || {
        let shaped = run(&flow, "http", &["sized.json", "--network", "slow-4g"]).await;
        let loads = page_loads(&shaped, Mode::Http, "sized");
        assert_eq!(loads.len(), 1, "one page load: {loads:?}");
        loads[0]
    })
    .await;
    let plain = run(&flow, "http", &["sized.json"]).await;
    let plain = page_loads(&plain, Mode::Http, "sized");
    assert!(plain[0] < predicted / 2.0, "unshaped: {plain:?}");
    server.abort();
}

/// One run holds fast and slow users: `--flow FILE@slow-4g` beside the same flow unshaped,
/// each user on its own link, their results under separate names; a flow's
/// `emulateNetworkConditions` step shapes the rest of its session in HTTP mode too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_entry_and_a_flow_step_carry_their_own_network() {
    let (base, server) = serve().await;
    let plain = flow(&base);
    let args = [
        "--flow",
        "sized.json:1@slow-4g",
        "--flow",
        "sized.json:1",
        "--users",
        "2",
    ];
    let mut fast = Vec::new();
    let what = "http, --flow sized.json@slow-4g";
    let slow = fastest_of_3(what, predicted_ms("slow-4g"), async || {
        let summary = run(&plain, "http", &args).await;
        let slow = page_loads(&summary, Mode::Http, "sized@slow-4g");
        fast = page_loads(&summary, Mode::Http, "sized");
        assert_eq!((slow.len(), fast.len()), (1, 1), "{slow:?} {fast:?}");
        slow[0]
    })
    .await;
    assert!(fast[0] < slow / 2.0, "fast {fast:?}, slow {slow}");

    // The step's figures are CDP's (bytes/s, ms), as Chrome's Recorder writes them.
    let c = Conditions::parse("slow-4g").unwrap();
    let (down, up, latency) = c.cdp();
    let stepped = serde_json::json!({
        "title": "sized",
        "steps": [
            {"type": "emulateNetworkConditions", "download": down, "upload": up, "latency": latency},
            {"type": "navigate", "url": format!("{base}/page")}
        ]
    });
    let what = "http, emulateNetworkConditions step";
    fastest_of_3(what, predicted_ms("slow-4g"), async || {
        let summary = run(&stepped, "http", &["sized.json"]).await;
        page_loads(&summary, Mode::Http, "sized")[0]
    })
    .await;
    server.abort();
}

/// A plan file's flow entry takes `network` as `--network` does (its users loop until the
/// stage ends: the slow one's first page load outlasts it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_entry_carries_its_own_network() {
    let (base, server) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sized.json"), flow(&base).to_string()).unwrap();
    let plan = serde_json::json!({
        "stages": [{"target": 2, "duration": "2s"}],
        "flows": [
            {"flow": "sized.json", "users": 1, "network": "slow-4g"},
            {"flow": "sized.json", "users": 1}
        ]
    });
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let mut fast = Vec::new();
    let plan_arg = ["--plan", plan_file.to_str().unwrap()];
    let slow = fastest_of_3(
        "http, plan entry slow-4g",
        predicted_ms("slow-4g"),
        async || {
            let summary = run(&flow(&base), "http", &plan_arg).await;
            let slow = page_loads(&summary, Mode::Http, "sized@slow-4g");
            fast = page_loads(&summary, Mode::Http, "sized");
            assert_eq!(slow.len(), 1, "{slow:?}");
            slow[0]
        },
    )
    .await;
    assert!(
        !fast.is_empty() && fast.iter().all(|f| *f < slow / 2.0),
        "{fast:?}"
    );

    // A bad one: one line naming the file, the entry and the field.
    let bad = serde_json::json!({
        "stages": [{"target": 1, "duration": "1s"}],
        "flows": [{"flow": "sized.json", "network": "slow-5g"}]
    });
    std::fs::write(&plan_file, bad.to_string()).unwrap();
    let mut cmd = crate::support::throng();
    cmd.args(["run", "--plan", plan_file.to_str().unwrap()]);
    let (code, _, stderr) = crate::support::bin::output(&mut cmd);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("plan.json: flows[0].network: unknown preset `slow-5g`"),
        "{stderr}"
    );
    server.abort();
}

/// Bad values: one line naming the flag, exit 2.
#[test]
fn bad_network_values_are_one_line_naming_the_flag() {
    for (args, want) in [
        (
            vec!["--network", "slow-5g"],
            "--network unknown preset `slow-5g`",
        ),
        (vec!["--network", "down=fast"], "--network rate `fast`"),
        (
            vec!["--flow", "a.json@slow-5g"],
            "--flow a.json@slow-5g: network unknown preset",
        ),
    ] {
        let mut cmd = crate::support::throng();
        cmd.args(["run", "http://127.0.0.1:9/", "--duration", "1s"])
            .args(&args);
        let (code, _, stderr) = crate::support::bin::output(&mut cmd);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// Over HTTP/2 (the demo shop over TLS) every request waits out the latency too, on the user's
/// one HTTP/2 connection; unshaped, the same requests take a fraction of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_wait_out_the_latency_on_one_connection() {
    let server = throng::demo::spawn_tls(crate::support::test_config())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("demo.pem");
    std::fs::write(&pem, server.cert_pem().unwrap()).unwrap();
    let flow = serde_json::json!({
        "title": "home",
        "steps": [{"type": "navigate", "url": format!("{}/", server.base_url())}]
    });
    let run_home = |extra: &'static [&'static str]| {
        let (flow, pem) = (flow.clone(), pem.clone());
        async move {
            let mut args = vec!["home.json", "--cacert", pem.to_str().unwrap()];
            args.extend(extra);
            let summary = run_named(&flow, "home.json", "http", &args).await;
            let requests: Vec<f64> = summary
                .entries
                .iter()
                .filter(|e| matches!(e.kind, SampleKind::Document | SampleKind::Static))
                .map(|e| e.latency.max_ms)
                .collect();
            let h2 = summary
                .counters
                .iter()
                .filter(|(k, _)| k.starts_with("connections.h2."))
                .map(|(_, n)| *n)
                .sum::<u64>();
            (requests, h2)
        }
    };
    let (shaped, h2) = run_home(&["--network", "latency=400ms"]).await;
    assert!(shaped.len() > 1, "a document and its assets: {shaped:?}");
    assert_eq!(h2, 1, "one HTTP/2 connection");
    assert!(shaped.iter().all(|ms| *ms >= 399.0), "{shaped:?}");
    let (plain, _) = run_home(&[]).await;
    assert!(plain.iter().all(|ms| *ms < 200.0), "unshaped: {plain:?}");
    server.shutdown().await;
}
