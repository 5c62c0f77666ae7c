//! A page posting what it likes into the page-timing binding (hostile peers III): the
//! binding is a global any script of the page can call, so it can claim any numbers (1e308,
//! negatives, a million long tasks, a hundred thousand interactions). Real Chromium, the real
//! `throng run --mode browser`: the run ends normally, and every page time it keeps is one
//! the session could have measured (no longer than the session ran), with the refused
//! reports counted.

use axum::response::Html;
use axum::routing::get;
use std::time::{Duration, Instant};

/// Calls the binding directly with numbers no page can measure, then marks itself done.
const PAGE: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>liar</title></head>
<body><h1>numbers</h1><script>
  const send = window.__throngPageTiming;
  const id = String(performance.timeOrigin);
  const url = location.href;
  const post = (m) => send(JSON.stringify(Object.assign({ id, url }, m)));
  post({ t: 'nav', ttfb: 1e308, dcl: -5, load: 1e308 });
  post({ t: 'fcp', v: 1e308 });
  post({ t: 'lcp', v: 1e308 });
  post({ t: 'cls', v: 1e308 });
  post({ t: 'heap', v: 1e308 });
  post({ t: 'lt', v: new Array(1000000).fill(1e308) });
  post({ t: 'int', v: Array.from({ length: 100000 }, (_, i) => [i + 1, 1e308, -1e308]) });
  send('{"t":"lcp","id":"' + id + '","url":"' + url + '","v":NaN}');
  document.body.dataset.done = '1';
</script></body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_posting_impossible_timings_gets_none_of_them_kept() {
    let app = axum::Router::new().route("/", get(|| async { Html(PAGE) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let flow = serde_json::json!({"title": "liar", "steps": [
        {"type": "navigate", "url": format!("{base}/")},
        {"type": "waitForElement", "selectors": [["body[data-done='1']"]]},
    ]});
    let flow_file = dir.path().join("liar.json");
    std::fs::write(&flow_file, flow.to_string()).unwrap();
    let out = dir.path().join("out");
    let began = Instant::now();
    let run = super::throng_uncapped(&["run", flow_file.to_str().unwrap(), "--mode", "browser"])
        .args(["--users", "1", "--iterations", "1", "--quiet"])
        .args(["--out", out.to_str().unwrap()])
        .output();
    let run = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the run ends")
        .unwrap();
    let took = began.elapsed();
    let stderr = String::from_utf8_lossy(&run.stderr);
    eprintln!("page numbers: exit {:?} after {took:?}", run.status.code());
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let results = super::results(&out);
    let entries = results["summary"]["entries"].as_array().unwrap();
    // Every time kept is within what the whole run took; counts are what one page made.
    for e in entries {
        let kind = e["kind"].as_str().unwrap();
        let max_ms = e["latency"]["max_ms"].as_f64().unwrap();
        if matches!(kind, "cls" | "long-tasks" | "js-heap") {
            continue;
        }
        assert!(
            max_ms <= took.as_secs_f64() * 1000.0,
            "{kind} of {max_ms} ms in a run of {took:?}: {e}"
        );
    }
    let value = |kind: &str| {
        entries
            .iter()
            .find(|e| e["kind"] == kind)
            .map_or(0.0, |e| e["values"]["max"].as_f64().unwrap())
    };
    let ms = took.as_secs_f64() * 1000.0;
    // Long tasks run one at a time (each at least 50 ms); a shift scores at most 1 a frame;
    // no JS heap passes V8's limit.
    assert!(value("long-tasks") <= ms / 50.0, "{}", value("long-tasks"));
    assert!(value("cls") <= ms / 16.0, "{}", value("cls"));
    assert!(value("js-heap") <= 16.0 * 1024.0, "{}", value("js-heap"));
    let counters = &results["summary"]["counters"];
    assert!(
        counters["page_timing.implausible"].as_u64().unwrap_or(0) > 0,
        "{counters}"
    );
}
