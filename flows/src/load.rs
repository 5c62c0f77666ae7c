//! Reading and parsing flow files: JSON syntax, step shapes, the typed model, then semantics,
//! each failure reported as one located line.

use super::context::Reporter;
use super::error::{quote, FlowError, Pos};
use super::locate::JsonPath;
use super::model::Flow;
use super::{data_files, shape, validate};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A flow read from disk, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedFlow {
    pub path: PathBuf,
    pub flow: Flow,
    /// The recorded origin (explicit `origin`, else the first absolute navigate's).
    pub origin: Option<url::Url>,
}

impl LoadedFlow {
    /// A path named in the flow (e.g. a CSV data file), resolved against the flow's directory.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        resolve_beside(&self.path, relative)
    }

    /// The one-line summary, labelled with this flow's path.
    pub fn summary(&self) -> super::FlowSummary {
        let mut s = super::summary(&self.flow);
        s.file = Some(self.path.display().to_string());
        s
    }
}

fn resolve_beside(flow_path: &Path, relative: &str) -> PathBuf {
    let rel = Path::new(relative);
    if rel.is_absolute() {
        return rel.to_path_buf();
    }
    flow_path
        .parent()
        .map_or_else(|| rel.to_path_buf(), |dir| dir.join(rel))
}

/// Reads, parses and validates a flow file, including that its CSV data files sit under its
/// directory, exist and have the named columns. Errors are labelled with `path` as given.
pub fn load(path: &Path) -> Result<LoadedFlow, FlowError> {
    load_with(path, &[])
}

/// [`load`], with data files also allowed under `data_dirs` (`--allow-data DIR`).
pub fn load_with(path: &Path, data_dirs: &[PathBuf]) -> Result<LoadedFlow, FlowError> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| FlowError::read(&label, &e))?;
    let source = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let pos = Pos::of_offset(&text, valid);
            return Err(FlowError::syntax(&label, pos, "invalid UTF-8"));
        }
    };
    let flow = parse_with(&source, &label, Some((path, data_dirs)))?;
    let origin = super::origin(&flow);
    Ok(LoadedFlow {
        path: path.to_path_buf(),
        flow,
        origin,
    })
}

/// Parses and validates flow JSON; `file_label` starts every error line. Does not touch the
/// file system (CSV files are checked by [`load`]).
pub fn parse(source: &str, file_label: &str) -> Result<Flow, FlowError> {
    parse_with(source, file_label, None)
}

fn parse_with(
    source: &str,
    label: &str,
    path: Option<(&Path, &[PathBuf])>,
) -> Result<Flow, FlowError> {
    // Editors on Windows may add a byte order mark; serde_json rejects it.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let value: Value = serde_json::from_str(source).map_err(|e| syntax_error(label, source, &e))?;
    let r = Reporter {
        file: label,
        source,
        value: &value,
    };
    shape::check(&r)?;
    let flow: Flow = serde_path_to_error::deserialize(&value).map_err(|e| typed_error(&r, &e))?;
    validate::check(&flow, &r)?;
    if let Some((path, data_dirs)) = path {
        let places = data_files::DataPlaces::new(path, data_dirs);
        data_files::check_data_files(&flow, &r, &|rel| resolve_beside(path, rel), &places)?;
    }
    Ok(flow)
}

fn syntax_error(label: &str, source: &str, e: &serde_json::Error) -> FlowError {
    // serde_json counts columns in bytes; convert to characters like every other position.
    let line_start = source
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let pos = Pos::of_offset(source, line_start + e.column().saturating_sub(1));
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    FlowError::syntax(label, pos, &format!("invalid JSON: {text}"))
}

/// Rewrites serde's messages into the house wording, located by the path serde reports.
fn typed_error(r: &Reporter<'_>, e: &serde_path_to_error::Error<serde_json::Error>) -> FlowError {
    let path = JsonPath::from_serde(e.path());
    let msg = e.inner().to_string();
    if let Some(rest) = msg.strip_prefix("missing field ") {
        return r.err(&path, &format!("missing required field {rest}"));
    }
    let mismatch = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "));
    if let Some((got, want)) = mismatch.and_then(|m| m.split_once(", expected ")) {
        let text = format!("must be {} (got {})", expected(want), unexpected(got));
        if path.0.is_empty() {
            return r.err(&path, &format!("a flow {text}"));
        }
        return r.bad(&path, &text);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        if let Some((variant, allowed)) = rest.split_once(", expected ") {
            let allowed: Vec<&str> = allowed.split('`').skip(1).step_by(2).collect::<Vec<_>>();
            return r.bad(
                &path,
                &format!(
                    "has unknown value {variant} (allowed: {})",
                    allowed.join(", ")
                ),
            );
        }
    }
    r.bad(&path, &msg)
}

fn expected(want: &str) -> String {
    match want {
        "u64" => "a non-negative integer".into(),
        "u32" => "a non-negative integer (at most 4294967295)".into(),
        "u16" => "a non-negative integer (at most 65535)".into(),
        "f64" => "a number".into(),
        "a boolean" | "a string" => want.into(),
        "a sequence" | "sequence" => "a list".into(),
        w if w.starts_with("struct ") || w.contains("map") => "an object".into(),
        w if w.starts_with("internally tagged enum") => "an object".into(),
        w => w.into(),
    }
}

fn unexpected(got: &str) -> String {
    // serde Debug-quotes strings (`string "500"`); quote them like every other message.
    if let Some(text) = got
        .strip_prefix("string ")
        .and_then(|q| serde_json::from_str::<String>(q).ok())
    {
        return format!("string {}", quote(&text));
    }
    match got {
        "sequence" => "a list".into(),
        "map" => "an object".into(),
        "unit value" => "null".into(),
        g => g.into(),
    }
}
