//! Distributed runs: one coordinator (`throng run ... --workers N --listen ADDR`) and N workers
//! (`throng worker --connect URL`), a shared token proven both ways without being sent, every
//! message sealed to the run ([`secure`]). The coordinator holds the
//! plan, flows and data; workers hold nothing until they join, run exact shares of the plan,
//! and report mergeable summaries once a second, so every output is of the whole run.

mod channel;
mod coordinator;
mod delta;
mod gzip;
mod hub;
pub mod protocol;
pub mod secure;
mod server;
mod ui;
mod validate;
pub mod worker;

use crate::cli::args::RunArgs;
use crate::cli::config::{self, InputError, RunConfig};
use crate::plan::parse_duration;
use crate::replay::VarSources;
use crate::report::RunMeta;
use coordinator::Coordination;
use protocol::{Assignment, ShippedFlow};
use std::path::Path;
use std::process::ExitCode;

/// `throng run ... --workers N --listen ADDR`: validates the run as a local one would, then
/// coordinates it.
pub async fn coordinate(
    args: &RunArgs,
    run: RunConfig,
    meta: RunMeta,
    ui: Option<std::net::SocketAddr>,
    finish: coordinator::Finish<'_>,
) -> anyhow::Result<ExitCode> {
    let dist = &args.dist;
    let duration = |flag: &str, text: &str| {
        parse_duration(text).map_err(|e| InputError(format!("{flag}: {e}")))
    };
    let workers = dist.workers.unwrap_or(1);
    if workers == 0 {
        return Err(InputError("--workers must be at least 1".into()).into());
    }
    let c = Coordination {
        listen: dist
            .listen
            .ok_or_else(|| InputError("--workers needs --listen ADDR".into()))?,
        token: dist.token.clone().filter(|t| !t.is_empty()),
        users_flag: config::users_flag(&args.plan, &run.plan),
        workers,
        wait_workers: duration("--wait-workers", &dist.wait_workers)?,
        linger: duration("--linger", &dist.linger)?,
        plan_total: run.plan.total() + run.plan.grace + run.plan.drain,
        ui,
    };
    let cacert = match &args.replay.cacert {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| InputError(format!("--cacert {}: {e}", p.display())))?,
        ),
        None => None,
    };
    let flows = shipped_flows(args)?;
    let vars = resolved_secrets(&flows, run.vars);
    let template = Assignment {
        start_unix_ms: 0,
        plan_offset_ms: 0,
        share: crate::plan::Share::WHOLE,
        modes: crate::plan::ModeShares::default(),
        mode: args.mode,
        plan: run.plan,
        flows,
        target: args.flows.target.clone(),
        vars,
        replay: crate::cli::config::seeded(&args.replay),
        cacert,
    };
    coordinator::coordinate(c, template, &run.output, meta, finish).await
}

/// `--var` values plus every secret a flow reads from this machine's environment: workers
/// read no environment for a coordinator, so each secret travels (sealed) with the run.
fn resolved_secrets(
    flows: &[ShippedFlow],
    mut vars: std::collections::HashMap<String, String>,
) -> std::collections::HashMap<String, String> {
    for var in flows
        .iter()
        .flat_map(|f| f.flow.iter())
        .flat_map(|f| &f.variables)
    {
        let env = var.secret.as_ref().and_then(|s| s.env.as_deref());
        if let (Some(env), false) = (env, vars.contains_key(&var.name)) {
            if let Ok(value) = std::env::var(env) {
                vars.insert(var.name.clone(), value);
            }
        }
    }
    vars
}

/// The run's flows as workers get them: parsed and checked here, CSV data inlined.
fn shipped_flows(args: &RunArgs) -> Result<Vec<ShippedFlow>, InputError> {
    let mut out = Vec::new();
    let items = args.flows.files.iter().map(|f| (f.clone(), 1, None)).chain(
        args.flows
            .weighted
            .iter()
            .map(|w| config::weighted_entry(w).map(|(p, n, net)| (p.display().to_string(), n, net)))
            .collect::<Result<Vec<_>, _>>()?,
    );
    for (item, weight, network) in items {
        if item.starts_with("http://") || item.starts_with("https://") {
            out.push(ShippedFlow {
                name: item.clone(),
                label: item.clone(),
                weight,
                url: Some(item),
                flow: None,
                network,
            });
            continue;
        }
        let path = Path::new(&item);
        let mut flow = crate::flow::load_with(path, &args.flows.data_dirs)
            .map_err(|e| InputError(e.to_string()))?
            .flow;
        let dir = path.parent().unwrap_or(Path::new("."));
        VarSources::inline_csv(&mut flow, dir).map_err(|e| InputError(format!("{item}: {e}")))?;
        out.push(ShippedFlow {
            name: path
                .file_stem()
                .map_or_else(|| "flow".into(), |s| s.to_string_lossy().into_owned()),
            label: item.clone(),
            weight,
            url: None,
            flow: Some(flow),
            network,
        });
    }
    Ok(out)
}
