//! Verifying a flow right after `throng record` or `throng import`: one user replays it once over
//! HTTP against the site it was recorded on (secrets as typed, think times as recorded), every
//! flow request's answer is diffed with the recording's (`throng_recorder::verify`), the fixes
//! the diff calls for are written into the flow, and a second replay checks them.

use crate::flow::Flow;
use crate::metrics::{Mode, RunSummary, Sink};
use crate::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
use crate::replay::trace::{Trace, Traced};
use crate::run::RunSpec;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use throng_recorder::verify::{apply_fixes, diagnose, Finding};
use throng_recorder::{write_flow, Observed, Recording};

/// How a flow's verification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The replay went through as recorded (after the fixes, if any).
    Replays,
    /// A step still fails at replay: the flow needs a look.
    Fails,
    /// The site did not answer at all: nothing was checked.
    Unreachable,
    /// Nothing recorded to compare with (a Recorder export): nothing was checked.
    Unchecked,
}

/// Replays the flow at `path` once over HTTP, diffs it with `recording`, writes the fixes the
/// diff calls for and checks them with a second replay. Prints what it found to stderr.
pub async fn verify(path: &Path, recording: &Recording) -> anyhow::Result<Verified> {
    if !recording.has_answers() {
        eprintln!("verify: not verified: the file recorded no network to compare a replay with");
        return Ok(Verified::Unchecked);
    }
    let (flow, first) = replay(path, recording).await?;
    if unreachable(&first.traced) {
        let why = first.traced[0].error.as_deref().unwrap_or("no answer");
        eprintln!(
            "verify: not verified: {} did not answer ({why}); --no-verify skips this",
            first.traced[0].url
        );
        return Ok(Verified::Unreachable);
    }
    let verdict = diagnose(recording, &flow, &observed(&first.traced));
    for f in &verdict.findings {
        eprintln!("verify: {f}");
    }
    let (fixed, done) = apply_fixes(&flow, &verdict.fixes);
    let (last, findings) = match fixed {
        Some(fixed) => {
            write_flow(path, &fixed)?;
            for line in &done {
                eprintln!("verify: correlated: {line}");
            }
            let (_, mut again) = replay(path, recording).await?;
            let mut after = diagnose(recording, &fixed, &observed(&again.traced));
            let before = badness(&first, &verdict.findings);
            if badness(&again, &after.findings) > before {
                // One replay on a loaded machine can fail by itself: try the fixes once more
                // before undoing them.
                (_, again) = replay(path, recording).await?;
                after = diagnose(recording, &fixed, &observed(&again.traced));
            }
            if badness(&again, &after.findings) > before {
                // The fixes made it worse: the flow goes back to what was recorded.
                write_flow(path, &flow)?;
                eprintln!("verify: the changes made the replay worse; they were undone");
                (first, verdict.findings)
            } else {
                for f in &after.findings {
                    eprintln!("verify: after the fixes: {f}");
                }
                (again, after.findings)
            }
        }
        None => (first, verdict.findings),
    };
    if badness(&last, &findings) > 0 {
        for f in last.summary.failures.iter().take(3) {
            eprintln!("verify: the replay failed: {}", f.message);
        }
        eprintln!(
            "verify: {} does not replay over HTTP as recorded; it was written anyway",
            path.display()
        );
        return Ok(Verified::Fails);
    }
    let compared = last.traced.iter().filter(|t| t.status.is_some()).count();
    let unexplained = findings.iter().filter(|f| !f.saved_by_recording).count();
    if findings.is_empty() {
        eprintln!("verify: replayed once over HTTP as recorded ({compared} requests compared)");
    } else if unexplained == 0 {
        eprintln!(
            "verify: replayed once over HTTP as recorded ({compared} requests compared); {} answers differ only by what the recording itself saved (above)",
            findings.len()
        );
    } else {
        eprintln!(
            "verify: replayed once over HTTP; {} of {compared} answers differ from the recording (above)",
            findings.len()
        );
    }
    Ok(Verified::Replays)
}

/// How far a replay is from the recording: its session failed or never completed (a lot), and
/// each request the recording saw answered that got an error status or nothing.
fn badness(r: &Replayed, findings: &[Finding]) -> usize {
    let count = |name: &str| r.summary.counters.get(name).copied().unwrap_or(0);
    let session = usize::from(count("sessions.failed") > 0 || count("sessions.completed") == 0);
    session * 1000 + findings.iter().filter(|f| f.failed).count()
}

/// One traced replay.
struct Replayed {
    summary: RunSummary,
    traced: Vec<Traced>,
}

/// Longest a verifying replay may take beyond its pauses.
const SLACK: Duration = Duration::from_secs(120);
/// Longest pause before a step in a verifying replay.
const MAX_PAUSE_MS: u64 = 3000;

async fn replay(path: &Path, recording: &Recording) -> anyhow::Result<(Flow, Replayed)> {
    let secrets = recording.secret_values();
    let mut prepared = crate::cli::config::prepare_flow(path, None, &secrets)?;
    let flow = prepared.flow.clone();
    // Pauses as recorded, but no long reading: a check, not a second recording session.
    for step in &mut prepared.flow.steps {
        step.think_time_ms = step.think_time_ms.map(|t| t.min(MAX_PAUSE_MS));
    }
    let trace = Arc::new(Trace::new());
    prepared.trace = Some(trace.clone());
    prepared.discover_assets = false;
    let think: u64 = prepared
        .flow
        .steps
        .iter()
        .filter_map(|s| s.think_time_ms)
        .sum();
    let plan = LoadPlan {
        browsers: None,
        arrival: Arrival::Users(
            Stages::ramp_and_hold(1, Duration::ZERO, Duration::from_millis(think) + SLACK)
                .map_err(anyhow::Error::msg)?,
        ),
        iterations: Some(1),
        think: ThinkPolicy::Recorded {
            scale: 1.0,
            jitter: 0.0,
        },
        dwell: Some(Duration::ZERO),
        grace: Duration::ZERO,
        drain: crate::plan::DEFAULT_DRAIN,
    };
    let spec = RunSpec::single(prepared, plan, Mode::Http);
    let summary = crate::run::execute(
        spec,
        Sink::new(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await?;
    let traced = trace.entries();
    Ok((flow, Replayed { summary, traced }))
}

/// The first request found no server at all (refused, no such host): the site is down.
fn unreachable(traced: &[Traced]) -> bool {
    traced
        .first()
        .is_some_and(|t| t.status.is_none() && traced.iter().all(|t| t.status.is_none()))
}

fn observed(traced: &[Traced]) -> Vec<Observed> {
    traced
        .iter()
        .map(|t| Observed {
            step: t.step,
            index: t.index,
            last: t.last,
            method: t.method.clone(),
            url: t.url.clone(),
            status: t.status,
            headers: t.headers.clone(),
            body: String::from_utf8_lossy(&t.body).into_owned(),
            error: t.error.clone(),
        })
        .collect()
}
