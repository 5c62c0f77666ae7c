//! A session's CDP events: the listeners on its page (and on the extra targets the
//! [`super::targets`] watch routes to it), and the collector task that drains them all for the
//! whole session and turns them into samples.

use super::netlog::NetLog;
use super::session::{cdp, PageState, SessionEnv};
use super::sockets::Sockets;
use super::steps::StepError;
use super::targets::{Registration, TargetEvent};
use super::timing::{PageTimings, Report, BINDING};
use crate::metrics::request_name;
use crate::sync::Locked;
use chromiumoxide::cdp::browser_protocol::network::{
    EventEventSourceMessageReceived, EventLoadingFailed, EventLoadingFinished,
    EventRequestServedFromCache, EventRequestWillBeSent, EventResponseReceived,
    EventWebSocketClosed, EventWebSocketCreated, EventWebSocketFrameReceived,
    EventWebSocketFrameSent, EventWebSocketHandshakeResponseReceived,
    EventWebSocketWillSendHandshakeRequest,
};
use chromiumoxide::cdp::browser_protocol::page::{
    EventFrameNavigated, EventLoadEventFired, EventWindowOpen,
};
use chromiumoxide::cdp::js_protocol::runtime::{
    EventBindingCalled, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::Page;
use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(crate) enum Ev {
    Start(Arc<EventRequestWillBeSent>),
    Response(Arc<EventResponseReceived>),
    Cached(Arc<EventRequestServedFromCache>),
    Finished(Arc<EventLoadingFinished>),
    Failed(Arc<EventLoadingFailed>),
    Binding(Arc<EventBindingCalled>),
    /// The main frame's load event (CDP monotonic seconds).
    Load(f64),
    /// A frame committed a new document: (frame id, loader id).
    Navigated(String, String),
    /// The page is opening a window; true when a user gesture did it.
    WindowOpen(bool),
    Console(Arc<EventConsoleApiCalled>),
    Exception(Arc<EventExceptionThrown>),
    /// A page's live connections (WebSockets, EventSource messages).
    Live(LiveEv),
}

pub(crate) enum LiveEv {
    Created(Arc<EventWebSocketCreated>),
    Handshake(Arc<EventWebSocketWillSendHandshakeRequest>),
    Answered(Arc<EventWebSocketHandshakeResponseReceived>),
    Sent(Arc<EventWebSocketFrameSent>),
    Received(Arc<EventWebSocketFrameReceived>),
    Closed(Arc<EventWebSocketClosed>),
    Message(Arc<EventEventSourceMessageReceived>),
}

pub(crate) async fn listen(
    env: &SessionEnv<'_>,
    page: &Page,
) -> Result<SelectAll<BoxStream<'static, Ev>>, StepError> {
    let mut all: SelectAll<BoxStream<'static, Ev>> = SelectAll::new();
    macro_rules! on {
        ($t:ty, $f:expr) => {
            all.push(
                cdp(env, "listen", page.event_listener::<$t>())
                    .await?
                    .map($f)
                    .boxed(),
            )
        };
    }
    on!(EventRequestWillBeSent, Ev::Start);
    on!(EventResponseReceived, Ev::Response);
    on!(EventRequestServedFromCache, Ev::Cached);
    on!(EventLoadingFinished, Ev::Finished);
    on!(EventLoadingFailed, Ev::Failed);
    on!(EventBindingCalled, Ev::Binding);
    on!(EventLoadEventFired, |e| Ev::Load(*e.timestamp.inner()));
    on!(EventWindowOpen, |e| Ev::WindowOpen(e.user_gesture));
    on!(EventFrameNavigated, |e| Ev::Navigated(
        e.frame.id.inner().clone(),
        e.frame.loader_id.inner().clone()
    ));
    on!(EventConsoleApiCalled, Ev::Console);
    on!(EventExceptionThrown, Ev::Exception);
    on!(EventWebSocketCreated, |e| Ev::Live(LiveEv::Created(e)));
    on!(EventWebSocketWillSendHandshakeRequest, |e| Ev::Live(
        LiveEv::Handshake(e)
    ));
    on!(EventWebSocketHandshakeResponseReceived, |e| Ev::Live(
        LiveEv::Answered(e)
    ));
    on!(EventWebSocketFrameSent, |e| Ev::Live(LiveEv::Sent(e)));
    on!(EventWebSocketFrameReceived, |e| Ev::Live(LiveEv::Received(
        e
    )));
    on!(EventWebSocketClosed, |e| Ev::Live(LiveEv::Closed(e)));
    on!(EventEventSourceMessageReceived, |e| Ev::Live(
        LiveEv::Message(e)
    ));
    Ok(all)
}

/// How long a session's end waits for the handshake answers of sockets whose close was read
/// first (CDP's event types arrive on separate channels).
const ANSWER_LAG: std::time::Duration = std::time::Duration::from_millis(300);

pub(crate) async fn collect(
    mut events: SelectAll<BoxStream<'static, Ev>>,
    (mut log, mut sockets): (NetLog, Sockets),
    mut timings: PageTimings,
    (state, targets): (Arc<PageState>, Registration),
    stop: CancellationToken,
) {
    loop {
        let settle_at = log.next_settle();
        let settle = async {
            match settle_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = events.next() => match ev {
                // Its popup decides with it (see the target watch).
                Some(Ev::WindowOpen(gesture)) => targets.owner().window_opened(gesture),
                Some(ev) => handle(&mut log, &mut sockets, &mut timings, &state, ev),
                None => break, // the page is gone
            },
            _ = settle => {
                log.settle(Instant::now(), false);
                publish_failed(&mut log, &state);
                state.in_flight.store(log.in_flight(), Ordering::Relaxed);
            }
            _ = stop.cancelled() => break,
        }
    }
    // Whatever already arrived still counts.
    while let Some(Some(ev)) = events.next().now_or_never() {
        handle(&mut log, &mut sockets, &mut timings, &state, ev);
    }
    // A socket's close read before its handshake's answer: the answer is on another channel
    // and may still be on its way (a socket is refused only if none comes).
    let lag = tokio::time::Instant::now() + ANSWER_LAG;
    while sockets.awaiting_answers() {
        match tokio::time::timeout_at(lag, events.next()).await {
            Ok(Some(ev)) => handle(&mut log, &mut sockets, &mut timings, &state, ev),
            _ => break,
        }
    }
    sockets.finish();
    log.settle(Instant::now(), true);
    timings.finish();
    log.cancel_open();
    publish_failed(&mut log, &state);
}

/// Hands the requests that failed to the step checks.
fn publish_failed(log: &mut NetLog, state: &PageState) {
    let failed = log.take_failed();
    if !failed.is_empty() {
        // Bounded: a flow without expectations never takes them.
        let mut kept = state.failed.locked();
        let room = 32usize.saturating_sub(kept.len());
        kept.extend(failed.into_iter().take(room));
    }
}

/// Requests that change state (not GET, HEAD or OPTIONS) the page sent, by step (bounded).
fn note_sent(state: &PageState, e: &EventRequestWillBeSent, step: u32) {
    let method = e.request.method.to_ascii_uppercase();
    if matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        return;
    }
    let mut sent = state.sent.locked();
    if sent.len() < 1024 {
        sent.insert((step, request_name(&method, &e.request.url)));
    }
}

fn handle(
    log: &mut NetLog,
    sockets: &mut Sockets,
    timings: &mut PageTimings,
    state: &PageState,
    ev: Ev,
) {
    let step = state.step.load(Ordering::Relaxed);
    let leaving = state.leaving.load(Ordering::Relaxed);
    log.set_step(step);
    log.leaving = leaving;
    if leaving {
        // The session closes the page: its sockets close with it.
        sockets.page_leaving();
    }
    match ev {
        Ev::Start(e) => {
            if log.is_main_navigation(&e) {
                sockets.page_leaving();
                timings.on_document(
                    e.request_id.inner(),
                    &e.request.url,
                    *e.wall_time.inner(),
                    *e.timestamp.inner(),
                    step,
                );
            }
            note_sent(state, &e, step);
            super::handoff::note_authorization(state, &e);
            log.on_start(&e, step)
        }
        Ev::Live(live) => match live {
            LiveEv::Created(e) => sockets.on_created(&e, step),
            LiveEv::Handshake(e) => sockets.on_handshake_request(&e),
            LiveEv::Answered(e) => sockets.on_handshake_response(&e),
            LiveEv::Sent(e) => sockets.on_sent(&e),
            LiveEv::Received(e) => sockets.on_received(&e),
            LiveEv::Closed(e) => sockets.on_closed(&e),
            LiveEv::Message(e) => sockets.on_event_source_message(&e),
        },
        Ev::Response(e) => {
            log.on_response(&e);
            *state.last.locked() = log.last.clone();
        }
        Ev::Cached(e) => log.on_cached(&e),
        Ev::Finished(e) => log.on_finished(&e),
        Ev::Failed(e) => log.on_failed(&e),
        Ev::Binding(e) if e.name == BINDING => {
            if let Some(r) = Report::parse(&e.payload) {
                timings.on_report(r, step, &|wall_ms| state.step_at(wall_ms));
            }
        }
        Ev::Binding(_) => {}
        Ev::Console(e) => state.console.locked().on_console(&e, step),
        Ev::Exception(e) => state.console.locked().on_exception(&e, step),
        Ev::Load(ts) => {
            if !leaving {
                timings.on_load(ts);
            }
            state.loads.send_modify(|n| *n += 1);
        }
        Ev::Navigated(frame, loader) => log.on_frame_navigated(&frame, &loader),
        Ev::WindowOpen(_) => {}
    }
    publish_failed(log, state);
    state.in_flight.store(log.in_flight(), Ordering::Relaxed);
    state
        .awaiting_reports
        .store(timings.awaiting_reports(), Ordering::Relaxed);
}

/// The network events of the session's extra targets (workers, popups) as the page's own.
pub(crate) fn target_events(
    rx: mpsc::UnboundedReceiver<TargetEvent>,
    sink: crate::metrics::Sink,
) -> BoxStream<'static, Ev> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) })
        .filter_map(move |(method, params)| {
            let ev = parse_network(&method, params);
            if ev.is_none() && NETWORK_EVENTS.contains(&method.as_str()) {
                sink.count(&format!("cdp.parse_errors.{method}"), 1);
            }
            std::future::ready(ev)
        })
        .boxed()
}

/// The network events the collector reads.
const NETWORK_EVENTS: [&str; 5] = [
    "Network.requestWillBeSent",
    "Network.responseReceived",
    "Network.requestServedFromCache",
    "Network.loadingFinished",
    "Network.loadingFailed",
];

fn parse_network(method: &str, params: serde_json::Value) -> Option<Ev> {
    fn typed<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Option<Arc<T>> {
        serde_json::from_value(v).ok().map(Arc::new)
    }
    Some(match method {
        "Network.requestWillBeSent" => Ev::Start(typed(params)?),
        "Network.responseReceived" => Ev::Response(typed(params)?),
        "Network.requestServedFromCache" => Ev::Cached(typed(params)?),
        "Network.loadingFinished" => Ev::Finished(typed(params)?),
        "Network.loadingFailed" => Ev::Failed(typed(params)?),
        _ => return None,
    })
}
