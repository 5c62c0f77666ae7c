//! The one-line summary `throng validate` prints per flow.

use super::model::{Flow, RequestKind};
use std::collections::BTreeMap;
use std::fmt;

/// Counts that describe a flow at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSummary {
    /// Label printed first (the flow's path), when known.
    pub file: Option<String>,
    pub title: String,
    pub steps: usize,
    /// Recorded requests by kind (kinds with none are absent).
    pub requests: BTreeMap<RequestKind, usize>,
    pub pollers: usize,
    /// What pages hold open: EventSources, streams read through `fetch()`, WebSockets.
    pub live: [usize; 3],
    pub variables: usize,
    /// The recording left something out (the flow's `capped`).
    pub capped: bool,
}

impl FlowSummary {
    pub fn total_requests(&self) -> usize {
        self.requests.values().sum()
    }
}

/// Summarises a flow (without a file label; see `LoadedFlow::summary`).
pub fn summary(flow: &Flow) -> FlowSummary {
    let mut requests = BTreeMap::new();
    let mut pollers = 0;
    let mut live = [0; 3];
    for net in flow.steps.iter().filter_map(|s| s.network.as_ref()) {
        for req in &net.requests {
            *requests.entry(req.kind).or_insert(0) += 1;
        }
        pollers += net.polling.len();
        live[0] += net.event_sources.len();
        live[1] += net.streams.len();
        live[2] += net.web_sockets.len();
    }
    FlowSummary {
        file: None,
        title: flow.title.clone(),
        steps: flow.steps.len(),
        requests,
        pollers,
        live,
        variables: flow.variables.len(),
        capped: flow.capped.is_some(),
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

impl fmt::Display for FlowSummary {
    /// `shop.json: "Browse and buy" 9 steps, 34 requests (2 document, 24 static, 8 ajax), 1 poller, 3 variables`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        // Debug quoting keeps a title with newlines on one line.
        write!(f, "{:?} {}, ", self.title, plural(self.steps, "step"))?;
        write!(f, "{}", plural(self.total_requests(), "request"))?;
        if !self.requests.is_empty() {
            let parts: Vec<String> = self
                .requests
                .iter()
                .map(|(kind, n)| format!("{n} {}", kind.as_str()))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        write!(f, ", {}", plural(self.pollers, "poller"))?;
        let names = ["EventSource", "stream", "WebSocket"];
        for (n, name) in self.live.iter().zip(names) {
            if *n > 0 {
                write!(f, ", {}", plural(*n, name))?;
            }
        }
        write!(f, ", {}", plural(self.variables, "variable"))?;
        if self.capped {
            write!(f, " (capped while recording: see `capped`)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn counts_requests_by_kind_in_kind_order() {
        let src = r#"{"title": "Browse and buy", "variables": [{"name": "q", "value": "x"}],
          "steps": [
            {"type": "navigate", "url": "http://h/", "network": {"requests": [
              {"kind": "ajax", "url": "http://h/api"},
              {"kind": "document", "url": "http://h/"},
              {"kind": "static", "url": "http://h/a.css"},
              {"kind": "static", "url": "http://h/a.js"}],
              "polling": [{"url": "http://h/poll", "periodMs": 2000}]}},
            {"type": "click", "selectors": ["b"]}]}"#;
        let mut s = summary(&parse(src, "shop.json").unwrap());
        s.file = Some("shop.json".into());
        assert_eq!(
            s.to_string(),
            r#"shop.json: "Browse and buy" 2 steps, 4 requests (1 document, 2 static, 1 ajax), 1 poller, 1 variable"#
        );
    }

    #[test]
    fn live_connections_and_caps_are_named_when_there_are_some() {
        let src = r#"{"title": "t", "capped": {"messages": 3},
          "steps": [{"type": "navigate", "url": "http://h/", "network": {
            "streams": [{"url": "http://h/s"}],
            "webSockets": [{"url": "ws://h/a"}, {"url": "ws://h/b"}]}}]}"#;
        let s = summary(&parse(src, "x").unwrap());
        assert_eq!(
            s.to_string(),
            r#""t" 1 step, 0 requests, 0 pollers, 1 stream, 2 WebSockets, 0 variables (capped while recording: see `capped`)"#
        );
    }

    #[test]
    fn a_bare_recorder_flow_has_no_request_breakdown() {
        let src = r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/"}]}"#;
        let s = summary(&parse(src, "x").unwrap());
        assert_eq!(
            s.to_string(),
            r#""t" 1 step, 0 requests, 0 pollers, 0 variables"#
        );
    }
}
