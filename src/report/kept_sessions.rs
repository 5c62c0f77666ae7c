//! Sessions kept whole (`--keep-sessions`): links to each one's HAR and filmstrip, beside the
//! failed step they ended on (report.html) and as a line in the terminal summary.

use std::fmt::Write as _;

use crate::metrics::sessions::KeptSession;
use crate::metrics::{FailureRecord, RunSummary};

use super::charts::esc;

/// The kept sessions that failed where `f` failed (same mode, flow and step).
pub fn failed_at<'a>(summary: &'a RunSummary, f: &FailureRecord) -> Vec<&'a KeptSession> {
    summary
        .sessions
        .iter()
        .filter(|s| {
            s.mode == f.mode
                && s.flow == f.flow
                && s.failed_step.is_some()
                && s.failed_step == f.step
        })
        .collect()
}

/// One kept session: its HAR link and its filmstrip as small linked images.
pub fn html_links(s: &KeptSession) -> String {
    let mut out = format!(
        r#"<p>Session user {} #{} ({}): <a href="{}">HAR</a> ({} requests; opens in Chrome DevTools, imports with <code>throng import</code>)</p>"#,
        s.user,
        s.iteration,
        esc(&s.outcome),
        esc(&s.har),
        s.entries
    );
    if !s.filmstrip.is_empty() {
        out.push_str(r#"<div class="filmstrip" style="display:flex;gap:4px;overflow-x:auto">"#);
        for img in &s.filmstrip {
            let img = esc(img);
            let _ = write!(
                out,
                r#"<a href="{img}"><img src="{img}" alt="{img}" loading="lazy" style="width:120px"></a>"#
            );
        }
        out.push_str("</div>");
    }
    out
}

/// The kept sessions no failed step shows (completed ones with `--keep-sessions all`, or
/// failures past the failed steps' cap).
pub fn html_section(summary: &RunSummary) -> String {
    let shown = |s: &KeptSession| {
        summary
            .failures
            .iter()
            .any(|f| failed_at(summary, f).iter().any(|k| std::ptr::eq(*k, s)))
    };
    let rest: Vec<&KeptSession> = summary.sessions.iter().filter(|s| !shown(s)).collect();
    if rest.is_empty() {
        return String::new();
    }
    let mut out = format!(
        r#"<section id="kept-sessions"><h2>Sessions kept ({})</h2><div class="shots">"#,
        rest.len()
    );
    for s in rest {
        let step = s
            .failed_step
            .map(|n| format!(" step {}", n + 1))
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<div class="shot"><b>{} {}{}</b>{}</div>"#,
            s.mode,
            esc(&s.flow),
            step,
            html_links(s)
        );
    }
    out.push_str("</div></section>");
    out
}

/// "Sessions kept: 2 (HAR and filmstrip in sessions/ beside results.json)".
pub fn text_line(summary: &RunSummary) -> String {
    if summary.sessions.is_empty() {
        return String::new();
    }
    format!(
        "Sessions kept: {} (HAR{} in sessions/ beside results.json; report.html links them)\n",
        summary.sessions.len(),
        if summary.sessions.iter().any(|s| !s.filmstrip.is_empty()) {
            " and filmstrip"
        } else {
            ""
        }
    )
}
