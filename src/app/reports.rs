//! Handlers that read or show results: `throng report` (report.html from results.json),
//! `throng diff` (regressions between two saved runs) and `run --ui` (a run behind the live
//! dashboard).

use super::lifecycle::{finish, run_live, stop_signal, write_stdout, StopOnSignal, EXIT_THRESHOLD};
use crate::cli::args::UiArgs;
use crate::cli::config::{InputError, Output};
use crate::live::dashboard::{Dashboard, LiveControl, UiCommand, DEFAULT_ADDR};
use crate::metrics::Sink;
use crate::plan::Arrival;
use crate::report::{self, RunMeta};
use crate::run::{RunControl, RunSpec};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// `throng report results.json [-o report.html]`.
pub fn report(results: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let saved = report::read_results(results).map_err(|e| InputError(format!("{e:#}")))?;
    let html = report::render_html(&saved.summary, &saved.meta, &saved.thresholds);
    let path: PathBuf = match out {
        Some(p) => p.to_path_buf(),
        None => results
            .parent()
            .unwrap_or(Path::new("."))
            .join("report.html"),
    };
    report::write_atomic(&path, html.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// `--tolerance 10%` (or `10`) as a percentage.
pub fn parse_tolerance(text: &str) -> Result<f64, InputError> {
    let t = text.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim();
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(InputError(format!(
            "--tolerance `{text}`: expected a percentage such as 10% or 2.5"
        ))),
    }
}

/// `throng diff BASE NEW`: prints the per-name table; exit code 3 when any row regressed.
pub fn diff(base: &Path, new: &Path, tolerance: &str) -> anyhow::Result<ExitCode> {
    let tolerance = parse_tolerance(tolerance)?;
    let read = |p: &Path| report::read_results(p).map_err(|e| InputError(format!("{e:#}")));
    let (b, n) = (read(base)?, read(new)?);
    let d = report::diff(&b.summary, &n.summary, tolerance);
    write_stdout(d.to_string().as_bytes())?;
    Ok(if d.has_regressions() {
        ExitCode::from(EXIT_THRESHOLD)
    } else {
        ExitCode::SUCCESS
    })
}

/// The dashboard address when `--ui` or `--ui-bind` asks for one.
pub fn ui_addr(ui: &UiArgs) -> Option<SocketAddr> {
    match ui.ui_bind {
        Some(addr) => Some(addr),
        None if ui.ui => Some(DEFAULT_ADDR.parse().expect("valid default address")),
        None => None,
    }
}

/// The dashboard's handle on one run.
struct UiControl {
    control: RunControl,
    /// An arrival-rate plan has no user count to change.
    open_model: bool,
}

impl LiveControl for UiControl {
    fn target_users(&self) -> Option<u32> {
        (!self.open_model).then(|| self.control.target())
    }

    fn set_users(&self, users: u32) -> bool {
        if self.open_model {
            return false;
        }
        self.control.set_users(Some(users));
        true
    }

    fn stop(&self) {
        self.control.stop();
    }

    fn is_stopping(&self) -> bool {
        self.control.is_stopped()
    }
}

/// `throng run --ui`: the run starts at once behind the dashboard. The dashboard's Stop ends
/// the run (reports are written) and keeps serving; Start runs the plan again. Ctrl-C stops
/// (or SIGTERM) stops the run, writes its reports and quits.
pub async fn run_with_dashboard(
    spec: RunSpec,
    output: &Output,
    meta: RunMeta,
    bind: SocketAddr,
) -> anyhow::Result<ExitCode> {
    let mut dash = Dashboard::serve(bind).await?;
    if !bind.ip().is_loopback() {
        eprintln!(
            "warning: the dashboard listens on {}: anyone who can reach it can open the page \
             and control the run",
            dash.addr()
        );
    }
    eprintln!("dashboard at {}", dash.url());
    let mut commands = dash.commands();
    let open_model = matches!(spec.plan.arrival, Arrival::Rate { .. });
    let mut users = None;
    let code = loop {
        let control = RunControl::default();
        control.set_users(users);
        let sink = Sink::new();
        let run_meta = RunMeta {
            started_unix_ms: sink.started_unix_ms(),
            ..meta.clone()
        };
        let ui = UiControl {
            control: control.clone(),
            open_model,
        };
        dash.show_run(
            sink.clone(),
            Arc::new(ui),
            run_meta.clone(),
            Some(spec.plan.total()),
        );
        let signals =
            StopOnSignal::install(control.clone(), "the report is written and throng quits");
        let result = run_live(spec.clone(), output, sink, control).await;
        let quit = signals.received();
        drop(signals);
        let summary = result?;
        // Reports first: when the page says "finished", the files are there.
        let code = finish(&summary, output, &run_meta).context("finishing the run");
        dash.finished(summary);
        let code = code?;
        if quit {
            break code;
        }
        eprintln!(
            "run finished: the dashboard stays at {} (Start there runs again; Ctrl-C quits)",
            dash.url()
        );
        tokio::select! {
            _ = stop_signal() => break code,
            cmd = commands.recv() => match cmd {
                Some(UiCommand::Start { users: u }) => users = u,
                None => break code,
            },
        }
    };
    output.close_export().await;
    dash.shutdown().await;
    Ok(code)
}
