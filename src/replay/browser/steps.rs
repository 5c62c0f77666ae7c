//! Runs a flow's Recorder steps on one page: selectors resolved in the page (dom.js),
//! input through CDP Input events, navigation waited by load-event count taken before
//! acting, per-step timeouts with a message saying what was awaited, think time and
//! dwell with the page open, step durations recorded.

use super::evidence;
use super::extract::{evaluate, extract_from_page, page_extractions};
use super::keys::{held_after, key_event, replace_editor_text};
use super::process::ChromeProcess;
use super::session::PageState;
use super::Session;
use crate::flow::{Action, Pointer, Selectors, Step};
use crate::metrics::{MetricKey, Mode, Outcome, SampleKind, Sink};
use crate::replay::conditions::Conditions;
use crate::replay::fill::{fill, Place};
use crate::replay::step_label;
use chromiumoxide::cdp::browser_protocol::emulation::{
    SetDeviceMetricsOverrideParams, SetTouchEmulationEnabledParams,
};
use chromiumoxide::cdp::browser_protocol::input::{
    DispatchMouseEventParams, DispatchMouseEventType, InsertTextParams, MouseButton,
};
#[allow(deprecated)]
use chromiumoxide::cdp::browser_protocol::network::EmulateNetworkConditionsParams;
use chromiumoxide::cdp::browser_protocol::page::NavigateParams;
use chromiumoxide::Page;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const DOM_JS: &str = include_str!("dom.js");

/// Why a session stopped early.
#[derive(Debug)]
pub(crate) enum StepError {
    /// "step 4 click [data-testid=buy]: no element matched any selector within 10s"
    Failed(String),
    Lost,
    Cancelled,
}

/// Why one step failed (before the step number and name are added).
pub(super) enum Fail {
    Error(String),
    Check(String),
    /// The step's main-frame document answered this status (>= 400).
    Status(u16),
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Error(s)
    }
}

pub(crate) struct StepRunner<'a, 's> {
    pub page: &'a Page,
    pub state: &'a PageState,
    pub proc: &'a ChromeProcess,
    pub sink: &'a Sink,
    pub default_timeout: Duration,
    pub failures_dir: Option<&'a std::path::Path>,
    /// The run's hard deadline: a step under way is cut then.
    pub deadline: &'a tokio_util::sync::CancellationToken,
    /// The flow has requests the recording saw succeed (see `checks`): the last step waits
    /// for its requests before it is settled.
    pub expects: bool,
    pub session: Session<'s>,
}

/// A step run, its sample not recorded yet.
struct Done {
    index: usize,
    key: MetricKey,
    took: Duration,
    label: String,
}

impl StepRunner<'_, '_> {
    pub async fn run(self) -> Result<(), StepError> {
        let flow = self.session.flow;
        let extractions = page_extractions(&flow.flow);
        // The step just run: its sample waits until its requests had the next think time to
        // end, so an API call it made that failed fails it.
        let mut done: Option<Done> = None;
        for (i, step) in flow.flow.steps.iter().enumerate() {
            if i > 0 {
                let paused = self
                    .pause(self.session.think.think_time(step.think_time_ms))
                    .await;
                self.settle(done.take(), false).await?;
                paused?;
            }
            // A user told to leave starts no new step.
            if self.session.cancel.is_cancelled() {
                return Err(StepError::Cancelled);
            }
            self.state.step.store(i as u32, Ordering::Relaxed);
            self.state.step_started(i as u32);
            let label = step_label(i, step);
            if let Some(c) = self.session.recorder.capture() {
                c.step(i as u32, &label);
            }
            let limit = step
                .timeout
                .or(flow.flow.timeout)
                .map(Duration::from_millis)
                .unwrap_or(self.default_timeout);
            let started = Instant::now();
            let mut waiting = String::from("the step did not finish");
            let result = {
                let held = held_after(&flow.flow.steps[..i]);
                let exec = self.exec(step, held, &mut waiting);
                // The step under way finishes, unless the run's deadline comes first.
                tokio::select! {
                    r = tokio::time::timeout(limit, exec) => r,
                    _ = self.deadline.cancelled() => return Err(StepError::Cancelled),
                    _ = self.proc.dead().cancelled() => return Err(StepError::Lost),
                }
            };
            let (outcome, error) = match result {
                Ok(Ok(())) => (Outcome::Ok, None),
                Ok(Err(Fail::Error(msg))) => (Outcome::Error, Some(msg)),
                Ok(Err(Fail::Check(msg))) => (Outcome::CheckFailed, Some(msg)),
                Ok(Err(Fail::Status(status))) => (
                    Outcome::Status(status),
                    Some(format!("the document answered {status}")),
                ),
                Err(_) => (
                    Outcome::Timeout,
                    Some(format!("{waiting} within {}", human(limit))),
                ),
            };
            if self.proc.is_dead() {
                return Err(StepError::Lost);
            }
            let key = MetricKey::new(
                Mode::Browser,
                flow.name.clone(),
                Some(i as u32),
                SampleKind::Step,
                label.as_str(),
            );
            let took = started.elapsed();
            // `--filmstrip`: the page after each step (the failure's own shot comes with it).
            if error.is_none()
                && self
                    .session
                    .recorder
                    .capture()
                    .is_some_and(|c| c.every_step())
            {
                self.film(format!("step-{:02}.jpg", i + 1)).await;
            }
            if let Some(msg) = error {
                self.session.recorder.record(&key, took, outcome);
                return Err(self.failed(i, &format!("step {label}: {msg}")).await);
            }
            done = Some(Done {
                index: i,
                key,
                took,
                label,
            });
            if let Some(wanted) = extractions.get(&i) {
                extract_from_page(self.page, self.session.vars, wanted).await;
            }
            if matches!(step.action, Action::Close) {
                // The user closed the tab: no dwell.
                return self.settle(done.take(), true).await;
            }
        }
        let paused = self.pause(self.session.dwell).await;
        self.settle(done.take(), true).await?;
        paused
    }

    /// Records the sample of the step `done`, failed when a document or AJAX request failed
    /// where the recording saw it succeed. `last`: the session's last step, whose requests
    /// still in flight get a moment to end.
    async fn settle(&self, done: Option<Done>, last: bool) -> Result<(), StepError> {
        let Some(d) = done else { return Ok(()) };
        if last && self.expects {
            let wait = async {
                while self.state.in_flight.load(Ordering::Relaxed) > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // The collector publishes ends after letting them settle.
                tokio::time::sleep(Duration::from_millis(120)).await;
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), wait).await;
        }
        let failure = match self.unexpected_failure() {
            None => self
                .unsent(d.index)
                .await
                .map(|msg| (Outcome::CheckFailed, msg)),
            some => some,
        };
        match failure {
            None => {
                self.session.recorder.record(&d.key, d.took, Outcome::Ok);
                Ok(())
            }
            Some((outcome, msg)) => {
                self.session.recorder.record(&d.key, d.took, outcome);
                Err(self
                    .failed(d.index, &format!("step {}: {msg}", d.label))
                    .await)
            }
        }
    }

    /// Adds the page as it is now to the session's filmstrip, while it may be kept.
    async fn film(&self, name: String) {
        let Some(c) = self.session.recorder.capture() else {
            return;
        };
        if let Some(jpeg) = evidence::filmstrip_shot(self.page).await {
            c.shot(name, jpeg);
        }
    }

    /// Keeps the evidence of a failed step (console, screenshot) and ends the session.
    async fn failed(&self, step: usize, msg: &str) -> StepError {
        if let Some(c) = self.session.recorder.capture() {
            c.failed_at(step as u32);
        }
        self.film(format!("step-{:02}-failed.jpg", step + 1)).await;
        let console = self
            .state
            .console
            .lock()
            .map(|c| c.around(step as u32))
            .unwrap_or_default();
        let at = (&*self.session.flow.name, step as u32);
        let secrets: Vec<&str> = self.session.vars.values().collect();
        evidence::keep(
            self.page,
            self.sink,
            self.failures_dir,
            at,
            msg,
            console,
            &secrets,
        )
        .await;
        StepError::Failed(msg.to_string())
    }

    /// Think time or dwell: the page stays open, its timers keep running.
    async fn pause(&self, d: Duration) -> Result<(), StepError> {
        if self.session.cancel.is_cancelled() {
            return Err(StepError::Cancelled);
        }
        if d.is_zero() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.session.cancel.cancelled() => Err(StepError::Cancelled),
            _ = self.proc.dead().cancelled() => Err(StepError::Lost),
        }
    }

    /// `s` with its variables filled in, each written for `place`.
    pub(super) fn fill(&self, s: &str, place: Place) -> Result<String, Fail> {
        fill(self.session.vars, s, place)
            .map_err(|name| Fail::Error(format!("variable `{name}` has no value")))
    }

    /// Runs one step; `held` are the modifier keys earlier steps hold down.
    async fn exec(&self, step: &Step, held: i64, waiting: &mut String) -> Result<(), Fail> {
        let loads_before = *self.state.loads.borrow();
        let frame = step.frame.as_deref();
        let mut clicked = None;
        match &step.action {
            Action::Navigate { .. } => {
                let url = self.fill(step.action.replay_url().unwrap_or_default(), Place::Url)?;
                let nav = self
                    .page
                    .execute(NavigateParams::new(url.clone()))
                    .await
                    .map_err(|e| format!("navigate to {url}: {e}"))?;
                if let Some(err) = nav.result.error_text.filter(|e| !e.is_empty()) {
                    return Err(Fail::Error(format!("navigation to {url} failed: {err}")));
                }
                if nav.result.loader_id.is_some() {
                    self.wait_load(loads_before, waiting, "the page did not finish loading")
                        .await;
                }
            }
            Action::Click(p) => clicked = Some(self.click(p, frame, 1, waiting).await?),
            Action::DoubleClick(p) => clicked = Some(self.click(p, frame, 2, waiting).await?),
            Action::Hover { selectors } => {
                let (x, y) = self.locate(selectors, frame, None, waiting).await?;
                self.mouse(
                    DispatchMouseEventType::MouseMoved,
                    x,
                    y,
                    MouseButton::None,
                    0,
                )
                .await?;
            }
            Action::Change { selectors, .. } => {
                let value =
                    self.fill(step.action.replay_value().unwrap_or_default(), Place::Text)?;
                let (x, y) = self.locate(selectors, frame, None, waiting).await?;
                let r = self
                    .dom("focus", selectors, frame, json!({ "value": value }))
                    .await?;
                if r["editor"] == json!(true) {
                    replace_editor_text(self.page, &value, (x, y), r["focused"] == json!(true))
                        .await?;
                } else if r["done"] != json!(true) {
                    self.page
                        .execute(InsertTextParams::new(value))
                        .await
                        .map_err(|e| format!("type: {e}"))?;
                    self.dom("changed", selectors, frame, json!({})).await?;
                }
            }
            Action::KeyDown { key } => self.key(key, true, held).await?,
            Action::KeyUp { key } => self.key(key, false, held).await?,
            Action::Scroll { selectors, x, y } => match selectors {
                Some(sel) => {
                    self.locate(sel, frame, None, waiting).await?;
                    self.dom("scroll", sel, frame, json!({ "x": x, "y": y }))
                        .await?;
                }
                None => {
                    let expr = format!("window.scroll({}, {})", x.unwrap_or(0.0), y.unwrap_or(0.0));
                    self.eval(&expr).await?;
                }
            },
            Action::WaitForElement {
                selectors,
                operator,
                count,
                visible,
            } => {
                self.wait_count(
                    selectors,
                    frame,
                    operator.as_deref(),
                    *count,
                    *visible,
                    waiting,
                )
                .await?
            }
            Action::WaitForExpression { expression } => {
                let expr = format!(
                    "(async () => !!(await ({})))()",
                    self.fill(expression, Place::Script)?
                );
                *waiting = format!("expression stayed false: {expression}");
                while self.eval(&expr).await.ok() != Some(json!(true)) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Action::SetViewport {
                width,
                height,
                device_scale_factor,
                is_mobile,
                has_touch,
                ..
            } => {
                let p = SetDeviceMetricsOverrideParams::new(
                    *width as i64,
                    *height as i64,
                    *device_scale_factor,
                    *is_mobile,
                );
                self.page
                    .execute(p)
                    .await
                    .map_err(|e| format!("viewport: {e}"))?;
                if *has_touch {
                    let t = SetTouchEmulationEnabledParams::new(true);
                    self.page
                        .execute(t)
                        .await
                        .map_err(|e| format!("touch: {e}"))?;
                }
            }
            Action::EmulateNetworkConditions {
                download,
                upload,
                latency,
            } => {
                let conditions = Conditions::from_cdp(*download, *upload, *latency);
                self.page
                    .execute(emulate_network(&conditions))
                    .await
                    .map_err(|e| format!("throttle: {e}"))?;
            }
            Action::Close => {}
            Action::CustomStep { .. } => self.sink.count("steps.custom_skipped", 1),
        }
        self.assertions(step, loads_before, clicked, waiting).await
    }

    pub(super) async fn wait_load(&self, before: u64, waiting: &mut String, what: &str) {
        *waiting = what.to_string();
        let mut rx = self.state.loads.subscribe();
        let _ = rx.wait_for(|n| *n > before).await;
    }

    async fn click(
        &self,
        p: &Pointer,
        frame: Option<&[u32]>,
        count: i64,
        waiting: &mut String,
    ) -> Result<String, Fail> {
        let offset = (p.offset_x != 0.0 || p.offset_y != 0.0).then_some((p.offset_x, p.offset_y));
        let (x, y) = self.locate(&p.selectors, frame, offset, waiting).await?;
        // What is under the pointer, for a failure message if the click does nothing.
        let hit = json!({"op": "hit", "x": x, "y": y});
        let on = self.eval(&format!("({DOM_JS})({hit})")).await.ok();
        let on = format!(
            "{} at {x:.0},{y:.0}",
            on.as_ref().and_then(Value::as_str).unwrap_or("?")
        );
        let button = match p.button.as_deref() {
            Some("auxiliary") | Some("middle") => MouseButton::Middle,
            Some("secondary") | Some("right") => MouseButton::Right,
            Some("back") => MouseButton::Back,
            Some("forward") => MouseButton::Forward,
            _ => MouseButton::Left,
        };
        *waiting = "the click was not delivered".into();
        self.mouse(
            DispatchMouseEventType::MouseMoved,
            x,
            y,
            MouseButton::None,
            0,
        )
        .await?;
        for n in 1..=count {
            self.mouse(
                DispatchMouseEventType::MousePressed,
                x,
                y,
                button.clone(),
                n,
            )
            .await?;
            if let Some(ms) = p.duration.filter(|ms| *ms > 0) {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            self.mouse(
                DispatchMouseEventType::MouseReleased,
                x,
                y,
                button.clone(),
                n,
            )
            .await?;
        }
        Ok(on)
    }

    async fn mouse(
        &self,
        kind: DispatchMouseEventType,
        x: f64,
        y: f64,
        button: MouseButton,
        clicks: i64,
    ) -> Result<(), Fail> {
        let mut b = DispatchMouseEventParams::builder().r#type(kind).x(x).y(y);
        if clicks > 0 {
            b = b.button(button).click_count(clicks);
        }
        let params = b.build().map_err(|e| Fail::Error(format!("mouse: {e}")))?;
        self.page
            .execute(params)
            .await
            .map_err(|e| Fail::Error(format!("mouse: {e}")))?;
        Ok(())
    }

    async fn key(&self, key: &str, down: bool, held: i64) -> Result<(), Fail> {
        self.page
            .execute(key_event(key, down, held))
            .await
            .map_err(|e| Fail::Error(format!("key {key}: {e}")))?;
        Ok(())
    }

    /// Waits until a selector matches a visible element, scrolls it into view and returns
    /// the point to act on (the recorded offset in the element when that lands on it).
    async fn locate(
        &self,
        selectors: &Selectors,
        frame: Option<&[u32]>,
        offset: Option<(f64, f64)>,
        waiting: &mut String,
    ) -> Result<(f64, f64), Fail> {
        *waiting = "no element matched any selector".into();
        let mut delay = Duration::from_millis(25);
        loop {
            // Errors here are transient (a navigation replaced the document): retry.
            let req = json!({ "offset": offset.map(|(x, y)| [x, y]) });
            if let Ok(r) = self.dom("locate", selectors, frame, req).await {
                match (r["found"].as_bool(), r["visible"].as_bool()) {
                    (Some(true), Some(true)) if r["enabled"] == false => {
                        *waiting = "the matching element stayed disabled".into()
                    }
                    (Some(true), Some(true)) => {
                        let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
                        return Ok((f("x"), f("y")));
                    }
                    (Some(true), _) => *waiting = "the matching element stayed invisible".into(),
                    _ => *waiting = "no element matched any selector".into(),
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }

    async fn wait_count(
        &self,
        selectors: &Selectors,
        frame: Option<&[u32]>,
        operator: Option<&str>,
        count: Option<u32>,
        visible: Option<bool>,
        waiting: &mut String,
    ) -> Result<(), Fail> {
        let op = operator.unwrap_or(">=");
        let want = count.unwrap_or(1) as u64;
        loop {
            if let Ok(r) = self.dom("count", selectors, frame, json!({})).await {
                let total = r["count"].as_u64().unwrap_or(0);
                let shown = r["visible"].as_u64().unwrap_or(0);
                let n = match visible {
                    Some(true) => shown,
                    Some(false) => total - shown.min(total),
                    None => total,
                };
                let ok = match op {
                    "==" => n == want,
                    "<=" => n <= want,
                    _ => n >= want,
                };
                if ok {
                    return Ok(());
                }
                *waiting = format!("expected {op} {want} matching elements, saw {n}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn dom(
        &self,
        op: &str,
        selectors: &Selectors,
        frame: Option<&[u32]>,
        extra: Value,
    ) -> Result<Value, Fail> {
        let mut req = json!({ "op": op, "chains": selectors.0, "frame": frame });
        if let (Some(obj), Value::Object(more)) = (req.as_object_mut(), extra) {
            obj.extend(more);
        }
        Ok(self.eval(&format!("({DOM_JS})({req})")).await?)
    }

    pub(super) async fn eval(&self, expr: &str) -> Result<Value, String> {
        evaluate(self.page, expr).await
    }
}

/// "10s", "1.5s", "250ms".
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// CDP's network emulation of a page for `conditions`. Deprecated in CDP but still served by Chromium 156, and
/// what the Recorder means.
#[allow(deprecated)]
pub(super) fn emulate_network(conditions: &Conditions) -> EmulateNetworkConditionsParams {
    let (download, upload, latency) = conditions.cdp();
    EmulateNetworkConditionsParams {
        offline: conditions.offline,
        latency,
        download_throughput: download,
        upload_throughput: upload,
        connection_type: None,
        packet_loss: None,
        packet_queue_length: None,
        packet_reordering: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_well() {
        assert_eq!(human(Duration::from_secs(10)), "10s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
    }
}
