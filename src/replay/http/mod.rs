//! HTTP replay: each virtual user sends a flow's recorded requests the way its browser did,
//! with its own connections, cookie jar and cache, plus the page's assets and pollers.

mod assets;
mod cache;
mod client;
mod cookies;
mod evidence;
mod extract;
mod html;
mod live;
mod offload;
mod poller;
pub(crate) mod record;
mod request_fill;
mod session;
mod step;
mod trace_context;

pub use client::{classify, ClientOptions, HostPolicy, SharedTls, SocketBudget, DEFAULT_MAX_BODY};
pub use offload::Offload;

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
    /// `--threads`: threads the users run on (None: see [`user_threads`]).
    pub threads: Option<usize>,
}

/// Threads HTTP-mode users run on by default: one per core throng may use, but half of them
/// (at least one) when every target is on this machine's loopback, so the target keeps cores
/// of its own instead of competing with throng for all of them.
pub fn user_threads(cores: usize, origins: &[Url]) -> usize {
    let local = !origins.is_empty() && origins.iter().all(is_loopback);
    let cores = cores.max(1);
    if local {
        (cores / 2).max(1)
    } else {
        cores
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
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
            client: Arc::new(UserClient::new(
                &self.options.client,
                record::MetricObserver::shared(recorder),
            )?),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_leave_the_target_half_the_cores() {
        let url = |u: &str| Url::parse(u).unwrap();
        let local = [url("http://127.0.0.1:8080/"), url("https://localhost/")];
        assert_eq!(user_threads(2, &local), 1);
        assert_eq!(user_threads(8, &local), 4);
        assert_eq!(user_threads(1, &local), 1);
        assert_eq!(user_threads(8, &[url("http://[::1]:9/")]), 4);
        let remote = [url("http://127.0.0.1/"), url("https://shop.example/")];
        assert_eq!(user_threads(8, &remote), 8);
        assert_eq!(user_threads(0, &[]), 1);
    }
}
