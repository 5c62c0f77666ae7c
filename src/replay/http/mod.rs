//! HTTP replay: each virtual user sends a flow's recorded requests the way its browser did,
//! with its own connections, cookie jar and cache, plus the page's assets and pollers.

mod assets;
mod cache;
mod client;
mod cookies;
mod extract;
mod poller;
mod session;

pub use client::{classify, ClientOptions, SharedTls, SocketBudget};

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
    /// host:port of every flow's (target) origin.
    own_hosts: Vec<String>,
}

/// One user's lasting state in HTTP mode: its client (connections survive iterations; cookies
/// and cache are reset per session).
pub struct HttpUser {
    client: Arc<UserClient>,
}

impl HttpRunner {
    pub fn new(options: HttpOptions, sink: Sink, origins: &[Url]) -> Self {
        let own_hosts = origins.iter().filter_map(host_port).collect();
        HttpRunner {
            options,
            sink,
            own_hosts,
        }
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
        let Some(hp) = host_port(url) else {
            return false;
        };
        let host = url.host_str().unwrap_or_default();
        self.own_hosts.contains(&hp)
            || self
                .options
                .allow_hosts
                .iter()
                .any(|a| a == &hp || a == host)
    }

    fn host_allowed_str(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|u| self.host_allowed(&u))
    }
}

fn host_port(url: &Url) -> Option<String> {
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default()?
    ))
}
