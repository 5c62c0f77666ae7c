//! `throng compare`: the same flows and plan in HTTP mode and in browser mode (one after the
//! other, or both at once), the generator's own cost measured for each, then the side-by-side
//! comparison on the terminal and in report.html.

use super::args::{Cli, Command, CompareArgs};
use super::config::{self, InputError, Output};
use super::lifecycle::{finish, run_live, StopOnSignal};
use crate::metrics::{Mode, RunSummary, Sink};
use crate::report::compare::{Comparison, ModeCost, ModeFacts};
use crate::report::RunMeta;
use crate::run::{RunControl, RunSpec};
use clap::Parser;
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where a compare run is, for observers (tests count the target's requests per mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// About to start this mode (sequential), or both (concurrent: Http then Browser).
    Starting(Mode),
    /// This mode's run ended.
    Finished(Mode),
}

/// What `throng compare` produced.
pub struct CompareOutcome {
    pub exit: ExitCode,
    /// None when a mode did not run (stopped with Ctrl-C before the browser phase).
    pub comparison: Option<Comparison>,
    /// Both modes merged.
    pub summary: RunSummary,
    /// What was run, with each mode's facts.
    pub meta: RunMeta,
}

pub async fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    Ok(compare_observed(args, &mut |_| {}).await?.exit)
}

/// Runs `throng compare ...` from an argument list in-process (argv[0] is the program name),
/// calling `on_phase` as modes start and finish.
pub async fn compare_argv<I, T>(
    argv: I,
    on_phase: &mut (dyn FnMut(Phase) + Send),
) -> anyhow::Result<CompareOutcome>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(argv).map_err(|e| InputError(e.to_string()))?;
    match cli.command {
        Command::Compare(args) => compare_observed(args, on_phase).await,
        _ => Err(InputError("expected `throng compare ...`".into()).into()),
    }
}

async fn compare_observed(
    args: CompareArgs,
    on_phase: &mut (dyn FnMut(Phase) + Send),
) -> anyhow::Result<CompareOutcome> {
    let overrides = config::vars(&args.replay)?;
    let plan = config::plan(&args.plan, 1, "30s")?;
    config::check_capacity(&args.plan, &plan)?;
    let output = config::output(&args.replay)?;
    let spec = |mode| -> anyhow::Result<RunSpec> {
        let flows = config::flows(
            &args.flows,
            &args.weighted,
            args.target.as_deref(),
            &overrides,
        )?;
        Ok(config::run_spec(flows, plan.clone(), mode, &args.replay)?)
    };
    let (http_spec, browser_spec) = (spec(Mode::Http)?, spec(Mode::Browser)?);
    let control = RunControl::default();
    let signals = StopOnSignal::install(control.clone(), "the report is written");
    let runs = if args.concurrent {
        concurrent(http_spec, browser_spec, &output, &control, on_phase).await
    } else {
        sequential(http_spec, browser_spec, &output, &control, on_phase).await
    };
    drop(signals);
    let runs = runs?;

    let flow_names: Vec<String> = args.flows.iter().chain(&args.weighted).cloned().collect();
    let mut summary = runs[0].0.clone();
    let mut modes = vec![Mode::Http];
    if let Some((b, _)) = runs.get(1) {
        summary.merge(b);
        modes.push(Mode::Browser);
    }
    let mode_facts = runs
        .iter()
        .zip([Mode::Http, Mode::Browser])
        .map(|((s, cost), mode)| ModeFacts {
            cost: Some(*cost),
            ..ModeFacts::of_run(mode, s)
        })
        .collect();
    let how = if args.concurrent {
        "both at once"
    } else {
        "one after the other"
    };
    let meta = RunMeta {
        mode_facts,
        ..RunMeta::new(
            flow_names,
            modes,
            format!("{} ({how})", plan.describe()),
            summary.started_unix_ms,
        )
    };
    // The summary shows the comparison when both modes ran; say why when one did not.
    let comparison = Comparison::from_merged(&summary, &meta.mode_facts);
    if comparison.is_none() {
        eprintln!("throng compare: the browser mode did not run, so there is nothing to compare");
    }
    let exit = finish(&summary, &output, &meta)?;
    Ok(CompareOutcome {
        exit,
        comparison,
        summary,
        meta,
    })
}

/// HTTP first, then the browsers; a stop (Ctrl-C) during HTTP skips the browser phase.
async fn sequential(
    http: RunSpec,
    browser: RunSpec,
    output: &Output,
    control: &RunControl,
    on_phase: &mut (dyn FnMut(Phase) + Send),
) -> anyhow::Result<Vec<(RunSummary, ModeCost)>> {
    let mut runs = Vec::new();
    for spec in [http, browser] {
        if control.is_stopped() {
            break;
        }
        let mode = spec.mode;
        on_phase(Phase::Starting(mode));
        let probe = CostProbe::start();
        let summary = run_live(spec, output, Sink::new(), phase_control(control)).await?;
        let cost = probe.finish().await;
        on_phase(Phase::Finished(mode));
        runs.push((summary, cost));
    }
    Ok(runs)
}

/// Both modes at once against the same target. throng's own CPU and memory cannot be split
/// by mode then: both sides carry it, marked shared; the browsers' processes are the
/// browser side's alone.
async fn concurrent(
    http: RunSpec,
    browser: RunSpec,
    output: &Output,
    control: &RunControl,
    on_phase: &mut (dyn FnMut(Phase) + Send),
) -> anyhow::Result<Vec<(RunSummary, ModeCost)>> {
    on_phase(Phase::Starting(Mode::Http));
    on_phase(Phase::Starting(Mode::Browser));
    let probe = CostProbe::start();
    // One progress line is enough.
    let quiet = Output {
        quiet: true,
        ..output.clone()
    };
    let (h, b) = tokio::join!(
        run_live(http, output, Sink::new(), phase_control(control)),
        run_live(browser, &quiet, Sink::new(), phase_control(control)),
    );
    let cost = probe.finish().await;
    on_phase(Phase::Finished(Mode::Http));
    on_phase(Phase::Finished(Mode::Browser));
    let (h, b) = (h?, b?);
    let http_cost = ModeCost {
        cpu_children_s: 0.0,
        mem_children_mb: 0.0,
        shared: true,
        ..cost
    };
    let browser_cost = ModeCost {
        shared: true,
        ..cost
    };
    Ok(vec![(h, http_cost), (b, browser_cost)])
}

/// A run's own control whose stop follows the compare-wide one.
fn phase_control(parent: &RunControl) -> RunControl {
    RunControl::new(parent.stop_token().child_token())
}

/// Samples the generator's cost while a phase runs: throng's CPU (getrusage) and resident
/// memory, and the CPU and memory of every process it started (its /proc descendants: the
/// Chromium browser, zygote, renderer and utility processes).
struct CostProbe {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Sampled>,
    self_cpu0: f64,
    children_cpu0: f64,
}

#[derive(Default)]
struct Sampled {
    mem_self_peak: f64,
    mem_children_peak: f64,
    /// Last cumulative CPU seconds per descendant (pid, start time), minus what it had
    /// used before the phase.
    children_cpu: HashMap<(u32, u64), f64>,
}

const SAMPLE_EVERY: Duration = Duration::from_millis(500);

impl CostProbe {
    fn start() -> Self {
        let stop = CancellationToken::new();
        let before: HashMap<(u32, u64), f64> = procfs::descendants(std::process::id())
            .into_iter()
            .map(|p| ((p.pid, p.start), p.cpu_s))
            .collect();
        let task = {
            let stop = stop.clone();
            tokio::task::spawn_blocking(move || {
                let mut s = Sampled::default();
                loop {
                    sample(&mut s, &before);
                    if wait_or_stop(&stop, SAMPLE_EVERY) {
                        sample(&mut s, &before);
                        return s;
                    }
                }
            })
        };
        CostProbe {
            stop,
            task,
            self_cpu0: procfs::rusage_cpu_s(libc::RUSAGE_SELF),
            children_cpu0: procfs::rusage_cpu_s(libc::RUSAGE_CHILDREN),
        }
    }

    async fn finish(self) -> ModeCost {
        let self_cpu = procfs::rusage_cpu_s(libc::RUSAGE_SELF) - self.self_cpu0;
        let reaped = procfs::rusage_cpu_s(libc::RUSAGE_CHILDREN) - self.children_cpu0;
        self.stop.cancel();
        let s = self.task.await.unwrap_or_default();
        let sampled: f64 = s.children_cpu.values().sum();
        ModeCost {
            cpu_self_s: self_cpu,
            // Sampling misses a process's last half second; reaped children's totals are
            // exact but only cover processes already waited for. Take the larger.
            cpu_children_s: sampled.max(reaped),
            mem_self_mb: s.mem_self_peak,
            mem_children_mb: s.mem_children_peak,
            shared: false,
        }
    }
}

fn wait_or_stop(stop: &CancellationToken, d: Duration) -> bool {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if stop.is_cancelled() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.is_cancelled()
}

fn sample(s: &mut Sampled, before: &HashMap<(u32, u64), f64>) {
    s.mem_self_peak = s.mem_self_peak.max(procfs::rss_mb(std::process::id()));
    let mut mem = 0.0;
    for p in procfs::descendants(std::process::id()) {
        let base = before.get(&(p.pid, p.start)).copied().unwrap_or(0.0);
        s.children_cpu
            .insert((p.pid, p.start), (p.cpu_s - base).max(0.0));
        mem += procfs::pss_mb(p.pid);
    }
    s.mem_children_peak = s.mem_children_peak.max(mem);
}

/// Reading process CPU and memory from Linux's /proc (zeros elsewhere).
mod procfs {
    use std::collections::HashMap;

    pub struct Proc {
        pub pid: u32,
        /// Start time in clock ticks since boot (tells a reused pid apart).
        pub start: u64,
        pub cpu_s: f64,
    }

    fn ticks_per_s() -> f64 {
        // SAFETY: sysconf only reads a configuration value.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 {
            t as f64
        } else {
            100.0
        }
    }

    /// (ppid, start, cpu seconds) from /proc/PID/stat.
    fn stat(pid: u32, tps: f64) -> Option<(u32, u64, f64)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let rest = &text[text.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // rest starts at field 3 (state): ppid is field 4, utime 14, stime 15, starttime 22.
        let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
        Some((num(4)? as u32, num(22)?, (num(14)? + num(15)?) as f64 / tps))
    }

    /// Every live descendant of `root`.
    pub fn descendants(root: u32) -> Vec<Proc> {
        let tps = ticks_per_s();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut by_parent: HashMap<u32, Vec<Proc>> = HashMap::new();
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((ppid, start, cpu_s)) = stat(pid, tps) {
                by_parent
                    .entry(ppid)
                    .or_default()
                    .push(Proc { pid, start, cpu_s });
            }
        }
        let mut out = Vec::new();
        let mut queue = vec![root];
        while let Some(p) = queue.pop() {
            for child in by_parent.remove(&p).unwrap_or_default() {
                queue.push(child.pid);
                out.push(child);
            }
        }
        out
    }

    /// Resident memory of a process, MB.
    pub fn rss_mb(pid: u32) -> f64 {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else {
            return 0.0;
        };
        // SAFETY: sysconf only reads a configuration value.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as f64;
        text.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |pages| pages * page / (1024.0 * 1024.0))
    }

    /// Proportional set size (shared pages split among their users), MB; RSS where the
    /// kernel has no smaps_rollup. Summing PSS over Chromium's processes does not count
    /// their shared libraries once per process.
    pub fn pss_mb(pid: u32) -> f64 {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            if let Some(kb) = text.lines().find_map(|l| {
                l.strip_prefix("Pss:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            }) {
                return kb / 1024.0;
            }
        }
        rss_mb(pid)
    }

    /// User + system CPU seconds of this process (RUSAGE_SELF) or of its reaped children.
    pub fn rusage_cpu_s(who: libc::c_int) -> f64 {
        // SAFETY: getrusage fills the struct we pass; zeroed is a valid rusage.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut ru) } != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}
