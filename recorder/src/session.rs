//! One recording session: start the browser, attach to its tab, inject the capture script, feed
//! events to the live capture until the tab closes, the browser goes, Ctrl-C or stop; write the
//! flow (checkpoints on the way, so a crash keeps what was recorded) and end every process.

use crate::browser::BrowserProcess;
use crate::capture::{origin_of, Capture, RawStep};
use crate::cdp::{Cdp, Event};
use crate::live::{now_ms, Followup, Live, BINDING, WORLD};
use crate::{build, write_flow, EndReason, RecordError, RecordOptions, RecordSummary};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use throng_flow::Action;
use tokio::sync::mpsc;

const CAPTURE_JS: &str = include_str!("../js/capture.js");
/// In the page's own world (the capture script's world has its own `WebSocket`): says when the
/// page's script closes a socket, as a DOM event the capture script reports. CDP tells only
/// that a socket closed, not whether the page or the server closed it.
const SOCKET_CLOSE_HOOK: &str = "(() => { const close = WebSocket.prototype.close; \
  WebSocket.prototype.close = function (...args) { \
    try { document.dispatchEvent(new CustomEvent('__throngSocketClose', { detail: String(this.url) })); } catch (e) {} \
    return close.apply(this, args); }; })();";
/// How often the flow file is rewritten while recording (only when something changed).
const CHECKPOINT: Duration = Duration::from_secs(2);

enum Answer {
    Body(String, Option<String>),
    /// A paused answer went on without its body being read.
    Continued,
    PostData(String, Option<String>),
    StreamData(String, Option<String>),
}

/// Runs a recording to its end; see [`crate::record`].
pub async fn run(mut opts: RecordOptions) -> Result<RecordSummary, RecordError> {
    let origin = origin_of(&opts.url).ok_or_else(|| RecordError::BadUrl(opts.url.clone()))?;
    let mut browser = BrowserProcess::launch(&opts.chrome, opts.headless).await?;
    let ws_url = browser.ws_url.clone();
    let (cdp, mut events) = match Cdp::connect(&ws_url).await {
        Ok(c) => c,
        Err(e) => {
            browser.shutdown(None).await;
            return Err(RecordError::Cdp(e.to_string()));
        }
    };
    let cdp = Arc::new(cdp);
    let title = opts
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".into());
    let mut live = Live::new(Capture {
        title,
        origin,
        selector_attribute: opts.selector_attributes.first().cloned(),
        no_correlate: opts.no_correlate,
        ..Default::default()
    });
    let session = match setup(&cdp, &opts, &mut live).await {
        Ok(s) => s,
        Err(e) => {
            browser.shutdown(Some(&cdp)).await;
            return Err(RecordError::Cdp(e));
        }
    };

    // The first two steps: the viewport, then the navigation to the start URL.
    let t0 = now_ms();
    let viewport = viewport(&cdp, &session).await;
    live.push_step(RawStep::new(t0 - 1.0, viewport));
    live.push_step(RawStep::new(t0, Action::navigate(opts.url.clone())));
    live.expecting_initial = true;
    let nav = cdp
        .call("Page.navigate", json!({"url": opts.url}), Some(&session))
        .await;
    let nav_error = match nav {
        Ok(v) => v["errorText"]
            .as_str()
            .filter(|e| !e.is_empty())
            .map(String::from),
        Err(e) => Some(e.to_string()),
    };
    if let Some(reason) = nav_error {
        drain(&mut events, &session, &mut live);
        let steps = write(&live, &opts)?;
        browser.shutdown(Some(&cdp)).await;
        return Err(RecordError::Navigate {
            url: opts.url.clone(),
            reason,
            out: opts.out.clone(),
            steps,
        });
    }
    if let Some(ready) = opts.on_ready.take() {
        ready(ws_url.clone());
    }

    let (ans_tx, mut ans_rx) = mpsc::unbounded_channel::<Answer>();
    let mut outstanding = 0usize;
    let mut tick = tokio::time::interval(CHECKPOINT);
    let stop = opts.stop.clone();
    let ctrl_c = async {
        if opts.ctrl_c {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(ctrl_c);
    let ended = loop {
        tokio::select! {
            ev = events.recv() => match ev {
                None => break EndReason::BrowserExited,
                Some(ev) => {
                    if closes_tab(&ev, &session) {
                        break EndReason::TabClosed;
                    }
                    if let Some(f) = handle(&ev, &session, &mut live) {
                        outstanding += 1;
                        spawn_followup(&cdp, &session, f, ans_tx.clone());
                    }
                }
            },
            Some(a) = ans_rx.recv() => {
                outstanding = outstanding.saturating_sub(1);
                answer(&mut live, a);
            }
            _ = stop.cancelled() => break EndReason::Stopped,
            _ = &mut ctrl_c => break EndReason::Interrupted,
            _ = browser.exited() => break EndReason::BrowserExited,
            _ = tick.tick() => {
                if live.dirty {
                    live.dirty = false;
                    if let Err(e) = write(&live, &opts) {
                        tracing::warn!(target: "throng_recorder", "checkpoint failed: {e}");
                    }
                }
            }
        }
    };

    // The person stopped here: the time since the last step is the trailing dwell.
    live.cap.end_ms = Some(now_ms());
    // A tab that goes away with its browser is the browser going away; a browser that exits
    // cleanly was closed (the usual end), one killed by a signal or failing crashed.
    let ended = match ended {
        EndReason::TabClosed | EndReason::BrowserExited => {
            let wait = if ended == EndReason::TabClosed { 1 } else { 5 };
            match tokio::time::timeout(Duration::from_secs(wait), browser.exited()).await {
                Ok(Some(status)) if status.success() => EndReason::BrowserExited,
                Ok(_) => EndReason::BrowserCrashed,
                Err(_) if ended == EndReason::TabClosed => EndReason::TabClosed,
                Err(_) => EndReason::BrowserCrashed,
            }
        }
        other => other,
    };
    if matches!(ended, EndReason::Stopped | EndReason::Interrupted) {
        // Typed values not yet committed (no blur, no Enter) are still in the page.
        for ctx in live.contexts.clone() {
            let _ = cdp
                .call(
                    "Runtime.evaluate",
                    json!({"expression": "globalThis.__throngFlush && __throngFlush()", "contextId": ctx}),
                    Some(&session),
                )
                .await;
        }
    }
    // Let the last reports and response bodies arrive.
    let settle = tokio::time::Instant::now() + Duration::from_millis(300);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        drain(&mut events, &session, &mut live);
        while let Ok(a) = ans_rx.try_recv() {
            outstanding = outstanding.saturating_sub(1);
            answer(&mut live, a);
        }
        let now = tokio::time::Instant::now();
        if (outstanding == 0 && now >= settle) || now >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let built = build::build_report(&live.cap);
    let result = write_flow(&opts.out, &built.flow);
    browser.shutdown(Some(&cdp)).await;
    result?;
    if live.bad_reports > 0 {
        tracing::warn!(target: "throng_recorder", "{} capture reports could not be read", live.bad_reports);
    }
    // Values those answers handed out stay literal (a token then becomes a secret to supply).
    if live.unread_bodies.0 > 0 || outstanding > 0 {
        tracing::warn!(
            target: "throng_recorder",
            "{} answers' bodies could not be read and {outstanding} were still being read at the end (values they handed out are not correlated): {}",
            live.unread_bodies.0,
            live.unread_bodies.1.join(", ")
        );
    }
    let summary = RecordSummary::of(built, live.cap, opts.out.clone(), ended, ws_url);
    if ended == EndReason::BrowserCrashed {
        return Err(RecordError::BrowserDied {
            out: opts.out.clone(),
            steps: summary.steps,
        });
    }
    Ok(summary)
}

/// Attaches to the tab and prepares capture; returns the tab's session id.
async fn setup(cdp: &Cdp, opts: &RecordOptions, live: &mut Live) -> Result<String, String> {
    let mut target = None;
    for _ in 0..50 {
        target = cdp.first_page_target().await.map_err(|e| e.to_string())?;
        if target.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let target = target.ok_or("the browser opened no tab")?;
    cdp.call("Target.setDiscoverTargets", json!({"discover": true}), None)
        .await
        .map_err(|e| e.to_string())?;
    let session = cdp.attach(&target).await.map_err(|e| e.to_string())?;
    let source = capture_script(&opts.selector_attributes, &opts.secrets);
    let s = Some(session.as_str());
    let calls: [(&str, Value); 12] = [
        ("Page.enable", json!({})),
        ("Runtime.enable", json!({})),
        ("Network.enable", json!({"maxPostDataSize": 1 << 20})),
        // Scripts' answers pause at their head so their bodies are read before the page can
        // move on (Live::on_paused).
        (
            "Fetch.enable",
            json!({"patterns": [
                {"resourceType": "XHR", "requestStage": "Response"},
                {"resourceType": "Fetch", "requestStage": "Response"},
            ]}),
        ),
        // Every step lists all it needs; a replay decides what its users would have cached.
        ("Network.setCacheDisabled", json!({"cacheDisabled": true})),
        // Async stacks show which requests a timer started (pollers).
        ("Debugger.enable", json!({})),
        ("Debugger.setSkipAllPauses", json!({"skip": true})),
        ("Debugger.setAsyncCallStackDepth", json!({"maxDepth": 8})),
        (
            "Runtime.addBinding",
            json!({"name": BINDING, "executionContextName": WORLD}),
        ),
        (
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": source, "worldName": WORLD, "runImmediately": true}),
        ),
        (
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": SOCKET_CLOSE_HOOK, "runImmediately": true}),
        ),
        ("Page.setLifecycleEventsEnabled", json!({"enabled": false})),
    ];
    for (method, params) in calls {
        cdp.call(method, params, s)
            .await
            .map_err(|e| e.to_string())?;
    }
    let tree = cdp
        .call("Page.getFrameTree", json!({}), s)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(id) = tree["frameTree"]["frame"]["id"].as_str() {
        live.set_main_frame(id.to_string());
    }
    Ok(session)
}

async fn viewport(cdp: &Cdp, session: &str) -> Action {
    let m = cdp
        .call("Page.getLayoutMetrics", json!({}), Some(session))
        .await
        .unwrap_or_default();
    let vp = &m["cssLayoutViewport"];
    Action::SetViewport {
        width: vp["clientWidth"].as_u64().unwrap_or(1280) as u32,
        height: vp["clientHeight"].as_u64().unwrap_or(800) as u32,
        device_scale_factor: 1.0,
        is_mobile: false,
        has_touch: false,
        is_landscape: false,
    }
}

fn closes_tab(ev: &Event, session: &str) -> bool {
    match ev.method.as_str() {
        "Target.detachedFromTarget" => ev.params["sessionId"] == session,
        "Inspector.detached" => ev.session_id.as_deref() == Some(session),
        _ => false,
    }
}

fn handle(ev: &Event, session: &str, live: &mut Live) -> Option<Followup> {
    if ev.session_id.as_deref() == Some(session) {
        live.on_event(&ev.method, &ev.params)
    } else {
        None
    }
}

/// Handles the events already queued (no waiting); follow-ups are dropped (end of recording).
fn drain(events: &mut mpsc::UnboundedReceiver<Event>, session: &str, live: &mut Live) {
    while let Ok(ev) = events.try_recv() {
        handle(&ev, session, live);
    }
}

fn spawn_followup(cdp: &Arc<Cdp>, session: &str, f: Followup, tx: mpsc::UnboundedSender<Answer>) {
    let cdp = cdp.clone();
    let session = session.to_string();
    tokio::spawn(async move {
        let a = match f {
            Followup::ResponseBody(id) => {
                let r = cdp
                    .call(
                        "Network.getResponseBody",
                        json!({"requestId": id}),
                        Some(&session),
                    )
                    .await;
                let body = r.ok().and_then(|v| {
                    (v["base64Encoded"] != true)
                        .then(|| v["body"].as_str().map(String::from))
                        .flatten()
                });
                Answer::Body(id, body)
            }
            Followup::PausedAnswer {
                id,
                network_id,
                read,
            } => {
                let body = if read {
                    let r = cdp
                        .call(
                            "Fetch.getResponseBody",
                            json!({"requestId": id}),
                            Some(&session),
                        )
                        .await;
                    Some(r.ok().and_then(|v| text_body(&v)))
                } else {
                    None
                };
                // Whatever happened, the page's request goes on.
                let _ = cdp
                    .call(
                        "Fetch.continueRequest",
                        json!({"requestId": id}),
                        Some(&session),
                    )
                    .await;
                match body {
                    Some(body) => Answer::Body(network_id, body),
                    None => Answer::Continued,
                }
            }
            Followup::StreamContent(id) => {
                let r = cdp
                    .call(
                        "Network.streamResourceContent",
                        json!({"requestId": id}),
                        Some(&session),
                    )
                    .await;
                let data = r
                    .ok()
                    .and_then(|v| v["bufferedData"].as_str().map(String::from));
                Answer::StreamData(id, data)
            }
            Followup::PostData(id) => {
                let r = cdp
                    .call(
                        "Network.getRequestPostData",
                        json!({"requestId": id}),
                        Some(&session),
                    )
                    .await;
                Answer::PostData(
                    id,
                    r.ok()
                        .and_then(|v| v["postData"].as_str().map(String::from)),
                )
            }
        };
        let _ = tx.send(a);
    });
}

/// The text of a `getResponseBody` answer (base64 when Chromium says so), if it is UTF-8.
fn text_body(v: &Value) -> Option<String> {
    let body = v["body"].as_str()?;
    if v["base64Encoded"] != true {
        return Some(body.to_string());
    }
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn answer(live: &mut Live, a: Answer) {
    match a {
        Answer::Body(id, Some(body)) => live.on_response_body(&id, body),
        Answer::Body(id, None) => live.on_body_unread(&id),
        Answer::PostData(id, Some(body)) => live.on_post_data(&id, body),
        Answer::StreamData(id, Some(data)) => live.on_stream_data(&id, &data),
        _ => {}
    }
}

/// Builds and writes the flow; returns its number of steps.
fn write(live: &Live, opts: &RecordOptions) -> Result<usize, RecordError> {
    let flow = build::build(&live.cap);
    write_flow(&opts.out, &flow)?;
    Ok(flow.steps.len())
}

/// The in-page capture script with its configuration filled in: the test-id attributes for
/// selectors and the fields whose values are secrets. It reports through the `BINDING`
/// binding and exposes `__throngSelectorsFor(element)` (the selectors it would write).
pub fn capture_script(selector_attributes: &[String], secrets: &[String]) -> String {
    let config = json!({
        "binding": BINDING,
        "attrs": selector_attributes,
        "secrets": secrets,
    });
    CAPTURE_JS.replace("/*THRONG_CONFIG*/null", &config.to_string())
}
