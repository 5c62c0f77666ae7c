//! Browser mode: CDP's network emulation on every page.

use super::*;

/// `--network slow-4g` in Chromium: the page's load event comes when the preset predicts,
/// within 25% (the same prediction HTTP mode is held to).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_4g_page_load_in_browser_mode_is_what_the_preset_predicts() {
    let (base, server) = serve().await;
    let flow = flow(&base);
    fastest_of_3("browser, slow-4g", predicted_ms("slow-4g"), async || {
        let args = ["sized.json", "--network", "slow-4g"];
        let summary = run(&flow, "browser", &args).await;
        let loads = page_loads(&summary, Mode::Browser, "sized");
        assert_eq!(loads.len(), 1, "one page load: {loads:?}");
        loads[0]
    })
    .await;
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
    let flow = flow(&base);
    let mut fast = Vec::new();
    let what = "browser, --flow sized.json@slow-4g";
    let slow = fastest_of_3(what, predicted_ms("slow-4g"), async || {
        let summary = run(&flow, "browser", &args).await;
        let slow = page_loads(&summary, Mode::Browser, "sized@slow-4g");
        fast = page_loads(&summary, Mode::Browser, "sized");
        assert_eq!((slow.len(), fast.len()), (1, 1), "{slow:?} {fast:?}");
        slow[0]
    })
    .await;
    assert!(fast[0] < slow / 2.0, "fast {fast:?}, slow {slow}");
    server.abort();
}
