//! Replay runners, one per mode (plain HTTP, headless Chromium), and what they share:
//! the prepared flow and per-user variables.

pub mod browser;
pub mod http;
pub mod vars;

pub use vars::{VarSources, Vars};

use crate::flow::{Flow, Poller};
use std::sync::Arc;
use url::Url;

/// A flow ready to replay: origin rewritten to the target, name fixed for metrics keys.
#[derive(Debug, Clone)]
pub struct PreparedFlow {
    /// Name used in metric keys (the file stem).
    pub name: Arc<str>,
    pub flow: Flow,
    /// The origin requests go to (after `--target`).
    pub origin: Url,
    /// Every poller of the flow, for recognising polling requests.
    pub pollers: Vec<Poller>,
    /// Data values for `${variables}`, shared by all users of the run.
    pub sources: Arc<VarSources>,
}

impl PreparedFlow {
    /// Collects the flow's pollers; `origin` must already be the replay target.
    pub fn new(name: &str, flow: Flow, origin: Url, sources: Arc<VarSources>) -> Self {
        let pollers = flow
            .steps
            .iter()
            .filter_map(|s| s.network.as_ref())
            .flat_map(|n| n.polling.iter().cloned())
            .collect();
        PreparedFlow {
            name: Arc::from(name),
            flow,
            origin,
            pollers,
            sources,
        }
    }
}
