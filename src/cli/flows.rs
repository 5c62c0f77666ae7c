//! A run's flows from the command line: flow files (their data files under their directory
//! or an allowed one) and one-request URL flows, weighted, prepared for replay (origin
//! rewritten to `--target`, variables and secrets bound).

use super::args::FlowArgs;
use super::config::InputError;
use crate::flow::{self, Action, Flow, Network, RecordedRequest, Step};
use crate::replay::conditions::Conditions;
use crate::replay::{PreparedFlow, VarSources};
use crate::run::{FlowChoice, LoginSpec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use url::Url;

fn bad(msg: impl Into<String>) -> InputError {
    InputError(msg.into())
}

/// Loads a flow file and prepares it for replay (origin rewritten to `target`).
pub fn prepare_flow(
    path: &Path,
    target: Option<&Url>,
    overrides: &HashMap<String, String>,
) -> Result<PreparedFlow, InputError> {
    prepare_flow_allowing(path, target, overrides, &[])
}

/// [`prepare_flow`], with data files also allowed under `data_dirs` (`--allow-data`).
pub fn prepare_flow_allowing(
    path: &Path,
    target: Option<&Url>,
    overrides: &HashMap<String, String>,
    data_dirs: &[PathBuf],
) -> Result<PreparedFlow, InputError> {
    prepare_flow_with(path, target, overrides, data_dirs, false)
}

/// [`prepare_flow_allowing`]; `handed`: the flow's users start with a browser login's
/// handoff (`--login`), whose `Authorization` replaces the recorded one, so the secrets used
/// only there (the recorder's `Bearer ${authorization}`) need no value.
fn prepare_flow_with(
    path: &Path,
    target: Option<&Url>,
    overrides: &HashMap<String, String>,
    data_dirs: &[PathBuf],
    handed: bool,
) -> Result<PreparedFlow, InputError> {
    let loaded = flow::load_with(path, data_dirs).map_err(|e| bad(e.to_string()))?;
    let name = flow_stem(path);
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut overrides = std::borrow::Cow::Borrowed(overrides);
    if handed {
        for secret in authorization_only_secrets(&loaded.flow) {
            if !overrides.contains_key(&secret) {
                overrides.to_mut().insert(secret, String::new());
            }
        }
    }
    prepare(
        loaded.flow,
        &name,
        &path.display().to_string(),
        dir,
        target,
        &overrides,
    )
}

/// The secret variables `flow` uses in `Authorization` headers and nowhere else.
fn authorization_only_secrets(flow: &Flow) -> Vec<String> {
    let all = serde_json::to_string(flow).unwrap_or_default();
    let mut in_headers = String::new();
    for network in flow.steps.iter().filter_map(|s| s.network.as_ref()) {
        let headers = network
            .requests
            .iter()
            .map(|r| &r.headers)
            .chain(network.polling.iter().map(|p| &p.headers))
            .chain(network.event_sources.iter().map(|e| &e.headers))
            .chain(network.streams.iter().map(|s| &s.headers));
        for (name, value) in headers.flat_map(|h| h.iter()) {
            if name.eq_ignore_ascii_case("authorization") {
                in_headers.push_str(value);
                in_headers.push('\n');
            }
        }
    }
    flow.variables
        .iter()
        .filter(|v| v.secret.is_some())
        .map(|v| v.name.clone())
        .filter(|name| {
            let used = format!("${{{name}}}");
            let n = in_headers.matches(&used).count();
            n > 0 && all.matches(&used).count() == n
        })
        .collect()
}

/// Prepares an in-memory flow (`label` names it in errors).
pub fn prepare(
    mut flow: Flow,
    name: &str,
    label: &str,
    dir: &Path,
    target: Option<&Url>,
    overrides: &HashMap<String, String>,
) -> Result<PreparedFlow, InputError> {
    let recorded = flow::origin(&flow).ok_or_else(|| {
        bad(format!(
            "{label}: no `origin` and no navigate step to take it from"
        ))
    })?;
    let origin = match target {
        Some(t) => {
            flow::rewrite_origin(&mut flow, t);
            t.clone()
        }
        None => recorded,
    };
    let sources =
        VarSources::prepare(&flow, dir, overrides).map_err(|e| bad(format!("{label}: {e}")))?;
    Ok(PreparedFlow::new(name, flow, origin, Arc::new(sources)))
}

/// A one-request flow for `throng run URL` (like oha or hey): no asset discovery.
pub fn url_flow(url: &str) -> Result<PreparedFlow, InputError> {
    let parsed =
        Url::parse(url).map_err(|e| bad(format!("`{url}`: not a URL or flow file ({e})")))?;
    // Shown in titles, labels and errors: never with the URL's credentials.
    let shown = crate::outbound::strip_userinfo(url).into_owned();
    let flow = Flow {
        format: Some(flow::FORMAT_V1.into()),
        title: shown.clone(),
        origin: Some(parsed.origin().ascii_serialization()),
        selector_attribute: None,
        timeout: None,
        variables: Vec::new(),
        steps: vec![Step {
            network: Some(Network {
                requests: vec![RecordedRequest::document_get(url)],
                ..Network::default()
            }),
            ..Step::new(Action::navigate(url))
        }],
        dwell_ms: None,
        capped: None,
        tracestate: None,
    };
    let host = parsed.host_str().unwrap_or("url").to_string();
    let mut prepared = prepare(flow, &host, &shown, Path::new("."), None, &HashMap::new())?;
    prepared.discover_assets = false;
    Ok(prepared)
}

/// `--login FLOW` and `--login-share K` (for every flow), prepared like the run's flows
/// (same target).
pub fn login(
    args: &FlowArgs,
    overrides: &HashMap<String, String>,
) -> Result<Vec<LoginSpec>, InputError> {
    let Some(path) = &args.login else {
        return Ok(Vec::new());
    };
    let share = args.login_share.unwrap_or(1);
    if share == 0 {
        return Err(bad("--login-share must be at least 1"));
    }
    let target = target(args)?;
    let flow = prepare_flow_allowing(path, target.as_ref(), overrides, &args.data_dirs)
        .map_err(|e| bad(format!("--login: {}", e.0)))?;
    Ok(vec![LoginSpec {
        flow: Arc::new(flow),
        share,
        for_flow: None,
        at_once: None,
    }])
}

/// The logins a plan file's flows name, each for its flow.
pub fn plan_logins(
    args: &FlowArgs,
    listed: &[(PathBuf, crate::plan::PlanFlow)],
    overrides: &HashMap<String, String>,
) -> Result<Vec<LoginSpec>, InputError> {
    let target = target(args)?;
    let mut logins = Vec::new();
    for (plan, f) in listed {
        let Some((path, share)) = &f.login else {
            continue;
        };
        let flow = prepare_flow_allowing(path, target.as_ref(), overrides, &args.data_dirs)
            .map_err(|e| bad(format!("--plan {}: login: {}", plan.display(), e.0)))?;
        logins.push(LoginSpec {
            flow: Arc::new(flow),
            share: *share,
            for_flow: Some(Arc::from(flow_stem(&f.path))),
            at_once: None,
        });
    }
    Ok(logins)
}

/// A flow file's metric name: its stem, as [`prepare_flow_allowing`] names it.
fn flow_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "flow".into())
}

/// `FILE[:WEIGHT][@NETWORK]`, without its network.
pub fn weighted(text: &str) -> Result<(PathBuf, u32), InputError> {
    weighted_entry(text).map(|(path, weight, _)| (path, weight))
}

/// `FILE[:WEIGHT][@NETWORK]`: the file, its weight and its own network conditions (a preset
/// or figures, as `--network` takes them), e.g. `checkout.json:3@slow-4g`.
pub fn weighted_entry(text: &str) -> Result<(PathBuf, u32, Option<String>), InputError> {
    let (rest, network) = match text.rsplit_once('@') {
        // A network, not part of a file name: figures, or a word without a dot or slash.
        Some((rest, net)) if net.contains('=') || !net.contains(['.', '/']) => {
            Conditions::parse(net).map_err(|e| bad(format!("--flow {text}: network {e}")))?;
            (rest, Some(net.to_ascii_lowercase()))
        }
        _ => (text, None),
    };
    if let Some((file, weight)) = rest.rsplit_once(':') {
        if let Ok(w) = weight.parse::<u32>() {
            if w == 0 {
                return Err(bad(format!("--flow {text}: weight must be at least 1")));
            }
            return Ok((PathBuf::from(file), w, network));
        }
    }
    Ok((PathBuf::from(rest), 1, network))
}

/// Gives `flow` its own network conditions (`text`, already checked or named in the error by
/// `what`); its name carries them, so its results stay apart from the same flow's others.
pub fn with_network(
    mut flow: PreparedFlow,
    text: &str,
    what: &str,
) -> Result<PreparedFlow, InputError> {
    let conditions = Conditions::parse(text).map_err(|e| bad(format!("{what}: {e}")))?;
    flow.network = Some(conditions);
    flow.name = Arc::from(format!("{}@{}", flow.name, text.to_ascii_lowercase()));
    Ok(flow)
}

/// The flows of `throng run`: files or one URL, with weights.
/// `--target`, checked.
fn target(args: &FlowArgs) -> Result<Option<Url>, InputError> {
    args.target
        .as_deref()
        .map(|t| {
            let url = Url::parse(t).map_err(|e| bad(format!("--target `{t}`: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(bad(format!("--target `{t}`: expected http://HOST[:PORT]")));
            }
            Ok(url)
        })
        .transpose()
}

/// A plan file's flows, each in its mode with its users as its weight (the command line
/// then names none).
pub fn plan_flows(
    args: &FlowArgs,
    plan_file: &Path,
    listed: &[crate::plan::PlanFlow],
    overrides: &HashMap<String, String>,
) -> Result<Vec<FlowChoice>, InputError> {
    if !args.files.is_empty() || !args.weighted.is_empty() {
        return Err(bad(format!(
            "--plan {} lists its own flows: drop the flows on the command line",
            plan_file.display()
        )));
    }
    let target = target(args)?;
    listed
        .iter()
        .map(|f| {
            let handed = f.login.is_some() || args.login.is_some();
            let mut flow =
                prepare_flow_with(&f.path, target.as_ref(), overrides, &args.data_dirs, handed)?;
            if let Some(net) = &f.network {
                let what = format!("{}: flows[{}].network", plan_file.display(), f.index);
                flow = with_network(flow, net, &what)?;
            }
            Ok(FlowChoice {
                flow: Arc::new(flow),
                weight: f.users,
                mode: Some(f.mode),
            })
        })
        .collect()
}

pub fn flows(
    args: &FlowArgs,
    overrides: &HashMap<String, String>,
) -> Result<Vec<FlowChoice>, InputError> {
    let (positional, weighted_args, data_dirs) = (&args.files, &args.weighted, &args.data_dirs);
    let target = target(args)?;
    let mut choices = Vec::new();
    for item in positional {
        let flow = if item.starts_with("http://") || item.starts_with("https://") {
            url_flow(item)?
        } else {
            prepare_flow_with(
                Path::new(item),
                target.as_ref(),
                overrides,
                data_dirs,
                args.login.is_some(),
            )?
        };
        choices.push(FlowChoice {
            mode: None,
            flow: Arc::new(flow),
            weight: 1,
        });
    }
    for item in weighted_args {
        let (path, weight, network) = weighted_entry(item)?;
        let handed = args.login.is_some();
        let mut flow = prepare_flow_with(&path, target.as_ref(), overrides, data_dirs, handed)?;
        if let Some(net) = network {
            flow = with_network(flow, &net, &format!("--flow {item}"))?;
        }
        choices.push(FlowChoice {
            mode: None,
            flow: Arc::new(flow),
            weight,
        });
    }
    if choices.is_empty() {
        return Err(bad(
            "no flow given: pass a flow file, a URL, or --flow FILE[:WEIGHT]",
        ));
    }
    Ok(choices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_used_only_in_authorization_headers_is_the_handoffs() {
        let flow: Flow = serde_json::from_value(serde_json::json!({
            "title": "t",
            "variables": [
                {"name": "authorization", "secret": {"env": "A"}},
                {"name": "password", "secret": {"env": "P"}},
                {"name": "unused", "secret": {"env": "U"}}
            ],
            "steps": [{"type": "navigate", "url": "http://h/", "network": {
                "requests": [
                    {"kind": "ajax", "method": "GET", "url": "http://h/a",
                     "headers": {"Authorization": "Bearer ${authorization}"}},
                    {"kind": "ajax", "method": "POST", "url": "http://h/b", "body": "pw=${password}",
                     "headers": {"authorization": "Basic ${password}"}}
                ],
                "polling": [{"url": "http://h/p", "periodMs": 1000,
                             "headers": {"authorization": "Bearer ${authorization}"}}]
            }}]
        }))
        .unwrap();
        assert_eq!(authorization_only_secrets(&flow), ["authorization"]);
    }
}
