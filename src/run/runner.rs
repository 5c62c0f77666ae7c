//! The replay mode behind a run: one runner type per mode, one way to run a user's session.

use crate::metrics::{Mode, Recorder, Sink};
use crate::replay::browser::{BrowserOptions, BrowserPool};
use crate::replay::http::{HttpOptions, HttpRunner, HttpUser};
use crate::replay::{Session, SessionOutcome};
use std::sync::Arc;
use url::Url;

/// A started replay mode.
pub enum ModeRunner {
    Http(HttpRunner),
    Browser(Arc<BrowserPool>),
}

/// A virtual user's lasting per-mode state.
pub enum UserState {
    Http(HttpUser),
    Browser,
}

impl ModeRunner {
    pub async fn start(
        mode: Mode,
        http: HttpOptions,
        browser: BrowserOptions,
        sink: Sink,
        origins: &[Url],
    ) -> anyhow::Result<Self> {
        Ok(match mode {
            Mode::Http => ModeRunner::Http(HttpRunner::new(http, sink, origins)),
            Mode::Browser => ModeRunner::Browser(BrowserPool::launch(browser, sink).await?),
        })
    }

    pub fn mode(&self) -> Mode {
        match self {
            ModeRunner::Http(_) => Mode::Http,
            ModeRunner::Browser(_) => Mode::Browser,
        }
    }

    pub fn new_user(&self, recorder: Recorder) -> Result<UserState, String> {
        match self {
            ModeRunner::Http(r) => r
                .user(recorder)
                .map(UserState::Http)
                .map_err(|e| format!("HTTP client: {e}")),
            ModeRunner::Browser(_) => Ok(UserState::Browser),
        }
    }

    pub async fn run_session(&self, user: &UserState, session: Session<'_>) -> SessionOutcome {
        match (self, user) {
            (ModeRunner::Http(r), UserState::Http(u)) => r.run_session(u, session).await,
            // Boxed: the browser session's large future would otherwise size (and be
            // initialized in) every HTTP iteration's future too.
            (ModeRunner::Browser(pool), UserState::Browser) => {
                Box::pin(pool.run_session(session)).await
            }
            _ => SessionOutcome::Failed("user state of another mode".into()),
        }
    }

    /// Ends the mode's resources (browsers closed, no process left behind).
    pub async fn shutdown(&self) {
        if let ModeRunner::Browser(pool) = self {
            pool.shutdown().await;
        }
    }
}
