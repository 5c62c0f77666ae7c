//! Typed visits over the value-carrying fields of a flow (URLs, typed text, request headers and
//! bodies), so rewriting values (secret scrubbing, correlation, origin rewriting) never touches
//! type tags, field names, selectors or kinds.
//!
//! Recorder fields (a navigate URL, typed text, an asserted URL) are visited in the form throng
//! replays: the `...Template` beside the field when there is one, else the field. A rewrite
//! that changes it lands in the template, so the Recorder field keeps its literal value (a flow
//! written before templates, with `${...}` in the field itself, is rewritten in place).

use crate::model::{Action, Flow, Step};
use crate::vars::variables_used;

/// Which field of a step a visited value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// A `navigate` step's URL.
    NavigateUrl,
    /// The text a `change` step types.
    TypedValue,
    /// The URL of an asserted navigation.
    AssertedUrl,
    /// A recorded request's URL (`index` into `network.requests`).
    RequestUrl { index: usize },
    /// A recorded request header's value.
    RequestHeader { index: usize, name: &'a str },
    /// A recorded request's body.
    RequestBody { index: usize },
    /// What started a recorded request (a script or document URL, with its line).
    RequestInitiator { index: usize },
    /// A poller's URL (`index` into `network.polling`).
    PollerUrl { index: usize },
    /// A poller header's value.
    PollerHeader { index: usize, name: &'a str },
    /// A poller's body.
    PollerBody { index: usize },
    /// An EventSource's URL (`index` into `network.eventSources`).
    EventSourceUrl { index: usize },
    /// An EventSource header's value.
    EventSourceHeader { index: usize, name: &'a str },
    /// A WebSocket's URL (`index` into `network.webSockets`).
    WebSocketUrl { index: usize },
    /// A text message a page sent over a WebSocket (`message` into its `sent`).
    WebSocketMessage { index: usize, message: usize },
    /// A stream's URL (`index` into `network.streams`).
    StreamUrl { index: usize },
    /// A stream request header's value.
    StreamHeader { index: usize, name: &'a str },
    /// A stream request's body.
    StreamBody { index: usize },
}

/// Where a visited value sits: its step and field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site<'a> {
    pub step: usize,
    pub place: Place<'a>,
}

impl Flow {
    /// Calls `f` on every value-carrying string of every step, in step order.
    pub fn for_each_value_mut(&mut self, mut f: impl FnMut(Site<'_>, &mut String)) {
        for (i, step) in self.steps.iter_mut().enumerate() {
            step.for_each_value_mut(&mut |place, value| f(Site { step: i, place }, value));
        }
    }

    /// Calls `f` on every value-carrying string of every step, in step order.
    pub fn for_each_value(&self, mut f: impl FnMut(Site<'_>, &str)) {
        for (i, step) in self.steps.iter().enumerate() {
            step.for_each_value(&mut |place, value| f(Site { step: i, place }, value));
        }
    }
}

impl Step {
    /// Calls `f` on every value-carrying string of this step.
    pub fn for_each_value_mut(&mut self, f: &mut impl FnMut(Place<'_>, &mut String)) {
        match &mut self.action {
            Action::Navigate { url, url_template } => {
                rewrite_param(url, url_template, &mut |v| f(Place::NavigateUrl, v));
            }
            Action::Change {
                value,
                value_template,
                ..
            } => rewrite_param(value, value_template, &mut |v| f(Place::TypedValue, v)),
            _ => {}
        }
        for event in &mut self.asserted_events {
            match (&mut event.url, &mut event.url_template) {
                (Some(url), template) => {
                    rewrite_param(url, template, &mut |v| f(Place::AssertedUrl, v));
                }
                (None, Some(template)) => f(Place::AssertedUrl, template),
                (None, None) => {}
            }
        }
        let Some(net) = &mut self.network else { return };
        for (index, r) in net.requests.iter_mut().enumerate() {
            f(Place::RequestUrl { index }, &mut r.url);
            for (name, value) in &mut r.headers {
                f(Place::RequestHeader { index, name }, value);
            }
            if let Some(body) = &mut r.body {
                f(Place::RequestBody { index }, body);
            }
            if let Some(initiator) = &mut r.initiator {
                f(Place::RequestInitiator { index }, initiator);
            }
        }
        for (index, p) in net.polling.iter_mut().enumerate() {
            f(Place::PollerUrl { index }, &mut p.url);
            for (name, value) in &mut p.headers {
                f(Place::PollerHeader { index, name }, value);
            }
            if let Some(body) = &mut p.body {
                f(Place::PollerBody { index }, body);
            }
        }
        for (index, e) in net.event_sources.iter_mut().enumerate() {
            f(Place::EventSourceUrl { index }, &mut e.url);
            for (name, value) in &mut e.headers {
                f(Place::EventSourceHeader { index, name }, value);
            }
        }
        for (index, ws) in net.web_sockets.iter_mut().enumerate() {
            f(Place::WebSocketUrl { index }, &mut ws.url);
            for (message, m) in ws.sent.iter_mut().enumerate() {
                if !m.binary {
                    f(Place::WebSocketMessage { index, message }, &mut m.data);
                }
            }
        }
        for (index, st) in net.streams.iter_mut().enumerate() {
            f(Place::StreamUrl { index }, &mut st.url);
            for (name, value) in &mut st.headers {
                f(Place::StreamHeader { index, name }, value);
            }
            if let Some(body) = &mut st.body {
                f(Place::StreamBody { index }, body);
            }
        }
    }

    /// Calls `f` on every value-carrying string of this step.
    pub fn for_each_value(&self, f: &mut impl FnMut(Place<'_>, &str)) {
        if let Some(url) = self.action.replay_url() {
            f(Place::NavigateUrl, url);
        }
        if let Some(value) = self.action.replay_value() {
            f(Place::TypedValue, value);
        }
        for event in &self.asserted_events {
            if let Some(url) = event.replay_url() {
                f(Place::AssertedUrl, url);
            }
        }
        let Some(net) = &self.network else { return };
        for (index, r) in net.requests.iter().enumerate() {
            f(Place::RequestUrl { index }, &r.url);
            for (name, value) in &r.headers {
                f(Place::RequestHeader { index, name }, value);
            }
            if let Some(body) = &r.body {
                f(Place::RequestBody { index }, body);
            }
            if let Some(initiator) = &r.initiator {
                f(Place::RequestInitiator { index }, initiator);
            }
        }
        for (index, p) in net.polling.iter().enumerate() {
            f(Place::PollerUrl { index }, &p.url);
            for (name, value) in &p.headers {
                f(Place::PollerHeader { index, name }, value);
            }
            if let Some(body) = &p.body {
                f(Place::PollerBody { index }, body);
            }
        }
        for (index, e) in net.event_sources.iter().enumerate() {
            f(Place::EventSourceUrl { index }, &e.url);
            for (name, value) in &e.headers {
                f(Place::EventSourceHeader { index, name }, value);
            }
        }
        for (index, ws) in net.web_sockets.iter().enumerate() {
            f(Place::WebSocketUrl { index }, &ws.url);
            for (message, m) in ws.sent.iter().enumerate() {
                if !m.binary {
                    f(Place::WebSocketMessage { index, message }, &m.data);
                }
            }
        }
        for (index, st) in net.streams.iter().enumerate() {
            f(Place::StreamUrl { index }, &st.url);
            for (name, value) in &st.headers {
                f(Place::StreamHeader { index, name }, value);
            }
            if let Some(body) = &st.body {
                f(Place::StreamBody { index }, body);
            }
        }
    }
}

/// Runs `f` on the replay form of a Recorder field (`literal`, `template`): a change lands in
/// the template (dropped again when it equals the literal), the literal stays as recorded. An
/// old flow's field with `${...}` and no template is its own template, rewritten in place.
fn rewrite_param(
    literal: &mut String,
    template: &mut Option<String>,
    f: &mut dyn FnMut(&mut String),
) {
    if template.is_none() && !variables_used(literal).is_empty() {
        f(literal);
        return;
    }
    let mut form = template.clone().unwrap_or_else(|| literal.clone());
    f(&mut form);
    *template = (form != *literal).then_some(form);
}

#[cfg(test)]
mod tests {
    use crate::parse;

    const FLOW: &str = r##"{"title": "t", "steps": [
        {"type": "navigate", "url": "http://h/stat",
         "network": {"requests": [{"kind": "document", "url": "http://h/stat", "headers": {"x-k": "stat"}, "body": "a=stat"}],
                     "polling": [{"url": "http://h/p?stat", "periodMs": 1000}],
                     "eventSources": [{"url": "http://h/events?stat", "events": 3}],
                     "webSockets": [{"url": "ws://h/ws?stat", "sent": [{"offsetMs": 5, "data": "{\"q\":\"stat\"}"}, {"offsetMs": 9, "data": "c3RhdA==", "binary": true}], "received": 4}],
                     "streams": [{"method": "POST", "url": "http://h/s?stat", "headers": {"authorization": "Bearer stat"}, "body": "{\"q\":\"stat\"}", "afterMs": 3}]}},
        {"type": "change", "selectors": [["#stat"]], "value": "stat"},
        {"type": "click", "selectors": [["#go"]], "assertedEvents": [{"type": "navigation", "url": "http://h/stat"}]}
    ]}"##;

    #[test]
    fn rewriting_values_leaves_tags_selectors_and_kinds_alone() {
        let mut flow = parse(FLOW, "t.json").unwrap();
        let mut seen = 0;
        flow.for_each_value_mut(|_, v| {
            seen += 1;
            *v = v.replace("stat", "${s}");
        });
        assert_eq!(
            seen, 13,
            "url, header, body, poller url, event source url, websocket url and text message \
             (not the binary one), stream url, header and body, typed value, asserted url, \
             navigate url"
        );
        let text = serde_json::to_string(&flow).unwrap();
        assert!(text.contains(r##""selectors":[["#stat"]]"##), "{text}");
        assert!(text.contains(r#""kind":"document""#), "{text}");
        // Recorder fields keep their literal values; the rewritten form is their template.
        assert!(
            text.contains(r#""value":"stat","valueTemplate":"${s}""#),
            "{text}"
        );
        assert!(
            text.contains(r#""url":"http://h/stat","urlTemplate":"http://h/${s}""#),
            "{text}"
        );
        assert_eq!(
            text.matches("h/stat").count(),
            2,
            "navigate and asserted url: {text}"
        );
        let mut read = 0;
        flow.for_each_value(|_, v| read += usize::from(v.contains("${s}")));
        assert_eq!(read, 13);
        // Rewriting back to the literal drops the template.
        flow.for_each_value_mut(|_, v| *v = v.replace("${s}", "stat"));
        let text = serde_json::to_string(&flow).unwrap();
        assert!(!text.contains("Template"), "{text}");
        // The binary message is base64, never rewritten.
        assert!(text.contains(r#""data":"c3RhdA==""#), "{text}");
    }
}

#[cfg(test)]
mod old_flows {
    use crate::parse;

    #[test]
    fn a_recorder_field_holding_a_placeholder_is_its_own_template() {
        let text = r##"{"title": "t", "variables": [{"name": "q", "oneOf": ["a"]}], "steps": [
            {"type": "navigate", "url": "http://h/?q=${q}"},
            {"type": "change", "selectors": [["#q"]], "value": "${q}"}]}"##;
        let mut flow = parse(text, "t.json").unwrap();
        assert_eq!(flow.steps[1].action.replay_value(), Some("${q}"));
        flow.for_each_value_mut(|_, v| *v = v.replace("${q}", "${q2}"));
        let out = serde_json::to_string(&flow).unwrap();
        assert!(!out.contains("Template"), "rewritten in place: {out}");
        assert!(out.contains(r#""value":"${q2}""#), "{out}");
    }
}
