//! One virtual user's life: its iterations of a flow, and how each session ended.

use super::{FlowChoice, ModeRunner};
use crate::metrics::{Mode, Sink};
use crate::plan::LoadPlan;
use crate::replay::fake::{Drawer, FakeOptions};
use crate::replay::handoff::Handoff;
use crate::replay::{PreparedFlow, Session, SessionOutcome, Vars};
use crate::sync::Locked;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Distinct failure messages kept for the report; beyond that they are only counted.
const MAX_FAILURE_MESSAGES: usize = 50;
/// An arrival starting later than this after its planned start is late (coordinated
/// omission); below it is timer grain. The HTTP client uses the same bound for pollers.
const LATE_AFTER: Duration = Duration::from_millis(10);

/// A user: its id in this process, its number in the whole run, its mode.
#[derive(Clone, Copy, Debug)]
pub(super) struct Who {
    pub id: u64,
    pub number: u64,
    pub mode: Mode,
}

/// What every user of a run shares.
pub(super) struct UserCtx {
    /// One runner per mode the run has (two in a hybrid run).
    pub runners: Vec<ModeRunner>,
    /// `--login`: the browser logins HTTP users start with.
    pub logins: Option<super::login::Logins>,
    pub sink: Sink,
    pub plan: LoadPlan,
    pub flows: Vec<FlowChoice>,
    /// `--locale`, `--seed`: generated data.
    pub fake: FakeOptions,
    /// Session failure messages and how often each happened.
    pub failures: Mutex<BTreeMap<String, u64>>,
    /// Set when the plan ends: users finish their iteration, then leave.
    pub draining: AtomicBool,
}

impl UserCtx {
    fn runner(&self, mode: Mode) -> &ModeRunner {
        self.runners
            .iter()
            .find(|r| r.mode() == mode)
            .unwrap_or(&self.runners[0])
    }

    fn note_failure(&self, message: String) {
        let mut failures = self.failures.locked();
        if failures.len() < MAX_FAILURE_MESSAGES || failures.contains_key(&message) {
            *failures.entry(message).or_default() += 1;
        } else {
            *failures.entry("(other messages)".into()).or_default() += 1;
        }
    }
}

pub(super) async fn user_loop(
    ctx: Arc<UserCtx>,
    who: Who,
    flow: Arc<PreparedFlow>,
    cancel: CancellationToken,
    iterations: Option<u64>,
    intended: Option<Instant>,
) {
    let Who { id, number, mode } = who;
    let sink = &ctx.sink;
    let runner = ctx.runner(mode);
    let recorder = match intended.map(|at| at.elapsed()) {
        Some(late) if late >= LATE_AFTER => {
            sink.count("arrivals.late", 1);
            sink.recorder(id).starting_late(late)
        }
        _ => sink.recorder(id),
    };
    let user = match runner.new_user(recorder.clone()) {
        Ok(u) => u,
        Err(e) => {
            sink.count("users.failed_to_start", 1);
            ctx.note_failure(e);
            return;
        }
    };
    sink.user_started(mode);
    sink.count("users.started", 1);
    let dwell = ctx
        .plan
        .dwell
        .unwrap_or_else(|| Duration::from_millis(flow.flow.dwell_ms.unwrap_or(0)));
    // Users started together (no ramp) spread their first steps over at most a quarter of the
    // plan (closed model; arrivals are spread by their rate already).
    let stages = &ctx.plan.stages().0;
    let together = stages
        .first()
        .is_some_and(|s| s.duration.is_zero() && s.target > 1.0);
    if intended.is_none() && together {
        let think: u64 = flow.flow.steps.iter().filter_map(|s| s.think_time_ms).sum();
        let plan: Duration = stages.iter().map(|s| s.duration).sum();
        let spread = ctx.plan.think.start_spread(think, plan / 4);
        if !spread.is_zero() {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(spread) => {}
            }
        }
    }
    let mut vars = Vars::new();
    // `--login`: what this user's browser login handed over, kept for all its iterations
    // (an HTTP user of a flow with a login logs in before its first).
    let mut handed: Option<Arc<Handoff>> = None;
    let mut needs_login = mode == Mode::Http && ctx.logins.is_some();
    let mut done = 0u64;
    // Draining (the plan ended) stops new iterations, but a user that just arrived still
    // runs its first one within the grace period.
    while !cancel.is_cancelled()
        && (done == 0 || !ctx.draining.load(Ordering::Relaxed))
        && iterations.is_none_or(|n| done < n)
    {
        done += 1;
        // Generated data first: encoded variables may use it.
        let drawer = Drawer {
            user: number,
            iteration: done - 1,
        };
        flow.fakes.draw(&ctx.fake, drawer, &mut vars);
        if let Err(reason) = flow.sources.draw(&mut vars) {
            sink.count("iterations.no_data", 1);
            ctx.note_failure(reason);
            break;
        }
        // A user without its login's handoff logs in first; a failed login is its session's
        // outcome.
        let login = match (&ctx.logins, needs_login) {
            (Some(logins), true) => {
                match logins.handoff(who, &flow.name, &recorder, &cancel).await {
                    Ok(h) => {
                        handed = h;
                        needs_login = false;
                        None
                    }
                    Err(outcome) => Some(outcome),
                }
            }
            _ => None,
        };
        let outcome = match login {
            Some(failed) => failed,
            None => {
                if let Some(h) = &handed {
                    h.set_vars(&mut vars);
                }
                // A traced run: this session's trace context, spans and exemplars; while the
                // run may still keep sessions (`--keep-sessions`), its HAR and filmstrip.
                let capture = sink.session_capture(mode, &flow.name, number, done);
                let session_recorder = recorder
                    .traced_session(
                        mode,
                        &flow.name,
                        &flow.origin,
                        flow.flow.tracestate.as_deref(),
                    )
                    .capturing(capture.clone());
                let session = Session {
                    flow: &flow,
                    user_id: id,
                    vars: &mut vars,
                    recorder: &session_recorder,
                    think: &ctx.plan.think,
                    cancel: &cancel,
                    dwell,
                    handoff: handed.as_deref(),
                };
                let outcome = runner.run_session(&user, session).await;
                session_recorder.end_session(outcome.label());
                if let Some(capture) = capture {
                    let secrets = vars.values().map(String::from).collect();
                    capture.finish(outcome.label(), secrets).await;
                }
                outcome
            }
        };
        sink.count_session(mode, &flow.name, outcome.label());
        match outcome {
            SessionOutcome::Completed => sink.count("sessions.completed", 1),
            SessionOutcome::Failed(message) => {
                sink.count("sessions.failed", 1);
                ctx.note_failure(message);
                // A user whose session failed retries after a pause, as a person would,
                // instead of hammering the target in a tight error loop.
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            SessionOutcome::Lost => sink.count("sessions.lost", 1),
            SessionOutcome::Cancelled => sink.count("sessions.abandoned", 1),
        }
    }
    sink.user_ended(mode);
}
