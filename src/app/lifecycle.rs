//! A run's life cycle, the one place for it (`run`, `compare`, `demo`, `run --ui` use it): stop
//! signals (Ctrl-C and SIGTERM), the live progress line, finishing (summary, chosen outputs,
//! thresholds) and exit codes.

use crate::cli::config::{Destination, Output};
use crate::health;
use crate::metrics::{RunSummary, Sink};
use crate::report::{self, ReportInput, RunMeta, ThresholdResult};
use crate::run::{self, RunControl, RunSpec};
use anyhow::Context;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use crate::run::signals::{stop_signal, StopOnSignal};

pub const EXIT_RUN_ERROR: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_THRESHOLD: u8 = 3;
/// Runs a spec with the live progress line, stopped by Ctrl-C or SIGTERM.
pub async fn run_with_progress(spec: RunSpec, output: &Output) -> anyhow::Result<RunSummary> {
    let control = RunControl::default();
    let _signals = StopOnSignal::install(control.clone(), "the report is written");
    run_live(spec, output, Sink::new(), control).await
}

/// Runs a spec into `sink` with the live progress line (unless quiet), under `control`
/// (stop, live user count). Signals are the caller's business ([`StopOnSignal`]).
pub async fn run_live(
    spec: RunSpec,
    output: &Output,
    sink: Sink,
    control: RunControl,
) -> anyhow::Result<RunSummary> {
    let hybrid = spec.plan.browsers.is_some() && spec.mode == crate::metrics::Mode::Http;
    eprintln!(
        "throng: {} mode, {} flow(s), {}",
        if hybrid { "hybrid" } else { spec.mode.as_str() },
        spec.flows.len(),
        spec.plan.describe()
    );
    let done = CancellationToken::new();
    let progress = (!output.quiet).then(|| {
        let sink = sink.clone();
        let total = spec.plan.total();
        let done = done.clone();
        tokio::spawn(async move {
            let bar = crate::live::Progress::new(Some(total));
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => bar.tick(&sink.live()),
                    _ = done.cancelled() => break,
                }
            }
            bar.finish();
        })
    });
    if let Some(fit) = health::browser_fit(&spec, health::cores()).filter(|f| f.overloaded()) {
        eprintln!("{}", fit.warning());
    }
    if let Some(exporter) = &output.exporter {
        exporter.attach(sink.clone(), spec.mode);
    }
    if let Some(otlp) = &output.otlp {
        otlp.attach(sink.clone(), spec.mode);
    }
    // The generator's own CPU, every run: live line, summary, results, metrics.
    let sampler = health::Sampler::start(Some(sink.clone()), Default::default());
    let result = run::execute_with(spec, sink, control).await;
    drop(sampler);
    done.cancel();
    if let Some(p) = progress {
        let _ = p.await;
    }
    result
}

/// Ends a run: evaluates the thresholds, shows the summary, writes the chosen outputs and
/// returns the exit code.
pub fn finish(summary: &RunSummary, output: &Output, meta: &RunMeta) -> anyhow::Result<ExitCode> {
    let thresholds = report::evaluate_all(&output.thresholds, summary);
    let input = ReportInput {
        summary,
        meta,
        thresholds: &thresholds,
    };
    let text = report::renderers(report::Format::Text)
        .remove(0)
        .render(&input)?;
    match &output.destination {
        // stdout carries the chosen format; the summary must not mix into it.
        Some(Destination::Stdout) => {
            std::io::stderr().write_all(&text)?;
            let bytes = report::renderers(output.formats[0])
                .remove(0)
                .render(&input)?;
            write_stdout(&bytes)?;
        }
        Some(Destination::Dir(dir)) => {
            write_stdout(&text)?;
            let written = report::write_files(dir, &output.formats, &input)
                .with_context(|| format!("writing reports to {}", dir.display()))?;
            for path in written {
                eprintln!("wrote {}", path.display());
            }
        }
        None => write_stdout(&text)?,
    }
    let rates = summary.failure_rates(None);
    if rates.every_session_failed() {
        let why = summary
            .most_common_failure()
            .map_or(String::new(), |(m, n)| {
                format!("; most common failure ({n}x): {m}")
            });
        eprintln!(
            "throng: every session failed ({} of {}){why}",
            rates.sessions.0, rates.sessions.1
        );
        if thresholds.iter().all(|r| r.passed) {
            return Ok(ExitCode::from(EXIT_RUN_ERROR));
        }
    }
    Ok(exit_code(&thresholds))
}

/// Writes to stdout; a closed stdout (`throng validate flows/*.json | head -1`) is a normal
/// end, not an error (nor a panic, as `println!` makes it).
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    write_stdout_while_open(bytes).map(|_| ())
}

/// [`write_stdout`], saying whether stdout is still open (false once its reader is gone, so a
/// long listing can stop there, as `head` expects).
pub fn write_stdout_while_open(bytes: &[u8]) -> std::io::Result<bool> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
        Ok(()) => Ok(true),
    }
}

/// One line to stdout, through [`write_stdout`].
pub fn say(line: impl std::fmt::Display) -> std::io::Result<()> {
    write_stdout(format!("{line}\n").as_bytes())
}

/// 3 when a threshold failed, else 0.
pub fn exit_code(thresholds: &[ThresholdResult]) -> ExitCode {
    if thresholds.iter().any(|r| !r.passed) {
        ExitCode::from(EXIT_THRESHOLD)
    } else {
        ExitCode::SUCCESS
    }
}
