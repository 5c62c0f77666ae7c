//! The virtual-user scheduler: starts and stops users to follow the load plan (closed model:
//! target users; open model: arrival rate), assigns flows by weight, and stops gracefully on
//! the plan's end or cancellation (Ctrl-C), always handing back what was measured.

mod control;
mod runner;
mod users;

pub use control::RunControl;
pub use runner::{ModeRunner, UserState};

use crate::metrics::{Mode, RunSummary, Sink};
use crate::plan::{Arrival, FlowMix, LoadPlan};
use crate::replay::browser::BrowserOptions;
use crate::replay::http::HttpOptions;
use crate::replay::PreparedFlow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use users::{user_loop, UserCtx};

/// A flow and its share of the users.
#[derive(Debug, Clone)]
pub struct FlowChoice {
    pub flow: Arc<PreparedFlow>,
    pub weight: u32,
}

/// Everything a run needs, validated.
pub struct RunSpec {
    pub flows: Vec<FlowChoice>,
    pub plan: LoadPlan,
    pub mode: Mode,
    pub http: HttpOptions,
    pub browser: BrowserOptions,
}

/// How the scheduler's loop ticks: fine enough for ramps and arrival rates.
const TICK: Duration = Duration::from_millis(20);
/// After cancellation, how long users get to reach a pause (in-flight requests finish).
const STOP_WAIT: Duration = Duration::from_secs(40);

/// Runs the plan to its end (or until `stop` is cancelled) and returns the run's summary.
/// Set-up failures (a browser that cannot start) are `Err`; failed requests are data.
pub async fn execute(
    spec: RunSpec,
    sink: Sink,
    stop: CancellationToken,
) -> anyhow::Result<RunSummary> {
    execute_with(spec, sink, RunControl::new(stop)).await
}

/// [`execute`] with a live control handle: the user count can be changed while running and
/// the run stopped (`control.stop()` cancels its stop token).
pub async fn execute_with(
    spec: RunSpec,
    sink: Sink,
    control: RunControl,
) -> anyhow::Result<RunSummary> {
    let stop = control.stop_token().clone();
    let origins: Vec<_> = spec.flows.iter().map(|f| f.flow.origin.clone()).collect();
    let runner = ModeRunner::start(
        spec.mode,
        spec.http.clone(),
        spec.browser.clone(),
        sink.clone(),
        &origins,
    )
    .await?;
    let aggregator = sink.spawn_aggregator(Duration::from_secs(1));
    let ctx = Arc::new(UserCtx {
        runner,
        sink: sink.clone(),
        plan: spec.plan.clone(),
        flows: spec.flows.clone(),
        failures: Default::default(),
        draining: Default::default(),
    });
    let mut scheduler = Scheduler {
        ctx: ctx.clone(),
        tasks: JoinSet::new(),
        active: BTreeMap::new(),
        run_token: stop.child_token(),
        next_id: 0,
        mix: FlowMix::new(&spec.flows.iter().map(|f| f.weight).collect::<Vec<_>>()),
        control,
    };
    match &spec.plan.arrival {
        Arrival::Users(_) => scheduler.closed_model(&stop).await,
        Arrival::Rate { .. } => scheduler.open_model(&stop).await,
    }
    scheduler.stop_all().await;
    ctx.runner.shutdown().await;
    for (message, n) in ctx.failures.lock().expect("failures lock").iter() {
        sink.count(&format!("session failure: {message}"), *n);
    }
    if stop.is_cancelled() {
        sink.count("run.interrupted", 1);
    }
    let summary = sink.finish();
    aggregator.abort();
    Ok(summary)
}

struct Scheduler {
    ctx: Arc<UserCtx>,
    tasks: JoinSet<u64>,
    /// Running users by id, with the token that makes each leave.
    active: BTreeMap<u64, CancellationToken>,
    run_token: CancellationToken,
    next_id: u64,
    mix: FlowMix,
    control: RunControl,
}

impl Scheduler {
    fn spawn_user(&mut self, iterations: Option<u64>) {
        let id = self.next_id;
        self.next_id += 1;
        let token = self.run_token.child_token();
        self.active.insert(id, token.clone());
        let flow = self.ctx.flows[self.mix.pick(id)].flow.clone();
        let ctx = self.ctx.clone();
        self.tasks.spawn(async move {
            user_loop(ctx, id, flow, token, iterations).await;
            id
        });
    }

    fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next() {
            match done {
                Ok(id) => {
                    self.active.remove(&id);
                }
                Err(e) if e.is_panic() => self.ctx.sink.count("users.panicked", 1),
                Err(_) => {}
            }
        }
        // A panicked task never returns its id: drop tokens of users no longer running.
        if self.active.len() > self.tasks.len() {
            let finished: Vec<u64> = self
                .active
                .iter()
                .filter(|(_, t)| t.is_cancelled())
                .map(|(id, _)| *id)
                .collect();
            for id in finished
                .into_iter()
                .take(self.active.len() - self.tasks.len())
            {
                self.active.remove(&id);
            }
        }
    }

    /// Keeps the target number of users running; with `iterations`, each user runs that many
    /// and is not replaced.
    async fn closed_model(&mut self, stop: &CancellationToken) {
        let plan = self.ctx.plan.clone();
        let stages = plan.stages();
        let total = stages.total();
        let start = Instant::now();
        let mut slots_started = 0usize;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
            self.reap();
            let elapsed = start.elapsed();
            if elapsed >= total {
                return;
            }
            // A live override (the dashboard) wins over the plan until cleared.
            let target = match self.control.users_override() {
                Some(n) => n as usize,
                None => stages.target_at(elapsed).round() as usize,
            };
            self.control.publish_target(target);
            match plan.iterations {
                None => {
                    while self.active.len() < target {
                        self.spawn_user(None);
                    }
                }
                Some(n) => {
                    while slots_started < target {
                        slots_started += 1;
                        self.spawn_user(Some(n));
                    }
                    let planned = (stages.peak().round() as usize).max(target);
                    if self.active.is_empty() && slots_started >= planned {
                        return;
                    }
                }
            }
            // Ramp-down: the newest users leave first.
            while self.active.len() > target {
                let (_, token) = self.active.pop_last().expect("non-empty");
                token.cancel();
            }
        }
    }

    /// Starts new one-iteration users at the planned arrival rate; arrivals beyond
    /// `max_users` running are counted as dropped, never silently skipped.
    async fn open_model(&mut self, stop: &CancellationToken) {
        let plan = self.ctx.plan.clone();
        let Arrival::Rate { stages, max_users } = &plan.arrival else {
            return;
        };
        let total = stages.total();
        let start = Instant::now();
        let mut due = 0.0f64;
        let mut last = Duration::ZERO;
        let mut launched = 0u64;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
            self.reap();
            let elapsed = start.elapsed().min(total);
            // Trapezoid integral of the rate over the tick.
            let (r0, r1) = (stages.target_at(last), stages.target_at(elapsed));
            due += (r0 + r1) / 2.0 * (elapsed - last).as_secs_f64();
            last = elapsed;
            while (launched as f64) < due.floor() {
                launched += 1;
                if self.active.len() < *max_users as usize {
                    self.spawn_user(Some(1));
                } else {
                    self.ctx.sink.count("arrivals.dropped", 1);
                }
            }
            if elapsed >= total {
                return;
            }
        }
    }

    /// Lets users finish their iteration within the grace period, then makes every user leave
    /// at its next pause (in-flight requests finish), then abandons stragglers.
    async fn stop_all(&mut self) {
        self.ctx
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let grace_end = Instant::now() + self.ctx.plan.grace;
        while !self.tasks.is_empty() && !self.run_token.is_cancelled() {
            if tokio::time::timeout_at(grace_end, self.tasks.join_next())
                .await
                .is_err()
            {
                break;
            }
        }
        self.run_token.cancel();
        let deadline = Instant::now() + STOP_WAIT;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(_) => {}
                Err(_) => {
                    self.ctx
                        .sink
                        .count("users.aborted", self.tasks.len() as u64);
                    self.tasks.abort_all();
                    while self.tasks.join_next().await.is_some() {}
                }
            }
        }
        self.active.clear();
    }
}
