//! `throng worker --connect URL`: joins a coordinator, receives everything it needs (flows with
//! their data, variables and secrets, its share of the plan, mode and options), starts at the
//! coordinator's instant, reports what it measured once a second, and follows the replies.
//! Load never outlives its coordinator: unreachable for 10 s, or no longer knowing this run,
//! the worker stops. It obeys only a coordinator that proved the token, and uses only what
//! that coordinator ships: no local files, no environment variables but its own `THRONG_*`.

use super::channel::{Channel, ChannelError};
use super::delta::Acked;
use super::hub::printable;
use super::protocol::{now_unix_ms, Assignment, Orders, Reply, Report, ShippedFlow};
use crate::cli::args::{ModeArg, RoleArg, WorkerArgs};
use crate::cli::config::{self, InputError};
use crate::live::otlp::{OtlpExporter, OtlpOptions};
use crate::metrics::{Mode, RunSummary, Sink};
use crate::plan::parse_duration;
use crate::run::signals::StopOnSignal;
use crate::run::{self, capacity, FlowChoice, RunControl};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Coordinator unreachable this long: the worker stops its load.
const CUT_OFF_AFTER: Duration = Duration::from_secs(10);
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// Round trips sampled for the clock offset (the fastest is kept).
const CLOCK_SAMPLES: usize = 5;
/// Answers' sizes at most: an assignment carries the flows and their data.
const ASSIGNMENT_LIMIT: usize = 256 << 20;
const REPLY_LIMIT: usize = 64 << 10;

pub async fn work(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let wait = parse_duration(&args.wait).map_err(|e| InputError(format!("--wait: {e}")))?;
    let connect = args.connect.trim_end_matches('/');
    let shown = crate::outbound::strip_userinfo(connect).into_owned();
    let base = url::Url::parse(connect)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            InputError(format!(
                "--connect `{shown}`: expected http://HOST:PORT or https://HOST:PORT"
            ))
        })?;
    let token = args
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            InputError(
                "a worker needs the run's token: --token or THRONG_TOKEN (the coordinator prints \
             it when it generates one)"
                    .into(),
            )
        })?;
    let cacert = match &args.cacert {
        Some(p) => Some(
            std::fs::read(p).map_err(|e| InputError(format!("--cacert {}: {e}", p.display())))?,
        ),
        None => None,
    };
    let mut channel = Channel::new(base, token, cacert).map_err(InputError)?;
    let name = args.name.clone().unwrap_or_else(default_name);
    let memory = capacity::available_memory();
    let (id, first_offset) = join(&mut channel, &name, memory, args.role, wait)
        .await
        .with_context(|| format!("joining {}", channel.shown))?;
    let clock_offset = channel.clock_offset(CLOCK_SAMPLES, first_offset).await;
    eprintln!(
        "worker {id}: joined {} as {name} (role {})",
        channel.shown,
        args.role.as_str()
    );
    let assignment = match wait_for_assignment(&channel).await? {
        Ok(a) => a,
        Err(why) => {
            eprintln!("worker {id}: the coordinator says stop: {why}");
            return Ok(ExitCode::FAILURE);
        }
    };
    check_share(&assignment, args.role)?;
    let dir = tempfile::tempdir().context("a temporary directory for the flows")?;
    let spec = build_spec(&assignment, &args, dir.path())?;
    let control = RunControl::default();
    if args.role == RoleArg::Http {
        control.set_no_browsers();
    }
    control.set_shares(assignment.share, assignment.modes);
    // Start at the coordinator's instant, on our clock.
    let start_local = assignment.start_unix_ms as i64 - clock_offset;
    let wait_ms = (start_local - now_unix_ms() as i64).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    let late = (now_unix_ms() as i64 - start_local).max(0) as u64;
    control.set_plan_offset(Duration::from_millis(assignment.plan_offset_ms + late));
    eprintln!(
        "worker {id}: running share {} of {} ({} mode; users: {}), started at {} (coordinator clock)",
        assignment.share.index + 1,
        assignment.share.of,
        spec.mode.as_str(),
        assignment.modes.describe(),
        (now_unix_ms() as i64 + clock_offset)
    );
    let signals = StopOnSignal::install(control.clone(), "the final report is sent");
    let sink = Sink::new();
    let spans = span_exporter(&assignment)?;
    if let Some(otlp) = &spans {
        let run_started = assignment
            .start_unix_ms
            .saturating_sub(assignment.plan_offset_ms);
        otlp.attach_to_run(sink.clone(), spec.mode, run_started);
    }
    // The worker's own CPU, in the summaries it reports (the coordinator merges them).
    let sampler = crate::health::Sampler::start(Some(sink.clone()), Default::default());
    let run = tokio::spawn(run::execute_with(spec, sink.clone(), control.clone()));
    let reporter = Reporter {
        channel: &channel,
        id,
        clock_offset,
    };
    let (summary, gone) = reporter.while_running(&sink, &control, run).await?;
    drop(sampler);
    drop(signals);
    if gone {
        eprintln!("worker {id}: its measurements went to no coordinator");
        return Ok(ExitCode::FAILURE);
    }
    let delivered = reporter.send_final(summary).await;
    // After the report (the coordinator waits for it): the last spans, within the final
    // export's budget.
    if let Some(otlp) = &spans {
        otlp.close().await;
    }
    match delivered {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("worker {id}: the final report was not delivered: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The coordinator's `--otlp` for this worker's spans (its metrics go through the
/// coordinator): the same collector and headers, trusting the shipped `--cacert`.
fn span_exporter(a: &Assignment) -> anyhow::Result<Option<OtlpExporter>> {
    let Some(endpoint) = &a.replay.otlp else {
        return Ok(None);
    };
    let interval = parse_duration(&a.replay.otlp_interval)
        .map_err(|e| anyhow::anyhow!("the coordinator's --otlp-interval: {e}"))?;
    let mut options = OtlpOptions::new(endpoint, &a.replay.otlp_header, interval)
        .map_err(|e| anyhow::anyhow!("the coordinator's {e}"))?;
    options.spans_only = true;
    let cacert = a.cacert.clone().map(String::into_bytes);
    Ok(Some(OtlpExporter::new(options, cacert)?))
}

/// Joins, retrying while the coordinator may not be up yet (at most `limit`); an impostor
/// or a refusal ends it at once.
async fn join(
    channel: &mut Channel,
    name: &str,
    memory: Option<u64>,
    role: RoleArg,
    limit: Duration,
) -> Result<(u64, i64), ChannelError> {
    let end = Instant::now() + limit;
    loop {
        match channel.join(name, memory, role).await {
            Ok(v) => return Ok(v),
            Err(e @ (ChannelError::Impostor(..) | ChannelError::Gone(_))) => return Err(e),
            Err(e) if Instant::now() >= end => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Long-polls for the assignment (Err(why) when told to stop); the coordinator unreachable
/// for 10 s ends the wait.
async fn wait_for_assignment(channel: &Channel) -> anyhow::Result<Result<Box<Assignment>, String>> {
    let mut last_ok = Instant::now();
    loop {
        match channel
            .call::<_, Orders>("/v1/assignment", &(), ASSIGNMENT_LIMIT)
            .await
        {
            Ok(Orders::Start(a)) => return Ok(Ok(a)),
            Ok(Orders::Stop { why }) => return Ok(Err(why)),
            Ok(Orders::Wait) => last_ok = Instant::now(),
            Err(ChannelError::Gone(why)) => return Ok(Err(why)),
            Err(e @ ChannelError::Impostor(..)) => return Err(e.into()),
            Err(e) if last_ok.elapsed() > CUT_OFF_AFTER => {
                return Err(e).context("the coordinator went away before the run started")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// This worker's share must fit it, and its role, whatever the coordinator checked.
fn check_share(a: &Assignment, role: RoleArg) -> Result<(), InputError> {
    if role == RoleArg::Http && a.modes.browser.is_some() {
        return Err(InputError(
            "the coordinator gave browser users to a worker with --role http; refusing the \
             assignment"
                .into(),
        ));
    }
    let users: u64 = (a.plan.mode_peaks(a.mode.into()).into_iter())
        .map(|(m, peak)| a.modes.of(m).map_or(0, |s| s.part(peak as usize)) as u64)
        .sum();
    match capacity::available_memory() {
        Some(available) => {
            capacity::check_users_fit(users, "the coordinator's plan", available, "this worker")
                .map_err(InputError)
        }
        None => Ok(()),
    }
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}

/// The run spec from an assignment: flows written nowhere (they arrive parsed), CSV data as
/// lists (this worker keeps its share of `unique` ones), this machine's browser.
fn build_spec(a: &Assignment, args: &WorkerArgs, dir: &Path) -> anyhow::Result<run::RunSpec> {
    let target = a
        .target
        .as_deref()
        .map(url::Url::parse)
        .transpose()
        .context("the coordinator's --target")?;
    let mut flows = Vec::new();
    for shipped in &a.flows {
        let mut prepared = prepare_shipped(shipped, target.as_ref(), a, dir)?;
        if let Some(sources) = Arc::get_mut(&mut prepared.sources) {
            sources.keep_share(a.share);
        }
        flows.push(FlowChoice {
            mode: None,
            flow: Arc::new(prepared),
            weight: shipped.weight,
        });
    }
    let mut replay = a.replay.clone();
    replay.chrome = args.chrome.clone();
    replay.out = None;
    replay.format.clear();
    replay.threshold.clear();
    replay.quiet = true;
    // The coordinator exports the merged run; a worker exports nothing.
    replay.metrics = None;
    replay.remote_write = None;
    // `--otlp` stays: the worker exports its own spans (see `span_exporter`); the
    // coordinator exports the merged metrics.
    replay.cacert = match &a.cacert {
        Some(pem) => {
            let path = dir.join("cacert.pem");
            std::fs::write(&path, pem)?;
            Some(path)
        }
        None => None,
    };
    let mode = match a.mode {
        ModeArg::Http => Mode::Http,
        ModeArg::Browser => Mode::Browser,
    };
    Ok(config::run_spec(flows, a.plan.clone(), mode, &replay)?)
}

fn prepare_shipped(
    s: &ShippedFlow,
    target: Option<&url::Url>,
    a: &Assignment,
    dir: &Path,
) -> anyhow::Result<crate::replay::PreparedFlow> {
    let prepared = match &s.url {
        Some(url) => config::url_flow(url)?,
        None => {
            let mut flow = s.flow.clone().context("a shipped flow without a flow")?;
            shipped_only(&mut flow, &s.label, &a.vars)?;
            config::prepare(flow, &s.name, &s.label, dir, target, &a.vars)?
        }
    };
    Ok(match &s.network {
        Some(net) => config::with_network(prepared, net, &s.label)?,
        None => prepared,
    })
}

/// A worker uses only what its coordinator ships: a flow naming a local file, or a secret
/// to read from this machine's environment, is refused (a coordinator inlines its data and
/// resolves its secrets before shipping them).
fn shipped_only(
    flow: &mut crate::flow::Flow,
    label: &str,
    vars: &std::collections::HashMap<String, String>,
) -> Result<(), InputError> {
    for v in &mut flow.variables {
        if let Some(csv) = &v.csv {
            return Err(InputError(format!(
                "{label}: variable `{}` names a file on this machine ({}): a worker reads no \
                 local files; refusing the assignment",
                v.name,
                printable(&csv.file)
            )));
        }
        if let Some(secret) = &mut v.secret {
            if !vars.contains_key(&v.name) {
                return Err(InputError(format!(
                    "{label}: secret `{}` was not shipped: a worker reads no environment \
                     variables for a coordinator; refusing the assignment",
                    v.name
                )));
            }
            secret.env = None;
        }
    }
    Ok(())
}

/// The worker's side of reporting: its channel, id and clock offset.
struct Reporter<'a> {
    channel: &'a Channel,
    id: u64,
    /// The coordinator's clock minus ours (ms): summaries travel on the coordinator's clock.
    clock_offset: i64,
}

impl Reporter<'_> {
    /// Reports once a second while the run goes on; applies the coordinator's replies (stop,
    /// share, users); stops the load when the coordinator has been unreachable for 10 s, or
    /// at once when it no longer knows this run. Returns the summary and whether the
    /// coordinator is gone.
    async fn while_running(
        &self,
        sink: &Sink,
        control: &RunControl,
        mut run: tokio::task::JoinHandle<anyhow::Result<RunSummary>>,
    ) -> anyhow::Result<(RunSummary, bool)> {
        let id = self.id;
        let mut last_ok = Instant::now();
        let mut acked_ms = 0u64;
        let mut acked = Acked::default();
        let mut gone = false;
        let mut tick = tokio::time::interval(REPORT_EVERY);
        loop {
            tokio::select! {
                result = &mut run => return Ok((result.context("the run task")??, gone)),
                _ = tick.tick() => {}
            }
            if gone {
                continue;
            }
            let mut summary = sink.snapshot();
            summary.series.retain(|s| s.t_ms > acked_ms);
            acked.changed(&mut summary);
            let mut report = self.report(summary, sink.users().get(), false);
            report.partial = true;
            match self
                .channel
                .call::<_, Reply>("/v1/report", &report, REPLY_LIMIT)
                .await
            {
                Ok(reply) => {
                    last_ok = Instant::now();
                    acked_ms = reply.series_acked_ms.max(acked_ms);
                    acked.ack(&report.summary);
                    if reply.stop && !control.is_stopped() {
                        eprintln!("worker {id}: the coordinator says stop");
                        control.stop();
                    }
                    if reply.share != control.share() || reply.modes != control.mode_shares() {
                        eprintln!(
                            "worker {id}: share now {} of {} (users: {})",
                            reply.share.index + 1,
                            reply.share.of,
                            reply.modes.describe()
                        );
                        control.set_shares(reply.share, reply.modes);
                    }
                    control.set_users(reply.users);
                }
                Err(e @ (ChannelError::Gone(_) | ChannelError::Impostor(..))) => {
                    eprintln!("worker {id}: {e}: stopping the load");
                    control.stop();
                    gone = true;
                }
                Err(e) => {
                    if last_ok.elapsed() > CUT_OFF_AFTER && !control.is_stopped() {
                        eprintln!(
                            "worker {id}: coordinator unreachable for {} s ({e}): stopping the load",
                            CUT_OFF_AFTER.as_secs()
                        );
                        control.stop();
                    }
                }
            }
        }
    }

    /// A report of `summary`, its start on the coordinator's clock.
    fn report(&self, mut summary: RunSummary, users: u64, done: bool) -> Report {
        if summary.started_unix_ms > 0 {
            summary.started_unix_ms =
                (summary.started_unix_ms as i64 + self.clock_offset).max(1) as u64;
        }
        let (cpu_s, mem_mb) = own_cost();
        Report {
            worker_id: self.id,
            summary,
            users,
            done,
            partial: false,
            cpu_s,
            mem_mb,
        }
    }

    /// The final report, retried for a while (the coordinator may be busy).
    async fn send_final(&self, summary: RunSummary) -> Result<(), ChannelError> {
        let report = self.report(summary, 0, true);
        let end = Instant::now() + CUT_OFF_AFTER;
        loop {
            match self
                .channel
                .call::<_, Reply>("/v1/report", &report, REPLY_LIMIT)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e @ (ChannelError::Gone(_) | ChannelError::Impostor(..))) => return Err(e),
                Err(e) if Instant::now() >= end => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}

/// throng's own CPU seconds and peak resident memory (MB), from /proc (zeros elsewhere).
fn own_cost() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, r)| r.split_whitespace().collect());
    // After the name: state is field 3; utime 14 and stime 15 (1-based), in clock ticks.
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu_s = (ticks(14) + ticks(15)) / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu_s, hwm_kb / 1024.0)
}
