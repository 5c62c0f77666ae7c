//! Per-route request counters behind `GET /__stats` and `POST /__stats/reset`.

use crate::sync::Locked;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What the demo site has served since start (or the last reset).
///
/// Route keys are `METHOD PATH` with the query stripped (`"GET /product/3"`, `"POST /login"`);
/// unknown paths are counted under their real path too (`"GET /nope"`). The `/__stats`
/// endpoints themselves are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub total: u64,
    pub routes: BTreeMap<String, u64>,
    /// Keyed by the numeric status as a string ("200", "304", "403", ...).
    pub statuses: BTreeMap<String, u64>,
    /// The live page's streams: Server-Sent Events and WebSocket connections and messages.
    #[serde(default)]
    pub live: LiveStats,
    /// The single-page app's logins, socket and result streams (`/app`).
    #[serde(default)]
    pub spa: super::SpaStats,
    /// The portal's logins and token-carrying API calls (`/portal`).
    #[serde(default)]
    pub portal: super::PortalStats,
    /// Search terms as the site received them (`GET /search?q=...`), with their counts: what
    /// a replayed flow typed.
    #[serde(default)]
    pub searches: BTreeMap<String, u64>,
    /// Requests by the kind of client that sent them (see [`agent_of`]): "throng" (throng's
    /// HTTP mode), "chrome" (a browser), "other"; a hybrid run's modes apart.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentStats>,
}

/// What one kind of client sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStats {
    pub total: u64,
    /// Keyed `METHOD /path`, as [`Stats::routes`].
    pub routes: BTreeMap<String, u64>,
}

impl AgentStats {
    /// Count for one route key, 0 when never seen.
    pub fn route_count(&self, key: &str) -> u64 {
        self.routes.get(key).copied().unwrap_or(0)
    }
}

/// The kind of client a User-Agent names: "throng" (throng's HTTP mode), "chrome" (Chromium,
/// headless or not) or "other".
pub fn agent_of(user_agent: &str) -> &'static str {
    if user_agent.starts_with("throng/") {
        "throng"
    } else if user_agent.contains("Chrome/") {
        "chrome"
    } else {
        "other"
    }
}

/// Connections and messages of the live page's streams (`/api/live/events`, `/ws/live`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveStats {
    /// Event streams opened.
    pub sse_connections: u64,
    /// Events sent on them.
    pub sse_events: u64,
    /// WebSockets opened (handshake completed).
    pub ws_connections: u64,
    /// Messages received from clients.
    pub ws_messages_in: u64,
    /// Messages sent to clients.
    pub ws_messages_out: u64,
    /// WebSockets the client closed (a close frame or the connection ending).
    pub ws_closed: u64,
}

impl Stats {
    /// Count for one route key, 0 when never seen.
    pub fn route(&self, key: &str) -> u64 {
        self.routes.get(key).copied().unwrap_or(0)
    }

    /// Count for one status code, 0 when never seen.
    pub fn status(&self, code: u16) -> u64 {
        self.statuses.get(&code.to_string()).copied().unwrap_or(0)
    }
}

/// The live counters. One mutex is plenty: the critical section is two map increments.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    inner: Mutex<Stats>,
}

impl Counters {
    /// Counts a request as it arrives, by route.
    pub(crate) fn arrived(&self, method: &str, path: &str, user_agent: &str) {
        let route = format!("{method} {path}");
        let mut s = self.inner.locked();
        s.total += 1;
        let agent = s.agents.entry(agent_of(user_agent).into()).or_default();
        agent.total += 1;
        *agent.routes.entry(route.clone()).or_default() += 1;
        *s.routes.entry(route).or_default() += 1;
    }

    /// Counts the status a request was answered with.
    pub(crate) fn answered(&self, status: u16) {
        *self
            .inner
            .locked()
            .statuses
            .entry(status.to_string())
            .or_default() += 1;
    }

    #[cfg(test)]
    pub(crate) fn record(&self, method: &str, path: &str, status: u16) {
        self.arrived(method, path, "");
        self.answered(status);
    }

    /// Counts a search term.
    pub(crate) fn searched(&self, q: &str) {
        *self
            .inner
            .locked()
            .searches
            .entry(q.to_string())
            .or_default() += 1;
    }

    /// Adds to the single-page app's counters.
    pub(crate) fn spa(&self, f: impl FnOnce(&mut super::SpaStats)) {
        f(&mut self.inner.locked().spa);
    }

    /// Adds to the portal's counters.
    pub(crate) fn portal(&self, f: impl FnOnce(&mut super::PortalStats)) {
        f(&mut self.inner.locked().portal);
    }

    /// Adds to the live counters.
    pub(crate) fn live(&self, f: impl FnOnce(&mut LiveStats)) {
        f(&mut self.inner.locked().live);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        self.inner.locked().clone()
    }

    pub(crate) fn reset(&self) {
        *self.inner.locked() = Stats::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_counts_routes_and_statuses_and_reset_zeroes() {
        let c = Counters::default();
        c.record("GET", "/", 200);
        c.record("GET", "/", 200);
        c.record("POST", "/login", 403);
        c.searched("lamp");
        let s = c.snapshot();
        assert_eq!(s.searches["lamp"], 1);
        assert_eq!(s.total, 3);
        assert_eq!(s.route("GET /"), 2);
        assert_eq!(s.route("POST /login"), 1);
        assert_eq!(s.status(200), 2);
        assert_eq!(s.status(403), 1);
        c.reset();
        assert_eq!(c.snapshot(), Stats::default());
    }
}
