//! The embedded demo shop used by `throng demo-site` and by the tests.
//!
//! A small server-rendered shop that behaves like a real site under load: pages that pull
//! cached static assets, JavaScript that makes AJAX calls after load and polls every 2 s,
//! a CSRF-protected login with a session cookie, simulated server work with a capacity limit,
//! and its own request counters.
//!
//! Pages (every page links `/static/app.css`, `/static/app.js` (~100 KB), `/static/font.woff2`
//! (preloaded), `/static/logo.svg` and `/favicon.ico`; after `load`, app.js calls its page's
//! APIs, then `GET /api/cart/count`, and starts `GET /api/notifications` every 2000 ms):
//!
//! | page | extra assets | AJAX after load |
//! |---|---|---|
//! | `GET /` | `/static/img/product-{1..12}.svg` | `/api/featured` |
//! | `GET /search?q=` | result thumbnails (same images) | - |
//! | `GET /product/{id}` | `/static/img/product-{id}.svg` | `/api/reviews?product=ID`, `/api/stock?product=ID`, `/api/related?product=ID` |
//! | `GET /cart` | line thumbnails | - |
//! | `GET /login` | - | - |
//! | `GET /account` (303 to `/login` unless signed in) | - | `/api/orders` |
//!
//! Forms: `POST /login` (`csrf`, `username`, `password`; 403 without a session or with a wrong
//! token, 401 on bad credentials, else 303 to `/account` with a fresh session cookie),
//! `POST /cart/add` (`csrf`, `product`, `qty`; 303 to `/cart`), `POST /logout` (`csrf`).
//! The token is the hidden `<input name="csrf">` of any form page; the cookie is `sid`.
//!
//! Seeded accounts (demo only): `alice` / `wonderland`, `bob` / `builder`, `carol` / `singer`.
//! Catalog: twelve products; searching "lamp", "chair" or "desk" returns three or more.
//!
//! Knobs ([`DemoConfig`]): `latency_ms` (uniform, deterministic per request sequence) and
//! `slow_ms` are added to every page, form and API request; `capacity` limits how many of those
//! are served at once. Static assets are served at once with `Cache-Control: max-age`, `ETag`
//! and `Last-Modified` (304 on `If-None-Match` / `If-Modified-Since`).
//!
//! Live page: `GET /live` opens an EventSource on `/api/live/events` (5 events, 100 ms apart,
//! then held open) and a WebSocket on `/ws/live` (the page says hello on open and watches a
//! product 300 ms later; the server sends 5 price ticks 100 ms apart and acknowledges every
//! message), counted in [`LiveStats`].
//!
//! Deals page: `GET /deals` (no assets, no AJAX) shifts its layout 200 ms after load (a banner
//! arrives above the content) and its "Show all deals" button's handler blocks the main thread
//! for 300 ms before it paints: browser mode shows CLS, INP and TBT with real values.
//!
//! Single-page app: `GET /app` signs in by `fetch` (`POST /api/app/login`, JSON credentials,
//! answered `{"token", "ticket"}`), then opens a WebSocket on `/ws/app?ticket=` whose first
//! message must carry the token (the server sends a welcome and 3 items, then closes with
//! 1000); its "Live results" button reads `POST /api/app/results` (`Authorization: Bearer
//! TOKEN`) as an event stream through `fetch()` (3 events, then held open). Counted in
//! [`SpaStats`], with the close code each socket's client answered.
//!
//! Portal: `GET /portal` signs in by `fetch` (`POST /api/portal/login`, JSON credentials,
//! answered `{"token", "user"}` with a new random token and a `psid` cookie for `/portal`),
//! keeps the token in localStorage and goes to `GET /portal/home` (303 to `/portal` without
//! the cookie), whose script calls `GET /api/portal/orders` with `Authorization: Bearer TOKEN`
//! (`GET /api/portal/me` answers the same; 401 without a token a login issued). Counted in
//! [`PortalStats`]: what a session handoff (`throng run --login`) must carry.
//!
//! `GET /__stats` returns [`Stats`] (every request counted, keyed `"METHOD /path"` without the
//! query, including 304s and 404s; the stats endpoints themselves excluded), and again by kind
//! of client (`agents`: `throng`, `chrome`, `other`, from the User-Agent: a hybrid run's modes);
//! `POST /__stats/reset` zeroes it.

mod api;
mod assets;
mod catalog;
mod deals;
mod forms;
mod html;
mod live;
mod pages;
mod portal;
mod server;
mod session;
mod spa;
mod stats;

pub use portal::PortalStats;
pub use spa::SpaStats;
pub use stats::{agent_of, AgentStats, LiveStats, Stats};

use crate::serve::{Limits, Served};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How to run the demo site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Address to bind; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Simulated work per page/form/API request, drawn uniformly from this inclusive range.
    pub latency_ms: (u64, u64),
    /// Extra latency added to every page/form/API request (the `--slow` knob).
    pub slow_ms: u64,
    /// Page/form/API requests served at once; the rest wait (None: unlimited).
    pub capacity: Option<usize>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            latency_ms: (5, 50),
            slow_ms: 0,
            capacity: None,
        }
    }
}

/// A running demo site. Dropping it leaves the server running until the runtime ends; call
/// [`DemoServer::shutdown`] to stop it.
pub struct DemoServer {
    addr: SocketAddr,
    state: server::Shared,
    served: Served,
    /// Served over TLS with this self-signed certificate (PEM).
    cert_pem: Option<String>,
}

/// Bind and start serving in the background.
pub async fn spawn(cfg: DemoConfig) -> anyhow::Result<DemoServer> {
    let listener = tokio::net::TcpListener::bind(cfg.bind)
        .await
        .with_context(|| format!("binding the demo site to {}", cfg.bind))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let state = Arc::new(server::AppState::new(&cfg));
    let app = server::router(state.clone());
    let served = Served::start(listener, app, Limits::SITE);
    Ok(DemoServer {
        addr,
        state,
        served,
        cert_pem: None,
    })
}

/// Like [`spawn`], over HTTPS (HTTP/2 or HTTP/1.1 by ALPN) with a self-signed certificate
/// generated for `localhost`, `127.0.0.1` and `::1` (see [`DemoServer::cert_pem`]).
pub async fn spawn_tls(cfg: DemoConfig) -> anyhow::Result<DemoServer> {
    let listener = tokio::net::TcpListener::bind(cfg.bind)
        .await
        .with_context(|| format!("binding the demo site to {}", cfg.bind))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let key = rcgen::generate_simple_self_signed(names).context("generating a certificate")?;
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(vec![key.cert.der().clone()], der)
        .context("TLS certificate")?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let state = Arc::new(server::AppState::new(&cfg));
    let app = server::router(state.clone());
    let served = Served::start_tls(listener, app, Arc::new(tls), Limits::SITE);
    Ok(DemoServer {
        addr,
        state,
        served,
        cert_pem: Some(key.cert.pem()),
    })
}

impl DemoServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (`https://` over TLS), no trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.cert_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The self-signed certificate (PEM) of a site served over TLS: what `--cacert` trusts.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// The same data as `GET /__stats`.
    pub fn stats(&self) -> Stats {
        self.state.counters.snapshot()
    }

    pub fn reset_stats(&self) {
        self.state.counters.reset();
    }

    /// Stop accepting, let in-flight requests finish (at most 5 s), then return.
    pub async fn shutdown(self) {
        self.served.shutdown(Duration::from_secs(5)).await;
    }
}

/// Run the demo site until Ctrl-C (`throng demo-site`); with `tls`, over HTTPS with its
/// certificate written to that file.
pub async fn serve_forever(cfg: DemoConfig, tls: Option<&std::path::Path>) -> anyhow::Result<()> {
    let server = match tls {
        Some(cert_file) => {
            let server = spawn_tls(cfg).await?;
            let pem = server.cert_pem().unwrap_or_default();
            std::fs::write(cert_file, pem)
                .with_context(|| format!("writing the certificate to {}", cert_file.display()))?;
            println!(
                "certificate: {} (trust it with --cacert {})",
                cert_file.display(),
                cert_file.display()
            );
            server
        }
        None => spawn(cfg).await?,
    };
    println!(
        "throng demo shop on {}/  (stats: {}/__stats; Ctrl-C to stop)",
        server.base_url(),
        server.base_url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("stopping the demo shop");
    server.shutdown().await;
    Ok(())
}
