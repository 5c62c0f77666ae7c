//! The coordinator's command line for `throng k8s`: the user's run flags written back, with
//! local paths replaced by their place in the pod and `--var` values by references to the
//! Secret (Kubernetes expands `$(NAME)` from the container's environment).

use crate::cli::args::{K8sArgs, ModeArg, PlanArgs, ReplayArgs};
use crate::cli::config::{self, InputError};
use crate::k8s::{Bundle, SecretEnv, RESULTS_DIR};
use clap::ValueEnum;
use std::path::Path;

/// Environment variable holding a `--var` value in the coordinator's container.
pub fn var_env(name: &str) -> String {
    format!("THRONG_VAR_{name}")
}

/// Key of a `--var` value in the Secret.
pub fn var_key(name: &str) -> String {
    format!("var-{name}")
}

pub fn is_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// Kubernetes expands `$(NAME)` in a container's arguments; the user's own text is escaped.
fn literal(text: &str) -> String {
    text.replace("$(", "$$(")
}

struct Flags<'a> {
    out: Vec<String>,
    files: &'a Bundle,
    /// URL credentials moved to the Secret.
    secrets: Vec<SecretEnv>,
}

impl Flags<'_> {
    fn push(&mut self, flag: &str, value: impl AsRef<str>) {
        self.out.push(flag.to_string());
        self.out.push(literal(value.as_ref()));
    }

    fn opt(&mut self, flag: &str, value: Option<impl ToString>) {
        if let Some(v) = value {
            self.push(flag, v.to_string());
        }
    }

    fn switch(&mut self, flag: &str, on: bool) {
        if on {
            self.out.push(flag.to_string());
        }
    }

    /// A URL argument: its credentials, if any, go to the Secret and the argument names the
    /// environment variable holding them (`http://$(THRONG_USERINFO_0)@host/`).
    fn url(&mut self, text: &str) -> String {
        let Ok(url) = url::Url::parse(text) else {
            return literal(text);
        };
        if url.username().is_empty() && url.password().is_none() {
            return literal(text);
        }
        let n = self.secrets.len();
        let env = format!("THRONG_USERINFO_{n}");
        let userinfo = match url.password() {
            Some(p) => format!("{}:{p}", url.username()),
            None => url.username().to_string(),
        };
        self.secrets.push(SecretEnv {
            env: env.clone(),
            key: format!("userinfo-{n}"),
            value: userinfo,
        });
        let bare = literal(crate::outbound::split_credentials(&url).0.as_str());
        match bare.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://$({env})@{rest}"),
            None => bare,
        }
    }

    /// A secret value (an `--otlp-header`'s): kept in the Secret, the argument names the
    /// environment variable holding it.
    fn secret(&mut self, prefix: &str, value: &str) -> String {
        let n = self.secrets.len();
        let env = format!("THRONG_{}_{n}", prefix.to_uppercase());
        self.secrets.push(SecretEnv {
            env: env.clone(),
            key: format!("{prefix}-{n}"),
            value: value.to_string(),
        });
        format!("$({env})")
    }

    /// A bundled file's path in the pod.
    fn file(&self, local: &Path) -> Result<String, InputError> {
        self.files
            .pod_path(local)
            .map(|p| literal(&p))
            .ok_or_else(|| InputError(format!("{}: not among the bundled files", local.display())))
    }
}

/// `run FLOW... [run flags]` for the coordinator, without the distributed flags, and the
/// credentials of URLs among them (for the Secret).
pub fn run_flags(
    args: &K8sArgs,
    files: &Bundle,
    vars: &[SecretEnv],
) -> Result<(Vec<String>, Vec<SecretEnv>), InputError> {
    let mut f = Flags {
        out: vec!["run".into()],
        files,
        secrets: Vec::new(),
    };
    for item in &args.flows.files {
        let arg = if is_url(item) {
            f.url(item)
        } else {
            f.file(Path::new(item))?
        };
        f.out.push(arg);
    }
    for item in &args.flows.weighted {
        let (path, weight, network) = config::weighted_entry(item)?;
        let flow = f.file(&path)?;
        f.out.push("--flow".into());
        f.out.push(match network {
            Some(net) => format!("{flow}:{weight}@{net}"),
            None => format!("{flow}:{weight}"),
        });
    }
    f.push("--mode", value_name(args.mode));
    if let Some(target) = &args.flows.target {
        let arg = f.url(target);
        f.out.extend(["--target".into(), arg]);
    }
    // Every bundled file was checked here; in the pod they all sit under the mount.
    if !args.flows.data_dirs.is_empty() {
        f.push("--allow-data", crate::k8s::bundle::MOUNT);
    }
    plan_flags(&mut f, &args.plan)?;
    replay_flags(&mut f, &args.replay, vars)?;
    Ok((f.out, f.secrets))
}

fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

fn plan_flags(f: &mut Flags<'_>, plan: &PlanArgs) -> Result<(), InputError> {
    // Destructured so a new plan flag cannot be forgotten here.
    let PlanArgs {
        users,
        ramp,
        duration,
        stages,
        plan,
        arrival_rate,
        max_users,
        browsers,
        iterations,
        think_scale,
        think,
        think_jitter,
        dwell,
        grace,
        drain,
    } = plan;
    f.opt("--users", *users);
    f.opt("--ramp", ramp.as_ref());
    f.opt("--duration", duration.as_ref());
    f.opt("--stages", stages.as_ref());
    if let Some(path) = plan {
        let pod = f.file(path)?;
        f.out.extend(["--plan".into(), pod]);
    }
    f.opt("--arrival-rate", *arrival_rate);
    if arrival_rate.is_some() || plan.is_some() {
        f.push("--max-users", max_users.to_string());
    }
    f.opt("--browsers", browsers.as_ref());
    f.opt("--iterations", *iterations);
    if *think_scale != 1.0 {
        f.push("--think-scale", think_scale.to_string());
    }
    f.opt("--think", think.as_ref());
    if *think_jitter != crate::plan::DEFAULT_THINK_JITTER {
        f.push("--think-jitter", think_jitter.to_string());
    }
    f.opt("--dwell", dwell.as_ref());
    f.opt("--grace", grace.as_ref());
    f.opt("--drain", drain.as_ref());
    Ok(())
}

fn replay_flags(
    f: &mut Flags<'_>,
    replay: &ReplayArgs,
    vars: &[SecretEnv],
) -> Result<(), InputError> {
    let ReplayArgs {
        timeout,
        max_body,
        no_cache,
        insecure,
        http1,
        threads,
        cacert,
        allow_host,
        vars: var_pairs,
        chrome,
        browser,
        processes,
        sessions_per_process,
        headed,
        cpu_slowdown,
        network,
        threshold,
        out: _,
        keep_sessions,
        filmstrip,
        format,
        quiet,
        metrics,
        metrics_linger,
        remote_write,
        remote_write_interval,
        trace,
        trace_sample,
        otlp,
        otlp_header,
        otlp_interval,
        locale,
        seed,
    } = replay;
    f.push("--timeout", timeout);
    if locale != "en" {
        f.push("--locale", locale);
    }
    f.opt("--seed", *seed);
    f.push("--max-body", max_body);
    f.switch("--no-cache", *no_cache);
    f.switch("--insecure", *insecure);
    f.switch("--http1", *http1);
    f.opt("--threads", *threads);
    if let Some(path) = cacert {
        let pod = f.file(path)?;
        f.out.extend(["--cacert".into(), pod]);
    }
    for host in allow_host {
        f.push("--allow-host", host);
    }
    // Values stay in the Secret: the argument names the environment variable holding it.
    for pair in var_pairs {
        let name = pair.split_once('=').map_or(pair.as_str(), |(n, _)| n);
        let env = var_env(name);
        if vars.iter().any(|v| v.env == env) {
            f.out.push("--var".into());
            f.out.push(format!("{name}=$({env})"));
        }
    }
    f.opt("--chrome", chrome.as_ref().map(|p| p.display()));
    f.opt("--browser", browser.map(value_name));
    f.opt("--processes", *processes);
    f.opt("--sessions-per-process", *sessions_per_process);
    f.opt("--cpu-slowdown", *cpu_slowdown);
    f.opt("--network", network.as_ref());
    if *headed {
        return Err(InputError(
            "--headed: pods have no display; drop it for Kubernetes".into(),
        ));
    }
    for rule in threshold {
        f.push("--threshold", rule);
    }
    for list in format {
        f.push("--format", list);
    }
    // Carried for the coordinator's results; workers write no results and keep no sessions.
    f.opt("--keep-sessions", keep_sessions.as_ref());
    f.switch("--filmstrip", *filmstrip);
    f.switch("--quiet", *quiet);
    // The coordinator exports the merged run: a pod's scrape address is its own choice
    // (e.g. 0.0.0.0:9464), as given.
    if let Some(addr) = metrics {
        f.push("--metrics", addr.to_string());
        f.push("--metrics-linger", metrics_linger);
    }
    if let Some(url) = remote_write {
        let arg = f.url(url);
        f.out.extend(["--remote-write".into(), arg]);
        f.push("--remote-write-interval", remote_write_interval);
    }
    f.switch("--trace", *trace);
    f.opt("--trace-sample", trace_sample.as_ref());
    if let Some(url) = otlp {
        // Header values (credentials) stay in the Secret: `NAME=$(THRONG_HEADER_n)`.
        for header in otlp_header {
            let (name, value) = header.split_once('=').unwrap_or((header.as_str(), ""));
            let arg = format!("{}={}", literal(name), f.secret("header", value));
            f.out.extend(["--otlp-header".into(), arg]);
        }
        let arg = f.url(url);
        f.out.extend(["--otlp".into(), arg]);
        f.push("--otlp-interval", otlp_interval);
    }
    f.push("--out", RESULTS_DIR);
    Ok(())
}

/// The distributed run's own flags: the coordinator listens on every interface of its pod.
pub fn coordinator_flags(args: &K8sArgs) -> Vec<String> {
    vec![
        "--workers".into(),
        args.workers.to_string(),
        "--listen".into(),
        format!("0.0.0.0:{}", args.port),
        "--wait-workers".into(),
        literal(&args.wait_workers),
        "--linger".into(),
        literal(&args.linger),
    ]
}

/// Mode flag value for messages.
pub fn mode_name(mode: ModeArg) -> String {
    value_name(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Command, RunArgs};
    use crate::cli::Cli;
    use clap::Parser as _;
    use std::path::PathBuf;

    fn k8s_args(flags: &[&str]) -> K8sArgs {
        let argv = ["throng", "k8s", "--workers", "2", "--image", "t"];
        match Cli::try_parse_from(argv.iter().chain(flags))
            .unwrap()
            .command
        {
            Command::K8s(args) => args,
            other => panic!("{other:?}"),
        }
    }

    fn run_args(flags: &[String]) -> RunArgs {
        match Cli::try_parse_from(std::iter::once("throng".to_string()).chain(flags.to_vec()))
            .unwrap_or_else(|e| panic!("{flags:?}: {e}"))
            .command
        {
            Command::Run(args) => args,
            other => panic!("{other:?}"),
        }
    }

    fn repo(path: &str) -> String {
        format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
    }

    /// The coordinator's flags parse as `throng run` flags that mean what the user asked for,
    /// with files at their place in the pod and `--var` values left in the Secret.
    #[test]
    fn coordinator_flags_round_trip_through_throng_run() {
        let (shop, browse, plan) = (
            repo("flows/shop.json"),
            repo("flows/browse.json"),
            repo("flows/schema.json"),
        );
        // A flow entry's own network goes with it.
        let shop_slow = format!("{shop}:1@slow-4g");
        let cases: Vec<Vec<&str>> = vec![
            vec![
                &shop,
                "--flow",
                &browse,
                "--mode",
                "browser",
                "--target",
                "http://t:1",
                "--users",
                "7",
                "--ramp",
                "5s",
                "-d",
                "1m",
                "--iterations",
                "3",
                "--think-scale",
                "0.5",
                "--dwell",
                "2s",
                "--grace",
                "4s",
                "--drain",
                "3s",
                "--timeout",
                "9s",
                "--max-body",
                "2MB",
                "--no-cache",
                "-k",
                "--cacert",
                &browse,
                "--allow-host",
                "cdn.test",
                "--var",
                "password=p",
                "--chrome",
                "/usr/bin/x",
                "--browser",
                "chromium",
                "--processes",
                "2",
                "--sessions-per-process",
                "5",
                "--cpu-slowdown",
                "4",
                "--network",
                "down=1.6mbps,rtt=150ms",
                "--threshold",
                "errors<1%",
                "--format",
                "json,html",
                "-q",
                "--metrics",
                "0.0.0.0:9464",
                "--metrics-linger",
                "30s",
                "--remote-write",
                "http://prom:9090/api/v1/write",
                "--remote-write-interval",
                "10s",
                "--trace",
                "--trace-sample",
                "10%",
                "--otlp",
                "http://otel:4318",
                "--otlp-interval",
                "2s",
            ],
            vec![
                "--flow",
                &shop_slow,
                "--arrival-rate",
                "2.5",
                "--ramp",
                "10s",
                "-d",
                "1m",
                "--max-users",
                "50",
                "--think",
                "1s..2s",
            ],
            vec![&shop, "--plan", &plan, "--max-users", "40"],
            vec!["http://127.0.0.1:9/x", "--stages", "1@5s,3@10s"],
        ];
        for flags in cases {
            let args = k8s_args(&flags);
            let mut local = vec![
                PathBuf::from(&shop),
                PathBuf::from(&browse),
                PathBuf::from(&plan),
            ];
            local.dedup();
            let files = Bundle::new(&local).unwrap();
            let vars = vec![SecretEnv {
                env: var_env("password"),
                key: var_key("password"),
                value: "p".into(),
            }];
            let (mut out, _) = run_flags(&args, &files, &vars).unwrap();
            out.extend(coordinator_flags(&args));
            let parsed = run_args(&out);
            assert_eq!(parsed.dist.workers, Some(2));
            assert_eq!(parsed.dist.listen, Some("0.0.0.0:8089".parse().unwrap()));
            assert_eq!(
                (
                    parsed.dist.wait_workers.as_str(),
                    parsed.dist.linger.as_str()
                ),
                ("5m", "15m")
            );
            let (mut got_plan, mut want_plan) = (parsed.plan.clone(), args.plan.clone());
            got_plan.plan = None;
            want_plan.plan = None;
            assert_eq!(format!("{got_plan:?}"), format!("{want_plan:?}"));
            assert_eq!(parsed.mode, args.mode);
            assert_eq!(parsed.flows.target, args.flows.target);
            let pod = |p: &str| files.pod_path(Path::new(p)).unwrap();
            let expected_flows: Vec<String> = args
                .flows
                .files
                .iter()
                .map(|f| if is_url(f) { f.clone() } else { pod(f) })
                .collect();
            assert_eq!(parsed.flows.files, expected_flows);
            let expected_weighted: Vec<String> = args
                .flows
                .weighted
                .iter()
                .map(|w| match w.split_once(":1@") {
                    Some((file, net)) => format!("{}:1@{net}", pod(file)),
                    None => format!("{}:1", pod(w)),
                })
                .collect();
            assert_eq!(parsed.flows.weighted, expected_weighted);
            if let Some(p) = &args.plan.plan {
                assert_eq!(
                    parsed.plan.plan.as_deref(),
                    Some(Path::new(&pod(&p.display().to_string())))
                );
            }
            let mut expected = args.replay.clone();
            expected.vars = expected
                .vars
                .iter()
                .map(|_| "password=$(THRONG_VAR_password)".to_string())
                .collect();
            expected.out = Some(PathBuf::from(RESULTS_DIR));
            expected.cacert = expected
                .cacert
                .map(|c| PathBuf::from(pod(&c.display().to_string())));
            assert_eq!(format!("{:?}", parsed.replay), format!("{expected:?}"));
        }
    }

    #[test]
    fn an_otlp_headers_value_goes_to_the_secret_never_into_the_arguments() {
        let args = k8s_args(&[
            "http://127.0.0.1:9/x",
            "--otlp",
            "http://otel:4318",
            "--otlp-header",
            "Authorization=Bearer s3cret",
        ]);
        let files = Bundle::new(&[]).unwrap();
        let (flags, secrets) = run_flags(&args, &files, &[]).unwrap();
        assert!(!flags.join(" ").contains("s3cret"), "{flags:?}");
        let at = flags.iter().position(|f| f == "--otlp-header").unwrap();
        assert_eq!(flags[at + 1], "Authorization=$(THRONG_HEADER_0)");
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].env, "THRONG_HEADER_0");
        assert_eq!(secrets[0].value, "Bearer s3cret");
    }

    #[test]
    fn the_coordinator_listens_on_every_interface_of_its_pod() {
        let args = k8s_args(&[
            "x.json",
            "--port",
            "9000",
            "--wait-workers",
            "1m",
            "--linger",
            "2m",
        ]);
        assert_eq!(
            coordinator_flags(&args).join(" "),
            "--workers 2 --listen 0.0.0.0:9000 --wait-workers 1m --linger 2m"
        );
    }
}
