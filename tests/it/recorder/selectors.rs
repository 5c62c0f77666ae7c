//! The recorder's selector builder (recorder/js/capture.js) on real-ish DOM snippets in real
//! Chromium: stable attributes, accessible names and unique visible text come before any
//! position chain, and every selector it writes finds the element with throng's own replay
//! resolver (src/replay/browser/dom.js).

use super::{start_recording, Driver};
use axum::response::Html;
use axum::routing::get;
use serde_json::{json, Value};

const DOM_JS: &str = include_str!("../../../src/replay/browser/dom.js");

/// Snippets after what real apps draw: Glances's process table (drawn twice, one copy hidden
/// per screen size), an icon toolbar, a dialog's close link, repeated table rows, a generated
/// id, tabs, a scoped-style attribute. A `text/` selector is written only when its first match
/// in document order is the element (the Recorder's replay acts on the first match).
const PAGE: &str = r##"<!doctype html><html><head><meta charset="utf-8"><title>Snippets</title>
<style>.d-lg-none{display:none} .toolbar svg{width:12px;height:12px}</style></head><body>
<section id="processlist" class="plugin">
  <div class="table-responsive d-lg-none" id="processlist-table"><table class="table"><thead><tr>
    <td scope="col" class="sortable sort"><span>CPU%</span></td><td scope="col" class="sortable"> MEM% </td><td scope="col"> PID </td>
  </tr></thead></table></div>
  <div class="table-responsive-md d-none d-lg-block"><table class="table"><thead><tr>
    <td scope="col" class="sortable sort"><span>CPU%</span></td><td scope="col" class="sortable"> MEM% </td><td scope="col"> VIRT </td><td scope="col"> PID </td>
  </tr></thead></table></div>
</section>
<section id="memory"><div class="wide"><table><tr><td class="sortable">RSS</td><td class="sortable">SWAP</td></tr></table></div>
  <div class="d-lg-none"><table><tr><td class="sortable">RSS</td><td class="sortable">SWAP</td></tr></table></div></section>
<div class="toolbar">
  <button class="btn" data-action="archive"><svg viewBox="0 0 10 10"><rect width="10" height="10"/></svg></button>
  <button class="btn" data-action="delete"><svg viewBox="0 0 10 10"><rect width="10" height="10"/></svg></button>
</div>
<div class="dialog"><a href="#close" class="x" aria-label="Close dialog">×</a></div>
<div class="panel"><a href="#close" class="x">×</a></div>
<table id="users">
  <tr><td>alice</td><td><button>Delete</button></td></tr>
  <tr><td>bob</td><td><button>Delete</button></td></tr>
</table>
<div id="ember1234" class="card"><input placeholder="Search users"></div>
<div role="tablist"><div role="tab">General</div><div role="tab">Settings</div></div>
<ul class="menu"><li data-v-7ba5bd90=""><span data-v-7ba5bd90="" class="item">Reports</span></li>
  <li data-v-7ba5bd90=""><span data-v-7ba5bd90="" class="item">Exports</span></li></ul>
</body></html>"##;

/// (what, expression finding the element, the selector expected first)
const CASES: &[(&str, &str, Option<&str>)] = &[
    (
        // The Recorder's replay takes a text selector's first match, the hidden one: no text.
        "Glances's visible MEM% header (a hidden copy comes first in the document)",
        "[...document.querySelectorAll('.d-lg-block td')].find(e => e.textContent.trim() === 'MEM%')",
        None,
    ),
    (
        "a visible header whose hidden copy comes after it",
        "[...document.querySelectorAll('.wide td')].find(e => e.textContent.trim() === 'RSS')",
        Some("text/RSS"),
    ),
    (
        "an icon button named only by its data attribute",
        "document.querySelectorAll('.toolbar button')[1]",
        Some("button[data-action='delete']"),
    ),
    (
        "a close link with an aria-label",
        "document.querySelector('.dialog a')",
        Some("aria/Close dialog[role=\"link\"]"),
    ),
    (
        "an input in a box with a generated id",
        "document.querySelector('.card input')",
        Some("aria/Search users[role=\"textbox\"]"),
    ),
    (
        "a tab",
        "document.querySelectorAll('[role=tab]')[1]",
        Some("aria/Settings[role=\"tab\"]"),
    ),
    (
        "a menu item with a scoped-style attribute",
        "document.querySelectorAll('.menu .item')[1]",
        Some("text/Exports"),
    ),
    (
        "the second of two identical row buttons (a position is all there is)",
        "document.querySelectorAll('#users button')[1]",
        None,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_prefer_stable_attributes_names_and_text_over_position_chains() {
    let app = axum::Router::new().route("/", get(|| async { Html(PAGE) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    // The recording's browser serves as a real Chromium; the builder runs in the main world.
    let rec = start_recording(&format!("{base}/"), &dir.path().join("unused.json")).await;
    let d = Driver::connect(&rec.ws_url).await;
    d.wait_for("the page", "!!document.getElementById('users')")
        .await;
    let attrs = throng_recorder::DEFAULT_SELECTOR_ATTRIBUTES
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    let script = throng_recorder::capture_script(&attrs, &[]);
    let installed = d
        .eval(&format!("{script};\ntypeof __throngSelectorsFor"))
        .await;
    assert_eq!(installed, Some(json!("function")));

    let mut failures = Vec::new();
    for (what, find, want) in CASES {
        let got = d
            .eval(&format!("__throngSelectorsFor({find}).map(c => c[0])"))
            .await
            .unwrap_or_else(|| panic!("{what}: the builder threw"));
        let got: Vec<String> = serde_json::from_value(got).unwrap();
        if got.is_empty() {
            failures.push(format!("{what}: no selector"));
            continue;
        }
        if let Some(want) = want {
            if got[0] != *want {
                failures.push(format!(
                    "{what}: first {:?}, want {want:?} in {got:?}",
                    got[0]
                ));
            }
        }
        // Position chains only after every stable selector.
        let positional = |s: &String| s.contains(":nth-of-type(") || s.starts_with("xpath/");
        if let Some(p) = got.iter().position(positional) {
            if got[p..].iter().any(|s| !positional(s)) {
                failures.push(format!(
                    "{what}: a position chain before a stable selector: {got:?}"
                ));
            }
        }
        // Each selector alone finds this element with the replay's resolver: the point it acts
        // on lands on it.
        for sel in &got {
            let req = json!({"op": "locate", "chains": [[sel]], "frame": null, "offset": null});
            let expr = format!(
                "(() => {{ const want = {find}; const r = ({DOM_JS})({req}); if (!r.visible) return 'not found or hidden'; \
                 const h = document.elementFromPoint(r.x, r.y); return h && (h === want || want.contains(h)) ? 'ok' : 'lands on ' + (h ? h.outerHTML.slice(0, 80) : 'nothing'); }})()"
            );
            let r = d.eval(&expr).await;
            if r != Some(Value::from("ok")) {
                failures.push(format!("{what}: {sel:?} {r:?}"));
            }
        }
        eprintln!("{what}: {got:?}");
    }
    drop(d);
    rec.stop.cancel();
    let _ = rec.task.await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
