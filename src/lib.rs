//! throng: a load tester that makes load look like real people.
//!
//! Crate map (dependencies run one way: cli -> run -> replay -> flow; replay only *sends*
//! samples to metrics; report only *reads* metrics summaries):
//! - [`cli`]: clap arguments, validated into one `RunConfig`; subcommand dispatch; a run's
//!   life cycle (signals, progress, finishing, exit codes) in `cli::lifecycle`.
//! - [`flow`]: the flow format, the `throng-flow` crate (flows/) shared with the recorder:
//!   model, loading with file:line:col errors, validation, typed value visits.
//! - [`plan`]: load plans: stages, arrival rate, think time, flow mix.
//! - [`run`]: the virtual-user scheduler, cancellation and graceful stop.
//! - [`replay`]: one runner per mode (plain HTTP, headless Chromium).
//! - [`health`]: the generator's own CPU sampled during every run; browser-fit estimate.
//! - [`metrics`]: samples -> sharded HDR histograms -> aggregator, per-second series.
//! - [`export`]: live metrics for Prometheus (scrape endpoint, remote write).
//! - [`report`]: terminal, JSON, CSV outputs and thresholds.
//! - [`demo`]: the embedded demo shop used by `throng demo` and the tests.
//! - [`k8s`]: Kubernetes manifests for a distributed run (`throng k8s`), pods sized from
//!   their share of the plan.
//! - [`serve`]: serving an axum app in the background (demo site, dashboard).

pub mod cli;
pub mod demo;
pub mod export;
pub mod health;
pub use throng_flow as flow;
pub mod k8s;
pub mod metrics;
pub mod plan;
pub mod replay;
pub mod report;
pub mod run;
pub mod serve;
