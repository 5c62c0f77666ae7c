//! report: terminal, JSON, CSV, HTML outputs, thresholds, progress line and run diffs.

mod thresholds;

pub use thresholds::{evaluate_all, Aggregate, Op, Threshold, ThresholdError, ThresholdResult};
