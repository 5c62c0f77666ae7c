//! The pool: sessions spread over several Chromium processes (least busy first), each
//! process started on first use and replaced when it dies; shutdown and Drop kill them all.

use super::find::find_browser;
use super::process::{ChromeProcess, LaunchSpec, Launcher};
use super::session::{self, SessionEnv};
use super::{BrowserError, BrowserKind, BrowserOptions, Session, SessionOutcome};
use crate::metrics::Sink;
use crate::replay::conditions::Conditions;
use crate::replay::handoff::HandoffTo;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};
use tokio_util::sync::CancellationToken;

/// Memory one session may cost (renderer + share of browser, GPU and network processes):
/// caps the default pool size.
const MB_PER_SESSION: u64 = crate::plan::costs::BROWSER_MIB_PER_SESSION_LIMIT;

struct Slot {
    proc: Mutex<Option<Arc<ChromeProcess>>>,
    active: AtomicUsize,
}

/// Headless Chromium processes serving isolated sessions.
pub struct BrowserPool {
    kind: BrowserKind,
    path: PathBuf,
    spec: LaunchSpec,
    allow_hosts: Vec<String>,
    step_timeout: Duration,
    failures_dir: Option<PathBuf>,
    deadline: CancellationToken,
    drain: Duration,
    cpu_slowdown: Option<f64>,
    network: Option<Conditions>,
    sink: Sink,
    launcher: Launcher,
    slots: Vec<Slot>,
    per_process: usize,
    permits: Semaphore,
    closed: CancellationToken,
    seq: AtomicU64,
}

impl BrowserPool {
    /// Finds the browser and starts the first process (so a broken install fails here, not
    /// in every session); the others start when sessions need them.
    pub async fn launch(
        opts: BrowserOptions,
        sink: Sink,
    ) -> Result<Arc<BrowserPool>, BrowserError> {
        let kind = match (opts.kind, opts.headed) {
            (None, true) => Some(BrowserKind::Chromium), // the shell has no windows
            (k, _) => k,
        };
        let (kind, path) = find_browser(kind, opts.chrome_path.as_deref())?;
        if opts.headed
            && std::env::var_os("DISPLAY").is_none()
            && std::env::var_os("WAYLAND_DISPLAY").is_none()
        {
            return Err(BrowserError::NoDisplay);
        }
        let (processes, per_process) = pool_size(opts.processes, opts.sessions_per_process);
        super::process::sweep_stale_profiles();
        let spec = LaunchSpec {
            kind,
            path: path.clone(),
            headed: opts.headed,
            insecure: opts.insecure,
            trusted_spki: opts.trusted_spki.clone(),
            request_timeout: command_timeout(&opts),
            hung_after: opts.hung_after,
        };
        let launcher = Launcher::new().map_err(|e| BrowserError::Launch {
            path: path.display().to_string(),
            reason: format!("launcher thread: {e}"),
        })?;
        let pool = Arc::new(BrowserPool {
            kind,
            path,
            spec,
            allow_hosts: opts.allow_hosts,
            step_timeout: opts.step_timeout,
            failures_dir: opts.failures_dir,
            deadline: opts.deadline,
            drain: opts.drain,
            cpu_slowdown: opts.cpu_slowdown,
            network: opts.network,
            sink,
            launcher,
            slots: (0..processes)
                .map(|_| Slot {
                    proc: Mutex::new(None),
                    active: AtomicUsize::new(0),
                })
                .collect(),
            per_process,
            permits: Semaphore::new(processes * per_process),
            closed: CancellationToken::new(),
            seq: AtomicU64::new(0),
        });
        tracing::info!(
            browser = %pool.path.display(),
            processes,
            sessions_per_process = per_process,
            "browser pool"
        );
        pool.process_for(&pool.slots[0]).await?;
        Ok(pool)
    }

    pub fn kind(&self) -> BrowserKind {
        self.kind
    }

    pub fn executable(&self) -> &std::path::Path {
        &self.path
    }

    /// Sessions that can run at once (processes x sessions per process); more wait.
    pub fn capacity(&self) -> usize {
        self.slots.len() * self.per_process
    }

    /// Process ids (= process group ids) of the running browsers.
    pub async fn browser_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for slot in &self.slots {
            if let Some(p) = slot.proc.lock().await.as_ref().filter(|p| !p.is_dead()) {
                pids.push(p.pid());
            }
        }
        pids
    }

    /// One iteration of the flow in a fresh isolated context, then disposal.
    pub async fn run_session(&self, s: Session<'_>) -> SessionOutcome {
        self.session(s, None).await
    }

    /// A login (`--login`): the flow in a fresh context like any session; once its steps
    /// all passed, what its browser ended with goes to `handoff` (before the page is left).
    /// It waits for a free session like the others: logins never run more browsers than the
    /// pool holds.
    pub async fn run_login(&self, s: Session<'_>, handoff: HandoffTo) -> SessionOutcome {
        self.session(s, Some(handoff)).await
    }

    async fn session(&self, s: Session<'_>, handoff: Option<HandoffTo>) -> SessionOutcome {
        if self.closed.is_cancelled() || s.cancel.is_cancelled() {
            return SessionOutcome::Cancelled;
        }
        let _permit = tokio::select! {
            p = self.permits.acquire() => match p {
                Ok(p) => p,
                Err(_) => return SessionOutcome::Cancelled,
            },
            _ = s.cancel.cancelled() => return SessionOutcome::Cancelled,
            _ = self.closed.cancelled() => return SessionOutcome::Cancelled,
        };
        let slot = self
            .slots
            .iter()
            .min_by_key(|s| s.active.load(Ordering::Relaxed))
            .expect("a pool has at least one slot");
        slot.active.fetch_add(1, Ordering::Relaxed);
        let _active = ActiveGuard(&slot.active);
        let proc = match self.process_for(slot).await {
            Ok(p) => p,
            Err(_) if self.closed.is_cancelled() => return SessionOutcome::Cancelled,
            Err(e) => return SessionOutcome::Failed(format!("browser did not start: {e}")),
        };
        let env = SessionEnv {
            proc: &proc,
            sink: &self.sink,
            allow_hosts: &self.allow_hosts,
            step_timeout: self.step_timeout,
            failures_dir: self.failures_dir.as_deref(),
            deadline: &self.deadline,
            drain: self.drain,
            cpu_slowdown: self.cpu_slowdown,
            network: s.flow.network.or(self.network),
        };
        let outcome = session::run(env, s, handoff).await;
        if outcome == SessionOutcome::Lost {
            self.sink.count("sessions.lost", 1);
        }
        outcome
    }

    /// The slot's browser, started (or replaced, when it died) as needed.
    async fn process_for(&self, slot: &Slot) -> Result<Arc<ChromeProcess>, BrowserError> {
        let mut guard = slot.proc.lock().await;
        if let Some(p) = guard.as_ref() {
            if !p.is_dead() {
                return Ok(p.clone());
            }
        }
        if let Some(old) = guard.take() {
            tracing::warn!(
                browser = old.seq,
                pid = old.pid(),
                "browser died: replacing it"
            );
            self.sink.count("browsers.replaced", 1);
            tokio::spawn(async move { old.close().await });
        }
        if self.closed.is_cancelled() {
            return Err(BrowserError::Connect("the pool is shut down".into()));
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let p = ChromeProcess::launch(&self.spec, &self.launcher, &self.sink, seq).await?;
        self.sink.count("browsers.started", 1);
        *guard = Some(p.clone());
        Ok(p)
    }

    /// Closes every browser, kills their process groups, removes temp profiles. Idempotent.
    pub async fn shutdown(&self) {
        self.closed.cancel();
        let closing = self.slots.iter().map(|slot| async move {
            let proc = slot.proc.lock().await.take();
            if let Some(p) = proc {
                p.close().await;
            }
        });
        futures::future::join_all(closing).await;
        self.permits.close();
    }
}

impl Drop for BrowserPool {
    fn drop(&mut self) {
        // Last resort when shutdown() was not awaited (panic, early return).
        for slot in &self.slots {
            if let Ok(mut guard) = slot.proc.try_lock() {
                if let Some(p) = guard.take() {
                    p.kill();
                }
            }
        }
        self.launcher.stop();
    }
}

struct ActiveGuard<'a>(&'a AtomicUsize);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// (processes, sessions per process): explicit values win. By default one process per core
/// (at least two, so one crash loses at most half the sessions): measured, the CPU per page
/// load is the same with 2 or 6 processes while each extra process costs memory; throng's
/// own CDP handling stays near 3% of the CPU at 25 pages per process.
fn pool_size(processes: Option<usize>, per_process: Option<usize>) -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = per_process.unwrap_or(25).max(1);
    let procs = processes.unwrap_or_else(|| {
        let by_memory = (available_mb() / MB_PER_SESSION / per as u64).max(1) as usize;
        cores.clamp(2, 32).min(by_memory)
    });
    (procs.max(1), per)
}

fn available_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb / 1024)
}
/// chromiumoxide's timeout for any CDP command: a safety net under the steps' own timeouts,
/// never shorter than one of them (a navigation's command waits for the answer's head).
fn command_timeout(opts: &BrowserOptions) -> Duration {
    (opts.step_timeout)
        .max(opts.longest_step.unwrap_or_default())
        .max(Duration::from_secs(30))
        + Duration::from_secs(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steps_own_long_timeout_outlasts_the_cdp_commands_timeout() {
        let opts = |step: u64, longest: Option<u64>| BrowserOptions {
            step_timeout: Duration::from_secs(step),
            longest_step: longest.map(Duration::from_secs),
            ..BrowserOptions::default()
        };
        assert_eq!(command_timeout(&opts(5, None)), Duration::from_secs(40));
        assert_eq!(command_timeout(&opts(60, None)), Duration::from_secs(70));
        // A flow's step that waits 90 s navigates for up to 90 s.
        assert_eq!(
            command_timeout(&opts(30, Some(90))),
            Duration::from_secs(100)
        );
    }
}
