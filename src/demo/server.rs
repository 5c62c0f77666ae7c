//! The router, shared state, and the two middlewares: request counting and simulated work.

use super::assets::{Asset, Assets};
use super::catalog::mix;
use super::session::Sessions;
use super::stats::Counters;
use super::{api, deals, forms, live, pages, portal, spa, DemoConfig};
use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub(crate) type Shared = Arc<AppState>;

/// Everything the handlers share.
pub(crate) struct AppState {
    pub counters: Counters,
    pub sessions: Sessions,
    /// The single-page app's tokens and tickets.
    pub logins: spa::Logins,
    /// The portal's tokens and cookies.
    pub portal: portal::PortalLogins,
    pub assets: Assets,
    /// Calls served by the notifications endpoint (rotates its message).
    pub polls: AtomicU64,
    latency_ms: (u64, u64),
    slow_ms: u64,
    /// At most `capacity` dynamic requests do their "work" at once; the rest queue.
    gate: Option<Semaphore>,
    /// Sequence number feeding the deterministic latency draw.
    seq: AtomicU64,
}

impl AppState {
    pub(crate) fn new(cfg: &DemoConfig) -> Self {
        AppState {
            counters: Counters::default(),
            sessions: Sessions::default(),
            logins: spa::Logins::default(),
            portal: portal::PortalLogins::default(),
            assets: Assets::build(),
            polls: AtomicU64::new(0),
            latency_ms: cfg.latency_ms,
            slow_ms: cfg.slow_ms,
            gate: cfg.capacity.map(|n| Semaphore::new(n.max(1))),
            seq: AtomicU64::new(0),
        }
    }

    /// The n-th request's simulated work: uniform in `latency_ms` (inclusive) drawn from a
    /// fixed sequence, so runs are reproducible, plus `slow_ms`.
    fn delay(&self) -> Duration {
        let (lo, hi) = self.latency_ms;
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let ms = if hi > lo {
            lo + mix(n) % (hi - lo + 1)
        } else {
            lo
        };
        Duration::from_millis(ms + self.slow_ms)
    }
}

/// The whole site. Pages, forms and APIs do simulated work; static assets do not (they stand
/// for what a CDN or nginx would serve); `/__stats` is neither counted nor delayed.
pub(crate) fn router(st: Shared) -> Router {
    let dynamic = Router::new()
        .route("/", get(pages::home))
        .route("/search", get(pages::search))
        .route("/product/{id}", get(pages::product))
        .route("/cart", get(pages::cart))
        .route("/cart/add", post(forms::cart_add))
        .route("/login", get(pages::login).post(forms::login))
        .route("/logout", post(forms::logout))
        .route("/account", get(pages::account))
        .route("/api/featured", get(api::featured))
        .route("/api/cart/count", get(api::cart_count))
        .route("/api/reviews", get(api::reviews))
        .route("/api/stock", get(api::stock))
        .route("/api/related", get(api::related))
        .route("/api/orders", get(api::orders))
        .route("/api/notifications", get(api::notifications))
        .route("/live", get(live::page))
        .route("/deals", get(deals::page))
        .route("/app", get(spa::page))
        .route("/api/app/login", post(spa::login))
        .route("/portal", get(portal::page))
        .route("/portal/home", get(portal::home))
        .route("/api/portal/login", post(portal::login))
        .route("/api/portal/orders", get(portal::api))
        .route("/api/portal/me", get(portal::api))
        .route_layer(middleware::from_fn_with_state(st.clone(), work));
    // Held open while the page is: no simulated work.
    let streams = Router::new()
        .route("/api/live/events", get(live::events))
        .route("/ws/live", get(live::socket))
        .route("/api/app/results", post(spa::results))
        .route("/ws/app", get(spa::socket));
    let statics = Router::new()
        .route(
            "/static/app.css",
            get(|s: State<Shared>, h: HeaderMap| asset(s, h, |a: &Assets| &a.css)),
        )
        .route(
            "/static/app.js",
            get(|s: State<Shared>, h: HeaderMap| asset(s, h, |a: &Assets| &a.js)),
        )
        .route(
            "/static/font.woff2",
            get(|s: State<Shared>, h: HeaderMap| asset(s, h, |a: &Assets| &a.font)),
        )
        .route(
            "/static/logo.svg",
            get(|s: State<Shared>, h: HeaderMap| asset(s, h, |a: &Assets| &a.logo)),
        )
        .route(
            "/favicon.ico",
            get(|s: State<Shared>, h: HeaderMap| asset(s, h, |a: &Assets| &a.favicon)),
        )
        .route("/static/img/{file}", get(image));
    let admin = Router::new()
        .route("/__stats", get(stats))
        .route("/__stats/reset", post(reset));
    dynamic
        .merge(streams)
        .merge(statics)
        .merge(admin)
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(st.clone(), count))
        .with_state(st)
}

async fn asset(
    State(st): State<Shared>,
    headers: HeaderMap,
    pick: impl FnOnce(&Assets) -> &Asset,
) -> Response {
    pick(&st.assets).respond(&headers)
}

/// `/static/img/product-{id}.svg`
async fn image(State(st): State<Shared>, headers: HeaderMap, Path(file): Path<String>) -> Response {
    let id = file
        .strip_prefix("product-")
        .and_then(|f| f.strip_suffix(".svg"))
        .and_then(|n| n.parse::<u32>().ok());
    match id.and_then(|id| st.assets.images.get(&id)) {
        Some(a) => a.respond(&headers),
        None => pages::not_found().await,
    }
}

async fn stats(State(st): State<Shared>) -> Response {
    Json(st.counters.snapshot()).into_response()
}

async fn reset(State(st): State<Shared>) -> Response {
    st.counters.reset();
    Json(st.counters.snapshot()).into_response()
}

fn is_admin(path: &str) -> bool {
    path == "/__stats" || path == "/__stats/reset"
}

/// Count every request but the stats endpoints as it arrives (what the server saw), and its
/// status once the response is ready; a request whose client hangs up first (the handler is
/// dropped) is counted with status 499, as nginx logs it.
async fn count(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_admin(&path) {
        return next.run(req).await;
    }
    let agent = req
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    st.counters.arrived(req.method().as_str(), &path, agent);
    let mut pending = PendingStatus(Some(st.clone()));
    let resp = next.run(req).await;
    if let Some(st) = pending.0.take() {
        st.counters.answered(resp.status().as_u16());
    }
    resp
}

/// Records status 499 for a request dropped before its response was ready.
struct PendingStatus(Option<Shared>);

impl Drop for PendingStatus {
    fn drop(&mut self) {
        if let Some(st) = self.0.take() {
            st.counters.answered(499);
        }
    }
}

/// Simulated server work: wait for a worker slot (capacity), then "compute" for the drawn
/// latency while holding it, so past capacity requests queue and latency climbs: the knee.
async fn work(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let _permit = match &st.gate {
        Some(g) => Some(g.acquire().await.expect("the gate is never closed")),
        None => None,
    };
    let d = st.delay();
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
    next.run(req).await
}
