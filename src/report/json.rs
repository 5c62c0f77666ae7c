//! results.json: the full RunSummary (with V2 histograms for merging), run metadata and thresholds.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::metrics::RunSummary;

use super::{Renderer, ReportInput, RunMeta, ThresholdResult};

/// Format tag written into every results.json.
pub const RESULTS_FORMAT: &str = "throng-results/1";

/// The content of results.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub format: String,
    #[serde(default)]
    pub meta: RunMeta,
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    pub summary: RunSummary,
}

/// Writes results.json.
pub struct JsonRenderer;

impl Renderer for JsonRenderer {
    fn file_name(&self) -> &'static str {
        "results.json"
    }

    fn render(&self, input: &ReportInput<'_>) -> anyhow::Result<Vec<u8>> {
        #[derive(Serialize)]
        struct Out<'a> {
            format: &'a str,
            meta: &'a RunMeta,
            thresholds: &'a [ThresholdResult],
            /// `--trace`: per name, the slowest samples' trace ids (from the entries).
            #[serde(skip_serializing_if = "Vec::is_empty")]
            slowest: Vec<super::slowest::Slowest>,
            summary: &'a RunSummary,
        }
        let mut bytes = serde_json::to_vec_pretty(&Out {
            format: RESULTS_FORMAT,
            meta: input.meta,
            thresholds: input.thresholds,
            slowest: super::slowest::by_name(input.summary),
            summary: input.summary,
        })?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// Read a results.json (or a bare RunSummary JSON) written by any throng run.
pub fn read_results(path: &Path) -> anyhow::Result<Results> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let summary = RunSummary::from_json(&text).with_context(|| format!("in {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let field = |name: &str| value.get(name).filter(|_| value.get("summary").is_some());
    let meta = match field("meta") {
        Some(m) => serde_json::from_value(m.clone())
            .with_context(|| format!("bad `meta` in {}", path.display()))?,
        None => RunMeta::default(),
    };
    let thresholds = match field("thresholds") {
        Some(t) => serde_json::from_value(t.clone())
            .with_context(|| format!("bad `thresholds` in {}", path.display()))?,
        None => Vec::new(),
    };
    Ok(Results {
        format: RESULTS_FORMAT.to_string(),
        meta,
        thresholds,
        summary,
    })
}
