//! Validates raw arguments into one typed run configuration; every problem is one line that
//! names the flag or the file.

use super::args::{BrowserArg, FlowArgs, PlanArgs, ReplayArgs};
use crate::flow;
use crate::live::otlp::{OtlpExporter, OtlpOptions};
use crate::live::prometheus::{ExportOptions, Exporter};
use crate::metrics::sessions::{KeepPolicy, KeepSessions};
use crate::metrics::{Mode, TraceConfig};
use crate::plan::{parse_duration, Arrival, BrowserShare, LoadPlan, Stages, ThinkPolicy};
use crate::replay::browser::{BrowserKind, BrowserOptions};
use crate::replay::conditions::Conditions;
use crate::replay::fake::{FakeOptions, Locale};
use crate::replay::http::{ClientOptions, HttpOptions, SharedTls};
use crate::replay::trusted_certs::TrustedCerts;
use crate::report::{Format, Threshold};
use crate::run::LoginSpec;
use crate::run::{capacity, FlowChoice, RunSpec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

pub use super::flows::{
    flows, plan_flows, prepare, prepare_flow, prepare_flow_allowing, url_flow, weighted,
    weighted_entry, with_network,
};

/// Bad input: printed as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

fn bad(msg: impl Into<String>) -> InputError {
    InputError(msg.into())
}

/// Where results go and how the run is judged.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// `--out DIR` or `--out -`.
    pub destination: Option<Destination>,
    /// `--format`: what is written to the destination.
    pub formats: Vec<Format>,
    pub thresholds: Vec<Threshold>,
    pub quiet: bool,
    /// `--metrics` / `--remote-write`: the command's live exporter.
    pub exporter: Option<Exporter>,
    /// `--otlp`: the command's OTLP exporter.
    pub otlp: Option<OtlpExporter>,
}

impl Output {
    /// After a command's last run: the exporters' final pushes and linger (nothing without).
    pub async fn close_export(&self) {
        let prometheus = async {
            if let Some(exporter) = &self.exporter {
                exporter.close().await;
            }
        };
        let otlp = async {
            if let Some(otlp) = &self.otlp {
                otlp.close().await;
            }
        };
        tokio::join!(prometheus, otlp);
    }
}

/// Where the chosen formats are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// One file per format in this directory (checked writable before the run starts).
    Dir(PathBuf),
    /// The one chosen format on stdout; the summary table then goes to stderr.
    Stdout,
}

fn flag_duration(flag: &str, text: &str) -> Result<Duration, InputError> {
    parse_duration(text).map_err(|e| bad(format!("{flag}: {e}")))
}

/// `--timeout`: a request or step that may take no time at all would fail every time.
fn timeout(args: &ReplayArgs) -> Result<Duration, InputError> {
    let t = flag_duration("--timeout", &args.timeout)?;
    if t.is_zero() {
        return Err(bad("--timeout must be more than 0s (e.g. 30s)"));
    }
    Ok(t)
}

/// The load plan from `--users/--ramp/--duration`, `--stages` or `--arrival-rate`.
pub fn plan(
    args: &PlanArgs,
    default_users: u32,
    default_duration: &str,
) -> Result<LoadPlan, InputError> {
    let duration = args
        .duration
        .as_deref()
        .map(|d| flag_duration("--duration", d))
        .transpose()?;
    let stages = if let Some(text) = &args.stages {
        if duration.is_some() {
            return Err(bad("--stages already sets the duration: drop --duration"));
        }
        if args.arrival_rate.is_some() {
            return Err(bad(
                "--stages sets user counts; use --arrival-rate with --ramp/--duration",
            ));
        }
        Stages::parse(text).map_err(bad)?
    } else {
        let total = match duration {
            Some(d) => d,
            None if args.iterations.is_some() => Duration::from_secs(24 * 3600),
            None => flag_duration("--duration", default_duration)?,
        };
        if total.is_zero() {
            return Err(bad("--duration must be more than 0s"));
        }
        let ramp = args
            .ramp
            .as_deref()
            .map(|r| flag_duration("--ramp", r))
            .transpose()?
            .unwrap_or(Duration::ZERO);
        match args.arrival_rate {
            Some(rate) => {
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(bad(format!(
                        "--arrival-rate {rate}: must be a positive number"
                    )));
                }
                Stages::ramp_and_hold_rate(rate, ramp, total).map_err(bad)?
            }
            None => {
                let users = args.users.unwrap_or(default_users);
                if users == 0 {
                    return Err(bad("--users must be at least 1"));
                }
                Stages::ramp_and_hold(users, ramp, total).map_err(bad)?
            }
        }
    };
    let mut browsers = args
        .browsers
        .as_deref()
        .map(|text| BrowserShare::parse(text, "--browsers").map_err(bad))
        .transpose()?;
    let arrival = if let Some(path) = &args.plan {
        if args.iterations.is_some() {
            return Err(bad("--iterations does not combine with --plan"));
        }
        let shape = crate::plan::load_plan_file(path, args.max_users).map_err(bad)?;
        if let Some(from_file) = shape.browsers {
            if browsers.is_some() {
                return Err(bad(format!(
                    "--browsers: {} already sets `browsers`; drop one",
                    path.display()
                )));
            }
            browsers = Some(from_file);
        }
        shape.arrival
    } else if args.arrival_rate.is_some() {
        if args.iterations.is_some() {
            return Err(bad("--iterations applies to --users; with --arrival-rate each arrival runs the flow once"));
        }
        Arrival::Rate {
            stages,
            max_users: args.max_users.max(1),
        }
    } else {
        Arrival::Users(stages)
    };
    let open_model = matches!(arrival, Arrival::Rate { .. });
    if args.iterations == Some(0) {
        return Err(bad("--iterations must be at least 1"));
    }
    if !(args.think_scale.is_finite() && args.think_scale >= 0.0) {
        return Err(bad(format!(
            "--think-scale {}: must be 0 or more",
            args.think_scale
        )));
    }
    if !(0.0..=1.0).contains(&args.think_jitter) {
        return Err(bad(format!(
            "--think-jitter {}: must be between 0 and 1",
            args.think_jitter
        )));
    }
    let think = match &args.think {
        Some(text) => ThinkPolicy::parse_override(text).map_err(bad)?,
        None => ThinkPolicy::Recorded {
            scale: args.think_scale,
            jitter: args.think_jitter,
        },
    };
    match (browsers, &arrival) {
        (Some(BrowserShare::Users(_)), Arrival::Rate { .. }) => {
            return Err(bad(
                "--browsers N counts users of a --users plan; with arrivals give a share, e.g. --browsers 5%",
            ))
        }
        (Some(BrowserShare::Users(n)), Arrival::Users(stages))
            if f64::from(n) > stages.peak().ceil() =>
        {
            return Err(bad(format!(
                "--browsers {n}: more than the plan's {} users",
                stages.peak().ceil()
            )))
        }
        (Some(b @ BrowserShare::Basis(_)), Arrival::Users(stages))
            if b.browsers_of(stages.peak().ceil() as u64, 1) == 0 =>
        {
            return Err(bad(format!(
                "--browsers {b}: no browser among the plan's {} users; raise the share or give a count",
                stages.peak().ceil()
            )))
        }
        _ => {}
    }
    let plan = LoadPlan {
        browsers,
        arrival,
        iterations: args.iterations,
        think,
        dwell: args
            .dwell
            .as_deref()
            .map(|d| flag_duration("--dwell", d))
            .transpose()?,
        grace: match &args.grace {
            Some(text) => flag_duration("--grace", text)?,
            None if open_model => Duration::from_secs(30),
            None => Duration::ZERO,
        },
        drain: match &args.drain {
            Some(text) => flag_duration("--drain", text)?,
            None => crate::plan::DEFAULT_DRAIN,
        },
    };
    Ok(plan)
}

/// Before anything starts: a user count this machine cannot hold (all of it, in a run that
/// is not spread over workers) is bad input, naming the flag that set it.
pub fn check_capacity(args: &PlanArgs, plan: &LoadPlan) -> Result<(), InputError> {
    match capacity::available_memory() {
        Some(available) => {
            capacity::check_fits(plan, users_flag(args, plan), available).map_err(bad)
        }
        None => Ok(()),
    }
}

/// The flag that set the plan's user count (what a capacity error names).
pub fn users_flag(args: &PlanArgs, plan: &LoadPlan) -> &'static str {
    if args.plan.is_some() {
        "--plan"
    } else if args.stages.is_some() {
        "--stages"
    } else if matches!(plan.arrival, Arrival::Rate { .. }) {
        "--max-users"
    } else {
        "--users"
    }
}

/// `--var name=value` pairs.
pub fn vars(args: &ReplayArgs) -> Result<HashMap<String, String>, InputError> {
    args.vars
        .iter()
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("--var `{pair}`: expected NAME=VALUE")))?;
            if !flow::is_identifier(name) {
                return Err(bad(format!(
                    "--var `{pair}`: `{name}` is not a variable name"
                )));
            }
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

pub fn output(args: &ReplayArgs) -> Result<Output, InputError> {
    let thresholds = args
        .threshold
        .iter()
        .map(|t| Threshold::parse(t).map_err(|e| bad(format!("--threshold {e}"))))
        .collect::<Result<_, _>>()?;
    let formats = formats(&args.format)?;
    let destination = match args.out.as_deref() {
        None => None,
        Some(p) if p == Path::new("-") => {
            if formats.len() != 1 {
                return Err(bad(
                    "--out -: name exactly one --format to write to stdout (json, csv, html or text)",
                ));
            }
            Some(Destination::Stdout)
        }
        Some(dir) => {
            writable_dir(dir)?;
            Some(Destination::Dir(dir.to_path_buf()))
        }
    };
    if destination.is_none() && !args.format.is_empty() {
        return Err(bad("--format: also give --out DIR (or --out - for stdout)"));
    }
    Ok(Output {
        destination,
        formats,
        thresholds,
        quiet: args.quiet,
        exporter: exporter(args)?,
        otlp: otlp(args)?,
    })
}

/// `--otlp`, `--otlp-header`, `--otlp-interval`.
fn otlp(args: &ReplayArgs) -> Result<Option<OtlpExporter>, InputError> {
    let Some(endpoint) = &args.otlp else {
        return Ok(None);
    };
    let interval = flag_duration("--otlp-interval", &args.otlp_interval)?;
    let options = OtlpOptions::new(endpoint, &args.otlp_header, interval).map_err(bad)?;
    OtlpExporter::new(options, cacert(args)?)
        .map(Some)
        .map_err(|e| bad(format!("--otlp: {e}")))
}

/// `--cacert`'s certificates, for throng's own outbound traffic (remote write, OTLP).
fn cacert(args: &ReplayArgs) -> Result<Option<Vec<u8>>, InputError> {
    args.cacert
        .as_deref()
        .map(|p| std::fs::read(p).map_err(|e| bad(format!("--cacert {}: {e}", p.display()))))
        .transpose()
}

/// `--metrics`, `--metrics-linger`, `--remote-write`, `--remote-write-interval`: the scrape
/// address is bound here, before any load.
fn exporter(args: &ReplayArgs) -> Result<Option<Exporter>, InputError> {
    if args.metrics.is_none() && args.remote_write.is_none() {
        return Ok(None);
    }
    let remote_write = args
        .remote_write
        .as_deref()
        .map(|u| {
            Url::parse(u).map_err(|e| {
                let shown = crate::outbound::strip_userinfo(u);
                bad(format!("--remote-write `{shown}`: {e}"))
            })
        })
        .transpose()?;
    let interval = flag_duration("--remote-write-interval", &args.remote_write_interval)?;
    if interval < Duration::from_millis(100) {
        return Err(bad("--remote-write-interval must be at least 100ms"));
    }
    let options = ExportOptions {
        listen: args.metrics,
        linger: flag_duration("--metrics-linger", &args.metrics_linger)?,
        remote_write,
        interval,
        cacert_pem: cacert(args)?,
    };
    Exporter::new(options)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

/// `--format json,csv,html,text` (default: json, csv and html).
pub fn formats(names: &[String]) -> Result<Vec<Format>, InputError> {
    if names.is_empty() {
        return Ok(Format::FILES.to_vec());
    }
    let mut out = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')) {
        let f = Format::parse(name).ok_or_else(|| {
            bad(format!(
                "--format `{name}`: expected json, csv, html or text (comma-separated)"
            ))
        })?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    Ok(out)
}

/// `--out DIR` must be usable before any load is sent: created if missing, and writable.
fn writable_dir(dir: &Path) -> Result<(), InputError> {
    let fail = |why: String| bad(format!("--out {}: {why}", dir.display()));
    if dir.exists() && !dir.is_dir() {
        return Err(fail("exists and is not a directory".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create it: {e}")))?;
    tempfile::Builder::new()
        .prefix(".throng-check-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| fail(format!("cannot write there: {e}")))
}

pub fn http_options(args: &ReplayArgs) -> Result<HttpOptions, InputError> {
    Ok(HttpOptions {
        client: ClientOptions {
            timeout: timeout(args)?,
            max_body: parse_size(&args.max_body)
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    bad(format!(
                        "--max-body `{}`: expected a size such as 512KB, 10MB or 1GB",
                        args.max_body
                    ))
                })?,
            cache: !args.no_cache,
            insecure: args.insecure,
            http2: !args.http1,
            tls: match trusted_certs(args)? {
                Some(certs) => SharedTls::trusting(&certs),
                None => SharedTls::default(),
            },
            network: network(args)?.map(std::sync::Arc::new),
            ..ClientOptions::default()
        },
        allow_hosts: args.allow_host.clone(),
        threads: match args.threads {
            Some(0) => return Err(bad("--threads must be at least 1")),
            n => n,
        },
    })
}

/// A size in bytes: a number with an optional unit B, KB, MB or GB (powers of 1024; KiB,
/// MiB and GiB are the same).
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: usize = digits.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    n.checked_mul(1usize << shift)
}

/// `--network PRESET|FIGURES`: every user's network conditions.
fn network(args: &ReplayArgs) -> Result<Option<Conditions>, InputError> {
    args.network
        .as_deref()
        .map(|text| Conditions::parse(text).map_err(|e| bad(format!("--network {e}"))))
        .transpose()
}

/// `--chrome PATH` must be a program that exists (checked before the run, not at the first
/// browser launch).
fn chrome_path(path: &Path) -> Result<PathBuf, InputError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(path.to_path_buf()),
        Ok(_) => Err(bad(format!("--chrome {}: not a file", path.display()))),
        Err(e) => Err(bad(format!("--chrome {}: {e}", path.display()))),
    }
}

/// `--cacert FILE`, read and checked.
fn trusted_certs(args: &ReplayArgs) -> Result<Option<TrustedCerts>, InputError> {
    args.cacert
        .as_deref()
        .map(|path| TrustedCerts::load(path).map_err(|e| bad(format!("--cacert {e}"))))
        .transpose()
}

pub fn browser_options(args: &ReplayArgs) -> Result<BrowserOptions, InputError> {
    if args.processes == Some(0) || args.sessions_per_process == Some(0) {
        return Err(bad(
            "--processes and --sessions-per-process must be at least 1",
        ));
    }
    if let Some(n) = args.cpu_slowdown.filter(|n| !(1.0..=100.0).contains(n)) {
        return Err(bad(format!(
            "--cpu-slowdown {n}: expected a factor from 1 (no slowdown) to 100, e.g. 4"
        )));
    }
    Ok(BrowserOptions {
        kind: args.browser.map(|b| match b {
            BrowserArg::HeadlessShell => BrowserKind::HeadlessShell,
            BrowserArg::Chromium => BrowserKind::Chromium,
        }),
        chrome_path: args.chrome.as_deref().map(chrome_path).transpose()?,
        processes: args.processes,
        sessions_per_process: args.sessions_per_process,
        headed: args.headed,
        insecure: args.insecure,
        trusted_spki: trusted_certs(args)?.map_or_else(Vec::new, |c| c.spki_hashes()),
        allow_hosts: args.allow_host.clone(),
        step_timeout: timeout(args)?,
        // Failed steps' screenshots go beside results.json (not with `--out -`).
        failures_dir: args.out.clone().filter(|p| p != Path::new("-")),
        cpu_slowdown: args.cpu_slowdown.filter(|n| *n > 1.0),
        network: network(args)?,
        // Set by the scheduler for each run.
        ..BrowserOptions::default()
    })
}

/// A command's run, validated: the flows prepared (variables, target), the plan, the outputs.
/// The one place `run`, `compare`, `k8s` and a coordinator assemble a run from their flags.
pub struct RunConfig {
    /// `--var` values (and `THRONG_VAR_*`), already substituted into the flows.
    pub vars: HashMap<String, String>,
    pub flows: Vec<FlowChoice>,
    pub plan: LoadPlan,
    pub output: Output,
    /// The flows as named on the command line, for reports.
    pub flow_names: Vec<String>,
    /// `--login`, `--login-share` (or a plan file flow's `login`): the browser logins HTTP
    /// users start with.
    pub logins: Vec<LoginSpec>,
}

impl RunConfig {
    /// Validates the shared flag groups; the plan defaults to one user for 30 s.
    pub fn new(flows: &FlowArgs, plan: &PlanArgs, replay: &ReplayArgs) -> Result<Self, InputError> {
        let vars = self::vars(replay)?;
        let listed = match &plan.plan {
            Some(path) => crate::plan::load_plan_file(path, plan.max_users)
                .map_err(bad)?
                .flows
                .into_iter()
                .map(|f| (path.clone(), f))
                .collect(),
            None => Vec::new(),
        };
        let mut logins = super::flows::login(flows, &vars)?;
        logins.extend(super::flows::plan_logins(flows, &listed, &vars)?);
        let (choices, flow_names) = match listed.first() {
            None => (self::flows(flows, &vars)?, flows.names()),
            Some((path, _)) => {
                let listed: Vec<_> = listed.iter().map(|(_, f)| f.clone()).collect();
                let names = listed
                    .iter()
                    .map(|f| format!("{} ({}, {} users)", f.path.display(), f.mode, f.users))
                    .collect();
                (plan_flows(flows, path, &listed, &vars)?, names)
            }
        };
        Ok(RunConfig {
            logins,
            flows: choices,
            plan: self::plan(plan, 1, "30s")?,
            output: output(replay)?,
            flow_names,
            vars,
        })
    }

    /// The run of these flows in `mode`.
    pub fn spec(&self, mode: Mode, replay: &ReplayArgs) -> Result<RunSpec, InputError> {
        let mut spec = run_spec(self.flows.clone(), self.plan.clone(), mode, replay)?;
        if !self.logins.is_empty() && mode != Mode::Http {
            return Err(bad(
                "--login hands a browser's session to HTTP users: use it with --mode http (or --browsers)",
            ));
        }
        spec.logins = self.logins.clone();
        // Logins run no more at once than this machine's CPU holds (as a browser run's fit).
        let cores = crate::health::cores();
        let at_once: Vec<usize> = (spec.logins.iter())
            .map(|l| crate::health::logins_at_once(&l.flow, &spec, cores))
            .collect();
        for (login, n) in spec.logins.iter_mut().zip(at_once) {
            login.at_once.get_or_insert(n);
        }
        Ok(spec)
    }
}

/// `--locale` and `--seed`: the run's generated data.
pub fn fake_options(replay: &ReplayArgs) -> Result<FakeOptions, InputError> {
    let locale = Locale::parse(&replay.locale).ok_or_else(|| {
        bad(format!(
            "--locale `{}`: expected one of {}",
            replay.locale,
            Locale::NAMES
        ))
    })?;
    Ok(FakeOptions {
        locale,
        seed: replay.seed.unwrap_or_else(rand::random),
    })
}

/// The replay flags with a seed: the workers of a distributed run draw generated data from
/// the same one.
pub fn seeded(replay: &ReplayArgs) -> ReplayArgs {
    ReplayArgs {
        seed: Some(replay.seed.unwrap_or_else(rand::random)),
        ..replay.clone()
    }
}

/// Assembles the run spec.
pub fn run_spec(
    flows: Vec<FlowChoice>,
    plan: LoadPlan,
    mode: Mode,
    replay: &ReplayArgs,
) -> Result<RunSpec, InputError> {
    Ok(RunSpec {
        flows,
        plan,
        mode,
        http: http_options(replay)?,
        browser: browser_options(replay)?,
        trace: trace(replay)?,
        fake: fake_options(replay)?,
        keep_sessions: keep_sessions(replay)?,
        logins: Vec::new(),
    })
}

/// `--keep-sessions` (default `failed`): where and which sessions are kept whole; none
/// without an `--out` directory to write them in.
pub fn keep_sessions(replay: &ReplayArgs) -> Result<Option<KeepSessions>, InputError> {
    let policy =
        KeepPolicy::parse(replay.keep_sessions.as_deref().unwrap_or("failed")).map_err(bad)?;
    let dir = replay.out.clone().filter(|p| p != Path::new("-"));
    Ok(policy.zip(dir).map(|(policy, dir)| KeepSessions {
        policy,
        dir,
        filmstrip: replay.filmstrip,
    }))
}

/// `--trace`, `--trace-sample`: traced requests (spans kept for `--otlp`).
pub fn trace(replay: &ReplayArgs) -> Result<Option<TraceConfig>, InputError> {
    if !replay.trace {
        return Ok(None);
    }
    let sample = match &replay.trace_sample {
        None => 1.0,
        Some(text) => {
            let number = text.trim().trim_end_matches('%');
            match number.parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 100.0 => p / 100.0,
                _ => {
                    return Err(bad(format!(
                    "--trace-sample `{text}`: expected a share above 0 and at most 100%, e.g. 10%"
                )))
                }
            }
        }
    };
    Ok(Some(TraceConfig {
        sample,
        keep_spans: replay.otlp.is_some(),
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("512KB"), Some(512 << 10));
        assert_eq!(parse_size("10MB"), Some(10 << 20));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("10TB"), None);
        assert_eq!(parse_size("MB"), None);
        assert_eq!(parse_size("99999999999999999999GB"), None);
    }
}
