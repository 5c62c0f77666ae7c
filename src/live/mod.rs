//! What watches a run while it runs: the progress line on stderr, the `--ui` dashboard (with
//! its run controls), the Prometheus export (scrape endpoint and remote write) and the OTLP
//! export (metrics and `--trace` spans). Everything here reads the run's sink; nothing here
//! renders a finished run (that is `report`).

pub mod dashboard;
pub mod otlp;
pub mod progress;
pub mod prometheus;

pub use progress::Progress;
pub use prometheus::{ExportOptions, Exporter, MergedView};
