//! Starting Chromium so that none outlives throng, shared by the replay pool and the recorder.
//!
//! - Every browser leads its own process group: one kill ends zygotes, renderers and the GPU
//!   process together ([`ProcessGroup`]).
//! - It carries `PR_SET_PDEATHSIG` = SIGKILL, set from a [`Launcher`]'s dedicated thread: the
//!   signal fires when the *thread* that spawned it exits, so spawning from a tokio worker
//!   (which may exit at any time) would kill browsers at random; a launcher thread lives as long
//!   as its owner, and if throng dies (even by SIGKILL) the kernel ends the browsers too.
//! - A private temporary [`Profile`] per process (Chromium's SingletonLock refuses a shared one),
//!   with an owner stamp so a later run can sweep profiles of a killed throng; Chromium's stderr
//!   goes to a log file inside it (its dbus/zygote chatter never reaches the user's terminal).
//! - The DevTools address is read from the profile's `DevToolsActivePort` file.

use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

const OWNER_FILE: &str = "throng-owner";
const LOG_FILE: &str = "chrome-stderr.log";

/// True when throng runs as root: Chromium then needs `--no-sandbox`.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

type Job = (Command, oneshot::Sender<io::Result<Child>>);

/// The thread that spawns browsers. Its exit (dropped or stopped, or throng gone) delivers
/// `PR_SET_PDEATHSIG` to every browser it spawned.
pub struct Launcher {
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

    /// Spawns `chrome args...` with a private profile: stdin and stdout closed, stderr into the
    /// profile's log, in a new process group, killed when the launcher thread ends.
    pub async fn spawn(
        &self,
        chrome: &Path,
        args: &[String],
        profile: &Profile,
    ) -> io::Result<Child> {
        let log = std::fs::File::create(profile.log_path())?;
        let mut cmd = Command::new(chrome);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ))
                .map_err(io::Error::from)
            });
        }
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        tx.ok_or_else(|| io::Error::other("the launcher is stopped"))?
            .send((cmd, reply))
            .map_err(|_| io::Error::other("the launcher thread is gone"))?;
        rx.await
            .map_err(|_| io::Error::other("the launcher thread is gone"))?
    }

    /// Ends the thread (browsers it spawned get SIGKILL from the kernel).
    pub fn stop(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

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

/// A browser's private temporary profile directory, removed when dropped.
pub struct Profile {
    dir: tempfile::TempDir,
}

impl Profile {
    /// A new profile under the temp directory, named `prefix...`, stamped with its owner.
    pub fn create(prefix: &str) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        // Who owns this profile, so a later run can remove it if throng was killed.
        std::fs::write(
            dir.path().join(OWNER_FILE),
            process_identity(std::process::id()),
        )?;
        Ok(Profile { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Chromium's stderr.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(LOG_FILE)
    }

    /// The last lines of Chromium's log (dbus noise left out), as `; its log ends: ...`.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let kept: Vec<&str> = text.lines().filter(|l| !l.contains("dbus")).collect();
        let tail = kept[kept.len().saturating_sub(lines)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its log ends:\n{tail}")
        }
    }

    /// True when Chromium's log says it found no display to open a window on.
    pub fn says_no_display(&self) -> bool {
        std::fs::read_to_string(self.log_path()).is_ok_and(|t| {
            t.contains("Missing X server or $DISPLAY") || t.contains("cannot open display")
        })
    }

    /// Waits until Chromium writes its DevTools address into the profile:
    /// `Err(Some(status))` if it exited first, `Err(None)` on timeout.
    pub async fn devtools_url(
        &self,
        child: &mut Child,
        timeout: Duration,
    ) -> Result<String, Option<ExitStatus>> {
        let file = self.path().join("DevToolsActivePort");
        let deadline = Instant::now() + timeout;
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
}

/// Removes temporary profiles named `prefix...` left by a throng that was killed (SIGKILL skips
/// every clean-up; the browsers themselves died with it through PR_SET_PDEATHSIG).
pub fn sweep_stale_profiles(prefix: &str) {
    let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(path.join(OWNER_FILE)) else {
            continue;
        };
        let alive = owner
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| process_identity(pid) == owner);
        if !alive {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// A browser's process group: killed as a whole, watched by a thread that reaps the leader.
pub struct ProcessGroup {
    pid: u32,
    /// False once the group is known gone, so a later kill cannot hit a reused pgid.
    alive: AtomicBool,
    /// Cancelled once the leader has been reaped and what was left of its group killed.
    exited: CancellationToken,
    /// The leader's exit status, once reaped (a clean exit is a closed browser, not a crash).
    status: std::sync::OnceLock<std::process::ExitStatus>,
}

impl ProcessGroup {
    /// Takes over `child` (a group leader from [`Launcher::spawn`]): a thread reaps it, then
    /// kills what is left of its group (renderers of a crashed browser). If no thread can be
    /// started the group is killed at once and reported exited.
    pub fn watch(mut child: Child) -> Arc<Self> {
        let group = Arc::new(ProcessGroup {
            pid: child.id(),
            alive: AtomicBool::new(true),
            exited: CancellationToken::new(),
            status: std::sync::OnceLock::new(),
        });
        let spawned = std::thread::Builder::new()
            .name(format!("throng-chrome-wait-{}", group.pid))
            .spawn({
                let group = group.clone();
                move || {
                    if let Ok(status) = child.wait() {
                        let _ = group.status.set(status);
                    }
                    group.kill();
                    group.alive.store(false, Ordering::SeqCst);
                    group.exited.cancel();
                }
            });
        if spawned.is_err() {
            group.kill();
            group.exited.cancel();
        }
        group
    }

    /// The leader's pid (also the group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// SIGKILL to every process of the group.
    pub fn kill(&self) {
        if !self.alive.load(Ordering::SeqCst) {
            return;
        }
        if let Some(pid) = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }

    /// Cancelled once the leader is reaped and the group killed.
    pub fn exited(&self) -> &CancellationToken {
        &self.exited
    }

    /// The leader's exit status once it has been reaped.
    pub fn status(&self) -> Option<std::process::ExitStatus> {
        self.status.get().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real child group (a shell and its own child) stands in for a browser.
    #[tokio::test]
    async fn killing_the_group_ends_every_process_and_the_watcher_sees_it() {
        let launcher = Launcher::new().unwrap();
        let profile = Profile::create("throng-chromium-test-").unwrap();
        let args = vec!["-c".to_string(), "sleep 30 & sleep 30; wait".to_string()];
        let child = launcher
            .spawn(Path::new("/bin/sh"), &args, &profile)
            .await
            .unwrap();
        let group = ProcessGroup::watch(child);
        let pgid = group.pid();
        let members = || {
            std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    let f: Vec<&str> = stat
                        .rsplit_once(')')
                        .map_or(Vec::new(), |(_, r)| r.split_whitespace().collect());
                    // state, ppid, pgrp: live members of the group.
                    f.first() != Some(&"Z") && f.get(2) == Some(&pgid.to_string().as_str())
                })
                .count()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while members() < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            members() >= 2,
            "the shell and its sleeps run in their own group"
        );
        group.kill();
        tokio::time::timeout(Duration::from_secs(10), group.exited().cancelled())
            .await
            .expect("the watcher reaps the leader");
        // Killed members take a moment to finish exiting.
        let deadline = Instant::now() + Duration::from_secs(10);
        while members() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(members(), 0, "no process of the group is left");
        group.kill(); // a second kill is harmless: the group is known gone
    }

    #[test]
    fn profiles_of_a_dead_owner_are_swept_and_live_ones_kept() {
        let prefix = "throng-chromium-sweep-";
        let live = Profile::create(prefix).unwrap();
        let dead = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .unwrap()
            .keep();
        std::fs::write(dead.join(OWNER_FILE), "999999999 1").unwrap();
        sweep_stale_profiles(prefix);
        assert!(!dead.exists());
        assert!(live.path().exists());
    }
}
