//! Browser mode: CDP's network emulation on every page.

use super::*;

/// `--network slow-4g` in Chromium: the page's load event comes when the preset predicts,
/// within 25% (the same prediction HTTP mode is held to).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_4g_page_load_in_browser_mode_is_what_the_preset_predicts() {
    let (base, server) = serve().await;
    let summary = run(
        &flow(&base),
        "browser",
        &["sized.json", "--network", "slow-4g"],
    )
    .await;
    let loads = page_loads(&summary, Mode::Browser, "sized");
    assert_eq!(loads.len(), 1, "one page load: {loads:?}");
    within_25_percent("browser, slow-4g", loads[0], predicted_ms("slow-4g"));
    server.abort();
}

/// In Chromium too, a `--flow FILE@NETWORK` entry's users load on their own network beside the
/// same flow's unshaped users, under their own name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_entry_carries_its_own_network_in_browser_mode() {
    let (base, server) = serve().await;
    let args = [
        "--flow",
        "sized.json:1@slow-4g",
        "--flow",
        "sized.json:1",
        "--users",
        "2",
    ];
    let summary = run(&flow(&base), "browser", &args).await;
    let slow = page_loads(&summary, Mode::Browser, "sized@slow-4g");
    let fast = page_loads(&summary, Mode::Browser, "sized");
    assert_eq!((slow.len(), fast.len()), (1, 1), "{slow:?} {fast:?}");
    within_25_percent(
        "browser, --flow sized.json@slow-4g",
        slow[0],
        predicted_ms("slow-4g"),
    );
    assert!(fast[0] < slow[0] / 4.0, "fast {fast:?}, slow {slow:?}");
    server.abort();
}
