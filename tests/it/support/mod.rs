//! Shared helpers: the demo site started in-process, clients, HTML probes, and a check that an
//! example flow's network lists match what the demo pages really request.
#![allow(dead_code)] // shared helpers: not every test module uses each one

pub mod bin;
pub mod nginx;
pub mod tls;

pub use bin::{throng, throng_async, THRONG};

use scraper::{Html, Selector};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use throng::demo::{DemoConfig, DemoServer};
use throng::flow::{Flow, RequestKind};

/// The demo shop on a free loopback port with 1-3 ms of simulated work (fast tests).
pub async fn demo() -> DemoServer {
    demo_with(DemoConfig {
        latency_ms: (1, 3),
        ..test_config()
    })
    .await
}

/// The demo shop with a custom config (start from [`test_config`]).
pub async fn demo_with(cfg: DemoConfig) -> DemoServer {
    throng::demo::spawn(cfg).await.expect("demo site starts")
}

/// Defaults for tests: loopback port 0, 1-3 ms latency, no slow-down, unlimited capacity.
pub fn test_config() -> DemoConfig {
    DemoConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        latency_ms: (1, 3),
        slow_ms: 0,
        capacity: None,
    }
}

/// Path of an example flow in the repository's `flows/` directory, e.g. `flow_path("shop.json")`.
pub fn flow_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("flows")
        .join(name)
}

/// A browser-like client: cookie jar, redirects followed.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client builds")
}

/// A client with a cookie jar that does not follow redirects (to see 303s).
pub fn client_no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// Attribute `attr` of every element matching `css`.
pub fn select_all(html: &str, css: &str, attr: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).expect("valid selector");
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_string))
        .collect()
}

/// The first `<input name="csrf">` value of a page.
pub fn csrf_of(html: &str) -> String {
    select_all(html, "input[name=csrf]", "value")
        .into_iter()
        .next()
        .expect("page has a csrf input")
}

/// The asset URLs (paths) a page's HTML makes a browser fetch.
pub fn page_assets(html: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    out.extend(select_all(
        html,
        "link[rel=stylesheet], link[rel=preload], link[rel=icon]",
        "href",
    ));
    out.extend(select_all(html, "script[src]", "src"));
    out.extend(select_all(html, "img[src]", "src"));
    out
}

/// The AJAX calls app.js makes after load on each page (`data-page`), in start order.
pub fn ajax_after_load(page: &str, product: Option<&str>) -> Vec<String> {
    let mut calls: Vec<String> = match (page, product) {
        ("home", _) => vec!["/api/featured".into()],
        ("product", Some(id)) => ["reviews", "stock", "related"]
            .iter()
            .map(|api| format!("/api/{api}?product={id}"))
            .collect(),
        ("account", _) => vec!["/api/orders".into()],
        _ => vec![],
    };
    calls.push("/api/cart/count".into());
    calls
}

/// Substitute `${name}` placeholders.
pub fn fill(template: &str, vars: &HashMap<String, String>) -> String {
    vars.iter().fold(template.to_string(), |s, (k, v)| {
        s.replace(&format!("${{{k}}}"), v)
    })
}

/// Replays an example flow's network lists over HTTP against the demo and checks that each
/// step lists exactly what the page causes in a fresh browser: its document(s), the assets its
/// HTML links that are not cached yet, the AJAX calls app.js makes, and the 2 s poller.
pub async fn check_flow_matches_site(name: &str) {
    let flow: Flow =
        serde_json::from_str(&std::fs::read_to_string(flow_path(name)).unwrap()).unwrap();
    let origin = flow
        .origin
        .clone()
        .expect("example flows record their origin");
    assert_eq!(origin, "http://127.0.0.1:8080");
    let s = demo().await;
    let base = s.base_url();
    let c = client_no_redirect();
    let mut vars: HashMap<String, String> = [("q", "chair"), ("password", "wonderland")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut cached = BTreeSet::new();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut pages = 0;
    for (i, step) in flow.steps.iter().enumerate() {
        let Some(net) = &step.network else { continue };
        let mut page: Option<(String, Option<String>, BTreeSet<String>)> = None;
        for r in &net.requests {
            let url = fill(&r.url.replace(&origin, &base), &vars);
            let mut req = c.request(r.method.parse().unwrap(), &url);
            for (k, v) in &r.headers {
                req = req.header(k, v);
            }
            if let Some(b) = &r.body {
                req = req.body(fill(b, &vars));
            }
            let resp = req.send().await.unwrap();
            assert_eq!(Some(resp.status().as_u16()), r.status, "step {i}: {url}");
            let path = reqwest::Url::parse(&url).unwrap().path().to_string();
            *expected.entry(format!("{} {path}", r.method)).or_default() += 1;
            let body = resp.text().await.unwrap();
            if r.kind == RequestKind::Document && r.status == Some(200) {
                let kind = select_all(&body, "body", "data-page").pop().unwrap();
                let pid = select_all(&body, "body", "data-product-id").pop();
                page = Some((kind, pid, page_assets(&body)));
            }
            let Some(id) = &r.id else { continue };
            for v in &flow.variables {
                let Some(x) = v.extract.as_ref().filter(|x| &x.from == id) else {
                    continue;
                };
                let css = x.css.as_deref().unwrap();
                let got = select_all(&body, css, x.attr.as_deref().unwrap())
                    .into_iter()
                    .next();
                vars.insert(
                    v.name.clone(),
                    got.unwrap_or_else(|| panic!("{} in {id}", v.name)),
                );
            }
        }
        let (kind, pid, assets) = page.unwrap_or_else(|| panic!("step {i} loads no page"));
        pages += 1;
        let urls = |k: RequestKind| -> Vec<String> {
            net.requests
                .iter()
                .filter(|r| r.kind == k)
                .map(|r| fill(&r.url.replace(&origin, ""), &vars))
                .collect()
        };
        let fresh: BTreeSet<String> = assets.difference(&cached).cloned().collect();
        let listed: BTreeSet<String> = urls(RequestKind::Static).into_iter().collect();
        assert_eq!(
            listed, fresh,
            "step {i} ({kind}): static assets not yet cached"
        );
        cached.extend(assets);
        assert_eq!(
            urls(RequestKind::Ajax),
            ajax_after_load(&kind, pid.as_deref()),
            "step {i}"
        );
        let polls: Vec<_> = net
            .polling
            .iter()
            .map(|p| (p.url.as_str(), p.period_ms))
            .collect();
        assert_eq!(
            polls,
            [("http://127.0.0.1:8080/api/notifications", 2000)],
            "step {i}"
        );
    }
    assert!(pages >= 3, "{name}: {pages} pages");
    assert_eq!(
        s.stats().routes,
        expected,
        "{name}: the server saw exactly the listed requests"
    );
    s.shutdown().await;
}

/// Polls `f` every 50 ms until it returns Some, or panics after `limit`: tests wait for a
/// state, never a fixed time.
pub async fn wait_for<T, F, Fut>(what: &str, limit: std::time::Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
