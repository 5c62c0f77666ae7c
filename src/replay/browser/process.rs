//! One Chromium process: its temporary profile, its own process group, its CDP handler task
//! (which counts unparsable messages and never stops on an error), a hang watchdog, and a
//! kill that takes every child process with it.
//!
//! Chromium is spawned here rather than by `chromiumoxide::Browser::launch` so that the
//! flags are exactly ours, the browser leads its own process group (one `kill(-pgid)` ends
//! zygotes, renderers and GPU process together), and it carries `PR_SET_PDEATHSIG`: the
//! spawning thread is the pool's launcher thread, so if throng dies (even by SIGKILL) or
//! drops the pool, the kernel kills the browsers too.

use super::{BrowserError, BrowserKind};
use crate::metrics::Sink;
use chromiumoxide::cdp::browser_protocol::target::{CloseTargetParams, GetTargetsParams};
use chromiumoxide::error::CdpError;
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::Browser;
use futures::StreamExt;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
const WATCHDOG_EVERY: Duration = Duration::from_secs(5);
/// A browser that does not answer `Browser.getVersion` this long is hung (it is generous:
/// a saturated 2-core machine can be slow without being stuck).
const WATCHDOG_TIMEOUT: Duration = Duration::from_secs(20);

const PROFILE_PREFIX: &str = "throng-chrome-";
const OWNER_FILE: &str = "throng-owner";

/// "pid starttime" of a process ("pid gone" once exited): pids are reused, start times are not.
fn process_identity(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    match (fields.first(), fields.get(19)) {
        (Some(state), Some(start)) if *state != "Z" => format!("{pid} {start}"),
        _ => format!("{pid} gone"),
    }
}

/// Removes temporary profiles left by a throng that was killed (SIGKILL skips every
/// clean-up; the browsers themselves die with it through PR_SET_PDEATHSIG).
pub(crate) fn sweep_stale_profiles() {
    let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let is_ours = entry
            .file_name()
            .to_string_lossy()
            .starts_with(PROFILE_PREFIX);
        let Ok(owner) = std::fs::read_to_string(path.join(OWNER_FILE)) else {
            continue;
        };
        let alive = owner
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| process_identity(pid) == owner);
        if is_ours && !alive {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// What every process of a pool is started with.
#[derive(Debug, Clone)]
pub(crate) struct LaunchSpec {
    pub kind: BrowserKind,
    pub path: PathBuf,
    pub headed: bool,
    /// Accept any certificate (`--insecure`, as HTTP mode does).
    pub insecure: bool,
    /// `--cacert`: chains holding one of these public keys (base64 SHA-256) are accepted.
    pub trusted_spki: Vec<String>,
    /// CDP command timeout inside chromiumoxide (a safety net; steps have their own).
    pub request_timeout: Duration,
}

type Job = (Command, oneshot::Sender<io::Result<Child>>);

/// The thread that spawns every browser of a pool. Its exit (pool dropped, or throng gone)
/// delivers `PR_SET_PDEATHSIG` to the browsers it spawned.
pub(crate) struct Launcher {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
}

impl Launcher {
    pub fn new() -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("throng-chrome-launcher".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })?;
        Ok(Launcher {
            tx: Mutex::new(Some(tx)),
        })
    }

    async fn spawn(&self, cmd: Command) -> io::Result<Child> {
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        tx.ok_or_else(|| io::Error::other("pool is shut down"))?
            .send((cmd, reply))
            .map_err(|_| io::Error::other("launcher thread is gone"))?;
        rx.await
            .map_err(|_| io::Error::other("launcher thread is gone"))?
    }

    /// Ends the thread (browsers it spawned get SIGKILL from the kernel).
    pub fn stop(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// State shared with the waiter thread and the handler task.
struct Shared {
    pid: u32,
    /// Cancelled when the browser is unusable: exited, killed, hung, or its CDP socket closed.
    dead: CancellationToken,
    /// Cancelled once the leader has been reaped and its group killed.
    exited: CancellationToken,
    /// False once the group is known gone, so a later kill cannot hit a reused pgid.
    group_alive: AtomicBool,
}

impl Shared {
    fn kill_group(&self) {
        if self.group_alive.load(Ordering::SeqCst) {
            // SAFETY: kill(2) with a negative pid signals the process group we created.
            unsafe { libc::kill(-(self.pid as i32), libc::SIGKILL) };
        }
    }
}

/// A running Chromium with its CDP connection.
pub(crate) struct ChromeProcess {
    pub seq: u64,
    pub browser: Browser,
    shared: Arc<Shared>,
    profile: Mutex<Option<tempfile::TempDir>>,
}

impl ChromeProcess {
    /// Starts one browser with a fresh profile and connects to it.
    pub async fn launch(
        spec: &LaunchSpec,
        launcher: &Launcher,
        sink: &Sink,
        seq: u64,
    ) -> Result<Arc<Self>, BrowserError> {
        let profile = tempfile::Builder::new()
            .prefix(PROFILE_PREFIX)
            .tempdir()
            .map_err(BrowserError::Profile)?;
        // Who owns this profile, so a later run can remove it if throng was killed.
        let _ = std::fs::write(
            profile.path().join(OWNER_FILE),
            process_identity(std::process::id()),
        );
        let log_path = profile.path().join("chrome-stderr.log");
        let log = std::fs::File::create(&log_path).map_err(BrowserError::Profile)?;
        let mut cmd = Command::new(&spec.path);
        cmd.args(chrome_args(spec, profile.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let launch_err = |reason: String| BrowserError::Launch {
            path: spec.path.display().to_string(),
            reason,
        };
        let mut child = launcher
            .spawn(cmd)
            .await
            .map_err(|e| launch_err(e.to_string()))?;
        let shared = Arc::new(Shared {
            pid: child.id(),
            dead: CancellationToken::new(),
            exited: CancellationToken::new(),
            group_alive: AtomicBool::new(true),
        });
        let ws_url = match wait_for_devtools(profile.path(), &mut child).await {
            Ok(url) => url,
            Err(exited) => {
                shared.kill_group();
                let _ = child.wait();
                let log = log_tail(&log_path);
                return Err(match exited {
                    Some(status) => launch_err(format!("exited at start ({status}){log}")),
                    None => BrowserError::LaunchTimeout {
                        path: spec.path.display().to_string(),
                        secs: LAUNCH_TIMEOUT.as_secs(),
                        log,
                    },
                });
            }
        };
        spawn_waiter(child, shared.clone());

        let config = HandlerConfig {
            // chromiumoxide ignores certificate errors on every page unless told otherwise.
            ignore_https_errors: spec.insecure,
            ignore_invalid_messages: false, // surfaced so the handler task can count them
            viewport: None,
            request_timeout: spec.request_timeout,
            ..HandlerConfig::default()
        };
        let (browser, handler) = match Browser::connect_with_config(&ws_url, config).await {
            Ok(pair) => pair,
            Err(e) => {
                shared.kill_group();
                return Err(BrowserError::Connect(e.to_string()));
            }
        };
        spawn_handler(handler, shared.clone(), sink.clone(), seq);
        let proc = Arc::new(ChromeProcess {
            seq,
            browser,
            shared,
            profile: Mutex::new(Some(profile)),
        });
        proc.close_default_tabs().await;
        spawn_watchdog(Arc::downgrade(&proc), sink.clone());
        Ok(proc)
    }

    /// The process id of the browser (also its process group id).
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }

    pub fn is_dead(&self) -> bool {
        self.shared.dead.is_cancelled()
    }

    /// Cancelled when the browser can no longer serve sessions.
    pub fn dead(&self) -> &CancellationToken {
        &self.shared.dead
    }

    /// SIGKILL to the whole process group; marks the browser dead. Synchronous, for Drop.
    pub fn kill(&self) {
        self.shared.kill_group();
        self.shared.dead.cancel();
    }

    /// Kills the group, waits (briefly) until the leader is reaped, removes the profile.
    pub async fn close(&self) {
        self.kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.shared.exited.cancelled()).await;
        let profile = self
            .profile
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(dir) = profile {
            let _ = tokio::task::spawn_blocking(move || drop(dir)).await;
        }
    }

    /// The browser opens a tab in its default context at start: it is never used, and it
    /// costs a renderer process, so close it.
    async fn close_default_tabs(&self) {
        let Ok(Ok(targets)) = tokio::time::timeout(
            Duration::from_secs(5),
            self.browser.execute(GetTargetsParams::default()),
        )
        .await
        else {
            return;
        };
        for t in targets
            .result
            .target_infos
            .iter()
            .filter(|t| t.r#type == "page")
        {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                self.browser
                    .execute(CloseTargetParams::new(t.target_id.clone())),
            )
            .await;
        }
    }
}

impl Drop for ChromeProcess {
    fn drop(&mut self) {
        // Last resort (panic, or a pool dropped without shutdown): never leave Chromium behind.
        self.kill();
    }
}

/// The command line. Chromium keeps only the last value of a repeated switch, so each switch
/// appears once (`disable-features` carries every feature).
pub(crate) fn chrome_args(spec: &LaunchSpec, profile: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--remote-debugging-port=0",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        // Pollers must keep their rhythm in every tab, as in a foreground tab.
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
        "--disable-renderer-backgrounding",
        "--disable-breakpad",
        "--disable-client-side-phishing-detection",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-sync",
        "--disable-hang-monitor",
        "--disable-ipc-flooding-protection",
        "--disable-popup-blocking",
        "--disable-prompt-on-repost",
        "--metrics-recording-only",
        "--password-store=basic",
        "--use-mock-keychain",
        "--mute-audio",
        "--hide-scrollbars",
        // Cross-site iframes stay in the page's process, so their requests reach our listeners.
        "--disable-site-isolation-trials",
        "--disable-features=IsolateOrigins,site-per-process,Translate,MediaRouter,\
         OptimizationHints,AutofillServerCommunication,CertificateTransparencyComponentUpdater,\
         InterestFeedContentSuggestions,DialMediaRouteProvider,HttpsUpgrades",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    if !spec.headed {
        args.push(match spec.kind {
            BrowserKind::HeadlessShell => "--headless".into(),
            BrowserKind::Chromium => "--headless=new".into(),
        });
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Chromium refuses to start its sandbox as root.
        args.push("--no-sandbox".into());
    }
    if spec.insecure {
        args.push("--ignore-certificate-errors".into());
    }
    if !spec.trusted_spki.is_empty() {
        // Honoured with a --user-data-dir, which every browser of a pool has.
        let list = spec.trusted_spki.join(",");
        args.push(format!("--ignore-certificate-errors-spki-list={list}"));
    }
    // Escape hatch for experiments and odd environments: extra switches, space-separated.
    if let Ok(extra) = std::env::var("THRONG_CHROME_ARGS") {
        args.extend(extra.split_whitespace().map(str::to_string));
    }
    args.push("about:blank".into());
    args
}

/// Polls for `DevToolsActivePort` in the profile; `Err(Some(status))` if Chromium exited,
/// `Err(None)` on timeout.
async fn wait_for_devtools(
    profile: &Path,
    child: &mut Child,
) -> Result<String, Option<std::process::ExitStatus>> {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + LAUNCH_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(text) = tokio::fs::read_to_string(&file).await {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return Ok(format!("ws://127.0.0.1:{}{}", port.trim(), path.trim()));
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Some(status));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(None)
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.contains("dbus")).collect();
    let tail = lines[lines.len().saturating_sub(8)..].join("\n");
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its log ends:\n{tail}")
    }
}

/// Reaps the leader, then kills what is left of its group (renderers of a crashed browser).
fn spawn_waiter(mut child: Child, shared: Arc<Shared>) {
    let spawned = std::thread::Builder::new()
        .name(format!("throng-chrome-wait-{}", shared.pid))
        .spawn({
            let shared = shared.clone();
            move || {
                let _ = child.wait();
                shared.kill_group();
                shared.group_alive.store(false, Ordering::SeqCst);
                shared.dead.cancel();
                shared.exited.cancel();
            }
        });
    if spawned.is_err() {
        // No thread: nobody would notice the exit, so do not let this browser serve.
        shared.kill_group();
        shared.dead.cancel();
    }
}

/// Drives chromiumoxide's handler for the browser's whole life; errors are logged or
/// counted, never a reason to stop. It ends when the CDP socket closes.
fn spawn_handler(mut handler: chromiumoxide::Handler, shared: Arc<Shared>, sink: Sink, seq: u64) {
    tokio::spawn(async move {
        // Methods already logged once.
        let mut parse_errors = std::collections::HashSet::new();
        let mut burst = (Instant::now(), 0u32);
        while let Some(item) = handler.next().await {
            match item {
                Ok(()) => {}
                Err(CdpError::InvalidMessage(text, err)) => {
                    let method = method_of(&text);
                    let counter = parse_failure_counter(&method);
                    if parse_errors.insert(method.clone()) {
                        tracing::info!(
                            browser = seq,
                            %method,
                            "CDP message did not parse (counted as {counter}): {err}"
                        );
                    }
                    sink.count(&counter, 1);
                }
                Err(e) => {
                    tracing::debug!(browser = seq, "CDP handler error: {e}");
                    // A dead socket can report errors in a loop; a burst of them means gone.
                    if burst.0.elapsed() > Duration::from_secs(1) {
                        burst = (Instant::now(), 0);
                    }
                    burst.1 += 1;
                    if burst.1 > 1000 || shared.exited.is_cancelled() {
                        break;
                    }
                }
            }
        }
        shared.dead.cancel();
    });
}

/// CDP messages throng (or chromiumoxide under it) reads: a reply to a command (no method)
/// or one of these events. One that fails to parse is a lost measurement.
const NEEDED_EVENTS: [&str; 8] = [
    "Network.requestWillBeSent",
    "Network.responseReceived",
    "Network.requestServedFromCache",
    "Network.loadingFinished",
    "Network.loadingFailed",
    "Fetch.requestPaused",
    "Page.loadEventFired",
    "Runtime.bindingCalled",
];
/// Domains whose events chromiumoxide itself tracks (targets, frames, execution contexts).
const NEEDED_DOMAINS: [&str; 4] = [
    "Target.",
    "Page.frame",
    "Runtime.executionContext",
    "Inspector.",
];

/// The counter a CDP message that did not parse goes to, by its method: `cdp.parse_errors.M`
/// (flagged in the report) for one throng needs, `cdp.ignored_unparsable.M` for an event
/// throng never reads (Chromium 156's `Network.requestWillBeSentExtraInfo`, say).
pub(crate) fn parse_failure_counter(method: &str) -> String {
    let needed = method == "?"
        || NEEDED_EVENTS.contains(&method)
        || NEEDED_DOMAINS.iter().any(|d| method.starts_with(d))
        || method == "Page.lifecycleEvent"
        || method == "Page.navigatedWithinDocument";
    if needed {
        format!("cdp.parse_errors.{method}")
    } else {
        format!("cdp.ignored_unparsable.{method}")
    }
}

fn method_of(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("method").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Kills a browser that stops answering CDP (its sessions then end as lost).
fn spawn_watchdog(proc: Weak<ChromeProcess>, sink: Sink) {
    tokio::spawn(async move {
        loop {
            let Some(dead) = proc.upgrade().map(|p| p.dead().clone()) else {
                return;
            };
            tokio::select! {
                _ = dead.cancelled() => return,
                _ = tokio::time::sleep(WATCHDOG_EVERY) => {}
            }
            let Some(p) = proc.upgrade() else { return };
            let answered = tokio::time::timeout(WATCHDOG_TIMEOUT, p.browser.version()).await;
            if !matches!(answered, Ok(Ok(_))) && !p.is_dead() {
                tracing::warn!(browser = p.seq, pid = p.pid(), "browser hung: killing it");
                sink.count("browsers.hung", 1);
                p.kill();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparsable_cdp_messages_are_counted_per_method_and_flagged_only_when_needed() {
        let extra = parse_failure_counter("Network.requestWillBeSentExtraInfo");
        assert_eq!(
            extra,
            "cdp.ignored_unparsable.Network.requestWillBeSentExtraInfo"
        );
        for needed in ["Network.loadingFinished", "Target.attachedToTarget", "?"] {
            let c = parse_failure_counter(needed);
            assert_eq!(c, format!("cdp.parse_errors.{needed}"));
        }
        assert_eq!(
            method_of(r#"{"method":"Page.loadEventFired","params":{}}"#),
            "Page.loadEventFired"
        );
        assert_eq!(method_of(r#"{"id":3,"result":{}}"#), "?");
    }

    #[test]
    fn insecure_runs_let_chromium_accept_any_certificate() {
        let flag = "--ignore-certificate-errors".to_string();
        assert!(chrome_args(&spec(true, vec![]), Path::new("/tmp/p")).contains(&flag));
        assert!(!chrome_args(&spec(false, vec![]), Path::new("/tmp/p")).contains(&flag));
    }

    #[test]
    fn cacert_keys_become_chromiums_spki_list() {
        let keys = vec!["a2V5MQ==".to_string(), "a2V5Mg==".to_string()];
        let args = chrome_args(&spec(false, keys), Path::new("/tmp/p"));
        let flag = "--ignore-certificate-errors-spki-list=a2V5MQ==,a2V5Mg==".to_string();
        assert!(args.contains(&flag), "{args:?}");
        assert!(!args.contains(&"--ignore-certificate-errors".to_string()));
    }

    fn spec(insecure: bool, trusted_spki: Vec<String>) -> LaunchSpec {
        LaunchSpec {
            kind: BrowserKind::HeadlessShell,
            path: PathBuf::from("/usr/bin/chromium-headless-shell"),
            headed: false,
            insecure,
            trusted_spki,
            request_timeout: Duration::from_secs(30),
        }
    }
}
