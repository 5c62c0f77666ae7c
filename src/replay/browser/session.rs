//! One session: an isolated browser context with one page at about:blank, listeners
//! attached before anything loads, then the flow's steps, the dwell, and disposal.
//! A collector task drains every listener for the whole session (the channels are
//! unbounded) and turns events into samples.

use super::events::{collect, listen, target_events};
use super::evidence::ConsoleErrors;
use super::netlog::{FailedRequest, LastResponses, NetLog};
use super::process::ChromeProcess;
use super::sockets::Sockets;
use super::steps::{StepError, StepRunner};
use super::timing::{PageTimings, BINDING, FLUSH, SCRIPT};
use super::trace_context::PageTrace;
use super::{BrowserKind, Session, SessionOutcome};
use crate::metrics::sessions::BODY_CAP;
use crate::metrics::{request_name, Sink};
use crate::replay::conditions::Conditions;
use crate::replay::fill::{fill, Place};
use crate::replay::handoff::HandoffTo;
use crate::replay::hosts::HostPolicy;
use crate::sync::Locked;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::emulation::{
    SetCpuThrottlingRateParams, SetScriptExecutionDisabledParams,
};
use chromiumoxide::cdp::browser_protocol::fetch::{
    self, EventRequestPaused, RequestPattern, RequestStage,
};
use chromiumoxide::cdp::browser_protocol::log::DisableParams as LogDisableParams;
use chromiumoxide::cdp::browser_protocol::network::EnableParams as NetworkEnableParams;
use chromiumoxide::cdp::browser_protocol::network::{
    BlockPattern, ErrorReason, ResourceType, SetBlockedUrLsParams,
};
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, NavigateParams,
};
use chromiumoxide::cdp::browser_protocol::performance::DisableParams as PerformanceDisableParams;
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use chromiumoxide::cdp::js_protocol::runtime::AddBindingParams;
use chromiumoxide::Page;
use futures::{FutureExt, StreamExt};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use url::Url;

/// How long a finished session waits for requests in flight (a poll sent just before the
/// end) so they are counted like the server counts them. Endless streams just time out.
const LEAVE_GRACE: Duration = Duration::from_secs(2);
/// How long a finished session waits for the timing reports of pages that fired their load
/// event (the page's script sends them right after it).
const REPORT_GRACE: Duration = Duration::from_secs(1);
/// How long leaving the page (about:blank) may take before the context is disposed anyway.
const LEAVE_LIMIT: Duration = Duration::from_secs(2);

/// What the pool hands every session.
pub(crate) struct SessionEnv<'p> {
    pub proc: &'p ChromeProcess,
    pub sink: &'p Sink,
    pub allow_hosts: &'p [String],
    pub step_timeout: Duration,
    pub failures_dir: Option<&'p std::path::Path>,
    /// The run's hard deadline (see [`super::BrowserOptions::deadline`]).
    pub deadline: &'p CancellationToken,
    /// How long a user told to leave waits for its page's requests in flight.
    pub drain: Duration,
    /// CPU throttling of the session's page (`--cpu-slowdown`).
    pub cpu_slowdown: Option<f64>,
    /// The session's network conditions (`--network`).
    pub network: Option<Conditions>,
}

/// State the collector publishes for the step runner.
pub(crate) struct PageState {
    /// Index of the step running (or the last one run): requests are attributed to it.
    pub step: AtomicU32,
    /// Number of main-frame load events so far.
    pub loads: watch::Sender<u64>,
    /// Requests in flight (published by the collector after each event).
    pub in_flight: AtomicUsize,
    /// Loaded documents whose timing report has not arrived (published like `in_flight`).
    pub awaiting_reports: AtomicUsize,
    /// The session is leaving its page: requests the browser cancels now are the session's
    /// end (counted `interrupted`), not a page navigating away.
    pub leaving: AtomicBool,
    /// The page's console errors, the first few per step (shown when a step fails).
    pub console: Mutex<ConsoleErrors>,
    pub last: Mutex<LastResponses>,
    /// Document and AJAX requests that failed, for the step checks (taken by the steps).
    pub failed: Mutex<Vec<FailedRequest>>,
    /// When each step started (wall clock, ms since the epoch, as the page's timeOrigin):
    /// an interaction the page reports later is the step's running when it happened.
    pub step_starts: Mutex<Vec<(u32, f64)>>,
    /// (step, request name) of the state-changing requests (not GET or HEAD) the page sent,
    /// for the step checks: a save the recording saw and the replay never sent fails its step.
    pub sent: Mutex<HashSet<(u32, String)>>,
    /// (origin, value) of the last `Authorization` the page sent to each origin (`--login`).
    pub authorization: Mutex<Vec<(String, String)>>,
}

impl PageState {
    pub fn step_started(&self, step: u32) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        // Bounded by the flow's steps: each runs once per session.
        self.step_starts.locked().push((step, now));
    }

    /// The step running at a wall time (ms since the epoch).
    pub fn step_at(&self, wall_ms: f64) -> Option<u32> {
        let starts = self.step_starts.locked();
        starts.iter().rev().find(|s| s.1 <= wall_ms).map(|s| s.0)
    }
}

/// Runs one session with the values its iteration drew (the caller draws, as for HTTP mode);
/// never returns an `Err`: every ending is an outcome. With `handoff` (a `--login` session),
/// a session whose steps all passed sends what it hands its HTTP users there before it
/// leaves its page (they need not wait for that).
pub(crate) async fn run(
    env: SessionEnv<'_>,
    s: Session<'_>,
    handoff: Option<HandoffTo>,
) -> SessionOutcome {
    let cdp_timeout = Duration::from_secs(30);
    let ctx = tokio::time::timeout(
        cdp_timeout,
        env.proc
            .browser
            .create_browser_context(CreateBrowserContextParams::default()),
    )
    .await;
    let ctx = match ctx {
        Ok(Ok(id)) => id,
        Ok(Err(e)) => return lost_or_failed(&env, &s, format!("create browser context: {e}")),
        Err(_) => return lost_or_failed(&env, &s, "create browser context: timed out".into()),
    };
    let cancel = s.cancel.clone();
    let result = in_context(&env, &ctx, s, handoff).await;
    if !env.proc.is_dead() {
        // Disposing the context closes its page and ends its listeners. At the run's end
        // it is not waited for long (the browsers are closed right after).
        let wait = if cancel.is_cancelled() {
            Duration::from_millis(500)
        } else {
            cdp_timeout
        };
        let _ = tokio::time::timeout(wait, env.proc.browser.dispose_browser_context(ctx)).await;
    }
    match result {
        Ok(()) => SessionOutcome::Completed,
        Err(_) if env.proc.is_dead() => SessionOutcome::Lost,
        Err(StepError::Cancelled) => SessionOutcome::Cancelled,
        Err(_) if cancel.is_cancelled() => SessionOutcome::Cancelled,
        Err(StepError::Lost) => SessionOutcome::Lost,
        Err(StepError::Failed(msg)) => SessionOutcome::Failed(msg),
    }
}

fn lost_or_failed(env: &SessionEnv<'_>, s: &Session<'_>, msg: String) -> SessionOutcome {
    if env.proc.is_dead() {
        SessionOutcome::Lost
    } else if s.cancel.is_cancelled() {
        SessionOutcome::Cancelled
    } else {
        SessionOutcome::Failed(msg)
    }
}

async fn in_context(
    env: &SessionEnv<'_>,
    ctx: &BrowserContextId,
    s: Session<'_>,
    handoff: Option<HandoffTo>,
) -> Result<(), StepError> {
    let origin = s.flow.origin.clone();
    // The page's own requests stay on its hosts (the block list) and so do its navigations
    // (iframes, redirect hops: paused and let through or failed here, host by host); its
    // popups and workers get the same rules from the target watch, which holds them until
    // they do.
    let blocked = SetBlockedUrLsParams {
        url_patterns: Some(block_patterns(&s.flow.origin, env.allow_hosts)),
    };
    let hosts = HostPolicy::new(std::slice::from_ref(&s.flow.origin), env.allow_hosts);
    let (registration, extra) = env.proc.targets.register(
        ctx.inner(),
        hosts.clone(),
        serde_json::to_value(&blocked).unwrap_or_default(),
        // The headless shell has no popup blocker; full Chromium blocks them itself.
        env.proc.kind == BrowserKind::HeadlessShell,
    );
    let params = CreateTargetParams::builder()
        .url("about:blank")
        .browser_context_id(ctx.clone())
        .build()
        .map_err(StepError::Failed)?;
    let page = cdp(env, "open page", env.proc.browser.new_page(params)).await?;
    let state = Arc::new(PageState {
        step: AtomicU32::new(0),
        loads: watch::channel(0).0,
        in_flight: AtomicUsize::new(0),
        awaiting_reports: AtomicUsize::new(0),
        leaving: AtomicBool::new(false),
        console: Mutex::new(ConsoleErrors::default()),
        last: Mutex::new(LastResponses::default()),
        failed: Mutex::new(Vec::new()),
        step_starts: Mutex::new(Vec::new()),
        sent: Mutex::new(HashSet::new()),
        authorization: Mutex::new(Vec::new()),
    });
    // Listeners first, then the page-timing hook and host blocking, then (in the steps)
    // the first navigation: nothing the page loads can be missed.
    let mut events = listen(env, &page).await?;
    events.push(target_events(extra, env.sink.clone()));
    let pollers: HashSet<String> = s
        .flow
        .pollers
        .iter()
        .filter_map(|p| {
            Some(request_name(
                &p.method,
                &fill(s.vars, &p.url, Place::Url).ok()?,
            ))
        })
        .collect();
    let streams: HashSet<String> = s
        .flow
        .streams
        .iter()
        .filter_map(|p| {
            Some(request_name(
                &p.method,
                &fill(s.vars, &p.url, Place::Url).ok()?,
            ))
        })
        .collect();
    let netlog = NetLog::new(
        s.flow.name.clone(),
        s.recorder.clone(),
        env.sink.clone(),
        pollers,
        page.target_id().inner().clone(),
    )
    .with_streams(streams)
    .with_expected(super::checks::expected_statuses(&s.flow.flow, s.vars));
    let timings = PageTimings::new(s.flow.name.clone(), s.recorder.clone(), env.sink.clone());
    let sockets = Sockets::new(s.flow.name.clone(), s.recorder.clone(), env.sink.clone());
    let stop = CancellationToken::new();
    // A session aborted mid-way (a user not gone at the end of the wind-down) still has
    // its collector record what it saw.
    let _stop_on_drop = stop.clone().drop_guard();
    let collector = tokio::spawn(collect(
        events,
        (netlog, sockets),
        timings,
        (state.clone(), registration),
        stop.clone(),
    ));
    if let Some(rate) = env.cpu_slowdown {
        cdp(
            env,
            "throttle the CPU",
            page.execute(SetCpuThrottlingRateParams::new(rate)),
        )
        .await?;
    }
    if let Some(conditions) = env.network.filter(|c| !c.is_unthrottled()) {
        cdp(
            env,
            "emulate the network",
            page.execute(super::steps::emulate_network(&conditions)),
        )
        .await?;
    }
    cdp(
        env,
        "add binding",
        page.execute(AddBindingParams::new(BINDING)),
    )
    .await?;
    cdp(
        env,
        "add timing script",
        page.execute(AddScriptToEvaluateOnNewDocumentParams::new(SCRIPT)),
    )
    .await?;
    cdp(env, "block other hosts", page.execute(blocked)).await?;
    let paused = cdp(env, "listen", page.event_listener::<EventRequestPaused>()).await?;
    // `--trace`: every request to the flow's origin is paused too, for its trace headers.
    let traced = s
        .recorder
        .trace()
        .map(|t| PageTrace::new(t.clone(), state.clone(), page.target_id().inner().clone()));
    let documents = RequestPattern::builder()
        .url_pattern("*")
        .resource_type(ResourceType::Document)
        .request_stage(RequestStage::Request)
        .build();
    let mut intercept = fetch::EnableParams::builder().pattern(documents);
    if let Some(t) = &traced {
        intercept = intercept.pattern(t.pattern());
    }
    let intercept = intercept.build();
    let gate = tokio::spawn(gate_documents(page.clone(), paused, hosts, traced));
    cdp(env, "gate documents", page.execute(intercept)).await?;
    quiet(env, &page, s.recorder.capture().is_some()).await?;

    let result = StepRunner {
        page: &page,
        state: &state,
        proc: env.proc,
        sink: env.sink,
        default_timeout: env.step_timeout,
        failures_dir: env.failures_dir,
        deadline: env.deadline,
        expects: super::checks::has_expectations(&s.flow.flow),
        session: s,
    }
    .run()
    .await;
    let result = match (result, handoff) {
        (Ok(()), Some(out)) => {
            super::handoff::capture(env, ctx, &page, &state, &origin, &out.names)
                .await
                .map(|h| drop(out.to.send(h)))
        }
        (result, _) => result,
    };
    if !matches!(result, Err(StepError::Lost)) && !env.proc.is_dead() {
        // A user told to leave (the plan's end, a ramp-down) lets what is in flight finish,
        // up to the drain; a finished flow waits a little for a poll sent just before its end.
        let in_flight = match result {
            Ok(()) | Err(StepError::Failed(_)) => LEAVE_GRACE,
            _ => env.drain,
        };
        leave(&page, &state, in_flight, env.deadline).await;
    }
    stop.cancel();
    let _ = collector.await;
    gate.abort();
    result
}

/// Ends the page while every listener still runs, so each request the page sent is counted
/// once: the page reports the vitals its observers still hold, the timing reports of loaded
/// pages arrive, the page's scripts stop (no timer sends
/// another poll), requests already sent get up to `in_flight` to finish, then the page goes to
/// about:blank and what is still open ends as `interrupted`. Past the run's `deadline` it
/// leaves at once (users have 700 ms to wind down then).
async fn leave(page: &Page, state: &PageState, in_flight: Duration, deadline: &CancellationToken) {
    if !deadline.is_cancelled() {
        // A frame and a task at most, unless the page's main thread is busy.
        let flush = super::extract::evaluate(page, FLUSH);
        tokio::select! {
            _ = tokio::time::timeout(REPORT_GRACE, flush) => {}
            _ = deadline.cancelled() => {}
        }
    }
    let until = |done: fn(&PageState) -> bool, limit: Duration| async move {
        let wait = async {
            while !done(state) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            _ = tokio::time::timeout(limit, wait) => {}
            _ = deadline.cancelled() => {}
        }
    };
    until(
        |s| s.awaiting_reports.load(Ordering::Relaxed) == 0,
        REPORT_GRACE,
    )
    .await;
    let limit = if deadline.is_cancelled() {
        Duration::from_millis(200)
    } else {
        LEAVE_LIMIT
    };
    let _ = tokio::time::timeout(
        limit,
        page.execute(SetScriptExecutionDisabledParams::new(true)),
    )
    .await;
    until(|s| s.in_flight.load(Ordering::Relaxed) == 0, in_flight).await;
    state.leaving.store(true, Ordering::Relaxed);
    let limit = if deadline.is_cancelled() {
        Duration::from_millis(200)
    } else {
        LEAVE_LIMIT
    };
    let _ = tokio::time::timeout(limit, page.execute(NavigateParams::new("about:blank"))).await;
    // The cancellations of what was still open arrive within milliseconds.
    let wait = async {
        while state.in_flight.load(Ordering::Relaxed) != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let _ = tokio::time::timeout(limit.min(Duration::from_millis(500)), wait).await;
}

/// Answers every paused request (documents; with `--trace` every request to the flow's
/// origin): continued when its host is allowed (with its trace headers when traced), failed
/// as blocked by the client otherwise (the failure then reaches the network log as
/// `blocked`). Answers go out without waiting for each other: a page's burst of requests is
/// not serialized behind CDP round trips.
async fn gate_documents(
    page: Page,
    mut paused: chromiumoxide::listeners::EventStream<EventRequestPaused>,
    hosts: HostPolicy,
    traced: Option<PageTrace>,
) {
    let mut answers = futures::stream::FuturesUnordered::new();
    loop {
        let ev = tokio::select! {
            ev = paused.next() => match ev {
                Some(ev) => ev,
                None => break,
            },
            Some(()) = answers.next(), if !answers.is_empty() => continue,
        };
        let allowed = Url::parse(&ev.request.url).is_ok_and(|u| hosts.allows(&u));
        let page = page.clone();
        let answer = if allowed {
            let params = match &traced {
                Some(t) => t.continue_params(&ev),
                None => fetch::ContinueRequestParams::new(ev.request_id.clone()),
            };
            async move { drop(page.execute(params).await) }.boxed()
        } else {
            let params =
                fetch::FailRequestParams::new(ev.request_id.clone(), ErrorReason::BlockedByClient);
            async move { drop(page.execute(params).await) }.boxed()
        };
        answers.push(answer);
    }
}

/// Turns off what chromiumoxide enables on every page but throng never reads: the
/// Performance and Log domains, and the copy of every response body that Network.enable
/// keeps for Network.getResponseBody (measured: about 9% less CPU per page load). A session
/// that may be kept whole (`--keep-sessions`) still gets its requests' post data.
async fn quiet(env: &SessionEnv<'_>, page: &Page, keeping: bool) -> Result<(), StepError> {
    cdp(
        env,
        "quiet",
        page.execute(PerformanceDisableParams::default()),
    )
    .await?;
    cdp(env, "quiet", page.execute(LogDisableParams::default())).await?;
    let network = NetworkEnableParams::builder()
        .max_total_buffer_size(0)
        .max_resource_buffer_size(0)
        .max_post_data_size(if keeping { BODY_CAP as i64 } else { 0 })
        .build();
    cdp(env, "quiet", page.execute(network)).await?;
    Ok(())
}

/// A CDP call bounded in time; an error on a dead browser is a lost session.
pub(crate) async fn cdp<T, E: std::fmt::Display>(
    env: &SessionEnv<'_>,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, StepError> {
    match tokio::time::timeout(Duration::from_secs(30), fut).await {
        Ok(Ok(v)) => Ok(v),
        _ if env.proc.is_dead() => Err(StepError::Lost),
        Ok(Err(e)) => Err(StepError::Failed(format!("{what}: {e}"))),
        Err(_) => Err(StepError::Failed(format!(
            "{what}: no answer from the browser in 30s"
        ))),
    }
}

/// Allowed: the flow origin's host (any port) and `--allow-host` entries (`host` or
/// `host:port`); every other http(s)/ws(s) URL is blocked. First matching pattern wins.
pub(crate) fn block_patterns(origin: &Url, allow: &[String]) -> Vec<BlockPattern> {
    let mut out = Vec::new();
    let mut allow_host = |host: &str| {
        let (host, port) = match host.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.is_empty() => (h, p),
            _ => (host, "*"),
        };
        out.push(BlockPattern::new(format!("*://{host}:{port}/*"), false));
    };
    if let Some(host) = origin.host_str() {
        allow_host(host);
    }
    for h in allow {
        allow_host(h.trim());
    }
    for scheme in ["http", "https", "ws", "wss"] {
        out.push(BlockPattern::new(format!("{scheme}://*:*/*"), true));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_host_and_allowed_hosts_come_before_the_block_rules() {
        let origin = Url::parse("http://127.0.0.1:8080/").unwrap();
        let p = block_patterns(&origin, &["cdn.example:443".into(), "fonts.example".into()]);
        let pats: Vec<(&str, bool)> = p
            .iter()
            .map(|b| (b.url_pattern.as_str(), b.block))
            .collect();
        assert_eq!(
            pats[..3],
            [
                ("*://127.0.0.1:*/*", false),
                ("*://cdn.example:443/*", false),
                ("*://fonts.example:*/*", false)
            ]
        );
        assert!(pats[3..].iter().all(|(_, block)| *block));
    }
}
