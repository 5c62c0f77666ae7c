//! throng: a load tester that makes load look like real people.
//!
//! Crate map, top to bottom. A module may import only modules on its own line or below it
//! (`tests/it/layers.rs` checks every `crate::` path against this list):
//! - [`app`]: the application layer: `main`, one handler per subcommand, a run's life cycle
//!   (progress, finishing, exit codes), compare, the dashboard run loop.
//! - [`dist`]: distributed runs: coordinator, workers, protocol, merging; [`k8s`]: Kubernetes
//!   manifests and the coordinator's flags for a distributed run; [`demo`]: the embedded
//!   demo shop used by `throng demo` and the tests.
//! - [`cli`]: clap arguments, validated into one typed `RunConfig`; nothing here runs load.
//! - [`live`]: what watches a run while it runs: progress line, `--ui` dashboard, Prometheus
//!   export (scrape endpoint, remote write).
//! - [`report`]: renders a finished run: terminal, JSON, CSV, HTML, compare, diff, thresholds.
//! - [`health`]: the generator's own CPU sampled during every run; browser-fit estimate.
//! - [`run`]: the virtual-user scheduler, cancellation, stop signals and graceful stop.
//! - [`replay`]: one runner per mode (plain HTTP, headless Chromium); only *sends* samples.
//! - [`plan`]: load plans: stages, arrival rate, think time, flow mix, peak users, costs.
//! - [`metrics`]: samples -> sharded HDR histograms -> aggregator, per-second series.
//! - [`flow`]: the flow format, the `throng-flow` crate (flows/) shared with the recorder.
//! - [`serve`], [`outbound`], [`sync`]: serving an axum app in the background; throng's own
//!   outbound HTTP client (remote write, workers); the one lock policy.

pub mod app;
pub mod cli;
pub mod demo;
pub mod dist;
pub mod health;
pub use throng_flow as flow;
pub mod k8s;
pub mod live;
pub mod metrics;
pub mod outbound;
pub mod plan;
pub mod replay;
pub mod report;
pub mod run;
pub mod serve;
pub mod sync;
