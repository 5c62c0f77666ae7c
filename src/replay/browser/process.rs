//! One Chromium process of the pool: its CDP handler task (which counts unparsable messages and
//! never stops on an error), a hang watchdog, and its life tied to throng's.
//!
//! Chromium is started by `throng-chromium` (shared with the recorder), not by
//! `chromiumoxide::Browser::launch`, so that the flags are exactly ours, the browser leads its
//! own process group (one kill ends zygotes, renderers and GPU process together), and it
//! carries `PR_SET_PDEATHSIG` from the pool's launcher thread: if throng dies (even by SIGKILL)
//! or drops the pool, the kernel kills the browsers too.

use super::targets::TargetWatch;
use super::{BrowserError, BrowserKind};
use crate::metrics::Sink;
use crate::sync::Locked;
use chromiumoxide::cdp::browser_protocol::target::{CloseTargetParams, GetTargetsParams};
use chromiumoxide::error::CdpError;
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::Browser;
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
pub(crate) use throng_chromium::Launcher;
use throng_chromium::{ProcessGroup, Profile};
use tokio_util::sync::CancellationToken;

const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
const WATCHDOG_EVERY: Duration = Duration::from_secs(5);
/// A browser that does not answer `Browser.getVersion` this long is hung (it is generous:
/// a saturated 2-core machine can be slow without being stuck).
pub(crate) const HUNG_AFTER: Duration = Duration::from_secs(20);

const PROFILE_PREFIX: &str = "throng-chrome-";

/// Removes temporary profiles left by a throng that was killed.
pub(crate) fn sweep_stale_profiles() {
    throng_chromium::sweep_stale_profiles(PROFILE_PREFIX);
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
    /// The watchdog's verdict: a browser silent this long is hung and killed.
    pub hung_after: Duration,
}

/// State shared with the handler task and the watchdog.
struct Shared {
    group: Arc<ProcessGroup>,
    /// Cancelled when the browser is unusable: exited, killed, hung, or its CDP socket closed.
    dead: CancellationToken,
}

/// A running Chromium with its CDP connection.
pub(crate) struct ChromeProcess {
    pub seq: u64,
    pub kind: BrowserKind,
    pub browser: Browser,
    /// Holds every new target (popups, workers) until its session is ready for it.
    pub targets: TargetWatch,
    shared: Arc<Shared>,
    profile: Mutex<Option<Profile>>,
}

impl ChromeProcess {
    /// Starts one browser with a fresh profile and connects to it.
    pub async fn launch(
        spec: &LaunchSpec,
        launcher: &Launcher,
        sink: &Sink,
        seq: u64,
    ) -> Result<Arc<Self>, BrowserError> {
        let profile = Profile::create(PROFILE_PREFIX).map_err(BrowserError::Profile)?;
        let launch_err = |reason: String| BrowserError::Launch {
            path: spec.path.display().to_string(),
            reason,
        };
        let mut child = launcher
            .spawn(&spec.path, &chrome_args(spec, profile.path()), &profile)
            .await
            .map_err(|e| launch_err(e.to_string()))?;
        let ws_url = profile.devtools_url(&mut child, LAUNCH_TIMEOUT).await;
        let group = ProcessGroup::watch(child);
        let ws_url = match ws_url {
            Ok(url) => url,
            Err(exited) => {
                group.kill();
                let log = profile.log_tail(8);
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
        let shared = Arc::new(Shared {
            group: group.clone(),
            dead: CancellationToken::new(),
        });
        // The browser is unusable once its process group is gone.
        tokio::spawn({
            let dead = shared.dead.clone();
            async move {
                tokio::select! {
                    _ = group.exited().cancelled() => dead.cancel(),
                    _ = dead.cancelled() => {}
                }
            }
        });

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
                shared.group.kill();
                return Err(BrowserError::Connect(e.to_string()));
            }
        };
        spawn_handler(handler, shared.clone(), sink.clone(), seq);
        let targets = match TargetWatch::start(&ws_url, sink.clone()).await {
            Ok(t) => t,
            Err(e) => {
                shared.group.kill();
                return Err(BrowserError::Connect(format!("target watch: {e}")));
            }
        };
        let proc = Arc::new(ChromeProcess {
            seq,
            kind: spec.kind,
            browser,
            targets,
            shared,
            profile: Mutex::new(Some(profile)),
        });
        proc.close_default_tabs().await;
        spawn_watchdog(Arc::downgrade(&proc), spec.hung_after, sink.clone());
        Ok(proc)
    }

    /// The process id of the browser (also its process group id).
    pub fn pid(&self) -> u32 {
        self.shared.group.pid()
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
        self.shared.group.kill();
        self.shared.dead.cancel();
    }

    /// Kills the group, waits (briefly) until the leader is reaped, removes the profile.
    pub async fn close(&self) {
        self.kill();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.shared.group.exited().cancelled(),
        )
        .await;
        let profile = self.profile.locked().take();
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
        // Popup blocking stays on, as in a person's browser (the headless shell has no
        // blocker: the target watch closes popups opened without a gesture there).
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
    if throng_chromium::is_root() {
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
                    if burst.1 > 1000 || shared.group.exited().is_cancelled() {
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
fn spawn_watchdog(proc: Weak<ChromeProcess>, hung_after: Duration, sink: Sink) {
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
            let answered = tokio::time::timeout(hung_after, p.browser.version()).await;
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
            hung_after: HUNG_AFTER,
        }
    }
}
