//! Settings shared by every user's client of a run (from the command line).

use super::{HostPolicy, Offload, SharedTls, SocketBudget};
use crate::replay::conditions::Conditions;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Default `--max-body`: the most of one response body kept (and inflated) in memory.
pub const DEFAULT_MAX_BODY: usize = 10 << 20;

/// Settings shared by every user's client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    pub cache: bool,
    /// Browser-like connection parallelism per host (more requests wait for a connection).
    pub connections_per_host: usize,
    /// Idle connections a user keeps per host (one, as a browser on HTTP/2 holds): the rest
    /// of a page-load burst is closed, so 10,000 users' sockets fit one process's descriptor
    /// limit (20,000 here) and the ~28,000 ephemeral ports one loopback target offers.
    pub max_idle_per_host: usize,
    /// An idle connection unused this long is closed.
    pub idle_timeout: Duration,
    /// Sockets all users together may hold open (shared by every clone of these options).
    pub sockets: SocketBudget,
    pub user_agent: String,
    /// Accept any TLS certificate (`--insecure`, like curl -k): for self-signed test hosts.
    pub insecure: bool,
    /// The run's TLS configuration, built on the first https connection and shared by every
    /// clone of these options.
    pub tls: SharedTls,
    /// `--max-body`: a response body (after decompression) larger than this fails as
    /// `body-too-large`; the rest is not read.
    pub max_body: usize,
    /// The run's hard deadline: requests still open when it fires are abandoned and
    /// recorded once as `cancelled`.
    pub deadline: CancellationToken,
    /// Where requests may go (every hop of a redirect chain is checked).
    pub hosts: Arc<HostPolicy>,
    /// Offer HTTP/2 by ALPN on TLS connections (`--http1` turns it off).
    pub http2: bool,
    /// Where body parsing runs (shared by every clone of these options).
    pub offload: Offload,
    /// `--network`: each user's link is shaped so (None: not shaped). Boxed: the options
    /// stay small for a run that has none.
    pub network: Option<Arc<Conditions>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            cache: true,
            connections_per_host: 6,
            max_idle_per_host: 1,
            idle_timeout: Duration::from_secs(90),
            sockets: SocketBudget::default(),
            user_agent: format!("throng/{} (virtual user)", env!("CARGO_PKG_VERSION")),
            insecure: false,
            tls: SharedTls::default(),
            max_body: DEFAULT_MAX_BODY,
            deadline: CancellationToken::new(),
            hosts: Arc::new(HostPolicy::any()),
            http2: true,
            offload: Offload::default(),
            network: None,
        }
    }
}
