//! `throng run ... --workers N --listen ADDR`: this process runs no users; it waits for N
//! workers, starts them at one instant, merges what they report into one live view and one
//! report, moves a lost worker's share to the others, and stops them all on Ctrl-C/SIGTERM.

use super::hub::{merged, Hub, Status};
use super::protocol::{now_unix_ms, Assignment};
use super::secure::random_b64;
use super::server::router;
use super::ui::{worker_lines, CoordinatorUi};
use crate::cli::config::{InputError, Output};
use crate::live::dashboard::{Dashboard, MergedBoard, Numbers};
use crate::live::prometheus::MergedView;
use crate::metrics::{LiveStats, Mode, RunSummary, Totals};
use crate::report::{self, RunMeta, WorkerRow};
use crate::run::capacity;
use crate::run::signals::{stop_signal, StopOnSignal};
use crate::run::RunControl;
use crate::serve::{Limits, Served};
use crate::sync::Locked;
use anyhow::Context;
use futures::FutureExt as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A worker silent this long is lost (workers report every second).
const LOST_AFTER: Duration = Duration::from_secs(5);
/// Time between the start order and the start itself, so every worker has it in hand.
const START_LEAD: Duration = Duration::from_millis(1500);
/// Once every worker joined, how long their readiness (clock measured) is waited for at most.
const READY_WAIT: Duration = Duration::from_secs(5);
/// After the plan (its grace and drain), how long workers get to send their final reports.
const FINAL_WAIT: Duration = Duration::from_secs(60);

/// Ends a run (summary, chosen outputs, thresholds) and returns its exit code: the
/// application's own finishing, handed down so every command ends a run the same way.
pub type Finish<'a> = &'a dyn Fn(&RunSummary, &RunMeta) -> anyhow::Result<ExitCode>;

/// How the coordinator runs.
pub struct Coordination {
    pub listen: SocketAddr,
    /// `--token`; one is generated (and printed) when none is given.
    pub token: Option<String>,
    /// The flag that set the plan's user count (what a share check names).
    pub users_flag: &'static str,
    pub workers: u32,
    pub wait_workers: Duration,
    pub linger: Duration,
    /// The plan's length plus grace and drain (when workers should be done by themselves).
    pub plan_total: Duration,
    /// `--ui`: the dashboard's address.
    pub ui: Option<SocketAddr>,
}

/// Runs a distributed run to its end and returns the exit code (thresholds on merged data).
pub async fn coordinate(
    c: Coordination,
    template: Assignment,
    output: &Output,
    meta: RunMeta,
    finish: Finish<'_>,
) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(c.listen)
        .await
        .with_context(|| format!("--listen {}: cannot listen", c.listen))?;
    let addr = listener.local_addr()?;
    let mode = template.mode.into();
    // Always a token: without one any local process could join and receive the secrets.
    let (token, generated) = match &c.token {
        Some(t) => (t.clone(), false),
        None => (random_b64(24), true),
    };
    let hub = Hub::new(token.clone(), template);
    let limits = Limits::control(64 + 4 * c.workers as usize);
    let served = Served::start(listener, router(hub.clone()), limits);
    let dash = match c.ui {
        Some(bind) => Some(dashboard(bind).await?),
        None => None,
    };
    // Tests and scripts read this line to start workers.
    eprintln!(
        "coordinator: listening on http://{addr}; waiting for {} workers",
        c.workers
    );
    if generated {
        eprintln!(
            "coordinator: no --token given, so this run's token is {token}\n\
             coordinator: start each worker with: THRONG_TOKEN={token} throng worker --connect http://{addr}"
        );
    }

    let control = RunControl::default();
    let signals = StopOnSignal::install(control.clone(), "every worker's report is collected");
    let joined = wait_for_workers(&hub, &c, &control).await;
    if joined < c.workers as usize && !control.is_stopped() {
        served.shutdown(Duration::from_secs(1)).await;
        anyhow::bail!(
            "only {joined} of {} workers joined within {} (--wait-workers)",
            c.workers,
            crate::plan::format_duration(c.wait_workers)
        );
    }
    if let Err(why) = start_all(&hub, &c) {
        // Waiting workers are told (their long poll wakes), then the run ends as bad input.
        tokio::time::sleep(Duration::from_millis(500)).await;
        served.shutdown(Duration::from_secs(1)).await;
        return Err(InputError(why).into());
    }
    // Exports name the run by its start, as the workers' span exports do.
    let run_started = hub.lock().started_unix_ms.unwrap_or_else(now_unix_ms);
    let view = output
        .exporter
        .as_ref()
        .map(|e| e.attach_merged(mode, run_started))
        .or_else(|| output.otlp.as_ref().map(|_| Default::default()));
    if let (Some(otlp), Some(view)) = (&output.otlp, &view) {
        otlp.attach_view(view.clone(), mode, run_started);
    }
    let board = dash.as_ref().map(|d| {
        let board = MergedBoard::default();
        let ui = CoordinatorUi {
            hub: hub.clone(),
            control: control.clone(),
        };
        let shown = RunMeta {
            started_unix_ms: run_started,
            ..meta.clone()
        };
        d.show(
            Numbers::Merged(board.clone()),
            Arc::new(ui),
            shown,
            Some(c.plan_total),
        );
        board
    });
    let watch = Watch {
        quiet: output.quiet,
        view: view.as_ref(),
        board: board.as_ref(),
    };
    let (summary, uncovered) = follow(&hub, &c, &control, watch).await;
    if let Some(d) = &dash {
        d.finished(summary.clone());
    }
    if let Some(v) = &view {
        v.update(summary.clone(), 0, true);
    }
    drop(signals);

    let meta = RunMeta {
        workers: worker_rows(&hub),
        ..RunMeta {
            started_unix_ms: summary.started_unix_ms,
            ..meta
        }
    };
    let mut code = finish(&summary, &meta);
    if !uncovered.is_zero() {
        eprintln!(
            "coordinator: the plan was not carried out: no worker ran for {} of it (every worker \
             was lost and none rejoined in time)",
            crate::plan::format_duration(uncovered)
        );
        code = code.map(|_| ExitCode::FAILURE);
    }
    let thresholds = report::evaluate_all(&output.thresholds, &summary);
    let results = report::Renderer::render(
        &report::JsonRenderer,
        &report::ReportInput {
            summary: &summary,
            meta: &meta,
            thresholds: &thresholds,
        },
    );
    *hub.results.locked() = results.ok();
    if !c.linger.is_zero() {
        eprintln!(
            "coordinator: results at http://{addr}/v1/results for {}",
            crate::plan::format_duration(c.linger)
        );
        tokio::select! {
            _ = tokio::time::sleep(c.linger) => {}
            _ = stop_signal() => {}
        }
    }
    output.close_export().await;
    served.shutdown(Duration::from_secs(2)).await;
    if let Some(d) = dash {
        d.shutdown().await;
    }
    code
}

/// The dashboard (`--ui`), serving before the workers join; it takes no new runs.
async fn dashboard(bind: SocketAddr) -> anyhow::Result<Dashboard> {
    let mut dash = Dashboard::serve(bind).await?;
    drop(dash.commands());
    if !bind.ip().is_loopback() {
        eprintln!(
            "warning: the dashboard listens on {}: anyone who can reach it can open the page \
             and control the run",
            dash.addr()
        );
    }
    eprintln!("coordinator: dashboard at {}", dash.url());
    Ok(dash)
}

/// Where `follow` shows the run as it goes.
struct Watch<'a> {
    quiet: bool,
    view: Option<&'a MergedView>,
    board: Option<&'a MergedBoard>,
}

/// Waits until the workers asked for have joined and every one is ready for its assignment
/// (its clock measured), or the wait is over; returns how many joined.
async fn wait_for_workers(hub: &Hub, c: &Coordination, control: &RunControl) -> usize {
    let deadline = Instant::now() + c.wait_workers;
    // Readiness is waited for a little beyond the joins (a worker that never asks goes without).
    let mut ready_by = None;
    loop {
        let (joined, ready) = {
            let run = hub.lock();
            (
                run.live().count(),
                run.live().filter(|(_, w)| w.ready).count(),
            )
        };
        let all_joined = joined >= c.workers as usize;
        if all_joined && ready_by.is_none() {
            ready_by = Some(Instant::now() + READY_WAIT);
        }
        let settled = ready >= joined || ready_by.is_some_and(|t| Instant::now() >= t);
        if (all_joined && settled) || Instant::now() >= deadline || control.is_stopped() {
            return joined;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One start instant for everyone (on the coordinator's clock; each worker converts it with
/// the offset it measured when it joined), once every mode has workers that can run it and
/// every share fits its worker: Err(why) when not (the waiting workers are told to stop).
fn start_all(hub: &Hub, c: &Coordination) -> Result<(), String> {
    let start = now_unix_ms() + START_LEAD.as_millis() as u64;
    let mut run = hub.lock();
    let peaks = hub.plan().mode_peaks(hub.mode());
    for w in run.workers.values_mut() {
        if w.status == Status::Waiting {
            w.status = Status::Running;
            w.start_unix_ms = start;
        }
    }
    run.reshare();
    let refused = match run.unserved.first() {
        Some(mode) => Some(unserved(*mode, &run)),
        None => run.workers.iter().find_map(|(id, w)| {
            let users: u64 = peaks
                .iter()
                .map(|(m, peak)| w.modes.of(*m).map_or(0, |s| s.part(*peak as usize)) as u64)
                .sum();
            let machine = format!("worker {id} ({})", w.name);
            let memory = w.memory_bytes?;
            capacity::check_users_fit(users, c.users_flag, memory, &machine).err()
        }),
    };
    if let Some(why) = refused {
        run.refused = Some(why.clone());
        drop(run);
        hub.changed.notify_waiters();
        return Err(why);
    }
    run.started_unix_ms = Some(start);
    drop(run);
    hub.changed.notify_waiters();
    Ok(())
}

/// Why a run with `mode` users cannot start: no joined worker's role takes them.
fn unserved(mode: Mode, run: &super::hub::Run) -> String {
    let roles: Vec<String> = run
        .workers
        .values()
        .map(|w| format!("{} (--role {})", w.name, w.role.as_str()))
        .collect();
    format!(
        "the run has {mode} users but no worker can run them (joined: {}): start a worker with \
         --role {mode} or --role any",
        roles.join(", ")
    )
}

/// Watches the run until every worker is done, or the plan is over: the merged progress
/// line, lost workers (their share moves on), the stop order. With every worker lost before
/// the plan's end it waits for one to rejoin. Returns the merged summary and how long the
/// plan ran with no worker at all.
async fn follow(
    hub: &Hub,
    c: &Coordination,
    control: &RunControl,
    watch: Watch<'_>,
) -> (RunSummary, Duration) {
    let started = Instant::now() + START_LEAD;
    let end_by = started + c.plan_total;
    let bar = (!watch.quiet).then(|| crate::live::Progress::new(Some(c.plan_total)));
    let mut ordered_stop_at: Option<Instant> = None;
    let mut uncovered = Duration::ZERO;
    let mut last_tick = Instant::now();
    // The merged view for the progress line, dashboard and exporters is made off this loop:
    // merging many keys takes long, and the loop's work (lost workers, the plan's end, the
    // stop order) must keep its second.
    // At most half of the coordinator's time goes to it: a view that took T waits T before
    // the next one starts.
    let mut live_view: Option<tokio::task::JoinHandle<(RunSummary, Totals, Duration)>> = None;
    let mut next_view = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let tick = last_tick.elapsed();
        last_tick = Instant::now();
        // The view made since the last tick (shown a tick late), before the next is due.
        if live_view.as_ref().is_some_and(|v| v.is_finished()) {
            let done = live_view.take().and_then(|v| v.now_or_never());
            if let Some(Ok((merged, totals, took))) = done {
                next_view = Instant::now() + took;
                let live_stats = live_stats(&merged, &totals, hub, started);
                if let Some(bar) = &bar {
                    bar.tick(&live_stats);
                }
                if let Some(b) = watch.board {
                    b.update(live_stats.clone(), merged.clone(), worker_lines(hub));
                }
                if let Some(v) = watch.view {
                    v.update(merged, live_stats.users, false);
                }
            }
        }
        let planned = planned_users(hub, started);
        let (parts, live, all_done) = {
            let mut run = hub.lock();
            lose_silent_workers(&mut run, planned);
            if control.is_stopped() {
                run.stop = true;
            }
            let live = run.live().count();
            // None live and some done: those carried the plan to its end (their shares took
            // the lost workers' ones); waiting out the drain would only count time uncovered.
            let all_done = run.workers.values().any(|w| w.status == Status::Done)
                && run
                    .workers
                    .values()
                    .all(|w| matches!(w.status, Status::Done | Status::Lost));
            // The previous view still merging (many keys): this tick shows nothing new.
            let due = live_view.is_none() && Instant::now() >= next_view;
            let parts = due.then(|| run.parts());
            (parts, live, all_done)
        };
        if let Some(parts) = parts {
            live_view = Some(tokio::task::spawn_blocking(move || {
                let began = Instant::now();
                let merged = merged(&parts);
                let totals = merged.total(None, None);
                (merged, totals, began.elapsed())
            }));
        }
        let past_plan = Instant::now() > end_by;
        if live == 0 {
            if all_done || control.is_stopped() || past_plan {
                break;
            }
            // Every worker lost with plan left: a rejoining worker takes the whole share.
            if uncovered.is_zero() {
                eprintln!(
                    "coordinator: every worker is lost; waiting for one to rejoin until the \
                     plan's end"
                );
            }
            if Instant::now() > started {
                uncovered += tick;
            }
            continue;
        }
        // Past the plan (and grace) the workers end by themselves; a stop order ends them now.
        // Either way they get a bounded time to report, then the rest is lost.
        if control.is_stopped() || past_plan {
            let at = *ordered_stop_at.get_or_insert_with(Instant::now);
            if at.elapsed() > FINAL_WAIT {
                let mut run = hub.lock();
                let mut late = 0;
                for w in run.workers.values_mut() {
                    if matches!(w.status, Status::Running | Status::Waiting) {
                        w.status = Status::Lost;
                        late += 1;
                    }
                }
                *run.counters.entry("workers.lost".into()).or_default() += late;
                break;
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish();
    }
    if let Some(v) = live_view {
        v.abort();
    }
    let parts = hub.lock().parts();
    let summary = tokio::task::spawn_blocking(move || merged(&parts))
        .await
        .expect("the merge does not panic");
    (summary, uncovered)
}

/// Workers silent past [`LOST_AFTER`] are lost: counted, with their running sessions, and
/// their share moved to the others.
fn lose_silent_workers(run: &mut super::hub::Run, planned: usize) {
    let mut lost_now = Vec::new();
    for (id, w) in run.workers.iter_mut() {
        if w.status == Status::Running && w.last_seen.elapsed() > LOST_AFTER {
            w.status = Status::Lost;
            // Its running sessions: as it last reported, or its share of the plan's users if
            // it died before reporting them.
            let share = w.share.map_or(0, |s| s.part(planned) as u64);
            lost_now.push((*id, w.name.clone(), w.users.max(share)));
        }
    }
    for (id, name, users) in &lost_now {
        eprintln!(
            "coordinator: worker {id} ({name}) lost with {users} users; its share moves to the others"
        );
        *run.counters.entry("workers.lost".into()).or_default() += 1;
        *run.counters.entry("sessions.lost".into()).or_default() += users;
    }
    if !lost_now.is_empty() {
        let before = run.unserved.clone();
        run.reshare();
        for mode in run.unserved.iter().filter(|m| !before.contains(m)) {
            eprintln!(
                "coordinator: no worker left can run {mode} users: they wait for a worker \
                 with --role {mode} or any to join"
            );
        }
    }
}

/// The closed model's user target now (0 for an arrival rate: its users come and go).
fn planned_users(hub: &Hub, started: Instant) -> usize {
    match &hub.plan().arrival {
        crate::plan::Arrival::Users(stages) => {
            let at = Instant::now().saturating_duration_since(started);
            let users = hub.lock().users_override;
            users.map_or_else(|| stages.target_at(at).round() as usize, |u| u as usize)
        }
        crate::plan::Arrival::Rate { .. } => 0,
    }
}

/// The progress line's numbers from the merged view.
fn live_stats(merged: &RunSummary, totals: &Totals, hub: &Hub, started: Instant) -> LiveStats {
    let users = hub.lock().live().map(|(_, w)| w.users).sum();
    let last = merged.series.last();
    LiveStats {
        elapsed: started.elapsed(),
        users,
        rps: last.map_or(0.0, |s| s.rps),
        p95_ms: last.and_then(|s| s.p95_ms),
        errors: totals.failures,
        requests: totals.count,
        generator: merged
            .generator
            .as_ref()
            .and_then(|g| g.samples.last().copied()),
    }
}

/// One row per worker for the report.
fn worker_rows(hub: &Arc<Hub>) -> Vec<WorkerRow> {
    let run = hub.lock();
    run.workers
        .values()
        .map(|w| {
            let (requests, failures) = super::ui::request_counts(&w.summary);
            WorkerRow {
                name: w.name.clone(),
                role: w.role.as_str().into(),
                status: format!("{:?}", w.status).to_ascii_lowercase(),
                peak_users: w.summary.peak_users,
                requests,
                failures,
                cpu_s: w.cpu_s,
                mem_mb: w.mem_mb,
            }
        })
        .collect()
}
