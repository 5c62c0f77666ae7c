//! Subcommand handlers: each turns validated config into work and an exit code.

use super::lifecycle::{finish, run_with_progress, write_stdout_while_open, EXIT_BAD_INPUT};
use crate::cli::args::{DemoArgs, DemoModeArg, DemoSiteArgs, RunArgs};
use crate::cli::config::{self, InputError};
use crate::demo::{self, DemoConfig};
use crate::metrics::{Mode, RunSummary};
use crate::report::compare::ModeFacts;
use crate::report::RunMeta;
use crate::run::{self, RunSpec};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

/// The embedded example flow `throng demo` replays when no --flow is given.
const DEMO_FLOW: &str = include_str!("../../flows/shop.json");
/// The deals page's flow, run by one user in four beside the shop's: its layout shift and
/// blocking button give the demo's browser mode real CLS, INP and TBT.
const DEMO_DEALS_FLOW: &str = include_str!("../../flows/deals.json");
/// The demo flow's login password (the demo shop's public test account).
const DEMO_PASSWORD: &str = "wonderland";

pub fn validate(
    flows: &[std::path::PathBuf],
    data_dirs: &[std::path::PathBuf],
) -> Result<ExitCode, InputError> {
    let mut first_error = None;
    // False once stdout's reader is gone (`| head -1`): nobody reads the rest.
    let tell = |line: String| {
        write_stdout_while_open(format!("{line}\n").as_bytes())
            .map_err(|e| InputError(format!("stdout: {e}")))
    };
    for path in flows {
        if is_json_schema(path) {
            let line = format!(
                "{}: the flow JSON Schema (not a flow), skipped",
                path.display()
            );
            if !tell(line)? {
                break;
            }
            continue;
        }
        match crate::flow::load_with(path, data_dirs) {
            Ok(loaded) => {
                if !tell(loaded.summary().to_string())? {
                    break;
                }
            }
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
    let run = config::RunConfig::new(&args.flows, &args.plan, &args.replay)?;
    let mode = args.mode.into();
    let plan_text = run.plan.describe();
    // A hybrid plan: HTTP users with a part in browsers, both modes in one report.
    let modes = match run.plan.browsers {
        Some(_) if mode != Mode::Http => {
            return Err(InputError(
                "--browsers makes a hybrid run of HTTP users with some in browsers: drop --mode browser"
                    .into(),
            )
            .into())
        }
        Some(_) => vec![Mode::Http, Mode::Browser],
        None => vec![mode],
    };
    // A plan file's flow runs in its own mode: the run must have it.
    if let Some(f) = run
        .flows
        .iter()
        .find(|f| f.mode.is_some_and(|m| !modes.contains(&m)))
    {
        let m = f.mode.unwrap_or(mode);
        return Err(InputError(format!(
            "--plan: flow {} runs in {m} mode: add --mode {m} (or give the plan flows of both modes)",
            f.flow.name
        ))
        .into());
    }
    if args.dist.workers.is_some() {
        if !run.logins.is_empty() {
            return Err(InputError(
                "--login: session handoff runs in one process; drop --workers (or run one process per machine)".into(),
            )
            .into());
        }
        if run.flows.iter().any(|f| f.mode.is_some()) {
            return Err(InputError(
                "--plan with its own flows: a distributed run takes its flows on the command line (with --browsers for a hybrid run)".into(),
            )
            .into());
        }
        let meta = RunMeta::new(run.flow_names.clone(), modes, plan_text, 0);
        let output = run.output.clone();
        let finish = |summary: &RunSummary, meta: &RunMeta| finish(summary, &output, meta);
        let ui = super::reports::ui_addr(&args.ui);
        return crate::dist::coordinate(&args, run, meta, ui, &finish).await;
    }
    config::check_capacity(&args.plan, &run.plan)?;
    let spec = run.spec(mode, &args.replay)?;
    let (output, flow_names) = (run.output, run.flow_names);
    if let Some(warning) = socket_warning(&spec) {
        eprintln!("{warning}");
    }
    if let Some(bind) = super::reports::ui_addr(&args.ui) {
        let meta = RunMeta::new(flow_names, modes, plan_text, 0);
        return super::reports::run_with_dashboard(spec, &output, meta, bind).await;
    }
    let summary = run_with_progress(spec, &output).await?;
    let meta = RunMeta::new(flow_names, modes, plan_text, summary.started_unix_ms);
    let code = finish(&summary, &output, &meta);
    output.close_export().await;
    code
}

/// HTTP users each keep a connection open and open up to six per page load. When the peak
/// user count could need more sockets than the descriptor limit leaves, requests queue for
/// sockets inside throng and the latencies include that wait: say so before the run.
fn socket_warning(spec: &RunSpec) -> Option<String> {
    if spec.mode != Mode::Http {
        return None;
    }
    let peak_users = spec.plan.peak_users() as usize;
    let sockets = spec.http.client.sockets.available();
    (peak_users * 2 > sockets).then(|| {
        format!(
            "throng: warning: {peak_users} users may need more than the {sockets} sockets the \
             open-file limit allows (`ulimit -n`); requests will then wait for a socket and \
             their latencies include the wait. Raise the limit or spread users over machines."
        )
    })
}

pub async fn demo_site(args: DemoSiteArgs) -> anyhow::Result<ExitCode> {
    let cfg = DemoConfig {
        bind: std::net::SocketAddr::new(args.bind, args.port),
        latency_ms: parse_range(&args.latency_ms)?,
        slow_ms: args.slow_ms,
        capacity: args.capacity,
    };
    demo::serve_forever(cfg, args.tls.then_some(args.cert_out.as_path())).await?;
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
    let built_in = |text: &str, name: &str, weight: u32| -> anyhow::Result<run::FlowChoice> {
        let file = format!("flows/{name}.json");
        let parsed = crate::flow::parse(text, &file)?;
        let flow = config::prepare(
            parsed,
            name,
            &file,
            Path::new("flows"),
            Some(&target),
            &overrides,
        )?;
        Ok(run::FlowChoice {
            flow: std::sync::Arc::new(flow),
            weight,
            mode: None,
        })
    };
    let flows = match &args.flow {
        Some(path) => vec![run::FlowChoice {
            flow: std::sync::Arc::new(config::prepare_flow(path, Some(&target), &overrides)?),
            weight: 1,
            mode: None,
        }],
        None => vec![
            built_in(DEMO_FLOW, "shop", 3)?,
            built_in(DEMO_DEALS_FLOW, "deals", 1)?,
        ],
    };
    let plan = config::plan(&args.plan, 5, "20s")?;
    if plan.browsers.is_some() {
        return Err(InputError("--browsers applies to `throng run` (a hybrid run)".into()).into());
    }
    config::check_capacity(&args.plan, &plan)?;
    let output = config::output(&args.replay)?;
    let modes: &[Mode] = match args.mode {
        DemoModeArg::Http => &[Mode::Http],
        DemoModeArg::Browser => &[Mode::Browser],
        DemoModeArg::Both => &[Mode::Http, Mode::Browser],
    };
    let mut combined: Option<RunSummary> = None;
    let mut mode_facts = Vec::new();
    for &mode in modes {
        let spec = config::run_spec(flows.clone(), plan.clone(), mode, &args.replay)?;
        let summary = run_with_progress(spec, &output).await?;
        mode_facts.push(ModeFacts::of_run(mode, &summary));
        match &mut combined {
            Some(c) => c.merge(&summary),
            None => combined = Some(summary),
        }
    }
    let stats = server.stats();
    server.shutdown().await;
    let summary = combined.context("no mode ran")?;
    let flow_name = args.flow.as_ref().map_or(
        "flows/shop.json + flows/deals.json (built in)".to_string(),
        |p| p.display().to_string(),
    );
    let meta = RunMeta {
        mode_facts,
        ..RunMeta::new(
            vec![flow_name],
            modes.to_vec(),
            plan.describe(),
            summary.started_unix_ms,
        )
    };
    let code = finish(&summary, &output, &meta)?;
    // The check users trust most, last: the target's own count beside throng's.
    println!("{}", server_check(stats.total, &summary));
    Ok(code)
}

/// "server saw N requests, throng counted N", or the difference and what explains it.
fn server_check(server_total: u64, summary: &RunSummary) -> String {
    let counter = |name: &str| summary.counters.get(name).copied().unwrap_or(0);
    let measured: u64 = summary
        .entries
        .iter()
        .filter(|e| e.kind.is_request())
        .map(|e| e.count)
        .sum();
    let counted = measured;
    let mut line = format!("server saw {server_total} requests, throng counted {counted}");
    if counted != server_total {
        let canceled = counter("requests.canceled");
        let gap = server_total.abs_diff(counted);
        let side = if server_total > counted {
            "more on the server"
        } else {
            "more in throng"
        };
        line.push_str(&format!(": {gap} {side}"));
        if canceled > 0 {
            line.push_str(&format!(
                "; the browser canceled {canceled} requests (a page left while loading), which may or may not have reached the server"
            ));
        }
        let (cut, _) = summary.interrupted(None);
        if cut > 0 {
            line.push_str(&format!(
                "; {cut} requests were interrupted at the run's end, which may or may not have reached the server"
            ));
        }
    }
    line
}

#[cfg(test)]
mod server_check_tests {
    use super::*;

    fn summary(counters: &[(&str, u64)]) -> RunSummary {
        let mut s: RunSummary = serde_json::from_value(serde_json::json!({
            "started_unix_ms": 0, "duration_ms": 1000, "peak_users": 1,
            "entries": [], "series": [], "counters": {}
        }))
        .unwrap();
        for (k, v) in counters {
            s.counters.insert(k.to_string(), *v);
        }
        s
    }

    #[test]
    fn equal_counts_say_so_and_differences_are_explained() {
        assert_eq!(
            server_check(0, &summary(&[])),
            "server saw 0 requests, throng counted 0"
        );
        let line = server_check(5, &summary(&[]));
        assert!(line.contains(": 5 more on the server"), "{line}");
        let line = server_check(4, &summary(&[("requests.canceled", 4)]));
        assert!(line.contains("canceled 4 requests"), "{line}");
    }
}

#[cfg(test)]
mod socket_warning_tests {
    use super::*;
    use crate::plan::{Arrival, LoadPlan, Stages};
    use crate::replay::http::{ClientOptions, HttpOptions, SocketBudget};
    use std::time::Duration;

    fn spec(users: u32, sockets: usize, mode: Mode) -> RunSpec {
        let second = Duration::from_secs(1);
        RunSpec {
            keep_sessions: None,
            fake: Default::default(),
            logins: Vec::new(),
            flows: Vec::new(),
            plan: LoadPlan {
                browsers: None,
                arrival: Arrival::Users(Stages::ramp_and_hold(users, second, second).unwrap()),
                iterations: None,
                think: Default::default(),
                dwell: None,
                grace: second,
                drain: crate::plan::DEFAULT_DRAIN,
            },
            trace: None,
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
