//! The live dashboard (`--ui`): an axum server with one self-contained page (inline CSS, JS
//! and canvas charts, no network), JSON endpoints the page polls every second, controls
//! (stop, start, change the user count) and downloads of the current snapshot.
//!
//! The dashboard only reads the run's [`Sink`] (or a coordinator's [`MergedBoard`]); it changes
//! the run through [`LiveControl`], which the caller implements, and asks for new runs through
//! [`UiCommand`]s. Other web pages are kept out by [`guard`]: a token only the page gets, Host
//! and Origin checks, JSON only.
//! `/metrics` serves the run for Prometheus (read-only, no token).

mod api;
mod guard;
mod source;

pub use guard::{MAX_USERS, TOKEN_HEADER};
pub use source::{MergedBoard, Numbers, WorkerLine};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::serve::{Limits, Served};
use anyhow::Context as _;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::mpsc;

use crate::metrics::{RunSummary, Sink};

use crate::report::RunMeta;
use crate::sync::Locked;

/// Connections the dashboard holds at once (a few browser tabs and scrapers).
const MAX_CONNECTIONS: usize = 128;

/// The default address, Locust's: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8089";

/// How the dashboard steers a running run.
pub trait LiveControl: Send + Sync {
    /// The user count the run aims at now (None: not a user-count plan).
    fn target_users(&self) -> Option<u32>;
    /// Hold this many users; false when the plan cannot (an arrival-rate plan).
    fn set_users(&self, users: u32) -> bool;
    /// Stop gracefully (the report is still written).
    fn stop(&self);
    fn is_stopping(&self) -> bool;
}

/// What the page asks of the program (the run loop owns runs, not the dashboard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiCommand {
    /// Start a new run with the same flows and plan; optionally hold this many users.
    Start { users: Option<u32> },
}

/// The run the dashboard shows.
struct Current {
    number: u32,
    numbers: Numbers,
    control: Arc<dyn LiveControl>,
    meta: RunMeta,
    total: Option<Duration>,
    finished: Option<RunSummary>,
}

struct Shared {
    current: Mutex<Option<Current>>,
    commands: mpsc::UnboundedSender<UiCommand>,
    /// This dashboard's token: in the page, required by every API call and download.
    token: String,
    /// The bound address, for the Host check.
    addr: SocketAddr,
}

impl Shared {}

/// A running dashboard server. Dropping it leaves the server to the runtime; call
/// [`Dashboard::shutdown`] to stop it.
pub struct Dashboard {
    addr: SocketAddr,
    shared: Arc<Shared>,
    commands: Option<mpsc::UnboundedReceiver<UiCommand>>,
    served: Served,
}

impl Dashboard {
    /// Bind `addr` (port 0 picks a free port) and serve in the background.
    pub async fn serve(addr: SocketAddr) -> anyhow::Result<Dashboard> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the dashboard to {addr}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            current: Mutex::new(None),
            commands: tx,
            token: guard::new_token(),
            addr,
        });
        let app = router(shared.clone());
        let served = Served::start(listener, app, Limits::control(MAX_CONNECTIONS));
        Ok(Dashboard {
            addr,
            shared,
            commands: Some(rx),
            served,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Show a new run (its sink is read live).
    pub fn show_run(
        &self,
        sink: Sink,
        control: Arc<dyn LiveControl>,
        meta: RunMeta,
        total: Option<Duration>,
    ) {
        self.show(Numbers::Sink(sink), control, meta, total);
    }

    /// Show a new run whose numbers come from `numbers` (a coordinator's merged board).
    pub fn show(
        &self,
        numbers: Numbers,
        control: Arc<dyn LiveControl>,
        meta: RunMeta,
        total: Option<Duration>,
    ) {
        let mut cur = self.shared.current.locked();
        let number = cur.as_ref().map_or(1, |c| c.number + 1);
        *cur = Some(Current {
            number,
            numbers,
            control,
            meta,
            total,
            finished: None,
        });
    }

    /// The shown run ended with this summary.
    pub fn finished(&self, summary: RunSummary) {
        if let Some(c) = self.shared.current.locked().as_mut() {
            c.finished = Some(summary);
        }
    }

    /// The page's requests for new runs (taken once).
    pub fn commands(&mut self) -> mpsc::UnboundedReceiver<UiCommand> {
        self.commands.take().expect("dashboard commands taken once")
    }

    /// Stop serving (in-flight requests finish, at most 2 s).
    pub async fn shutdown(self) {
        self.served.shutdown(Duration::from_secs(2)).await;
    }
}

const PAGE: &str = include_str!("page.html");

fn router(shared: Arc<Shared>) -> Router {
    let page = PAGE.replace("{{TOKEN}}", &shared.token);
    Router::new()
        .route(
            "/",
            get(move || async move {
                (
                    // The page holds the token: no other site may frame or cache it.
                    [
                        ("x-frame-options", "DENY"),
                        ("cache-control", "no-store"),
                        ("referrer-policy", "no-referrer"),
                    ],
                    axum::response::Html(page),
                )
            }),
        )
        .route("/metrics", get(api::metrics))
        .route("/api/live", get(api::live))
        .route("/api/stats", get(api::stats))
        .route("/api/stop", post(api::stop))
        .route("/api/users", post(api::users))
        .route("/api/start", post(api::start))
        .route("/download/{file}", get(api::download))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            guard::check,
        ))
        .with_state(shared)
}
