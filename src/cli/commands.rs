//! Subcommand handlers: each turns validated config into work and an exit code.

use super::args::{DemoArgs, DemoModeArg, DemoSiteArgs, ModeArg, RunArgs};
use super::config::{self, InputError, Output};
use crate::demo::{self, DemoConfig};
use crate::metrics::{Mode, RunSummary, Sink};
use crate::plan::Arrival;
use crate::report::{self, RunMeta};
use crate::run::{self, RunControl, RunSpec};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const EXIT_RUN_ERROR: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_THRESHOLD: u8 = 3;

/// The embedded example flow `throng demo` replays when no --flow is given.
const DEMO_FLOW: &str = include_str!("../../flows/shop.json");
/// The demo flow's login password (the demo shop's public test account).
const DEMO_PASSWORD: &str = "wonderland";

pub fn validate(flows: &[std::path::PathBuf]) -> Result<ExitCode, InputError> {
    let mut first_error = None;
    for path in flows {
        if is_json_schema(path) {
            println!(
                "{}: the flow JSON Schema (not a flow), skipped",
                path.display()
            );
            continue;
        }
        match crate::flow::load(path) {
            Ok(loaded) => println!("{}", loaded.summary()),
            Err(e) => {
                eprintln!("{e}");
                first_error.get_or_insert(e);
            }
        }
    }
    Ok(match first_error {
        None => ExitCode::SUCCESS,
        Some(_) => ExitCode::from(EXIT_BAD_INPUT),
    })
}

/// `flows/schema.json` sits beside the flows, so `throng validate flows/*.json` must pass it by.
fn is_json_schema(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("$schema")?
                .as_str()
                .map(|s| s.contains("json-schema.org"))
        })
        .unwrap_or(false)
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let overrides = config::vars(&args.replay)?;
    let flows = config::flows(
        &args.flows,
        &args.weighted,
        args.target.as_deref(),
        &overrides,
    )?;
    let plan = config::plan(&args.plan, 1, "30s")?;
    let mode = match args.mode {
        ModeArg::Http => Mode::Http,
        ModeArg::Browser => Mode::Browser,
    };
    let output = config::output(&args.replay)?;
    let flow_names = args.flows.iter().chain(&args.weighted).cloned().collect();
    let plan_text = plan.describe();
    let spec = config::run_spec(flows, plan, mode, &args.replay)?;
    if let Some(warning) = socket_warning(&spec) {
        eprintln!("{warning}");
    }
    if let Some(bind) = super::reports::ui_addr(&args.ui) {
        let meta = RunMeta::new(flow_names, vec![mode], plan_text, 0);
        return super::reports::run_with_dashboard(spec, &output, meta, bind).await;
    }
    let summary = run_with_progress(spec, &output).await?;
    let meta = RunMeta::new(flow_names, vec![mode], plan_text, summary.started_unix_ms);
    finish(&summary, &output, &meta)
}

/// HTTP users each keep a connection open and open up to six per page load. When the peak
/// user count could need more sockets than the descriptor limit leaves, requests queue for
/// sockets inside throng and the latencies include that wait: say so before the run.
fn socket_warning(spec: &RunSpec) -> Option<String> {
    if spec.mode != Mode::Http {
        return None;
    }
    let peak_users = match &spec.plan.arrival {
        Arrival::Users(stages) => stages.peak().ceil() as usize,
        Arrival::Rate { max_users, .. } => *max_users as usize,
    };
    let sockets = spec.http.client.sockets.available();
    (peak_users * 2 > sockets).then(|| {
        format!(
            "throng: warning: {peak_users} users may need more than the {sockets} sockets the \
             open-file limit allows (`ulimit -n`); requests will then wait for a socket and \
             their latencies include the wait. Raise the limit or spread users over machines."
        )
    })
}

/// Runs a spec with the live progress line and Ctrl-C handling.
pub async fn run_with_progress(spec: RunSpec, output: &Output) -> anyhow::Result<RunSummary> {
    let control = RunControl::default();
    let ctrl_c = stop_on_ctrl_c(control.clone());
    let result = run_live(spec, output, Sink::new(), control).await;
    ctrl_c.abort();
    result
}

/// The first Ctrl-C stops the run gracefully (its report is still written); a second one
/// exits at once.
pub fn stop_on_ctrl_c(control: RunControl) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping: users finish their requests, then the report is written (Ctrl-C again to force)");
            control.stop();
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("forced stop");
                std::process::exit(130);
            }
        }
    })
}

/// Runs a spec into `sink` with the live progress line (unless quiet), under `control`
/// (stop, live user count). Ctrl-C is the caller's business ([`stop_on_ctrl_c`]).
pub async fn run_live(
    spec: RunSpec,
    output: &Output,
    sink: Sink,
    control: RunControl,
) -> anyhow::Result<RunSummary> {
    let describe = format!(
        "{} mode, {} flow(s), {}",
        spec.mode.as_str(),
        spec.flows.len(),
        spec.plan.describe()
    );
    eprintln!("throng: {describe}");
    let done = CancellationToken::new();
    let progress = (!output.quiet).then(|| {
        let sink = sink.clone();
        let total = spec.plan.total();
        let done = done.clone();
        tokio::spawn(async move {
            let bar = report::Progress::new(Some(total));
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
    let result = run::execute_with(spec, sink, control.clone()).await;
    done.cancel();
    if let Some(p) = progress {
        let _ = p.await;
    }
    result
}

/// Prints the summary, writes the reports and decides the exit code from the thresholds.
pub fn finish(summary: &RunSummary, output: &Output, meta: &RunMeta) -> anyhow::Result<ExitCode> {
    let results = crate::report::evaluate_all(&output.thresholds, summary);
    report::print_summary(summary, meta, &results);
    if let Some(dir) = &output.out_dir {
        let written = report::write_all(dir, summary, meta, &results)
            .with_context(|| format!("writing reports to {}", dir.display()))?;
        for path in written {
            eprintln!("wrote {}", path.display());
        }
    }
    if results.iter().any(|r| !r.passed) {
        return Ok(ExitCode::from(EXIT_THRESHOLD));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn demo_site(args: DemoSiteArgs) -> anyhow::Result<ExitCode> {
    let cfg = DemoConfig {
        bind: std::net::SocketAddr::new(args.bind, args.port),
        latency_ms: parse_range(&args.latency_ms)?,
        slow_ms: args.slow_ms,
        capacity: args.capacity,
    };
    demo::serve_forever(cfg).await?;
    Ok(ExitCode::SUCCESS)
}

fn parse_range(text: &str) -> Result<(u64, u64), InputError> {
    let err = || {
        InputError(format!(
            "--latency-ms `{text}`: expected MIN-MAX in milliseconds, e.g. 5-50"
        ))
    };
    let (lo, hi) = text.split_once('-').unwrap_or((text, text));
    let (lo, hi): (u64, u64) = (
        lo.trim().parse().map_err(|_| err())?,
        hi.trim().parse().map_err(|_| err())?,
    );
    if hi < lo {
        return Err(err());
    }
    Ok((lo, hi))
}

/// The quick start: serve the demo shop on a free loopback port and replay the example flow
/// against it in the chosen mode(s).
pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let server = demo::spawn(DemoConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        ..DemoConfig::default()
    })
    .await?;
    let target = url::Url::parse(&server.base_url())?;
    eprintln!("demo shop at {target}");
    let mut overrides = config::vars(&args.replay)?;
    overrides
        .entry("password".into())
        .or_insert_with(|| DEMO_PASSWORD.into());
    let flow = match &args.flow {
        Some(path) => config::prepare_flow(path, Some(&target), &overrides)?,
        None => {
            let parsed = crate::flow::parse(DEMO_FLOW, "flows/shop.json")?;
            config::prepare(
                parsed,
                "shop",
                "flows/shop.json",
                Path::new("flows"),
                Some(&target),
                &overrides,
            )?
        }
    };
    let plan = config::plan(&args.plan, 5, "20s")?;
    let output = config::output(&args.replay)?;
    let modes: &[Mode] = match args.mode {
        DemoModeArg::Http => &[Mode::Http],
        DemoModeArg::Browser => &[Mode::Browser],
        DemoModeArg::Both => &[Mode::Http, Mode::Browser],
    };
    let mut combined: Option<RunSummary> = None;
    for &mode in modes {
        let flows = vec![run::FlowChoice {
            flow: std::sync::Arc::new(flow.clone()),
            weight: 1,
        }];
        let spec = config::run_spec(flows, plan.clone(), mode, &args.replay)?;
        let summary = run_with_progress(spec, &output).await?;
        match &mut combined {
            Some(c) => c.merge(&summary),
            None => combined = Some(summary),
        }
    }
    let stats = server.stats();
    eprintln!("demo shop saw {} requests", stats.total);
    server.shutdown().await;
    let summary = combined.context("no mode ran")?;
    let flow_name = args
        .flow
        .as_ref()
        .map_or("flows/shop.json (built in)".to_string(), |p| {
            p.display().to_string()
        });
    let meta = RunMeta::new(
        vec![flow_name],
        modes.to_vec(),
        plan.describe(),
        summary.started_unix_ms,
    );
    finish(&summary, &output, &meta)
}

#[cfg(test)]
mod socket_warning_tests {
    use super::*;
    use crate::plan::{LoadPlan, Stages};
    use crate::replay::http::{ClientOptions, HttpOptions, SocketBudget};

    fn spec(users: u32, sockets: usize, mode: Mode) -> RunSpec {
        let second = Duration::from_secs(1);
        RunSpec {
            flows: Vec::new(),
            plan: LoadPlan {
                arrival: Arrival::Users(Stages::ramp_and_hold(users, second, second).unwrap()),
                iterations: None,
                think: Default::default(),
                dwell: None,
                grace: second,
            },
            mode,
            http: HttpOptions {
                client: ClientOptions {
                    sockets: SocketBudget::new(sockets),
                    ..ClientOptions::default()
                },
                ..HttpOptions::default()
            },
            browser: Default::default(),
        }
    }

    #[test]
    fn warns_when_peak_users_could_outgrow_the_socket_budget() {
        let warning = socket_warning(&spec(600, 1000, Mode::Http)).expect("a warning");
        assert!(
            warning.contains("600 users") && warning.contains("1000 sockets"),
            "{warning}"
        );
        assert!(!warning.contains('\n'));
        assert_eq!(socket_warning(&spec(400, 1000, Mode::Http)), None);
        assert_eq!(socket_warning(&spec(600, 1000, Mode::Browser)), None);
    }
}
