//! What every iteration of a flow would otherwise compute again: step labels, the URLs
//! without `${variables}` parsed once with their metric names, and the WebSocket messages
//! without variables built once and shared by every user (a recorded message is sent by each
//! of them; a copy per user would multiply the flow's size by the users). At tens of
//! thousands of requests a second, parsing a URL and formatting names per request costs more
//! than the request's own bytes.

use super::{page_name, step_label};
use crate::flow::{Flow, WebSocketMessage};
use crate::metrics::request_name;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

/// Per-step values shared by all users of a flow.
#[derive(Debug, Clone, Default)]
pub struct StepCache {
    steps: Vec<CachedStep>,
}

#[derive(Debug, Clone)]
struct CachedStep {
    label: Arc<str>,
    /// One entry per recorded request (same order); `None` where the URL has variables.
    requests: Vec<Option<CachedUrl>>,
    /// One entry per poller of the step.
    polling: Vec<Option<CachedUrl>>,
    /// Per WebSocket of the step, per message it sends: the message, when it has no variables.
    messages: Vec<Vec<Option<Message>>>,
}

/// A fixed URL of the flow, resolved against the origin.
#[derive(Debug, Clone)]
pub struct CachedUrl {
    /// The template as written in the flow (checked on use, so a changed flow is never
    /// served a stale URL).
    template: String,
    pub url: Url,
    /// Metric name of a request with the recorded method.
    pub request_name: Arc<str>,
    /// Metric name of a page load of this URL.
    pub page_name: Arc<str>,
}

impl StepCache {
    pub fn new(flow: &Flow, origin: &Url) -> Self {
        let cache_url = |method: &str, template: &str| -> Option<CachedUrl> {
            if template.contains("${") {
                return None;
            }
            let url = origin.join(template).ok()?;
            Some(CachedUrl {
                template: template.to_string(),
                request_name: Arc::from(request_name(method, url.as_str())),
                page_name: Arc::from(page_name(url.as_str())),
                url,
            })
        };
        let steps = flow
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                let network = step.network.as_ref();
                CachedStep {
                    label: Arc::from(step_label(index, step)),
                    requests: network
                        .map(|n| {
                            n.requests
                                .iter()
                                .map(|r| cache_url(&r.method, &r.url))
                                .collect()
                        })
                        .unwrap_or_default(),
                    polling: network
                        .map(|n| {
                            n.polling
                                .iter()
                                .map(|p| cache_url(&p.method, &p.url))
                                .collect()
                        })
                        .unwrap_or_default(),
                    messages: network
                        .map(|n| {
                            n.web_sockets
                                .iter()
                                .map(|ws| ws.sent.iter().map(fixed_message).collect())
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
        StepCache { steps }
    }

    /// The step's metric label, when cached.
    pub fn label(&self, step: usize) -> Option<&Arc<str>> {
        self.steps.get(step).map(|s| &s.label)
    }

    /// The parsed URL of the step's `index`-th recorded request, when it has no variables.
    pub fn request(&self, step: usize, index: usize, template: &str) -> Option<&CachedUrl> {
        let cached = self.steps.get(step)?.requests.get(index)?.as_ref()?;
        (cached.template == template).then_some(cached)
    }

    /// The `message`-th message the step's `socket`-th WebSocket sends, built once when it has
    /// no variables (cloning it shares its payload).
    pub fn message(&self, step: usize, socket: usize, message: usize) -> Option<&Message> {
        self.steps
            .get(step)?
            .messages
            .get(socket)?
            .get(message)?
            .as_ref()
    }

    /// The parsed URL of the step's `index`-th poller, when it has no variables.
    pub fn poller(&self, step: usize, index: usize, template: &str) -> Option<&CachedUrl> {
        let cached = self.steps.get(step)?.polling.get(index)?.as_ref()?;
        (cached.template == template).then_some(cached)
    }
}

/// A recorded message as sent: binary decoded from base64 (sent empty if it does not decode),
/// text as it is; `None` for text with `${variables}` (filled per user).
pub fn fixed_message(recorded: &WebSocketMessage) -> Option<Message> {
    use base64::Engine as _;
    if recorded.binary {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&recorded.data)
            .unwrap_or_default();
        return Some(Message::Binary(bytes.into()));
    }
    (!recorded.data.contains("${")).then(|| Message::Text(recorded.data.clone().into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Action, Network, RecordedRequest, Step};

    fn step(urls: &[&str]) -> Step {
        let mut step: Step = serde_json::from_value(serde_json::json!({
            "type": "navigate", "url": urls[0]
        }))
        .unwrap();
        step.network = Some(Network {
            requests: urls
                .iter()
                .map(|u| RecordedRequest {
                    method: "get".into(),
                    ..RecordedRequest::document_get(*u)
                })
                .collect(),
            ..Network::default()
        });
        step
    }

    #[test]
    fn fixed_urls_are_parsed_once_and_templates_with_variables_are_not() {
        let mut flow: Flow =
            serde_json::from_value(serde_json::json!({"title": "t", "steps": []})).unwrap();
        flow.steps
            .push(step(&["/a?x=1", "http://other:9/b", "/u/${id}"]));
        let origin = Url::parse("http://127.0.0.1:8080").unwrap();
        let cache = StepCache::new(&flow, &origin);
        let a = cache.request(0, 0, "/a?x=1").unwrap();
        assert_eq!(a.url.as_str(), "http://127.0.0.1:8080/a?x=1");
        assert_eq!(&*a.request_name, "GET http://127.0.0.1:8080/a");
        assert_eq!(&*a.page_name, "http://127.0.0.1:8080/a");
        assert_eq!(
            cache
                .request(0, 1, "http://other:9/b")
                .unwrap()
                .url
                .as_str(),
            "http://other:9/b"
        );
        assert!(cache.request(0, 2, "/u/${id}").is_none());
        // A template other than the cached one (the flow changed) is not served.
        assert!(cache.request(0, 0, "/changed").is_none());
        assert!(cache.request(1, 0, "/a?x=1").is_none());
        assert_eq!(&**cache.label(0).unwrap(), "1 navigate /a");
        assert!(matches!(flow.steps[0].action, Action::Navigate { .. }));
    }
}
