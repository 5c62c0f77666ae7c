//! metrics_report tests.
