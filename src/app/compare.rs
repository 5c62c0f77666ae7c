//! `throng compare`: the same flows and plan in HTTP mode and in browser mode (one after the
//! other, or both at once), the generator's own cost measured for each, then the side-by-side
//! comparison on the terminal and in report.html.

use super::lifecycle::{finish, run_live, StopOnSignal};
use crate::cli::args::{Cli, Command, CompareArgs};
use crate::cli::config::{self, InputError, Output};
use crate::health::{Sampler, SamplerOptions};
use crate::metrics::{Mode, RunSummary, Sink};
use crate::report::compare::{Comparison, ModeCost, ModeFacts};
use crate::report::RunMeta;
use crate::run::{RunControl, RunSpec};
use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;

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
    let run = config::RunConfig::new(&args.flows, &args.plan, &args.replay)?;
    if run.plan.browsers.is_some() {
        return Err(InputError(
            "--browsers: compare runs every user in each mode; a hybrid run is `throng run --browsers`"
                .into(),
        )
        .into());
    }
    config::check_capacity(&args.plan, &run.plan)?;
    let (http_spec, browser_spec) = (
        run.spec(Mode::Http, &args.replay)?,
        run.spec(Mode::Browser, &args.replay)?,
    );
    let (output, plan, flow_names) = (run.output, run.plan, run.flow_names);
    let control = RunControl::default();
    let signals = StopOnSignal::install(control.clone(), "the report is written");
    let runs = if args.concurrent {
        concurrent(http_spec, browser_spec, &output, &control, on_phase).await
    } else {
        sequential(http_spec, browser_spec, &output, &control, on_phase).await
    };
    drop(signals);
    let runs = runs?;

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
    let exit = finish(&summary, &output, &meta);
    output.close_export().await;
    let exit = exit?;
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

/// The generator's cost while a phase runs, from the health sampler: throng's CPU and
/// resident memory, and the CPU and memory (PSS) of every process it started (the Chromium
/// browser, zygote, renderer and utility processes).
struct CostProbe(Sampler);

impl CostProbe {
    fn start() -> Self {
        CostProbe(Sampler::start(
            None,
            SamplerOptions {
                every: Duration::from_millis(500),
                pss: true,
            },
        ))
    }

    async fn finish(self) -> ModeCost {
        let sampler = self.0;
        let cost = tokio::task::spawn_blocking(move || sampler.finish())
            .await
            .unwrap_or_default();
        ModeCost {
            cpu_self_s: cost.cpu_self_s,
            cpu_children_s: cost.cpu_children_s,
            mem_self_mb: cost.mem_self_mb,
            mem_children_mb: cost.mem_children_mb,
            shared: false,
        }
    }
}
