//! Every target a page makes besides itself (its Web Workers, the popups it opens), held
//! before it runs until its session is ready for it: a second CDP connection per browser
//! auto-attaches to each new target with the debugger waiting, routes the target's network
//! events to the session of its browser context, applies the run's host rules to popups, and
//! closes popups a page opened without a user gesture, as a browser's popup blocker does (the
//! headless shell has none).
//!
//! A second connection because chromiumoxide resumes the workers it attaches at once and gives
//! no way to address a target session of its own; Chromium waits until every client that
//! asked to hold a new target has let it run.

use crate::metrics::Sink;
use crate::replay::hosts::HostPolicy;
use crate::sync::Locked;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use throng_recorder::cdp::{Cdp, CdpError, Event};
use tokio::sync::{mpsc, Notify};
use url::Url;

/// How long a popup waits for the `Page.windowOpen` that says whether a gesture opened it.
const WINDOW_OPEN_WAIT: Duration = Duration::from_secs(1);
/// A window-open notice older than this belongs to no popup (one the page never got).
const WINDOW_OPEN_STALE: Duration = Duration::from_secs(2);

/// A network event of a session's extra target: (method, params).
pub(crate) type TargetEvent = (String, Value);

/// What a session tells the watch about the targets of its browser context.
pub(crate) struct Owner {
    events: mpsc::UnboundedSender<TargetEvent>,
    hosts: HostPolicy,
    /// `Network.setBlockedURLs` parameters: the session's block list.
    blocked: Value,
    /// Recent `Page.windowOpen` notices: (when, opened by a user gesture).
    opens: Mutex<VecDeque<(Instant, bool)>>,
    opened: Notify,
    /// Close popups opened without a gesture (the browser has no popup blocker of its own).
    block_popups: bool,
}

impl Owner {
    /// The page (or one of its popups) is opening a window.
    pub fn window_opened(&self, user_gesture: bool) {
        let mut opens = self.opens.locked();
        opens.retain(|(at, _)| at.elapsed() < WINDOW_OPEN_STALE);
        opens.push_back((Instant::now(), user_gesture));
        drop(opens);
        self.opened.notify_waiters();
    }

    /// Whether the popup attached now was opened by a gesture (None: no notice came).
    async fn popup_gesture(&self) -> Option<bool> {
        let deadline = tokio::time::Instant::now() + WINDOW_OPEN_WAIT;
        loop {
            let notified = self.opened.notified();
            {
                let mut opens = self.opens.locked();
                opens.retain(|(at, _)| at.elapsed() < WINDOW_OPEN_STALE);
                if let Some((_, gesture)) = opens.pop_front() {
                    return Some(gesture);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

#[derive(Default)]
struct Registry {
    /// Browser context -> its session, and whether its own page has attached yet.
    contexts: HashMap<String, (Arc<Owner>, bool)>,
    /// Attached target session -> the browser context it belongs to.
    sessions: HashMap<String, String>,
}

/// The watch on one browser's new targets.
pub(crate) struct TargetWatch {
    registry: Arc<Mutex<Registry>>,
    _cdp: Arc<Cdp>,
    task: tokio::task::JoinHandle<()>,
}

/// A session's registration; dropping it forgets the context.
pub(crate) struct Registration {
    registry: Weak<Mutex<Registry>>,
    context: String,
    owner: Arc<Owner>,
}

impl Registration {
    pub fn owner(&self) -> &Arc<Owner> {
        &self.owner
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(r) = self.registry.upgrade() {
            let mut r = r.locked();
            r.contexts.remove(&self.context);
            r.sessions.retain(|_, c| *c != self.context);
        }
    }
}

impl TargetWatch {
    /// Connects to the browser at `ws_url` and holds every new target from now on.
    pub async fn start(ws_url: &str, sink: Sink) -> Result<TargetWatch, CdpError> {
        let (cdp, events) = Cdp::connect(ws_url).await?;
        let cdp = Arc::new(cdp);
        cdp.call(
            "Target.setAutoAttach",
            json!({"autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true}),
            None,
        )
        .await?;
        let registry = Arc::new(Mutex::new(Registry::default()));
        let task = tokio::spawn(watch(cdp.clone(), events, registry.clone(), sink));
        Ok(TargetWatch {
            registry,
            _cdp: cdp,
            task,
        })
    }

    /// Registers the browser context of a session before its page is created: its first page
    /// is the session's own, every other page in it is a popup. Events of its extra targets
    /// arrive on the returned receiver.
    pub fn register(
        &self,
        context: &str,
        hosts: HostPolicy,
        blocked: Value,
        block_popups: bool,
    ) -> (Registration, mpsc::UnboundedReceiver<TargetEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let owner = Arc::new(Owner {
            events: tx,
            hosts,
            blocked,
            opens: Mutex::new(VecDeque::new()),
            opened: Notify::new(),
            block_popups,
        });
        self.registry
            .locked()
            .contexts
            .insert(context.to_string(), (owner.clone(), false));
        let reg = Registration {
            registry: Arc::downgrade(&self.registry),
            context: context.to_string(),
            owner,
        };
        (reg, rx)
    }
}

impl Drop for TargetWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What an attached target is to the watch.
enum Attached {
    /// A session's own page (or a target of no session): it may run once its own new
    /// targets will be held too.
    Page,
    /// A popup of this session.
    Popup(Arc<Owner>),
    /// A worker of this session.
    Worker(Arc<Owner>),
    /// Anything else: let it run.
    Other,
}

async fn watch(
    cdp: Arc<Cdp>,
    mut events: mpsc::UnboundedReceiver<Event>,
    registry: Arc<Mutex<Registry>>,
    sink: Sink,
) {
    while let Some(ev) = events.recv().await {
        match ev.method.as_str() {
            "Target.attachedToTarget" => {
                let Some(session) = ev.params["sessionId"].as_str().map(String::from) else {
                    continue;
                };
                let info = &ev.params["targetInfo"];
                let kind = classify(
                    &mut registry.locked(),
                    &session,
                    ev.session_id.as_deref(),
                    info,
                );
                let target = info["targetId"].as_str().unwrap_or_default().to_string();
                let up = set_up(
                    cdp.clone(),
                    registry.clone(),
                    session,
                    target,
                    kind,
                    sink.clone(),
                );
                tokio::spawn(up);
            }
            "Target.detachedFromTarget" => {
                if let Some(s) = ev.params["sessionId"].as_str() {
                    registry.locked().sessions.remove(s);
                }
            }
            method => {
                let Some(owner) = ev
                    .session_id
                    .as_deref()
                    .and_then(|s| owner_of(&registry, s))
                else {
                    continue;
                };
                if method.starts_with("Network.") {
                    let _ = owner.events.send((ev.method, ev.params));
                } else if method == "Fetch.requestPaused" {
                    let session = ev.session_id.unwrap_or_default();
                    tokio::spawn(gate(cdp.clone(), session, ev.params, owner));
                } else if method == "Page.windowOpen" {
                    owner.window_opened(ev.params["userGesture"].as_bool().unwrap_or(false));
                }
            }
        }
    }
}

fn owner_of(registry: &Mutex<Registry>, session: &str) -> Option<Arc<Owner>> {
    let r = registry.locked();
    let context = r.sessions.get(session)?;
    r.contexts.get(context).map(|(o, _)| o.clone())
}

/// Files a newly attached target under its session (by browser context, or by the session
/// that attached it) and says what it is.
fn classify(r: &mut Registry, session: &str, parent: Option<&str>, info: &Value) -> Attached {
    let context = info["browserContextId"].as_str().unwrap_or_default();
    let context = match parent.and_then(|p| r.sessions.get(p)) {
        Some(c) => c.clone(),
        None => context.to_string(),
    };
    let Some((owner, own_page_seen)) = r.contexts.get_mut(&context) else {
        return match info["type"].as_str() {
            Some("page") => Attached::Page,
            _ => Attached::Other,
        };
    };
    let owner = owner.clone();
    let kind = match info["type"].as_str() {
        Some("page") if !*own_page_seen => {
            *own_page_seen = true;
            Attached::Page
        }
        Some("page") => Attached::Popup(owner),
        Some("worker") => Attached::Worker(owner),
        _ => return Attached::Other,
    };
    r.sessions.insert(session.to_string(), context);
    kind
}

/// Prepares an attached target for its session, then lets it run (always, even when a step
/// failed: a target left waiting would hang its page).
async fn set_up(
    cdp: Arc<Cdp>,
    registry: Arc<Mutex<Registry>>,
    session: String,
    target: String,
    kind: Attached,
    sink: Sink,
) {
    let s = Some(session.as_str());
    let hold_children =
        json!({"autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true});
    match kind {
        Attached::Page => {
            let _ = cdp.call("Target.setAutoAttach", hold_children, s).await;
        }
        Attached::Worker(owner) => {
            let _ = cdp.call("Network.enable", quiet_network(), s).await;
            let _ = cdp
                .call("Network.setBlockedURLs", owner.blocked.clone(), s)
                .await;
            let _ = cdp.call("Target.setAutoAttach", hold_children, s).await;
            sink.count("workers.attached", 1);
        }
        Attached::Popup(owner) => {
            let documents = json!({"patterns": [
                {"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"}
            ]});
            if owner.block_popups && owner.popup_gesture().await == Some(false) {
                // What a browser's popup blocker does: the window never loads. It runs (its
                // navigation held: no gate answers it) before it closes: closing a waiting
                // target hangs its opener.
                registry.locked().sessions.remove(&session);
                let _ = cdp.call("Fetch.enable", documents, s).await;
                let _ = cdp
                    .call("Runtime.runIfWaitingForDebugger", json!({}), s)
                    .await;
                let _ = cdp
                    .call("Target.closeTarget", json!({"targetId": target}), None)
                    .await;
                sink.count("popups.blocked", 1);
                return;
            }
            let _ = cdp.call("Network.enable", quiet_network(), s).await;
            let _ = cdp
                .call("Network.setBlockedURLs", owner.blocked.clone(), s)
                .await;
            // Its navigations pass the host gate, as the session's own page's do.
            let _ = cdp.call("Fetch.enable", documents, s).await;
            let _ = cdp.call("Page.enable", json!({}), s).await;
            let _ = cdp.call("Target.setAutoAttach", hold_children, s).await;
            sink.count("popups.opened", 1);
        }
        Attached::Other => {}
    }
    let _ = cdp
        .call("Runtime.runIfWaitingForDebugger", json!({}), s)
        .await;
}

/// A popup's navigation: through when its host is allowed, failed as blocked otherwise.
async fn gate(cdp: Arc<Cdp>, session: String, params: Value, owner: Arc<Owner>) {
    let id = params["requestId"].clone();
    let allowed = params["request"]["url"]
        .as_str()
        .and_then(|u| Url::parse(u).ok())
        .is_some_and(|u| owner.hosts.allows(&u));
    let (method, args) = if allowed {
        ("Fetch.continueRequest", json!({"requestId": id}))
    } else {
        (
            "Fetch.failRequest",
            json!({"requestId": id, "errorReason": "BlockedByClient"}),
        )
    };
    let _ = cdp.call(method, args, Some(&session)).await;
}

/// Network events without the response bodies CDP would otherwise keep.
fn quiet_network() -> Value {
    json!({"maxTotalBufferSize": 0, "maxResourceBufferSize": 0, "maxPostDataSize": 0})
}
