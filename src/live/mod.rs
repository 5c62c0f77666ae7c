//! What watches a run while it runs: the progress line on stderr, the `--ui` dashboard (with
//! its run controls) and the Prometheus export (scrape endpoint and remote write). Everything
//! here reads the run's sink; nothing here renders a finished run (that is `report`).

pub mod dashboard;
pub mod progress;
pub mod prometheus;

pub use progress::Progress;
pub use prometheus::{ExportOptions, Exporter, MergedView};
