//! HTTP replay: each virtual user sends a flow's recorded requests the way its browser did,
//! with its own connections, cookie jar and cache, plus the page's assets and pollers.

mod assets;
mod cache;
mod client;
mod cookies;
mod extract;
mod live;
mod poller;
mod session;

pub use client::{classify, ClientOptions, HostPolicy, SharedTls, SocketBudget, DEFAULT_MAX_BODY};

use crate::metrics::{Recorder, Sink};
use crate::replay::{Session, SessionOutcome};
use client::UserClient;
use std::sync::Arc;
use url::Url;

/// Options of the HTTP mode.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    pub client: ClientOptions,
    /// Hosts besides the flows' own that requests may go to.
    pub allow_hosts: Vec<String>,
}

/// The HTTP-mode runner shared by all users of a run.
pub struct HttpRunner {
    options: HttpOptions,
    sink: Sink,
}

/// One user's lasting state in HTTP mode: its client (connections survive iterations; cookies
/// and cache are reset per session).
pub struct HttpUser {
    client: Arc<UserClient>,
}

impl HttpRunner {
    pub fn new(mut options: HttpOptions, sink: Sink, origins: &[Url]) -> Self {
        options.client.hosts = Arc::new(HostPolicy::new(origins, &options.allow_hosts));
        HttpRunner { options, sink }
    }

    pub fn user(&self, recorder: Recorder) -> Result<HttpUser, http::header::InvalidHeaderValue> {
        Ok(HttpUser {
            client: Arc::new(UserClient::new(&self.options.client, recorder)?),
        })
    }

    pub async fn run_session(&self, user: &HttpUser, session: Session<'_>) -> SessionOutcome {
        session::HttpSession::new(self, user.client.clone(), session)
            .run()
            .await
    }

    /// Requests go only to the flows' own hosts and those allowed with `--allow-host`.
    pub fn host_allowed(&self, url: &Url) -> bool {
        self.options.client.hosts.allows(url)
    }
}
