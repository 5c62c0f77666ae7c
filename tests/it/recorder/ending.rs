//! How a recording ends: closing the browser over CDP is the normal end (as closing the window
//! is), and the time the tab stayed open after the last step is written as the flow's dwell.

use super::{assert_browser_gone, start_recording, Driver};
use crate::support;
use serde_json::json;
use throng_recorder::EndReason;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_browser_ends_the_recording_and_keeps_the_trailing_dwell() {
    let demo = support::demo().await;
    let base = demo.base_url();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("left-open.json");
    let rec = start_recording(&format!("{base}/"), &out).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_page("/").await;
    d.click("[data-testid=search]").await;
    d.type_text("lamp").await;
    d.press_enter().await;
    d.wait_page("/search").await;
    // The person reads the results with the tab open, then closes the browser.
    d.think(2500).await;
    let _ = d.cdp.call("Browser.close", json!({}), None).await;
    let summary = rec
        .task
        .await
        .unwrap()
        .expect("closing the browser is the normal end of a recording");
    assert_eq!(summary.ended, EndReason::BrowserExited);
    let flow = throng::flow::load(&out).expect("the flow loads");
    let dwell = flow
        .flow
        .dwell_ms
        .expect("the tab left open is written as dwellMs");
    assert!(
        dwell >= 2000,
        "dwell {dwell} ms covers the 2.5 s the tab stayed open"
    );
    assert_browser_gone(&rec.ws_url).await;
}
