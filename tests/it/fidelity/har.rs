//! A HAR page reached by a GET redirect chain replays every hop in browser mode as in HTTP
//! mode: the navigation starts at the chain's first URL and the browser follows it.

use super::run_once;
use super::site::Site;
use std::sync::Arc;
use throng::metrics::{Mode, SampleKind};
use throng::replay::{PreparedFlow, VarSources};

fn har(base: &str) -> String {
    let entry = |t: &str, path: &str, status: u16, to: &str| {
        serde_json::json!({"pageref": "page@1", "_resourceType": "document",
            "startedDateTime": format!("2026-11-28T10:00:{t}Z"), "time": 20,
            "request": {"method": "GET", "url": format!("{base}{path}"), "headers": []},
            "response": {"status": status, "headers": [], "redirectURL": to,
                "content": {"mimeType": "text/html"}}})
    };
    serde_json::json!({"log": {"version": "1.2",
    "pages": [{"id": "page@1", "startedDateTime": "2026-11-28T10:00:00.000Z"}],
    "entries": [
        entry("00.100", "/r1", 302, "/r2"),
        entry("00.200", "/r2", 302, "/landing"),
        entry("00.300", "/landing", 200, "")
    ]}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_redirect_chain_from_a_har_loads_every_hop_in_both_modes() {
    let site = Site::start().await;
    let base = site.base();
    let flow = throng_recorder::import_str(&har(&base), std::path::Path::new("chain.har"))
        .expect("imports");
    let prepared = Arc::new(PreparedFlow::new(
        "chain",
        flow,
        url::Url::parse(&base).unwrap(),
        Arc::new(VarSources::default()),
    ));
    for (n, mode) in [Mode::Http, Mode::Browser].into_iter().enumerate() {
        let summary = run_once(prepared.clone(), mode, 1).await;
        let docs = summary.total(Some(mode), Some(SampleKind::Document));
        assert_eq!(
            (docs.count, docs.failures),
            (3, 0),
            "{mode:?}: {:?}",
            summary.counters
        );
        for path in ["/r1", "/r2", "/landing"] {
            assert_eq!(
                site.seen(&format!("GET {path}")),
                n as u64 + 1,
                "{mode:?} {path}"
            );
        }
    }
}
