//! The virtual-user scheduler: starts and stops users to follow the load plan (closed model:
//! target users; open model: arrival rate), assigns flows by weight, and stops gracefully on
//! the plan's end or cancellation (Ctrl-C), always handing back what was measured.

pub mod capacity;
mod control;
mod heap;
mod lanes;
mod login;
mod runner;
pub mod signals;
mod users;
mod workers;

pub use control::RunControl;
pub use heap::heap_without_huge_pages;
pub use login::LoginSpec;
pub use runner::{ModeRunner, UserState};

use crate::metrics::sessions::KeepSessions;
use crate::metrics::{Mode, RunSummary, Sink, TraceConfig};
use crate::plan::{Arrival, FlowMix, LoadPlan};
use crate::replay::browser::BrowserOptions;
use crate::replay::fake::FakeOptions;
use crate::replay::http::HttpOptions;
use crate::replay::PreparedFlow;
use crate::sync::Locked;
use lanes::Lanes;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use users::{user_loop, UserCtx, Who};
use workers::UserRuntimes;

/// A flow and its share of the users.
#[derive(Debug, Clone)]
pub struct FlowChoice {
    pub flow: Arc<PreparedFlow>,
    pub weight: u32,
    /// A plan file's flow runs in this mode only (None: in every mode of the run).
    pub mode: Option<Mode>,
}

/// Everything a run needs, validated.
#[derive(Clone)]
pub struct RunSpec {
    pub flows: Vec<FlowChoice>,
    pub plan: LoadPlan,
    pub mode: Mode,
    pub http: HttpOptions,
    pub browser: BrowserOptions,
    /// `--trace`: trace context on the flows' own requests, spans and exemplars.
    pub trace: Option<TraceConfig>,
    /// `--locale`, `--seed`: generated data (`${fake.email}`).
    pub fake: FakeOptions,
    /// `--keep-sessions` (with `--out`): sessions kept whole.
    pub keep_sessions: Option<KeepSessions>,
    /// `--login FLOW` (or a plan file flow's `login`): HTTP users start with what a browser
    /// login ended with.
    pub logins: Vec<LoginSpec>,
}

impl RunSpec {
    /// One flow with this plan and mode, default HTTP and browser options.
    pub fn single(flow: PreparedFlow, plan: LoadPlan, mode: Mode) -> Self {
        RunSpec {
            flows: vec![FlowChoice {
                flow: Arc::new(flow),
                weight: 1,
                mode: None,
            }],
            plan,
            mode,
            http: HttpOptions::default(),
            browser: BrowserOptions::default(),
            trace: None,
            fake: FakeOptions::default(),
            keep_sessions: None,
            logins: Vec::new(),
        }
    }
}

/// How the scheduler's loop ticks: fine enough for ramps and arrival rates.
const TICK: Duration = Duration::from_millis(20);
/// After Ctrl-C, how long requests in flight get to finish (and be measured) before the
/// hard deadline cuts them (at most the plan's `drain`).
const STOP_DRAIN: Duration = Duration::from_millis(1000);
/// After the hard deadline, how long users get to wind down (pollers stopped, browser
/// contexts disposed) before their tasks are aborted.
const WIND_DOWN: Duration = Duration::from_millis(700);
/// Most users started in one tick: a huge jump in the target (a step load, a live override)
/// spreads over a few ticks instead of blocking the scheduler (and Ctrl-C) while it spawns.
const SPAWN_PER_TICK: usize = 2_000;

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
    // Before the users' memory is touched: RSS then follows the heap in 4 KiB pages.
    heap_without_huge_pages();
    let origins: Vec<_> = spec.flows.iter().map(|f| f.flow.origin.clone()).collect();
    if let Some(trace) = &spec.trace {
        sink.enable_tracing(trace.clone());
    }
    if let Some(keep) = &spec.keep_sessions {
        sink.keep_sessions(keep.clone());
    }
    // The hard deadline: the plan's end plus its grace and drain (or shortly after Ctrl-C).
    let deadline = CancellationToken::new();
    let mut http = spec.http.clone();
    http.client.deadline = deadline.clone();
    let mut browser = spec.browser.clone();
    browser.deadline = deadline.clone();
    browser.drain = spec.plan.drain;
    let login_flows = spec.logins.iter().map(|l| &l.flow);
    browser.longest_step = (spec.flows.iter().map(|c| &c.flow).chain(login_flows))
        .filter_map(|f| f.longest_step_timeout())
        .max();
    // A hybrid plan runs both modes: one runner each, one sink.
    let lanes = Lanes::new(spec.mode, &spec.plan);
    let lanes_modes: Vec<Mode> = lanes.lanes.iter().map(|l| l.mode).collect();
    let mut runners = Vec::new();
    for lane in &lanes.lanes {
        // A worker that never runs browsers (`--role http`) starts none.
        if lane.mode == Mode::Browser && control.no_browsers() {
            continue;
        }
        let runner = ModeRunner::start(
            lane.mode,
            http.clone(),
            browser.clone(),
            sink.clone(),
            &origins,
        );
        match runner.await {
            Ok(r) => runners.push(r),
            Err(e) => {
                for r in &runners {
                    r.shutdown().await;
                }
                return Err(e);
            }
        }
    }
    let logins = match login::start(&spec, &runners, &browser, &sink).await {
        Ok(l) => l,
        Err(e) => {
            for r in &runners {
                r.shutdown().await;
            }
            return Err(e);
        }
    };
    let aggregator = sink.spawn_aggregator(Duration::from_secs(1));
    let ctx = Arc::new(UserCtx {
        logins,
        runners,
        sink: sink.clone(),
        plan: spec.plan.clone(),
        flows: spec.flows.clone(),
        fake: spec.fake,
        failures: Default::default(),
        draining: Default::default(),
    });
    // HTTP users are CPU-bound on throng itself: they get per-core runtimes. Browser users
    // mostly wait on Chromium and stay on the main runtime with the CDP handlers.
    let user_runtimes = match spec.mode {
        Mode::Http => {
            // A hybrid run's browser users stay on the main runtime too.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let threads = spec
                .http
                .threads
                .unwrap_or_else(|| crate::replay::http::user_threads(cores, &origins));
            Some(UserRuntimes::start(threads)?)
        }
        Mode::Browser => None,
    };
    let mut scheduler = Scheduler {
        ctx: ctx.clone(),
        user_runtimes,
        tasks: JoinSet::new(),
        lanes,
        run_token: stop.child_token(),
        deadline,
        next_id: 0,
        mixes: scheduler_mixes(&ctx.flows, &lanes_modes),
        control,
    };
    match &spec.plan.arrival {
        Arrival::Users(_) => scheduler.closed_model(&stop).await,
        Arrival::Rate { .. } => scheduler.open_model(&stop).await,
    }
    scheduler.stop_all(&stop).await;
    scheduler.lanes.publish(&sink);
    drop(scheduler.user_runtimes.take());
    if let Some(logins) = &ctx.logins {
        logins.shutdown().await;
    }
    for runner in &ctx.runners {
        runner.shutdown().await;
    }
    for (message, n) in ctx.failures.locked().iter() {
        sink.count(&format!("session failure: {message}"), *n);
    }
    if stop.is_cancelled() {
        sink.count("run.interrupted", 1);
    }
    let summary = sink.finish();
    aggregator.abort();
    Ok(summary)
}

/// Each lane's flow mix: the flows for its mode (all of them if none names it), by weight.
fn scheduler_mixes(flows: &[FlowChoice], modes: &[Mode]) -> Vec<(FlowMix, Vec<usize>)> {
    modes
        .iter()
        .map(|&mode| {
            let mut eligible: Vec<usize> = (0..flows.len())
                .filter(|&i| flows[i].mode.is_none_or(|m| m == mode))
                .collect();
            if eligible.is_empty() {
                eligible = (0..flows.len()).collect();
            }
            let weights: Vec<u32> = eligible.iter().map(|&i| flows[i].weight).collect();
            (FlowMix::new(&weights), eligible)
        })
        .collect()
}

/// Arrivals due from the plan's start to `at`: the integral of the rate (exact for the
/// piecewise-linear stages: trapezoids per stage).
fn arrivals_due(stages: &crate::plan::Stages, at: Duration) -> f64 {
    let mut due = 0.0;
    let mut t = Duration::ZERO;
    for stage in &stages.0 {
        if t >= at {
            break;
        }
        let end = (t + stage.duration).min(at);
        due += (stages.target_at(t) + stages.target_at(end)) / 2.0 * (end - t).as_secs_f64();
        t += stage.duration;
    }
    due
}

/// How long until arrival number `launched + 1` is due, at `rate` per second with `due`
/// arrivals integrated so far; at least 1 ms (the timer's grain), at most a tick.
fn next_arrival_in(rate: f64, due: f64, launched: u64) -> Duration {
    let missing = (launched + 1) as f64 - due;
    if rate <= 0.0 || missing / rate >= TICK.as_secs_f64() {
        return TICK;
    }
    Duration::from_secs_f64((missing / rate).max(0.001))
}

struct Scheduler {
    ctx: Arc<UserCtx>,
    /// Where users run (None: on the current runtime).
    user_runtimes: Option<UserRuntimes>,
    tasks: JoinSet<u64>,
    /// Running users by mode (one lane, two in a hybrid run).
    lanes: Lanes,
    run_token: CancellationToken,
    /// Cancels requests still open (see [`Scheduler::stop_all`]).
    deadline: CancellationToken,
    next_id: u64,
    /// Per lane: the weighted mix over the flows that run in its mode, and their indices.
    mixes: Vec<(FlowMix, Vec<usize>)>,
    control: RunControl,
}

impl Scheduler {
    /// Starts a user in lane `lane`; `intended` is an arrival's planned start (open model),
    /// from which a late start is measured.
    fn spawn_user(&mut self, lane_ix: usize, iterations: Option<u64>, intended: Option<Instant>) {
        let id = self.next_id;
        self.next_id += 1;
        let token = self.run_token.child_token();
        let lane = &mut self.lanes.lanes[lane_ix];
        let share = self
            .control
            .share_of(lane.mode)
            .unwrap_or_else(|| self.control.share());
        lane.active.insert(id, token.clone());
        // Users are numbered plan-wide (worker i of k starts users i, i+k, ...), per mode, so
        // weighted flows keep their global shares in each mode however the plan is spread.
        let plan_seq = lane.next_seq(share);
        let mode = lane.mode;
        let (mix, eligible) = &self.mixes[lane_ix];
        let flow = self.ctx.flows[eligible[mix.pick(plan_seq)]].flow.clone();
        // The user's number in the whole run, all modes: what `.unique` data is marked with.
        let lanes = self.lanes.lanes.len() as u64;
        let who = Who {
            id,
            number: plan_seq * lanes + lane_ix as u64,
            mode,
        };
        let ctx = self.ctx.clone();
        let user = async move {
            user_loop(ctx, who, flow, token, iterations, intended).await;
            id
        };
        // HTTP users go to the per-core runtimes; browser users wait on Chromium here.
        match (&self.user_runtimes, mode) {
            (Some(runtimes), Mode::Http) => self.tasks.spawn_on(user, runtimes.next()),
            _ => self.tasks.spawn(user),
        };
    }

    /// This process's part of each lane's plan-wide count: its share of that mode (none of
    /// a mode it does not run).
    fn mine(&self, per_lane: Vec<u64>) -> Vec<usize> {
        per_lane
            .into_iter()
            .zip(&self.lanes.lanes)
            .map(|(n, lane)| {
                self.control
                    .share_of(lane.mode)
                    .map_or(0, |s| s.part(n as usize))
            })
            .collect()
    }

    fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next() {
            match done {
                Ok(id) => self.lanes.remove(id),
                Err(e) if e.is_panic() => self.ctx.sink.count("users.panicked", 1),
                Err(_) => {}
            }
        }
        // A panicked task never returns its id: drop tokens of users no longer running.
        let active = self.lanes.active();
        if active > self.tasks.len() {
            let finished: Vec<u64> = self
                .lanes
                .lanes
                .iter()
                .flat_map(|l| l.active.iter())
                .filter(|(_, t)| t.is_cancelled())
                .map(|(id, _)| *id)
                .collect();
            for id in finished.into_iter().take(active - self.tasks.len()) {
                self.lanes.remove(id);
            }
        }
        self.lanes.account();
    }

    /// Keeps the target number of users running; with `iterations`, each user runs that many
    /// and is not replaced.
    async fn closed_model(&mut self, stop: &CancellationToken) {
        let plan = self.ctx.plan.clone();
        let stages = plan.stages();
        let total = stages.total();
        let start = Instant::now() - self.control.plan_offset();
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
            // A live override (the dashboard) wins over the plan until cleared; a worker runs
            // its share of either.
            let whole = match self.control.users_override() {
                Some(n) => u64::from(n),
                None => stages.target_at(elapsed).round() as u64,
            };
            // Each mode's part of the plan-wide target, then this process's share of it.
            let targets = self.mine(self.lanes.split(&plan, whole));
            self.control.publish_target(targets.iter().sum());
            let peaks = self.mine(self.lanes.split(&plan, stages.peak().round() as u64));
            let mut all_done = true;
            for (i, &target) in targets.iter().enumerate() {
                let lane = &self.lanes.lanes[i];
                match plan.iterations {
                    None => {
                        let want = target.min(lane.active.len() + SPAWN_PER_TICK);
                        for _ in lane.active.len()..want {
                            self.spawn_user(i, None, None);
                        }
                    }
                    Some(n) => {
                        let want = target.min(lane.slots_started + SPAWN_PER_TICK);
                        for _ in lane.slots_started..want {
                            self.lanes.lanes[i].slots_started += 1;
                            self.spawn_user(i, Some(n), None);
                        }
                        let planned = peaks[i].max(target);
                        let lane = &self.lanes.lanes[i];
                        all_done &= lane.active.is_empty() && lane.slots_started >= planned;
                    }
                }
                // Ramp-down: the newest users leave first.
                let lane = &mut self.lanes.lanes[i];
                while lane.active.len() > target {
                    let (_, token) = lane.active.pop_last().expect("non-empty");
                    token.cancel();
                }
            }
            if plan.iterations.is_some() && all_done {
                return;
            }
        }
    }

    /// Starts new one-iteration users at the planned arrival rate; arrivals beyond
    /// `max_users` running are counted as dropped, never silently skipped. Each arrival
    /// carries its planned start: a user that starts late (a busy machine, a stalled
    /// runtime) records its first step against it (coordinated omission).
    async fn open_model(&mut self, stop: &CancellationToken) {
        let plan = self.ctx.plan.clone();
        let Arrival::Rate { stages, max_users } = &plan.arrival else {
            return;
        };
        let total = stages.total();
        let offset = self.control.plan_offset().min(total);
        let start = Instant::now() - offset;
        // A worker joining under way starts at the arrivals already due.
        let mut due = arrivals_due(stages, offset);
        let mut last = offset;
        let mut launched = due.floor() as u64;
        loop {
            // Wake for the next arrival (estimated at the current rate), at most a tick away.
            let wait = next_arrival_in(stages.target_at(last), due, launched);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            self.reap();
            let elapsed = start.elapsed().min(total);
            // Trapezoid integral of the rate over the interval.
            let (r0, r1) = (stages.target_at(last), stages.target_at(elapsed));
            let before = due;
            due += (r0 + r1) / 2.0 * (elapsed - last).as_secs_f64();
            // This process's part of the cap on users running at once.
            let cap: usize = self
                .mine(self.lanes.split(&plan, u64::from(*max_users)))
                .iter()
                .sum();
            while (launched as f64) < due.floor() {
                launched += 1;
                // Where in this interval the integral reached this arrival.
                let share = ((launched as f64 - before) / (due - before)).clamp(0.0, 1.0);
                let intended = start + last + (elapsed - last).mul_f64(share);
                // Arrival number `launched - 1` of the whole plan, and its number in its
                // mode: one worker's (of those running that mode), or ours.
                let (browser, nth) = plan.arrival_in_mode(launched - 1);
                let lane = match browser {
                    true => self.lanes.index(Mode::Browser),
                    false => 0,
                };
                let mode = self.lanes.lanes[lane].mode;
                if !self.control.share_of(mode).is_some_and(|s| s.owns(nth)) {
                    continue;
                }
                if self.lanes.active() < cap {
                    self.spawn_user(lane, Some(1), Some(intended));
                } else {
                    self.ctx.sink.count("arrivals.dropped", 1);
                }
            }
            last = elapsed;
            if elapsed >= total {
                return;
            }
        }
    }

    /// Lets users finish their iteration within the grace period (skipped, or cut short,
    /// by Ctrl-C), then makes every user leave: no new step starts, and the requests in flight
    /// get the plan's `drain` (or [`STOP_DRAIN`] after Ctrl-C) to finish, so they are measured
    /// as the target answered them. The hard deadline comes then: requests still open are cut
    /// and recorded once as `interrupted`; users not gone [`WIND_DOWN`] later are aborted.
    async fn stop_all(&mut self, stop: &CancellationToken) {
        self.ctx
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let grace_end = Instant::now() + self.ctx.plan.grace;
        while !self.tasks.is_empty() && !stop.is_cancelled() {
            tokio::select! {
                biased;
                _ = stop.cancelled() => {}
                joined = tokio::time::timeout_at(grace_end, self.tasks.join_next()) => {
                    if joined.is_err() {
                        break;
                    }
                }
            }
        }
        self.run_token.cancel();
        let drain = if stop.is_cancelled() {
            STOP_DRAIN.min(self.ctx.plan.drain)
        } else {
            self.ctx.plan.drain
        };
        let drain_end = Instant::now() + drain;
        while !self.tasks.is_empty() {
            tokio::select! {
                biased;
                // Ctrl-C during the drain shortens it.
                _ = stop.cancelled(), if drain > STOP_DRAIN => {
                    let end = Instant::now() + STOP_DRAIN;
                    while !self.tasks.is_empty()
                        && tokio::time::timeout_at(end, self.tasks.join_next()).await.is_ok()
                    {}
                    break;
                }
                joined = tokio::time::timeout_at(drain_end, self.tasks.join_next()) => {
                    if joined.is_err() {
                        break;
                    }
                }
            }
        }
        self.lanes.account();
        self.deadline.cancel();
        let end = Instant::now() + WIND_DOWN;
        while !self.tasks.is_empty() {
            if tokio::time::timeout_at(end, self.tasks.join_next())
                .await
                .is_err()
            {
                self.ctx
                    .sink
                    .count("users.aborted", self.tasks.len() as u64);
                self.tasks.abort_all();
                while self.tasks.join_next().await.is_some() {}
            }
        }
        for lane in &mut self.lanes.lanes {
            lane.active.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_due_integrate_ramps_and_holds() {
        let stages = crate::plan::Stages::parse("10@10s,10@10s").unwrap();
        // A ramp from 0 to 10/s over 10 s brings 50 arrivals, then 10/s.
        assert!((arrivals_due(&stages, Duration::from_secs(10)) - 50.0).abs() < 1e-9);
        assert!((arrivals_due(&stages, Duration::from_secs(15)) - 100.0).abs() < 1e-9);
        assert_eq!(arrivals_due(&stages, Duration::ZERO), 0.0);
    }

    #[test]
    fn next_arrival_wait_follows_the_rate_within_a_tick() {
        // 100/s with 0.5 integrated: the first arrival is due in 5 ms.
        assert_eq!(next_arrival_in(100.0, 0.5, 0), Duration::from_millis(5));
        // Overdue arrivals: wake at the timer's grain, not in a busy loop.
        assert_eq!(next_arrival_in(100.0, 3.2, 0), Duration::from_millis(1));
        // Slow or zero rates: one tick at most.
        assert_eq!(next_arrival_in(1.0, 0.0, 0), TICK);
        assert_eq!(next_arrival_in(0.0, 0.0, 0), TICK);
    }
}
