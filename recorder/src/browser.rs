//! The recording browser process: a full Chromium with a fresh temporary profile, in its own
//! process group so that every exit path (normal, error, Ctrl-C, panic) can end all of it.

use crate::cdp::Cdp;
use serde_json::json;
use std::collections::VecDeque;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

/// How long Chromium may take to print its DevTools address (2 busy cores start it slowly).
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
    child: tokio::process::Child,
    pgid: i32,
    /// Kept until the process is gone, then removed.
    profile: Option<tempfile::TempDir>,
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
        let profile = tempfile::Builder::new()
            .prefix("throng-record-")
            .tempdir()
            .map_err(|e| fail(format!("cannot create a temporary profile: {e}")))?;
        let mut cmd = std::process::Command::new(chrome);
        cmd.arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args([
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--password-store=basic",
                "--use-mock-keychain",
                "--disable-dev-shm-usage",
            ]);
        if headless {
            cmd.args(["--headless=new", "--window-size=1280,800"]);
        }
        // SAFETY: geteuid has no preconditions. Chromium refuses to run as root with its sandbox.
        if unsafe { libc::geteuid() } == 0 {
            cmd.arg("--no-sandbox");
        }
        cmd.arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe. If throng itself is killed, the kernel ends the
        // browser too (its renderers follow their parent), so no Chromium outlives a recording.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(e.to_string()))?;
        let pgid = child.id().map(|p| p as i32).unwrap_or(0);
        let stderr = child.stderr.take().expect("stderr is piped");
        let (url_tx, url_rx) = oneshot::channel::<Result<String, String>>();
        // Reads the DevTools address, then keeps draining stderr so Chromium never blocks on it.
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut url_tx = Some(url_tx);
            let mut tail: VecDeque<String> = VecDeque::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("ws://") {
                    if line.contains("DevTools listening on") {
                        if let Some(tx) = url_tx.take() {
                            let _ = tx.send(Ok(line[at..].trim().to_string()));
                        }
                        continue;
                    }
                }
                tracing::debug!(target: "throng_recorder::chromium", "{line}");
                if url_tx.is_some() {
                    tail.push_back(line);
                    if tail.len() > 3 {
                        tail.pop_front();
                    }
                }
            }
            if let Some(tx) = url_tx.take() {
                let last = tail.into_iter().collect::<Vec<_>>().join(" | ");
                let _ = tx.send(Err(if last.is_empty() {
                    "it exited before opening its DevTools port".to_string()
                } else {
                    format!("it exited before opening its DevTools port: {last}")
                }));
            }
        });
        let mut process = BrowserProcess {
            child,
            pgid,
            profile: Some(profile),
            ws_url: String::new(),
        };
        match tokio::time::timeout(START_TIMEOUT, url_rx).await {
            Ok(Ok(Ok(url))) => {
                process.ws_url = url;
                Ok(process)
            }
            Ok(Ok(Err(reason))) => Err(fail(reason)),
            Ok(Err(_)) => Err(fail("it closed its error output unexpectedly".into())),
            Err(_) => Err(fail(format!(
                "no DevTools address within {} s",
                START_TIMEOUT.as_secs()
            ))),
        }
        // On error `process` drops here and kills the group.
    }

    /// Waits until the main browser process has exited.
    pub async fn exited(&mut self) {
        let _ = self.child.wait().await;
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
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(target: "throng_recorder", "browser did not close in 5 s; killing it");
        }
        // Renderers and helpers share the group; they go too, even if the browser exited.
        self.kill_group();
        let _ = self.child.wait().await;
        drop(self.profile.take());
    }

    fn kill_group(&mut self) {
        if self.pgid > 0 {
            // SAFETY: kill with a negative pid signals the process group we created.
            unsafe {
                libc::kill(-self.pgid, libc::SIGKILL);
            }
            // Never signal the number again: once the group is gone it may be reused.
            self.pgid = 0;
        }
    }
}

impl Drop for BrowserProcess {
    fn drop(&mut self) {
        self.kill_group();
    }
}
