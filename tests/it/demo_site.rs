//! demo_site tests: the demo shop over real HTTP (pages, cached assets, AJAX, CSRF login,
//! `/__stats` exactness, the capacity knob) and the example flows checked against it.

use crate::support::{
    check_flow_matches_site, client, client_no_redirect, csrf_of, demo, demo_with, page_assets,
    select_all, test_config,
};
use reqwest::header;
use reqwest::StatusCode;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use throng::demo::{DemoConfig, Stats};

async fn get_text(c: &reqwest::Client, url: String) -> (StatusCode, String) {
    let r = c.get(url).send().await.expect("request");
    (r.status(), r.text().await.expect("body"))
}

#[tokio::test]
async fn pages_render_with_testids_and_a_session_cookie() {
    let s = demo().await;
    let base = s.base_url();
    assert!(base.starts_with("http://127.0.0.1:") && !base.ends_with('/'));
    let c = client();

    let r = c.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with("sid=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let home = r.text().await.unwrap();
    for id in [
        "search",
        "go",
        "cart-count",
        "login-link",
        "featured",
        "notifications",
    ] {
        assert!(
            home.contains(&format!("data-testid=\"{id}\"")),
            "home lacks {id}"
        );
    }
    assert_eq!(
        select_all(&home, "[data-testid=product-link]", "href").len(),
        12
    );
    assert!(home.contains("data-page=\"home\""));

    for q in ["lamp", "chair", "desk"] {
        let (st, body) = get_text(&c, format!("{base}/search?q={q}")).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("results for"), "{q}");
        assert!(
            select_all(&body, "[data-testid=product-link]", "href").len() >= 3,
            "{q}"
        );
    }
    let (_, none) = get_text(&c, format!("{base}/search?q=%3Cscript%3E")).await;
    assert!(
        none.contains("No results for") && none.contains("&lt;script&gt;"),
        "query is escaped"
    );

    let (st, product) = get_text(&c, format!("{base}/product/3")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        product.contains("data-testid=\"add-to-cart\"")
            && product.contains("data-product-id=\"3\"")
    );
    assert_eq!(csrf_of(&product).len(), 32);
    assert_eq!(
        get_text(&c, format!("{base}/product/99")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_text(&c, format!("{base}/product/x")).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, cart) = get_text(&c, format!("{base}/cart")).await;
    assert!(cart.contains("Your cart is empty"));
    let (_, login) = get_text(&c, format!("{base}/login")).await;
    for id in ["username", "password", "login-submit"] {
        assert!(
            login.contains(&format!("data-testid=\"{id}\"")),
            "login lacks {id}"
        );
    }
    assert_eq!(
        get_text(&c, format!("{base}/nope")).await.0,
        StatusCode::NOT_FOUND
    );
    s.shutdown().await;
}

#[tokio::test]
async fn every_page_links_the_same_assets() {
    let s = demo().await;
    let base = s.base_url();
    let c = client();
    let common: BTreeSet<String> = [
        "/favicon.ico",
        "/static/app.css",
        "/static/app.js",
        "/static/font.woff2",
        "/static/logo.svg",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for path in ["/", "/search?q=desk", "/product/5", "/cart", "/login"] {
        let (_, html) = get_text(&c, format!("{base}{path}")).await;
        let assets = page_assets(&html);
        assert!(assets.is_superset(&common), "{path}: {assets:?}");
        assert!(
            html.contains("rel=\"icon\" href=\"/favicon.ico\""),
            "{path}"
        );
    }
    let home = page_assets(&get_text(&c, format!("{base}/")).await.1);
    assert_eq!(
        home.len(),
        common.len() + 12,
        "home shows every product image"
    );
}

#[tokio::test]
async fn assets_have_cache_headers_and_answer_304() {
    let s = demo().await;
    let base = s.base_url();
    let c = client();
    let cases = [
        ("/static/app.css", "text/css"),
        ("/static/app.js", "text/javascript"),
        ("/static/font.woff2", "font/woff2"),
        ("/static/logo.svg", "image/svg+xml"),
        ("/static/img/product-7.svg", "image/svg+xml"),
        ("/favicon.ico", "image/x-icon"),
    ];
    for (path, ctype) in cases {
        let r = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers().clone();
        assert!(
            h[header::CONTENT_TYPE].to_str().unwrap().starts_with(ctype),
            "{path}"
        );
        assert!(
            h[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("max-age="),
            "{path}"
        );
        let etag = h[header::ETAG].to_str().unwrap().to_string();
        let modified = h[header::LAST_MODIFIED].to_str().unwrap().to_string();
        assert!(!r.bytes().await.unwrap().is_empty());

        let r = c
            .get(format!("{base}{path}"))
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(r.headers()[header::ETAG].to_str().unwrap(), etag);
        assert!(r.bytes().await.unwrap().is_empty());
        let r = c
            .get(format!("{base}{path}"))
            .header(header::IF_MODIFIED_SINCE, &modified)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{path}");
        let r = c
            .get(format!("{base}{path}"))
            .header(header::IF_NONE_MATCH, "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{path}: a stale tag gets the body"
        );
    }
    let js = get_text(&c, format!("{base}/static/app.js")).await.1;
    assert!(
        (100 * 1024..120 * 1024).contains(&js.len()),
        "bundle is ~100 KB: {}",
        js.len()
    );
    for call in [
        "'/api/featured'",
        "'/api/cart/count'",
        "'/api/reviews?product='",
        "'/api/notifications'",
    ] {
        assert!(js.contains(call), "app.js calls {call}");
    }
    assert!(
        js.contains("setInterval(pollNotifications, POLL_MS)") && js.contains("POLL_MS = 2000")
    );
    assert_eq!(
        c.get(format!("{base}/static/img/product-99.svg"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn ajax_endpoints_answer_json() {
    let s = demo().await;
    let base = s.base_url();
    let c = client();
    let json = |path: &'static str| {
        let c = c.clone();
        let url = format!("{base}{path}");
        async move {
            let r = c.get(url).send().await.unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (st, v) = json("/api/featured").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    assert_eq!(json("/api/cart/count").await.1["count"], 0);
    let (st, v) = json("/api/reviews?product=3").await;
    assert_eq!(st, StatusCode::OK);
    assert!(v["reviews"].as_array().unwrap().len() >= 2);
    assert!(json("/api/stock?product=3").await.1["inStock"].is_u64());
    assert_eq!(
        json("/api/related?product=3").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(json("/api/reviews").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(json("/api/stock?product=99").await.0, StatusCode::NOT_FOUND);
    let (a, b) = (
        json("/api/notifications").await.1,
        json("/api/notifications").await.1,
    );
    assert_ne!(
        a["items"][0]["text"], b["items"][0]["text"],
        "the feed rotates"
    );
    assert_eq!(json("/api/orders").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_needs_the_sessions_csrf_token() {
    let s = demo().await;
    let base = s.base_url();
    let c = client_no_redirect();
    let login = format!("{base}/login");
    let form = |csrf: &str, pw: &str| format!("csrf={csrf}&username=alice&password={pw}");
    let post = |c: &reqwest::Client, body: String| {
        c.post(&login)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };

    // No session at all, then a session without / with a wrong token: 403.
    assert_eq!(
        post(&c, form("", "wonderland")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let token = csrf_of(&get_text(&c, login.clone()).await.1);
    let no_token = c
        .post(&login)
        .body("username=alice&password=wonderland")
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_token.status(),
        StatusCode::FORBIDDEN,
        "no token (and no content type)"
    );
    let wrong = post(&c, form(&"0".repeat(32), "wonderland")).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    // The right token from another session is no good either.
    let other = client_no_redirect();
    assert_eq!(
        post(&other, form(&token, "wonderland"))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // Anonymous account page redirects to the login.
    let r = c.get(format!("{base}/account")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/login");

    let bad = post(&c, form(&token, "guess")).await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let bad = bad.text().await.unwrap();
    assert!(bad.contains("Invalid username or password") && !bad.contains("alice"));

    let ok = post(&c, form(&token, "wonderland")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()[header::LOCATION], "/account");
    let new_sid = ok.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        new_sid.starts_with("sid="),
        "session rotated on login: {new_sid}"
    );
    assert!(ok.text().await.unwrap().contains("Signed in as alice"));
    let (st, account) = get_text(&c, format!("{base}/account")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(account.contains("Signed in as alice"));
    let r = c.get(format!("{base}/api/orders")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The pre-login token died with the old session.
    assert_eq!(
        post(&c, form(&token, "wonderland")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let s403 = s.stats();
    assert_eq!(s403.route("POST /login"), 7);
    assert_eq!(s403.status(403), 5);
}

#[tokio::test]
async fn add_to_cart_uses_csrf_and_updates_the_count() {
    let s = demo().await;
    let base = s.base_url();
    let c = client();
    let token = csrf_of(&get_text(&c, format!("{base}/product/2")).await.1);
    let add = |csrf: String| {
        c.post(format!("{base}/cart/add"))
            .form(&[("csrf", csrf.as_str()), ("product", "2"), ("qty", "2")])
            .send()
    };
    assert_eq!(
        add("nope".into()).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let r = add(token).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "303 followed to /cart");
    assert!(r.url().path().ends_with("/cart"));
    assert!(r.text().await.unwrap().contains("Arc Floor Lamp"));
    let v: serde_json::Value = c
        .get(format!("{base}/api/cart/count"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["count"], 2);
}

#[tokio::test]
async fn stats_count_every_request_exactly() {
    let s = demo().await;
    let base = s.base_url();
    let c = client_no_redirect();
    get_text(&c, format!("{base}/")).await;
    get_text(&c, format!("{base}/")).await;
    let r = c.get(format!("{base}/static/app.js")).send().await.unwrap();
    let etag = r.headers()[header::ETAG].clone();
    c.get(format!("{base}/static/app.js"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    get_text(&c, format!("{base}/nope?x=1")).await;
    c.post(format!("{base}/login")).send().await.unwrap();
    get_text(&c, format!("{base}/product/3")).await;
    get_text(&c, format!("{base}/search?q=lamp")).await;
    get_text(&c, format!("{base}/api/reviews?product=3")).await;
    // Concurrent load is counted exactly too.
    let many = (0..40).map(|i| {
        let c = c.clone();
        let url = format!("{base}/api/stock?product={}", i % 12 + 1);
        async move { c.get(url).send().await.unwrap().status() }
    });
    assert!(futures::future::join_all(many)
        .await
        .iter()
        .all(|s| s.is_success()));

    let http: Stats = c
        .get(format!("{base}/__stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected: BTreeMap<String, u64> = [
        ("GET /", 2),
        ("GET /static/app.js", 2),
        ("GET /nope", 1),
        ("POST /login", 1),
        ("GET /product/3", 1),
        ("GET /search", 1),
        ("GET /api/reviews", 1),
        ("GET /api/stock", 40),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(
        http.routes, expected,
        "the stats endpoint does not count itself"
    );
    assert_eq!(http.total, 49);
    let statuses: BTreeMap<String, u64> = [("200", 46), ("304", 1), ("403", 1), ("404", 1)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(http.statuses, statuses);
    assert_eq!(s.stats(), http, "in-process view equals the endpoint");

    let r = c
        .post(format!("{base}/__stats/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(s.stats(), Stats::default());
    get_text(&c, format!("{base}/cart")).await;
    s.reset_stats();
    assert_eq!(s.stats().total, 0);
}

/// Fire `n` concurrent API calls and return the wall time.
async fn burst(base: &str, n: usize) -> Duration {
    let c = client();
    let t = Instant::now();
    let calls = (0..n).map(|_| c.get(format!("{base}/api/featured")).send());
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().status(), StatusCode::OK);
    }
    t.elapsed()
}

#[tokio::test]
async fn capacity_queues_requests_and_slow_adds_latency() {
    // One worker and 40 ms of work: 5 concurrent calls cannot finish before 5 x 40 ms.
    let s = demo_with(DemoConfig {
        latency_ms: (40, 40),
        capacity: Some(1),
        ..test_config()
    })
    .await;
    let serial = burst(&s.base_url(), 5).await;
    assert!(
        serial >= Duration::from_millis(200),
        "capacity 1 serialises: {serial:?}"
    );
    s.shutdown().await;

    let s = demo_with(DemoConfig {
        latency_ms: (0, 0),
        slow_ms: 150,
        ..test_config()
    })
    .await;
    let slow = burst(&s.base_url(), 1).await;
    assert!(
        slow >= Duration::from_millis(150),
        "slow_ms applies: {slow:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let s = demo().await;
    let base = s.base_url();
    assert_eq!(
        get_text(&client(), format!("{base}/")).await.0,
        StatusCode::OK
    );
    s.shutdown().await;
    assert!(client().get(format!("{base}/")).send().await.is_err());
}

#[tokio::test]
async fn shop_flow_lists_what_the_pages_request() {
    check_flow_matches_site("shop.json").await;
}

/// The deals page is one document (inline style and script, no AJAX): what its flow lists.
#[tokio::test]
async fn deals_flow_lists_what_the_page_requests() {
    let flow: throng::flow::Flow = serde_json::from_str(
        &std::fs::read_to_string(crate::support::flow_path("deals.json")).unwrap(),
    )
    .unwrap();
    let listed: Vec<(String, String, Option<u16>)> = flow
        .steps
        .iter()
        .filter_map(|s| s.network.as_ref())
        .flat_map(|n| n.requests.iter())
        .map(|r| (r.method.clone(), r.url.clone(), r.status))
        .collect();
    let page = "http://127.0.0.1:8080/deals".to_string();
    assert_eq!(listed, [("GET".to_string(), page, Some(200))]);
    let s = demo().await;
    let resp = client()
        .get(format!("{}/deals", s.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(page_assets(&body).is_empty(), "{:?}", page_assets(&body));
    assert!(!body.contains("fetch(") && !body.contains("src="));
    s.shutdown().await;
}

#[tokio::test]
async fn browse_flow_lists_what_the_pages_request() {
    check_flow_matches_site("browse.json").await;
}
