//! A step's parts outside the session's loop: how it fails, the checks on its response, and
//! the recorded assets that follow a document in its requests.

use super::client::Response;
use crate::flow::{Check, RecordedRequest, RequestKind};
use crate::metrics::Outcome;
use url::Url;

/// Why a step stopped the session.
pub struct StepFailure {
    pub outcome: Outcome,
    pub message: String,
}

pub type StepResult = Result<(), StepFailure>;

/// A step cut at the run's hard deadline (its request counted as interrupted).
pub fn cancelled(label: &str) -> StepFailure {
    StepFailure {
        outcome: Outcome::Interrupted,
        message: format!("step {label}: cut at the run's end"),
    }
}

/// What an AJAX request's answer (its status, or the failure it met) does to its step: one the
/// recording saw succeed that fails now fails the step; what the recording saw fail, or the
/// flow marks optional, may fail.
pub fn ajax_verdict(
    got: Result<u16, Outcome>,
    recorded: &RecordedRequest,
    label: &str,
    name: &str,
) -> StepResult {
    let outcome = match got {
        Ok(status) if status >= 400 && recorded.status != Some(status) => Outcome::Status(status),
        Ok(_) | Err(Outcome::Blocked) => return Ok(()),
        Err(Outcome::Interrupted) => return Err(cancelled(label)),
        Err(other) => other,
    };
    if recorded.must_succeed() {
        Err(unexpected(label, name, outcome, recorded))
    } else {
        Ok(())
    }
}

/// A step failure for a request the recording saw succeed that failed at replay.
pub fn unexpected(
    label: &str,
    name: &str,
    outcome: Outcome,
    recorded: &RecordedRequest,
) -> StepFailure {
    let seen = match recorded.status {
        Some(s) => format!("the recording saw {s}"),
        None => "the recording saw it succeed".into(),
    };
    let what = match outcome {
        Outcome::Status(s) => format!("answered {s}"),
        other => format!("failed ({other})"),
    };
    StepFailure {
        outcome,
        message: format!(
            "step {label}: {name} {what}; {seen} (mark the request \"optional\" in the flow if it may fail)"
        ),
    }
}

/// The recorded static requests right after a document: its assets, and the error statuses
/// some of them answered when recorded (a missing favicon).
pub fn take_assets(requests: &[RecordedRequest], i: &mut usize) -> (Vec<Url>, Vec<(Url, u16)>) {
    let mut urls = Vec::new();
    let mut expected = Vec::new();
    while let Some(r) = requests.get(*i).filter(|r| r.kind == RequestKind::Static) {
        if !r.external {
            if let Ok(u) = Url::parse(&r.url) {
                if let Some(s) = r.status.filter(|s| *s >= 400) {
                    expected.push((u.clone(), s));
                }
                urls.push(u);
            }
        }
        *i += 1;
    }
    (urls, expected)
}

pub fn skip_assets(requests: &[RecordedRequest], i: &mut usize) {
    while requests
        .get(*i)
        .is_some_and(|r| r.kind == RequestKind::Static)
    {
        *i += 1;
    }
}

pub fn check_response(checks: &[Check], response: &Response, label: &str) -> StepResult {
    let fail = |what: String| {
        Err(StepFailure {
            outcome: Outcome::CheckFailed,
            message: format!("step {label}: check failed: {what}"),
        })
    };
    for check in checks {
        if let Some(status) = check.status {
            if response.status != status {
                return fail(format!("status {} (expected {status})", response.status));
            }
        }
        let body = String::from_utf8_lossy(&response.body);
        if let Some(needle) = &check.body_contains {
            if !body.contains(needle.as_str()) {
                return fail(format!("body does not contain {needle:?}"));
            }
        }
        if let Some(needle) = &check.body_not_contains {
            if body.contains(needle.as_str()) {
                return fail(format!("body contains {needle:?}"));
            }
        }
    }
    Ok(())
}
