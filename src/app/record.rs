//! `throng record` and `throng import`: thin wrappers over the `throng-recorder` crate (which
//! writes only flows throng's loader accepts) that print the written flow's summary line, then
//! verify the flow with one HTTP replay against the same site (`--no-verify` skips it).

use crate::cli::args::RecordArgs;
use crate::cli::config::InputError;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use throng_recorder::fake::{self, FakeField};
use throng_recorder::{import_file_with, record as record_flow, write_flow, RecordOptions};

/// The recording browser: `--chrome`, then `$CHROME`, then full Chromium on PATH (a person
/// records in the real browser, not the headless shell).
fn recording_browser(explicit: Option<PathBuf>) -> Result<PathBuf, InputError> {
    if let Some(path) = explicit.or_else(|| std::env::var_os("CHROME").map(PathBuf::from)) {
        return Ok(path);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(found) = which(name) {
            return Ok(found);
        }
    }
    Err(InputError(
        "no Chromium to record with: install it with `apt-get install chromium`, or pass --chrome PATH".into(),
    ))
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

pub async fn record(args: RecordArgs) -> anyhow::Result<ExitCode> {
    // Checked before the recording, not after a person clicked through the site.
    let fakes = (args.fake.iter())
        .map(|f| FakeField::parse(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(InputError)?;
    let mut opts = RecordOptions::new(args.url, args.out.clone());
    opts.headless = args.headless;
    opts.chrome = recording_browser(args.chrome)?;
    if !args.selector_attribute.is_empty() {
        opts.selector_attributes = args.selector_attribute;
    }
    opts.secrets = args.secret;
    opts.no_correlate = args.no_correlate;
    opts.on_ready = Some(Box::new(|ws_url| {
        // Tests and other CDP clients read this line to drive a headless recording.
        println!("devtools: {ws_url}");
        eprintln!("recording: click through the site; close the window or press Ctrl-C to finish");
    }));
    let summary = record_flow(opts).await?;
    print_correlations(
        &summary.correlations,
        &summary.made,
        summary.dropped.as_deref(),
    );
    if let Some(c) = &summary.capped {
        eprintln!(
            "capped: {} WebSocket messages ({} bytes), {} sockets and {} response bodies left out to keep the recording bounded (the flow's `capped` says so too)",
            c.messages, c.message_bytes, c.sockets, c.bodies
        );
    }
    eprintln!(
        "wrote {}: {} steps, {} requests, {} pollers, {} variables",
        summary.out.display(),
        summary.steps,
        summary.requests,
        summary.pollers,
        summary.variables
    );
    generated_data(&args.out, &fakes)?;
    if !args.no_verify {
        return verified(&args.out, &summary.recording).await;
    }
    print_summary(&args.out)
}

/// `--fake KIND=FIELD`: the written flow types generated data there; without it, a hint for
/// each typed field whose value looks like an email, a name, a phone number...
fn generated_data(out: &Path, fakes: &[FakeField]) -> anyhow::Result<()> {
    let label = out.display().to_string();
    let text = std::fs::read_to_string(out)?;
    let mut flow = crate::flow::parse(&text, &label)?;
    if fakes.is_empty() {
        for hint in fake::suggestions(&flow) {
            eprintln!("hint: {hint}");
        }
        return Ok(());
    }
    let lines = fake::apply(&mut flow, fakes)
        .map_err(|why| InputError(format!("{why}; {label} is written without it")))?;
    write_flow(out, &flow)?;
    for line in lines {
        eprintln!("generated data: {line}");
    }
    Ok(())
}

pub async fn import(
    file: &Path,
    out: &Path,
    no_correlate: bool,
    no_verify: bool,
) -> anyhow::Result<ExitCode> {
    let imported = import_file_with(file, no_correlate).map_err(|e| InputError(e.to_string()))?;
    write_flow(out, &imported.flow)?;
    print_correlations(
        &imported.correlations,
        &imported.made,
        imported.dropped.as_deref(),
    );
    if !no_verify {
        return verified(out, &imported.recording).await;
    }
    print_summary(out)
}

/// Verifies the written flow, then prints its summary (the flow as verification left it);
/// exit 1 when it does not replay as recorded.
async fn verified(out: &Path, recording: &throng_recorder::Recording) -> anyhow::Result<ExitCode> {
    let verdict = super::verify::verify(out, recording).await?;
    print_summary(out)?;
    Ok(match verdict {
        super::verify::Verified::Fails => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

/// What became a `${variable}` (and where), or why correlations were left out.
fn print_correlations(lines: &[String], made: &[String], dropped: Option<&str>) {
    for line in lines {
        eprintln!("correlated {line}");
    }
    for line in made {
        eprintln!("generated {line}");
    }
    if let Some(why) = dropped {
        eprintln!("correlations dropped (the flow would not load with them: {why}); recorded values are replayed as they were");
    }
}

/// The written flow's one-line summary (loaded as `throng run` will load it, CSV files included).
fn print_summary(out: &Path) -> anyhow::Result<ExitCode> {
    super::lifecycle::say(crate::flow::load(out)?.summary())?;
    Ok(ExitCode::SUCCESS)
}
