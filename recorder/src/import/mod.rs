//! Imports: a Chrome DevTools Recorder JSON export or a HAR 1.2 file becomes a throng flow.
//! The kind is told from the content (`steps` vs `log`), not the file name.

mod devtools;
mod har;

use serde_json::Value;
use std::path::{Path, PathBuf};
use throng_flow::{Flow, FlowError};

/// Why a file could not be imported; each renders as one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: truncated JSON (it ends at line {line}, column {column}); export the file again", path.display())]
    Truncated {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("{}: invalid JSON at line {line}, column {column}: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// A Recorder export that throng's loader rejects (located in the export itself).
    #[error(transparent)]
    Flow(#[from] FlowError),
}

/// An imported flow and the correlations the import made (HAR files carry responses).
#[derive(Debug, Clone)]
pub struct Imported {
    pub flow: Flow,
    /// One line each: `${name}: extracted from ..., used in ...`.
    pub correlations: Vec<String>,
    /// Each id the page made up itself, now generated per session (one line each).
    pub made: Vec<String>,
    /// Why correlations were left out (the flow would not have loaded with them).
    pub dropped: Option<String>,
    /// What the file recorded, in memory, to verify the flow with (see [`crate::verify`]).
    pub recording: crate::Recording,
}

/// Reads `path` and converts it to a flow.
pub fn import_file(path: &Path) -> Result<Flow, ImportError> {
    import_file_with(path, false).map(|i| i.flow)
}

/// Reads `path` and converts it to a flow, with correlation unless `no_correlate`.
pub fn import_file_with(path: &Path, no_correlate: bool) -> Result<Imported, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    import_str_with(&text, path, no_correlate)
}

/// Converts file contents; `path` names the file in errors and gives the flow its title.
pub fn import_str(text: &str, path: &Path) -> Result<Flow, ImportError> {
    import_str_with(text, path, false).map(|i| i.flow)
}

fn import_str_with(text: &str, path: &Path, no_correlate: bool) -> Result<Imported, ImportError> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        if e.classify() == serde_json::error::Category::Eof {
            ImportError::Truncated {
                path: path.to_path_buf(),
                line,
                column,
            }
        } else {
            ImportError::Json {
                path: path.to_path_buf(),
                line,
                column,
                message: strip_position(&e.to_string()),
            }
        }
    })?;
    let invalid = |message: String| ImportError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let title = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    if v.get("log").is_some() {
        let (built, cap) = har::import(&v, &title, no_correlate).map_err(invalid)?;
        Ok(Imported {
            flow: built.flow.clone(),
            correlations: built.correlations.iter().map(|c| c.to_string()).collect(),
            made: built.made.iter().map(|m| m.to_string()).collect(),
            dropped: built.dropped.clone(),
            recording: crate::Recording::of(built, cap),
        })
    } else if v.get("steps").is_some() {
        let label = path.display().to_string();
        let (flow, secrets) = devtools::import(throng_flow::parse(text, &label)?);
        Ok(Imported {
            flow,
            correlations: Vec::new(),
            made: Vec::new(),
            dropped: None,
            recording: crate::Recording::with_secrets(secrets),
        })
    } else {
        Err(invalid(
            "neither a Chrome DevTools Recorder export (no \"steps\") nor a HAR file (no \"log\")"
                .into(),
        ))
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
