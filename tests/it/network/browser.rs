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
