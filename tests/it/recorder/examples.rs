//! The example flows in `flows/recorded/` are recordings of the demo shop made by the recorder,
//! driven like a person would. Re-record them on demand:
//! `cargo nextest run --test it recorder::examples --run-ignored ignored-only`.

use super::{start_recording, Driver};
use crate::support;
use std::path::PathBuf;
use throng::demo::DemoConfig;

fn recorded_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("flows/recorded")
}

/// Home, a search for lamps (typed, then the Search button), the first result, a scroll.
async fn browse(d: &Driver) {
    d.wait_page("/").await;
    d.think(3000).await;
    d.click("[data-testid=search]").await;
    d.think(400).await;
    d.type_text("lamp").await;
    d.think(600).await;
    d.click("[data-testid=go]").await;
    d.wait_page("/search").await;
    d.think(2000).await;
    d.click("[data-testid=results] [data-testid=product-link]")
        .await;
    d.wait_for("a product page", "location.pathname.startsWith('/product/') && document.body.getAttribute('data-ready') === '1'")
        .await;
    d.think(1500).await;
    d.wheel(600.0).await;
    d.think(2500).await;
}

/// Browse, then add the product to the cart and sign in as alice; stay on the account page.
async fn shop(d: &Driver) {
    browse(d).await;
    d.click("[data-testid=add-to-cart]").await;
    d.wait_page("/cart").await;
    d.think(1500).await;
    d.click("[data-testid=login-link]").await;
    d.wait_page("/login").await;
    d.think(800).await;
    d.click("[data-testid=username]").await;
    d.type_text("alice").await;
    d.think(500).await;
    d.click("[data-testid=password]").await;
    d.type_text("wonderland").await;
    d.think(700).await;
    d.click("[data-testid=login-submit]").await;
    d.wait_page("/account").await;
    d.think(4500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "re-records flows/recorded/ (run on demand)"]
async fn record_the_example_flows() {
    // On the demo's default address when it is free, so the flows run against `throng demo-site`.
    let cfg = DemoConfig {
        bind: ([127, 0, 0, 1], 8080).into(),
        latency_ms: (5, 50),
        ..support::test_config()
    };
    let demo = match throng::demo::spawn(cfg).await {
        Ok(d) => d,
        Err(_) => support::demo().await,
    };
    for name in ["browse", "shop"] {
        let out = recorded_dir().join(format!("{name}.json"));
        let rec = start_recording(&format!("{}/", demo.base_url()), &out).await;
        let d = Driver::connect(&rec.ws_url).await;
        match name {
            "browse" => browse(&d).await,
            _ => shop(&d).await,
        }
        drop(d);
        rec.stop.cancel();
        let summary = rec.task.await.unwrap().expect("recording succeeds");
        eprintln!("{name}: {summary:?}");
    }
    demo.shutdown().await;
}

#[test]
fn the_recorded_examples_load_and_keep_no_password() {
    for name in ["browse", "shop"] {
        let path = recorded_dir().join(format!("{name}.json"));
        let loaded = throng::flow::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(loaded.flow.steps.len() >= 6, "{}", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("wonderland"), "{}", path.display());
        assert!(
            text.contains("\"periodMs\""),
            "{} records the poller",
            path.display()
        );
    }
}
