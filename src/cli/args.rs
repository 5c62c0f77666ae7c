//! Raw command-line arguments (clap derive); validated into typed configs in `config`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "throng",
    version,
    about = "Load testing that looks like real people: recorded flows replayed by headless Chromium or plain HTTP",
    long_about = None,
    after_help = "Exit codes: 0 success, 1 run error, 2 bad input, 3 a threshold failed.\n\nStart with: throng demo"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay flows (or one URL) under a load plan, in HTTP or browser mode
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Run a coordinator's share of a distributed run (`run --workers N --listen ADDR`)
    #[command(
        after_help = "Examples:\n  throng worker --connect http://10.0.0.5:7070   # THRONG_TOKEN in the environment"
    )]
    Worker(WorkerArgs),
    /// Replay a flow in HTTP mode and in browser mode under the same plan, side by side
    #[command(after_help = COMPARE_EXAMPLES)]
    Compare(CompareArgs),
    /// Render report.html from a saved results.json
    #[command(
        after_help = "Examples:\n  throng report results/results.json\n  throng report results/results.json -o /tmp/report.html"
    )]
    Report {
        /// results.json written by `throng run --out` (or `compare --out`)
        results: PathBuf,
        /// Where to write the page (default: report.html beside the results)
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Compare two saved runs per request name (p95, error rate); exit code 3 on regressions
    #[command(
        after_help = "Examples:\n  throng diff base/results.json new/results.json\n  throng diff base/results.json new/results.json --tolerance 5%"
    )]
    Diff {
        /// results.json of the baseline run
        base: PathBuf,
        /// results.json of the run to judge
        new: PathBuf,
        /// Allowed p95 / error-rate growth before a row is flagged, e.g. 10% or 10
        #[arg(long, value_name = "PERCENT", default_value = "10%")]
        tolerance: String,
    },
    /// Start the demo shop and replay its example flow against it (the quick start)
    #[command(
        after_help = "Examples:\n  throng demo\n  throng demo --mode both --users 20 --duration 30s"
    )]
    Demo(DemoArgs),
    /// Check flow files and print a one-line summary of each
    #[command(after_help = "Examples:\n  throng validate flows/*.json")]
    Validate {
        /// Flow files to check
        #[arg(required = true, value_name = "FLOW")]
        flows: Vec<PathBuf>,
        /// Let flows read CSV data files under this directory too
        #[arg(long = "allow-data", value_name = "DIR")]
        data_dirs: Vec<PathBuf>,
    },
    /// Serve the embedded demo shop (loopback only unless --bind says otherwise)
    #[command(
        name = "demo-site",
        after_help = "Examples:\n  throng demo-site --port 8080\n  throng demo-site --port 8080 --capacity 8 --slow-ms 20\n  throng demo-site --port 8443 --tls --cert-out demo.pem"
    )]
    DemoSite(DemoSiteArgs),
    /// Record a flow by clicking through a site in Chromium
    #[command(
        after_help = "Examples:\n  throng record http://127.0.0.1:8080/ -o flows/mine.json\n  throng record http://127.0.0.1:8080/ -o flows/mine.json --headless"
    )]
    Record(RecordArgs),
    /// Write Kubernetes manifests for a distributed run: coordinator, workers, Secret, files
    #[command(after_help = K8S_EXAMPLES, mut_arg("out", |a| a.short(None)))]
    K8s(K8sArgs),
    /// Convert a Chrome DevTools Recorder export or a HAR file into a flow
    #[command(
        after_help = "Examples:\n  throng import recording.json -o flows/checkout.json\n  throng import session.har -o flows/session.json"
    )]
    Import {
        /// Recorder JSON export or HAR 1.2 file
        file: PathBuf,
        /// Where to write the flow
        #[arg(short, long)]
        out: PathBuf,
        /// Replay recorded values as they were: no extraction rules, no `${variables}` for them
        #[arg(long)]
        no_correlate: bool,
        /// Do not check the flow by replaying it once over HTTP against the site
        #[arg(long)]
        no_verify: bool,
    },
}

const RUN_EXAMPLES: &str = "Examples:
  throng run flows/shop.json --mode http --users 50 --ramp 30s --duration 5m
  throng run flows/shop.json --mode browser --users 10 --duration 2m --out results/
  throng run --flow flows/shop.json:3 --flow flows/browse.json:1 --stages 10@30s,50@2m,0@30s
  throng run flows/shop.json --arrival-rate 5 --duration 1m --max-users 200
  throng run http://127.0.0.1:8080/ --users 64 --duration 10s
  throng run flows/shop.json --threshold 'p95(page-load)<800ms' --threshold 'errors<1%'";

const COMPARE_EXAMPLES: &str = "Examples:
  throng compare flows/shop.json --users 5 --duration 1m --var password=wonderland
  throng compare flows/browse.json --users 10 --duration 2m --concurrent --out results/
  throng compare flows/browse.json --target http://127.0.0.1:9000 --users 2 --iterations 1";

const K8S_EXAMPLES: &str = "Examples:
  throng k8s flows/shop.json --workers 4 --image registry.example/throng:1 --users 200 --duration 10m \\
      --var password=wonderland --target http://shop.staging:8080 -o run.yaml
  throng k8s flows/shop.json --mode browser --workers 10 --image throng:1 --users 100 --ramp 2m -d 15m -o run.yaml
Then: kubectl apply -f run.yaml; kubectl logs -f job/NAME-coordinator";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum ModeArg {
    Http,
    Browser,
}

impl From<ModeArg> for crate::metrics::Mode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Http => crate::metrics::Mode::Http,
            ModeArg::Browser => crate::metrics::Mode::Browser,
        }
    }
}

/// What a worker runs (`throng worker --role`): browser users, HTTP users, or whichever the
/// run's other workers leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleArg {
    /// Runs the run's browser users (HTTP users only when no other worker can).
    Browser,
    /// Runs HTTP users only; starts no browser.
    Http,
    /// Runs each mode that no worker of that role runs.
    #[default]
    Any,
}

impl RoleArg {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleArg::Browser => "browser",
            RoleArg::Http => "http",
            RoleArg::Any => "any",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoModeArg {
    Http,
    Browser,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum BrowserArg {
    /// chromium-headless-shell (cheaper; default when installed)
    HeadlessShell,
    /// the full chromium browser
    Chromium,
}

/// Load plan flags shared by `run` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Concurrent virtual users (closed model)
    #[arg(short, long, value_name = "N")]
    pub users: Option<u32>,
    /// Ramp from 0 to --users over this time (within --duration)
    #[arg(long, value_name = "DURATION")]
    pub ramp: Option<String>,
    /// Total run time, e.g. 30s, 5m, 1h
    #[arg(short, long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Load stages TARGET@DURATION,..., e.g. 10@30s,50@2m,50@5m,0@30s (targets are users, or
    /// arrivals per second with --arrival-rate)
    #[arg(long, value_name = "STAGES", conflicts_with_all = ["users", "ramp"])]
    pub stages: Option<String>,
    /// A plan file with stages of users or of arrivals per second (see docs in src/plan/file.rs)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["users", "ramp", "stages", "duration", "arrival_rate"])]
    pub plan: Option<PathBuf>,
    /// Open model: new user sessions started per second (each runs the flow once)
    #[arg(long, value_name = "PER_SECOND")]
    pub arrival_rate: Option<f64>,
    /// Open model: most users running at once; arrivals beyond are counted as dropped
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_users: u32,
    /// A hybrid run: this many of the users (5) or this share of them (5%) in headless
    /// browsers, the rest over plain HTTP, spread evenly over the ramp (with --mode http)
    #[arg(long, value_name = "N|PCT%")]
    pub browsers: Option<String>,
    /// Iterations per user (default: repeat until the plan ends)
    #[arg(long, value_name = "N")]
    pub iterations: Option<u64>,
    /// Scale the recorded think times (0.5 = twice as fast)
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub think_scale: f64,
    /// Replace recorded think times: a fixed time or a range, e.g. 1s or 500ms..3s
    #[arg(long, value_name = "TIME", conflicts_with = "think_scale")]
    pub think: Option<String>,
    /// Vary each recorded think time uniformly within ±FRACTION of it (0 = exactly as recorded)
    /// and spread users' first steps, so users started together do not move in lockstep
    #[arg(long, value_name = "FRACTION", default_value_t = crate::plan::DEFAULT_THINK_JITTER)]
    pub think_jitter: f64,
    /// Keep the tab open this long after the last step (pollers keep running)
    #[arg(long, value_name = "DURATION")]
    pub dwell: Option<String>,
    /// Let users finish their iteration this long after the plan ends (default: 0s with
    /// --users, 30s with --arrival-rate, where every arrival should complete its flow)
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,
    /// After the plan (and --grace) ends, users start no new step and requests in flight get
    /// this long to finish; what is still open then is counted as interrupted (default: 10s)
    #[arg(long, value_name = "DURATION")]
    pub drain: Option<String>,
}

/// Mode and target flags shared by `run` and `demo` (sent to the workers of a distributed run).
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct ReplayArgs {
    /// Request timeout (HTTP mode) and default step timeout (browser mode)
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub timeout: String,
    /// HTTP mode: largest response body kept (documents, AJAX, stylesheets; after
    /// decompression), e.g. 512KB, 10MB, 1GB; a larger one fails as `body-too-large`
    #[arg(long, value_name = "SIZE", default_value = "10MB")]
    pub max_body: String,
    /// HTTP mode: do not keep a per-user cache of static assets
    #[arg(long)]
    pub no_cache: bool,
    /// Accept any TLS certificate (self-signed test hosts), like curl -k
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// HTTP mode: speak HTTP/1.1 only (by default HTTP/2 is offered on TLS connections, as
    /// browsers do, and used when the server picks it)
    #[arg(long)]
    #[serde(default)]
    pub http1: bool,
    /// HTTP mode: threads the users run on (default: one per core, half of them when the
    /// target is on this machine's loopback)
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub threads: Option<usize>,
    /// Trust the certificates in this PEM file besides the system's (a private CA, a
    /// self-signed host), in both modes and for remote write and OTLP
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Let requests go to this host (host or host:port) besides the flow's own
    #[arg(long, value_name = "HOST")]
    pub allow_host: Vec<String>,
    /// Set a variable (and supply secrets), e.g. --var password=...
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Browser binary (else $CHROME, else chromium-headless-shell / chromium on PATH)
    #[arg(long, value_name = "PATH")]
    pub chrome: Option<PathBuf>,
    /// Browser build for --mode browser
    #[arg(long, value_enum)]
    pub browser: Option<BrowserArg>,
    /// Browser processes to spread sessions over (default: from cores and memory)
    #[arg(long, value_name = "N")]
    pub processes: Option<usize>,
    /// Concurrent sessions per browser process (default: from cores and memory)
    #[arg(long, value_name = "N")]
    pub sessions_per_process: Option<usize>,
    /// Show browser windows (needs a display)
    #[arg(long)]
    pub headed: bool,
    /// Browser mode: run every page's main thread N times slower (CDP CPU throttling, as
    /// DevTools' "4x slowdown"), e.g. --cpu-slowdown 4
    #[arg(long, value_name = "N")]
    pub cpu_slowdown: Option<f64>,
    /// Every user's network, in both modes: a preset of Chrome DevTools (fast-4g, slow-4g,
    /// slow-3g, offline) or figures, e.g. --network down=1.6mbps,up=750kbps,rtt=150ms
    #[arg(long, value_name = "PRESET|FIGURES")]
    pub network: Option<String>,
    /// Pass/fail rule for CI, e.g. 'p95(page-load)<800ms', 'errors<1%' (exit code 3 on failure)
    #[arg(long, value_name = "RULE")]
    pub threshold: Vec<String>,
    /// Write results.json, stats.csv, history.csv and report.html here (`-`: the one
    /// --format on stdout)
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// What --out holds: json, csv, html, text (comma-separated; default json,csv,html)
    #[arg(long, value_name = "LIST")]
    pub format: Vec<String>,
    /// With --out: sessions kept whole in DIR/sessions/ (a HAR of every request, and in
    /// browser mode the page at the failure): `failed` (the first 5 failed sessions), `N` (the first N
    /// failed), `all` (the first 50 to end, any outcome) or `none` [default: failed]
    #[arg(long, value_name = "WHICH")]
    #[serde(default)]
    pub keep_sessions: Option<String>,
    /// Browser mode, with --keep-sessions: a kept session's filmstrip also has the page after
    /// every step (a JPEG each; costs Chromium about 30% more CPU per page load), not only at
    /// the failure
    #[arg(long)]
    #[serde(default)]
    pub filmstrip: bool,
    /// No live progress line
    #[arg(short, long)]
    pub quiet: bool,
    /// Serve live metrics for Prometheus at http://HOST:PORT/metrics, e.g. 127.0.0.1:9464
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// After the run, keep serving the final metric values this long (the last scrape)
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub metrics_linger: String,
    /// Push live metrics with Prometheus remote write, e.g. http://127.0.0.1:9090/api/v1/write
    #[arg(long, value_name = "URL")]
    pub remote_write: Option<String>,
    /// Time between remote-write pushes (a final push is made when the run ends)
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub remote_write_interval: String,
    /// Send W3C trace context (traceparent) with every request to the flow's own origin and
    /// keep the slowest requests' and page loads' trace ids (results, report, /metrics)
    #[arg(long)]
    #[serde(default)]
    pub trace: bool,
    /// With --trace: the share of page loads (steps) traced, e.g. 10% (default: all); the
    /// others carry traceparent unsampled
    #[arg(long, value_name = "PERCENT", requires = "trace")]
    #[serde(default)]
    pub trace_sample: Option<String>,
    /// Export metrics (and --trace spans) with OTLP over HTTP, e.g. http://127.0.0.1:4318
    #[arg(long, value_name = "URL")]
    #[serde(default)]
    pub otlp: Option<String>,
    /// A header for the OTLP receiver, e.g. 'Authorization=Bearer ...' (repeatable; its value
    /// is a secret, redacted like --var values)
    #[arg(long, value_name = "NAME=VALUE", requires = "otlp")]
    #[serde(default)]
    pub otlp_header: Vec<String>,
    /// Time between OTLP exports (a final export is made when the run ends)
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    #[serde(default = "default_interval")]
    pub otlp_interval: String,
    /// Language and country of generated data (`${fake.name}`...): en, de, fr, ja, it,
    /// pt-br, zh-cn
    #[arg(long, value_name = "LOCALE", default_value = "en")]
    #[serde(default = "default_locale")]
    pub locale: String,
    /// Make generated data (`${fake...}`) reproducible: the same seed gives every user the
    /// same values
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_locale() -> String {
    "en".into()
}

fn default_interval() -> String {
    "5s".into()
}

/// What a run replays and against which origin: the flags `run`, `compare` and `k8s` share.
#[derive(Debug, Clone, Args)]
pub struct FlowArgs {
    /// Flow files (or one http:// URL for a one-request flow)
    #[arg(value_name = "FLOW_OR_URL")]
    pub files: Vec<String>,
    /// A flow with a weight, FILE:WEIGHT (repeatable), e.g. --flow a.json:3 --flow b.json:1;
    /// @NETWORK gives its users their own network, e.g. --flow a.json:1@slow-4g
    #[arg(long = "flow", value_name = "FILE[:WEIGHT][@NETWORK]")]
    pub weighted: Vec<String>,
    /// Replay against this origin instead of the recorded one, e.g. http://127.0.0.1:9000
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Let flows read CSV data files under this directory too (by default only under each
    /// flow's own directory)
    #[arg(long = "allow-data", value_name = "DIR")]
    pub data_dirs: Vec<PathBuf>,
    /// Session handoff: log each HTTP user in by running this flow in a real browser first,
    /// then hand the user its cookies, the Authorization header its pages sent and its
    /// localStorage/sessionStorage values as ${storage.NAME} (docs/guide/modes.md)
    #[arg(long, value_name = "FLOW")]
    pub login: Option<PathBuf>,
    /// With --login: one browser login for every K HTTP users (they share its session)
    #[arg(long, value_name = "K", requires = "login")]
    pub login_share: Option<u64>,
}

impl FlowArgs {
    /// The flows as the user named them (files and URLs, then weighted ones), for reports;
    /// a URL's credentials are left out.
    pub fn names(&self) -> Vec<String> {
        self.files
            .iter()
            .chain(&self.weighted)
            .map(|n| crate::outbound::strip_userinfo(n).into_owned())
            .collect()
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub flows: FlowArgs,
    /// Replay mode
    #[arg(short, long, value_enum, default_value = "http")]
    pub mode: ModeArg,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub replay: ReplayArgs,
    #[command(flatten)]
    pub ui: UiArgs,
    #[command(flatten)]
    pub dist: DistArgs,
}

/// A distributed run: this process coordinates `--workers` worker processes.
#[derive(Debug, Clone, Args)]
pub struct DistArgs {
    /// Coordinate this many workers (`throng worker --connect ...`) instead of running users
    #[arg(long, value_name = "N", requires = "listen")]
    pub workers: Option<u32>,
    /// Address workers connect to, e.g. 127.0.0.1:7070 or 0.0.0.0:7070 (needs a token)
    #[arg(long, value_name = "ADDR", requires = "workers")]
    pub listen: Option<std::net::SocketAddr>,
    /// Shared secret workers and coordinator prove to each other without sending it (one is
    /// generated and printed when none is given)
    #[arg(
        long,
        env = "THRONG_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// How long to wait for every worker to join
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub wait_workers: String,
    /// Keep serving the results to workers and `GET /v1/results` this long after the run
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub linger: String,
}

/// `throng worker`: runs a coordinator's share of a distributed run.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// The coordinator, e.g. http://127.0.0.1:7070 or https://coordinator.example:7070
    #[arg(long, value_name = "URL")]
    pub connect: String,
    /// Shared secret (as given to, or printed by, the coordinator); never sent: each side
    /// proves it holds it
    #[arg(
        long,
        env = "THRONG_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Name shown in the coordinator's per-worker rows (default: host name and pid)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Browser binary on this machine (the coordinator's is not used)
    #[arg(long, value_name = "PATH")]
    pub chrome: Option<PathBuf>,
    /// How long to keep trying to join
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub wait: String,
    /// Trust the certificates in this PEM file besides the system's, for an https coordinator
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Which users this worker runs: browser (browser users first), http (HTTP users only, no
    /// browser started) or any (whatever mode no other worker has the role for)
    #[arg(long, value_enum, default_value_t = RoleArg::Any, env = "THRONG_ROLE")]
    pub role: RoleArg,
}

/// The live dashboard.
#[derive(Debug, Clone, Args)]
pub struct UiArgs {
    /// Serve a live dashboard (charts, tables, stop, change users, downloads) on 127.0.0.1:8089
    #[arg(long)]
    pub ui: bool,
    /// Dashboard address (implies --ui), e.g. 127.0.0.1:9000 or 0.0.0.0:8089 (all interfaces)
    #[arg(long, value_name = "ADDR")]
    pub ui_bind: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub flows: FlowArgs,
    /// Run both modes at the same time (default: HTTP first, then browser)
    #[arg(long)]
    pub concurrent: bool,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub replay: ReplayArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Which mode(s) to run against the demo shop
    #[arg(short, long, value_enum, default_value = "both")]
    pub mode: DemoModeArg,
    /// Flow to replay (default: the built-in shop flow)
    #[arg(long, value_name = "FILE")]
    pub flow: Option<PathBuf>,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub replay: ReplayArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DemoSiteArgs {
    /// Port to listen on (0 picks a free one)
    #[arg(short, long, default_value_t = 8080)]
    pub port: u16,
    /// Address to bind (loopback by default)
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Server-side work per API call, MIN-MAX milliseconds
    #[arg(long, value_name = "MIN-MAX", default_value = "5-50")]
    pub latency_ms: String,
    /// Extra latency on every request, in milliseconds
    #[arg(long, default_value_t = 0)]
    pub slow_ms: u64,
    /// Requests served at once; more queue (a ramp then shows a knee)
    #[arg(long)]
    pub capacity: Option<usize>,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with a generated self-signed certificate
    #[arg(long)]
    pub tls: bool,
    /// With --tls: where the certificate's PEM is written (for --cacert)
    #[arg(long, value_name = "FILE", default_value = "throng-demo-cert.pem")]
    pub cert_out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// Page to start recording at
    pub url: String,
    /// Where to write the flow
    #[arg(short, long)]
    pub out: PathBuf,
    /// Record without a window (drive the browser over CDP; its DevTools URL is printed)
    #[arg(long)]
    pub headless: bool,
    /// Test-id attribute preferred for selectors (default: data-testid and its usual variants)
    #[arg(long, value_name = "ATTR")]
    pub selector_attribute: Vec<String>,
    /// A field whose value is never written in clear (passwords always are)
    #[arg(long, value_name = "NAME")]
    pub secret: Vec<String>,
    /// Type generated data in a field: what was typed in FIELD (its name, id, test id or
    /// label) becomes ${fake.KIND} wherever it went, e.g. email=email or email.unique=user
    #[arg(long, value_name = "KIND=FIELD")]
    pub fake: Vec<String>,
    /// Browser binary (default: chromium on PATH)
    #[arg(long, value_name = "PATH")]
    pub chrome: Option<PathBuf>,
    /// Replay recorded values as they were: no extraction rules, no `${variables}` for them
    #[arg(long)]
    pub no_correlate: bool,
    /// Do not check the flow by replaying it once over HTTP against the site
    #[arg(long)]
    pub no_verify: bool,
}

/// `throng k8s`: the flags of `throng run`, plus where and how to run it on Kubernetes.
#[derive(Debug, Clone, Args)]
pub struct K8sArgs {
    /// What the pods replay (--target as seen from the pods)
    #[command(flatten)]
    pub flows: FlowArgs,
    /// Replay mode
    #[arg(short, long, value_enum, default_value = "http")]
    pub mode: ModeArg,
    /// Worker pods; the plan's users are split over them
    #[arg(long, value_name = "N")]
    pub workers: u32,
    /// A hybrid run (--browsers): how many of the --workers pods run the browsers (default:
    /// one per 24 browser sessions); the others run the HTTP users
    #[arg(long, value_name = "N")]
    pub browser_workers: Option<u32>,
    /// Container image with throng in it (deploy/build-image.sh)
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// Write the manifests to this file (mode 0600: it holds the Secret); default stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Prefix of the objects' names (default: throng-FLOW)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Namespace of every object (default: kubectl's current one)
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// The coordinator's port: workers, dashboard and results
    #[arg(long, value_name = "PORT", default_value_t = 8089)]
    pub port: u16,
    /// How long the coordinator waits for every worker (image pulls included)
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub wait_workers: String,
    /// How long the coordinator keeps serving the dashboard and results after the run
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub linger: String,
    /// How long finished Jobs (their pods and logs) are kept
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub ttl: String,
    /// Write the results to this PersistentVolumeClaim (default: the coordinator pod's disk)
    #[arg(long, value_name = "CLAIM")]
    pub results_claim: Option<String>,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub replay: ReplayArgs,
}
