//! Report outputs read from a finished RunSummary: the terminal summary, results.json,
//! stats.csv, history.csv, report.html (one [`Renderer`] each, chosen by [`Format`]),
//! thresholds, the live progress line and run diffs.

mod charts;
pub mod compare;
mod csv;
mod diff;
mod failed_steps;
pub mod format;
mod html;
mod json;
mod kept_sessions;
mod knee;
pub mod slowest;
mod terminal;
mod thresholds;
pub mod vitals;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::metrics::{Mode, RunSummary};
use compare::ModeFacts;

pub use self::charts::esc;
pub use self::csv::{HistoryCsvRenderer, StatsCsvRenderer};
pub use self::diff::{diff, DiffReport, DiffRow};
pub use self::format::utc;
pub use self::html::{render_html, HtmlRenderer};
pub use self::json::{read_results, JsonRenderer, Results};
pub use self::knee::{find_knee, Knee};
pub use self::terminal::{headline, render_summary, TerminalRenderer};
pub use self::thresholds::{
    evaluate_all, Aggregate, Op, Threshold, ThresholdError, ThresholdResult,
};

/// What was run, for the report header and results.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The command line as typed (argv).
    pub command_line: Vec<String>,
    /// Flow files or URLs, with weights if any ("a.json:3").
    pub flows: Vec<String>,
    pub modes: Vec<Mode>,
    /// Human description of the load plan, e.g. "50 users, ramp 30s, hold 5m".
    pub plan: String,
    pub started_unix_ms: u64,
    /// throng's version.
    pub version: String,
    /// Each mode's own duration, user-time and generator cost (`throng compare`: a merged
    /// summary cannot hold them), so a saved run rebuilds the same comparison.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mode_facts: Vec<ModeFacts>,
    /// A distributed run's workers, beside the merged view (never instead of it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerRow>,
}

/// One worker of a distributed run: what it ran and what it cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerRow {
    pub name: String,
    /// Its `--role` (browser, http or any).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// done, lost (its share moved on) or running.
    pub status: String,
    pub peak_users: u64,
    pub requests: u64,
    pub failures: u64,
    /// throng's own CPU seconds and peak memory on the worker.
    pub cpu_s: f64,
    pub mem_mb: f64,
}

impl RunMeta {
    /// Metadata for this process: argv and version filled in.
    pub fn new(
        flows: Vec<String>,
        modes: Vec<Mode>,
        plan: impl Into<String>,
        started_unix_ms: u64,
    ) -> Self {
        RunMeta {
            command_line: redacted(std::env::args()),
            flows,
            modes,
            plan: plan.into(),
            started_unix_ms,
            version: env!("CARGO_PKG_VERSION").to_string(),
            mode_facts: Vec::new(),
            workers: Vec::new(),
        }
    }

    pub fn modes_text(&self) -> String {
        let m: Vec<&str> = self.modes.iter().map(|m| m.as_str()).collect();
        m.join("+")
    }
}

/// Flags whose values are secrets (passwords, tokens): never stored or shown in clear.
const SECRET_FLAGS: &[&str] = &["--var", "--token", "--otlp-header"];

/// The command line with every `--var` value (and token, and OTLP header value) replaced by
/// `***`: results.json, report.html and the dashboard show it, and `--var` carries passwords.
pub fn redacted(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut secret_next = false;
    for arg in args {
        // A URL's credentials (a flow URL, --remote-write, --target) in any argument.
        let arg = match crate::outbound::strip_userinfo(&arg) {
            std::borrow::Cow::Owned(clean) => clean,
            std::borrow::Cow::Borrowed(_) => arg,
        };
        if secret_next {
            secret_next = false;
            out.push(hide_value(&arg));
            continue;
        }
        match arg.split_once('=') {
            Some((flag, value)) if SECRET_FLAGS.contains(&flag) => {
                out.push(format!("{flag}={}", hide_value(value)));
            }
            _ => {
                secret_next = SECRET_FLAGS.contains(&arg.as_str());
                out.push(arg);
            }
        }
    }
    out
}

/// `NAME=VALUE` keeps the name; anything else is hidden whole.
fn hide_value(value: &str) -> String {
    match value.split_once('=') {
        Some((name, _)) => format!("{name}=***"),
        None => "***".to_string(),
    }
}

/// Everything an exporter reads.
#[derive(Clone, Copy)]
pub struct ReportInput<'a> {
    pub summary: &'a RunSummary,
    pub meta: &'a RunMeta,
    pub thresholds: &'a [ThresholdResult],
}

/// An output a user can choose with `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// The summary table printed at the end (summary.txt as a file).
    Text,
    /// results.json: the full summary with mergeable histograms.
    Json,
    /// stats.csv (per name) and history.csv (per second).
    Csv,
    /// report.html with its charts.
    Html,
}

impl Format {
    /// The formats written to `--out DIR` when `--format` is not given.
    pub const FILES: [Format; 3] = [Format::Json, Format::Csv, Format::Html];

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "text" | "txt" => Some(Format::Text),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "html" => Some(Format::Html),
            _ => None,
        }
    }
}

/// One output (hyperfine-style): renders a run into the bytes of one file.
pub trait Renderer {
    /// File name under the output directory, e.g. "stats.csv".
    fn file_name(&self) -> &'static str;
    fn render(&self, input: &ReportInput<'_>) -> anyhow::Result<Vec<u8>>;
}

/// The exporters of `format`, in the order their files are written.
pub fn renderers(format: Format) -> Vec<Box<dyn Renderer>> {
    match format {
        Format::Text => vec![Box::new(TerminalRenderer)],
        Format::Json => vec![Box::new(JsonRenderer)],
        Format::Csv => vec![Box::new(StatsCsvRenderer), Box::new(HistoryCsvRenderer)],
        Format::Html => vec![Box::new(HtmlRenderer)],
    }
}

/// Writes the files of `formats` into `dir` (created if needed), each atomically. Returns the
/// paths written.
pub fn write_files(
    dir: &Path,
    formats: &[Format],
    input: &ReportInput<'_>,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating output directory {}", dir.display()))?;
    formats
        .iter()
        .flat_map(|f| renderers(*f))
        .map(|e| {
            let path = dir.join(e.file_name());
            let bytes = e
                .render(input)
                .with_context(|| format!("rendering {}", e.file_name()))?;
            write_atomic(&path, &bytes)?;
            Ok(path)
        })
        .collect()
}

/// Write results.json, stats.csv, history.csv and report.html into `dir`.
pub fn write_all(
    dir: &Path,
    summary: &RunSummary,
    meta: &RunMeta,
    thresholds: &[ThresholdResult],
) -> anyhow::Result<Vec<PathBuf>> {
    let input = ReportInput {
        summary,
        meta,
        thresholds,
    };
    write_files(dir, &Format::FILES, &input)
}

/// Write a file atomically: a temporary file in the same directory, synced, then renamed over
/// the target, so a reader (or a Ctrl-C) never sees a half-written report.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".throng-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    // Reports are meant to be shared: rw-r--r-- rather than the temp file's private mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn var_values_and_tokens_never_reach_the_stored_command_line() {
        let argv = [
            "throng",
            "run",
            "f.json",
            "--var",
            "password=wonderland",
            "--var=user=alice",
            "--token",
            "s3cret",
            "--otlp-header",
            "Authorization=Bearer xyz",
            "--users",
            "5",
        ]
        .map(String::from);
        let line = redacted(argv).join(" ");
        assert_eq!(
            line,
            "throng run f.json --var password=*** --var=user=*** --token *** \
             --otlp-header Authorization=*** --users 5"
        );
        let urls = ["http://alice:pw@h/", "--remote-write=https://bob:x@p/w"].map(String::from);
        assert_eq!(
            redacted(urls).join(" "),
            "http://h/ --remote-write=https://p/w"
        );
    }
}
