//! The recording browser process: a full Chromium with a fresh temporary profile, started by
//! `throng-chromium` (own process group, killed if throng dies, shared with the replay pool) so
//! that every exit path (normal, error, Ctrl-C, panic) ends all of it.

use crate::cdp::Cdp;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use throng_chromium::{Launcher, ProcessGroup, Profile};

/// How long Chromium may take to open its DevTools port (2 busy cores start it slowly).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the browser could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the browser {path}: {reason}")]
pub struct LaunchError {
    pub path: PathBuf,
    pub reason: String,
}

/// A running Chromium. Dropping it kills the whole process group.
pub struct BrowserProcess {
    group: Arc<ProcessGroup>,
    /// Its thread's exit kills the browser (PR_SET_PDEATHSIG); kept as long as the browser.
    _launcher: Launcher,
    /// Kept until the process is gone, then removed.
    profile: Option<Profile>,
    /// The DevTools WebSocket URL (`ws://127.0.0.1:PORT/devtools/browser/ID`).
    pub ws_url: String,
}

impl BrowserProcess {
    /// Starts `chrome` at about:blank and waits for its DevTools endpoint.
    pub async fn launch(chrome: &Path, headless: bool) -> Result<Self, LaunchError> {
        let fail = |reason: String| LaunchError {
            path: chrome.to_path_buf(),
            reason,
        };
        let profile = Profile::create("throng-record-")
            .map_err(|e| fail(format!("cannot create a temporary profile: {e}")))?;
        let mut args: Vec<String> = [
            "--remote-debugging-port=0",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-sync",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--password-store=basic",
            "--use-mock-keychain",
            "--disable-dev-shm-usage",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        if headless {
            args.extend(["--headless=new".into(), "--window-size=1280,800".into()]);
        }
        if throng_chromium::is_root() {
            // Chromium refuses to run as root with its sandbox.
            args.push("--no-sandbox".into());
        }
        args.push("about:blank".into());
        let launcher = Launcher::new().map_err(|e| fail(e.to_string()))?;
        let mut child = launcher
            .spawn(chrome, &args, &profile)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let ws_url = profile.devtools_url(&mut child, START_TIMEOUT).await;
        let group = ProcessGroup::watch(child);
        match ws_url {
            Ok(ws_url) => Ok(BrowserProcess {
                group,
                _launcher: launcher,
                profile: Some(profile),
                ws_url,
            }),
            Err(exited) => {
                group.kill();
                let reason = if !headless && profile.says_no_display() {
                    "no display to open a window on: record with --headless and drive it over \
                     CDP, or run under a display (e.g. xvfb-run)"
                        .to_string()
                } else {
                    match exited {
                        Some(status) => format!(
                            "it exited before opening its DevTools port ({status}){}",
                            profile.log_tail(3).replace('\n', " | ")
                        ),
                        None => format!("no DevTools address within {} s", START_TIMEOUT.as_secs()),
                    }
                };
                Err(fail(reason))
            }
        }
    }

    /// Waits until the main browser process has exited; its exit status when it could be read.
    pub async fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.group.exited().cancelled().await;
        self.group.status()
    }

    /// Asks the browser to close, then makes sure every process of its group is gone and the
    /// profile is removed.
    pub async fn shutdown(mut self, cdp: Option<&Cdp>) {
        if let Some(cdp) = cdp {
            let _ = tokio::time::timeout(
                Duration::from_secs(3),
                cdp.call("Browser.close", json!({}), None),
            )
            .await;
        }
        if tokio::time::timeout(Duration::from_secs(5), self.group.exited().cancelled())
            .await
            .is_err()
        {
            tracing::warn!(target: "throng_recorder", "browser did not close in 5 s; killing it");
        }
        // Renderers and helpers share the group; they go too, even if the browser exited.
        self.group.kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.group.exited().cancelled()).await;
        drop(self.profile.take());
    }
}

impl Drop for BrowserProcess {
    fn drop(&mut self) {
        self.group.kill();
    }
}
