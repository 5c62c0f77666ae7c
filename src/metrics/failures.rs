//! What failed steps left behind for a person to see why: the page's URL and title, console
//! errors and a screenshot (browser mode), the failing response's status, URL and first bytes
//! (HTTP mode). Bounded: the first few per step and a total cap, so a run where every
//! session fails keeps a handful, not thousands.

use super::Mode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Failures kept per (mode, flow, step).
pub const FAILURES_PER_STEP: usize = 3;
/// Failures kept per run.
pub const FAILURES_TOTAL: usize = 20;
/// Console errors kept per failure.
pub const CONSOLE_PER_FAILURE: usize = 5;
/// Bytes of a failing response's body kept (HTTP mode).
pub const BODY_HEAD: usize = 2048;

/// One failed step, as results.json lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRecord {
    pub mode: Mode,
    pub flow: String,
    pub step: Option<u32>,
    /// "step 2 click [data-testid=buy]: no element matched ... within 10s".
    pub message: String,
    /// Where the page was (browser) or the failing response's URL (HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The failing response's status (HTTP mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Its first bytes as text, secrets redacted (HTTP mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The page's console errors and uncaught exceptions around the step (browser mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub console: Vec<String>,
    /// PNG screenshot, relative to the run's output directory (`failures/...png`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<String>,
}

/// The failures kept so far and how many each step has had.
#[derive(Debug, Default)]
pub(crate) struct FailureLog {
    per_step: HashMap<(Mode, String, Option<u32>), usize>,
    reserved: usize,
    pub kept: Vec<FailureRecord>,
    /// Failures seen beyond the caps (counted, not kept).
    pub not_kept: u64,
}

impl FailureLog {
    /// A slot for one more failure of this step (its number within the step, from 1), or
    /// None when the step or the run has all it keeps.
    pub fn reserve(&mut self, mode: Mode, flow: &str, step: Option<u32>) -> Option<usize> {
        let n = self
            .per_step
            .entry((mode, flow.to_string(), step))
            .or_default();
        if *n >= FAILURES_PER_STEP || self.reserved >= FAILURES_TOTAL {
            self.not_kept += 1;
            return None;
        }
        *n += 1;
        self.reserved += 1;
        Some(*n)
    }
}

/// Replaces every occurrence of each secret (values of 4 characters or more) with `***`.
pub fn redact_values<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_string();
    let mut secrets: Vec<&str> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
    // Longest first: a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        if out.contains(s) {
            out = out.replace(s, "***");
        }
    }
    out
}

/// The first [`BODY_HEAD`] bytes of a body as text (cut at a character boundary).
pub fn body_head(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_HEAD)]);
    text.trim_end_matches('\u{FFFD}').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_few_per_step_and_a_total() {
        let mut log = FailureLog::default();
        let kept: Vec<Option<usize>> = (0..5)
            .map(|_| log.reserve(Mode::Browser, "f", Some(1)))
            .collect();
        assert_eq!(kept, [Some(1), Some(2), Some(3), None, None]);
        assert_eq!(log.reserve(Mode::Http, "f", Some(1)), Some(1));
        for step in 2..100 {
            log.reserve(Mode::Http, "f", Some(step));
        }
        assert_eq!(log.reserved, FAILURES_TOTAL);
        assert_eq!(log.not_kept, 2 + 98 - (FAILURES_TOTAL as u64 - 4));
    }

    #[test]
    fn secrets_are_redacted_longest_first_and_short_values_kept() {
        let text = "token=abcd1234 user=alice pw=wonderland id=42";
        let out = redact_values(text, ["abcd1234", "wonderland", "abcd", "42"]);
        assert_eq!(out, "token=*** user=alice pw=*** id=42");
        assert_eq!(body_head("é".repeat(2000).as_bytes()).chars().count(), 1024);
    }
}
