//! Background polling timers of an open page (the JavaScript `setInterval` a real tab runs),
//! and the streams it holds open (EventSource, WebSocket), all stopped when the page closes.

use super::client::{Request, Tag, UserClient};
use crate::flow::Poller;
use crate::metrics::SampleKind;
use http::Method;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

/// The timers of the page a user has open; dropped or stopped when the page changes. Holds
/// nothing until a timer starts (most pages have none, and every page load makes one).
#[derive(Default)]
pub struct OpenPage {
    timers: Option<(CancellationToken, JoinSet<()>)>,
    /// WebSockets of the page with when each is due to open; each token fires once its
    /// opening attempt ended (open, refused, timed out or stopped).
    opening: Vec<(Option<Instant>, CancellationToken)>,
}

impl OpenPage {
    /// Starts a poller firing every `period` (first fire one period from now), with its
    /// request already filled in; it stops when the page closes or `cancel` fires.
    pub fn start(
        &mut self,
        cancel: &CancellationToken,
        client: Arc<UserClient>,
        poller: &Poller,
        request: Request,
        tag: Tag,
    ) {
        let period = Duration::from_millis(poller.period_ms.max(1));
        let (stop, tasks) = self
            .timers
            .get_or_insert_with(|| (cancel.child_token(), JoinSet::new()));
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut intended = Instant::now() + period;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(intended) => {}
                }
                let started = Instant::now();
                let late = started.saturating_duration_since(intended);
                // An in-flight request always finishes (bounded by the timeout), so every
                // request the server sees is also recorded.
                let _ = client.send_late(request.clone(), &tag, late, &[]).await;
                intended += period;
                // A poll slower than the period delays the next one; the lateness is
                // reported as coordinated-omission correction, not silently skipped.
            }
        });
    }

    /// Runs `task` (a stream the page holds open) until the page closes or `cancel` fires:
    /// the token it is given is cancelled then.
    pub fn hold<F>(&mut self, cancel: &CancellationToken, task: impl FnOnce(CancellationToken) -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, tasks) = self
            .timers
            .get_or_insert_with(|| (cancel.child_token(), JoinSet::new()));
        tasks.spawn(task(stop.clone()));
    }

    /// Notes a WebSocket due to open `at` (at once when None); returns the token its run fires
    /// when its opening attempt ended.
    pub fn socket_opening(&mut self, at: Option<Instant>) -> CancellationToken {
        let settled = CancellationToken::new();
        self.opening.push((at, settled.clone()));
        settled
    }

    /// Waits until every WebSocket due to be open by now has ended its opening handshake. A
    /// browser's page sends what the next action makes once it is connected; HTTP mode sends
    /// a socket's messages at their recorded offsets after it opened, so a slow handshake
    /// (a kernel starting) would otherwise push them past the steps that made them, or past
    /// the page's end. Bounded: the socket's own opening has the request timeout.
    pub async fn sockets_opened(&mut self) {
        let now = Instant::now();
        let due: Vec<CancellationToken> = self
            .opening
            .iter()
            .filter(|(at, _)| at.is_none_or(|at| at <= now))
            .map(|(_, t)| t.clone())
            .collect();
        for settled in due {
            settled.cancelled().await;
        }
        self.opening.retain(|(_, t)| !t.is_cancelled());
    }

    /// Stops every timer of the page and waits for them to end.
    pub async fn close(self) {
        if let Some((stop, mut tasks)) = self.timers {
            stop.cancel();
            while tasks.join_next().await.is_some() {}
        }
    }
}

/// The request a poller sends (url, headers and body already filled in; `name`: its
/// precomputed metric name). An error status its ticks answered when recorded is expected.
pub fn poll_request(
    poller: &Poller,
    url: Url,
    headers: Vec<(String, String)>,
    body: Option<String>,
    name: Option<Arc<str>>,
) -> Request {
    Request {
        method: Method::from_bytes(poller.method.as_bytes()).unwrap_or(Method::GET),
        url,
        headers,
        body,
        kind: SampleKind::Polling,
        name,
        expect: poller.status.filter(|s| *s >= 400),
    }
}
