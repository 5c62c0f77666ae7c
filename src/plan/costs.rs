//! What load costs the generator, as measured (docs/benchmarks.md): the one table that sizes
//! Kubernetes pods (`k8s::resources`), refuses plans a machine cannot hold (`run::capacity`),
//! caps the browser pool (`replay::browser`) and estimates browser fit (`health`).

/// HTTP mode, memory per user: 2,000 users of shop.json peaked at 67 MiB and 10,000 at
/// 291 MiB (docs/benchmarks.md, "HTTP memory" and "HTTP scale"): about 28-30 KiB per user,
/// requested at 32.
pub const HTTP_KIB_PER_USER: u64 = 32;
/// HTTP mode, fixed memory of a process (throng's binary, runtime, metrics).
pub const HTTP_BASE_MIB: u64 = 64;
/// HTTP mode, CPU per 1,000 users: 10,000 shop.json users (think times, assets, a poller)
/// used 0.6 of a core; requested at twice that.
pub const HTTP_MILLICORES_PER_1000_USERS: u64 = 120;
/// HTTP mode, fixed CPU of a worker.
pub const HTTP_BASE_MILLICORES: u64 = 250;

/// Browser mode, per concurrent session: 25 sessions of the demo flow kept page loads within
/// 2x of a single session's on 2 cores using 1.25 of them; 12 sessions per core leaves room
/// for the bursts (docs/benchmarks.md, "Browser sessions").
pub const BROWSER_SESSIONS_PER_CORE: u64 = 12;
/// Browser mode, memory per session: PSS was 226 MB for one session and 42 MB per session at
/// 25 (browser, GPU and network processes shared), i.e. about 192 MB + 34 MB per session,
/// plus throng's own 50 MB.
pub const BROWSER_MIB_PER_SESSION: u64 = 36;
/// The most one session may take before the pool stops adding sessions: 42-56 MB PSS measured
/// with bench/browser-scale.sh, doubled for pages heavier than the demo shop's.
pub const BROWSER_MIB_PER_SESSION_LIMIT: u64 = 100;
/// Browser mode, fixed memory of a worker: throng plus the browser processes' shared part.
pub const BROWSER_BASE_MIB: u64 = 256;
/// Chromium CPU per page load of the demo shop's pages with the headless shell, measured on a
/// 2-core machine ("Browser sessions": 200-260 ms).
pub const BROWSER_CPU_PER_PAGE_LOAD_S: f64 = 0.23;
/// A fresh isolated context with its renderer, started and disposed (~124 ms).
pub const BROWSER_CPU_PER_SESSION_S: f64 = 0.124;
/// One poll of a page's poller (fetch, DOM update, repaint: 14-19 ms).
pub const BROWSER_CPU_PER_POLL_S: f64 = 0.017;

/// Headroom a local run keeps over the measured memory per user before it refuses a plan.
pub const LOCAL_MEMORY_HEADROOM: u64 = 2;
