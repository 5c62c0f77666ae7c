//! `throng worker --connect URL`: joins a coordinator, receives everything it needs (flows with
//! their data, variables and secrets, its share of the plan, mode and options), starts at the
//! coordinator's instant, reports what it measured once a second, and follows the replies.
//! Load never outlives its coordinator: unreachable for 10 s, the worker stops.

use super::protocol::{
    now_unix_ms, proof_holds, random_token, Assignment, Join, Reply, Report, ShippedFlow, Welcome,
};
use crate::cli::args::{ModeArg, WorkerArgs};
use crate::cli::config::{self, InputError};
use crate::metrics::{Mode, RunSummary, Sink};
use crate::plan::parse_duration;
use crate::run::signals::StopOnSignal;
use crate::run::{self, FlowChoice, RunControl};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Coordinator unreachable this long: the worker stops its load.
const CUT_OFF_AFTER: Duration = Duration::from_secs(10);
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// The worker's side of the channel: base URL, token, HTTP client.
struct Channel {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Channel {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn join(&self, name: &str) -> anyhow::Result<(Welcome, i64)> {
        let nonce = random_token();
        let sent = now_unix_ms();
        let welcome: Welcome = self
            .request(reqwest::Method::POST, "/v1/join")
            .json(&Join {
                name: name.to_string(),
                nonce: nonce.clone(),
                now_unix_ms: sent,
            })
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if let Some(token) = &self.token {
            anyhow::ensure!(
                proof_holds(token, &nonce, &welcome.proof),
                "the coordinator at {} does not hold the token: refusing its orders",
                self.base
            );
        }
        // The coordinator's clock minus ours, assuming the answer came halfway.
        let received = now_unix_ms();
        let offset = welcome.now_unix_ms as i64 - ((sent + received) / 2) as i64;
        Ok((welcome, offset))
    }

    async fn assignment(&self, worker: u64) -> anyhow::Result<Option<Assignment>> {
        let resp = self
            .request(
                reqwest::Method::GET,
                &format!("/v1/assignment?worker={worker}"),
            )
            .send()
            .await?
            .error_for_status()?;
        if resp.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(resp.json().await?))
    }

    async fn report(&self, report: &Report) -> anyhow::Result<Reply> {
        Ok(self
            .request(reqwest::Method::POST, "/v1/report")
            .json(report)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}

pub async fn work(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let wait = parse_duration(&args.wait).map_err(|e| InputError(format!("--wait: {e}")))?;
    let base = args.connect.trim_end_matches('/').to_string();
    url::Url::parse(&base).map_err(|e| InputError(format!("--connect `{base}`: {e}")))?;
    let channel = Channel {
        base,
        token: args.token.clone(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
    };
    let name = args.name.clone().unwrap_or_else(default_name);
    let (welcome, clock_offset) = retry_until(wait, || channel.join(&name))
        .await
        .with_context(|| format!("joining {}", channel.base))?;
    let id = welcome.worker_id;
    eprintln!("worker {id}: joined {} as {name}", channel.base);
    let assignment = wait_for_assignment(&channel, id).await?;
    let dir = tempfile::tempdir().context("a temporary directory for the flows")?;
    let spec = build_spec(&assignment, &args, dir.path())?;
    let control = RunControl::default();
    control.set_share(assignment.share);
    // Start at the coordinator's instant, on our clock.
    let start_local = assignment.start_unix_ms as i64 - clock_offset;
    let wait_ms = (start_local - now_unix_ms() as i64).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    let late = (now_unix_ms() as i64 - start_local).max(0) as u64;
    control.set_plan_offset(Duration::from_millis(assignment.plan_offset_ms + late));
    eprintln!(
        "worker {id}: running share {} of {} ({} mode), started at {} (coordinator clock)",
        assignment.share.index + 1,
        assignment.share.of,
        spec.mode.as_str(),
        (now_unix_ms() as i64 + clock_offset)
    );
    let signals = StopOnSignal::install(control.clone(), "the final report is sent");
    let sink = Sink::new();
    // The worker's own CPU, in the summaries it reports (the coordinator merges them).
    let sampler = crate::health::Sampler::start(Some(sink.clone()), Default::default());
    let run = tokio::spawn(run::execute_with(spec, sink.clone(), control.clone()));
    let summary = report_while_running(&channel, id, &sink, &control, run).await?;
    drop(sampler);
    drop(signals);
    send_final(&channel, id, summary).await;
    Ok(ExitCode::SUCCESS)
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}

/// Retries `f` (the coordinator may not be up yet) until it succeeds or `limit` passes.
async fn retry_until<T, F, Fut>(limit: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let end = Instant::now() + limit;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= end => return Err(e),
            Err(e) if e.to_string().contains("does not hold the token") => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Long-polls for the assignment; the coordinator unreachable for 10 s ends the wait.
async fn wait_for_assignment(channel: &Channel, id: u64) -> anyhow::Result<Assignment> {
    let mut last_ok = Instant::now();
    loop {
        match channel.assignment(id).await {
            Ok(Some(a)) => return Ok(a),
            Ok(None) => last_ok = Instant::now(),
            Err(e) if last_ok.elapsed() > CUT_OFF_AFTER => {
                return Err(e).context("the coordinator went away before the run started")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
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
    // Spans stay with the worker's sink only when it exports them (it does not yet): the
    // coordinator exports the merged metrics; --trace still sends trace context and keeps
    // the slowest requests' trace ids.
    replay.otlp = None;
    replay.otlp_header.clear();
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
    if let Some(url) = &s.url {
        return Ok(config::url_flow(url)?);
    }
    let flow = s.flow.clone().context("a shipped flow without a flow")?;
    Ok(config::prepare(
        flow, &s.name, &s.label, dir, target, &a.vars,
    )?)
}

/// Reports once a second while the run goes on; applies the coordinator's replies (stop,
/// share, users); stops the load when the coordinator has been unreachable for 10 s.
async fn report_while_running(
    channel: &Channel,
    id: u64,
    sink: &Sink,
    control: &RunControl,
    mut run: tokio::task::JoinHandle<anyhow::Result<RunSummary>>,
) -> anyhow::Result<RunSummary> {
    let mut last_ok = Instant::now();
    let mut acked_ms = 0u64;
    let mut tick = tokio::time::interval(REPORT_EVERY);
    loop {
        tokio::select! {
            result = &mut run => return result.context("the run task")?,
            _ = tick.tick() => {}
        }
        let report = snapshot_report(id, sink, acked_ms, false);
        match channel.report(&report).await {
            Ok(reply) => {
                last_ok = Instant::now();
                acked_ms = reply.series_acked_ms.max(acked_ms);
                if reply.stop && !control.is_stopped() {
                    eprintln!("worker {id}: the coordinator says stop");
                    control.stop();
                }
                if reply.share != control.share() {
                    eprintln!(
                        "worker {id}: share now {} of {}",
                        reply.share.index + 1,
                        reply.share.of
                    );
                    control.set_share(reply.share);
                }
                control.set_users(reply.users);
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

fn snapshot_report(id: u64, sink: &Sink, acked_ms: u64, done: bool) -> Report {
    let mut summary = sink.snapshot();
    summary.series.retain(|s| s.t_ms > acked_ms);
    let (cpu_s, mem_mb) = own_cost();
    Report {
        worker_id: id,
        summary,
        users: sink.users().get(),
        done,
        cpu_s,
        mem_mb,
    }
}

/// The final report, retried for a while (the coordinator may be busy); after that what it
/// did not receive is the coordinator's loss, counted there.
async fn send_final(channel: &Channel, id: u64, summary: RunSummary) {
    let (cpu_s, mem_mb) = own_cost();
    let report = Report {
        worker_id: id,
        summary,
        users: 0,
        done: true,
        cpu_s,
        mem_mb,
    };
    let sent = retry_until(CUT_OFF_AFTER, || channel.report(&report)).await;
    if let Err(e) = sent {
        eprintln!("worker {id}: the final report was not delivered: {e:#}");
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
