//! The application layer: a command's life cycle, from validated config to work and an exit
//! code. `main` parses the command line (cli/), sets up the process (descriptor limit, logs
//! through the redactor) and dispatches to one handler per subcommand. Errors print as one
//! line (`throng: ...`, the cause chain joined) with exit code 2 for bad input and 1 for run
//! failures.

mod commands;
pub mod compare;
mod k8s;
pub mod lifecycle;
mod record;
mod redact;
mod reports;
pub mod verify;

pub use lifecycle::{EXIT_BAD_INPUT, EXIT_RUN_ERROR, EXIT_THRESHOLD};

use crate::cli::args::Command;
use crate::cli::{config, Cli};
use clap::Parser;
use std::process::ExitCode;

/// Entry point used by the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_fd_limit();
    tracing_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("throng: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUN_ERROR);
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    // Do not wait for stray blocking tasks (e.g. a stdin reader) at exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => code,
        Err(e) => {
            // A URL's credentials never reach the terminal, whatever failed.
            eprintln!(
                "throng: {}",
                crate::outbound::strip_userinfo(&format!("{e:#}"))
            );
            if is_input_error(&e) {
                ExitCode::from(EXIT_BAD_INPUT)
            } else {
                ExitCode::from(EXIT_RUN_ERROR)
            }
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => commands::run(args).await,
        Command::Worker(args) => crate::dist::worker::work(args).await,
        Command::Demo(args) => commands::demo(args).await,
        Command::Compare(args) => compare::compare(args).await,
        Command::Report { results, out } => reports::report(&results, out.as_deref()),
        Command::Diff {
            base,
            new,
            tolerance,
        } => reports::diff(&base, &new, &tolerance),
        Command::Validate { flows, data_dirs } => Ok(commands::validate(&flows, &data_dirs)?),
        Command::DemoSite(args) => commands::demo_site(args).await,
        Command::Record(args) => record::record(args).await,
        Command::Import {
            file,
            out,
            no_correlate,
            no_verify,
        } => record::import(&file, &out, no_correlate, no_verify).await,
        Command::K8s(args) => k8s::k8s(args),
    }
}

fn is_input_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<config::InputError>()
            || c.is::<crate::flow::FlowError>()
            || c.is::<crate::replay::vars::VarError>()
    })
}

/// Thousands of virtual users need thousands of sockets: lift the soft limit to the hard one.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: lim.maximum,
                maximum: lim.maximum,
            },
        );
    }
}

/// Logs on stderr as `THRONG_LOG` (or `RUST_LOG`) says, through the redactor: cookie and
/// authorization values and the command line's secrets never reach the log.
fn tracing_init() {
    use tracing_subscriber::EnvFilter;
    let wanted = ["THRONG_LOG", "RUST_LOG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()));
    // chromiumoxide logs an ERROR whenever a browser's socket closes, including when throng
    // closes it at the end of a run; throng itself counts and reports real browser faults.
    let mut filter = match &wanted {
        Some(w) => EnvFilter::try_new(w).unwrap_or_else(|_| EnvFilter::new("error")),
        None => EnvFilter::new("error,chromiumoxide=off"),
    };
    // The HTML parser's debug lines are whole pages (CSRF tokens, personal data): only when
    // asked for by name.
    for quiet in ["html5ever", "selectors"] {
        if !wanted.as_deref().unwrap_or_default().contains(quiet) {
            if let Ok(d) = format!("{quiet}=warn").parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    let redactor = std::sync::Arc::new(redact::Redactor::from_args(
        std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
    ));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(redact::RedactingStderr(redactor))
        .try_init();
}
