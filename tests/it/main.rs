//! throng's integration tests: one binary, in-process where possible, against the demo site.

mod browser_faults;
mod browser_replay;
mod cli;
mod compare_dashboard;
mod demo_h2;
mod demo_site;
mod distributed;
mod failure_evidence;
mod faults;
mod flow_files;
mod generator_health;
mod hostile;
mod http_cache;
mod http_replay;
mod k8s;
mod k8s_pods;
mod layers;
mod lockstep;
mod log_redaction;
mod metrics_report;
mod nginx_h2;
mod prometheus;
mod puppeteer_replay;
mod real_apps;
mod recorder;
mod support;
