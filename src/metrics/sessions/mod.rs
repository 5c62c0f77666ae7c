//! Sessions kept whole (`--keep-sessions`): while a session may still be kept it buffers a
//! HAR of every request it sent (both modes) and, in browser mode, a filmstrip (a JPEG after
//! each step and at the failure); when it ends, a kept one is written under the results
//! directory (`sessions/<mode>-user<N>-<iteration>/`). Bounded in count (the policy's cap), in bytes
//! per session ([`SESSION_CAP`], [`FILMSTRIP_CAP`]) and in bytes buffered by every open
//! session at once ([`BUFFER_CAP`]); what was cut is said in the HAR's `comment`.

mod har;

pub use har::{page_json, Body, HarEntry, Timings, BODY_CAP};

use super::Mode;
use crate::sync::Locked;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Failed sessions kept by default (`--keep-sessions failed`).
pub const DEFAULT_FAILED: usize = 5;
/// Sessions kept with `--keep-sessions all` (the first ones to end, whatever their outcome).
pub const ALL_CAP: usize = 50;
/// Largest `--keep-sessions N`.
pub const MAX_KEPT: usize = 1000;
/// Bytes of HAR entries one session buffers; later entries are counted, not kept.
pub const SESSION_CAP: usize = 4 << 20;
/// Bytes of filmstrip images one session buffers.
pub const FILMSTRIP_CAP: usize = 2 << 20;
/// Bytes buffered by all open sessions together (thousands of users must not hold a HAR
/// each without bound).
pub const BUFFER_CAP: usize = 256 << 20;

/// Which sessions a run keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepPolicy {
    /// The first N sessions that failed.
    Failed(usize),
    /// The first N sessions to end, whatever their outcome.
    All(usize),
}

impl KeepPolicy {
    /// `failed`, `all`, `N` (the first N failed sessions), `none` or `0` (off: `None`).
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        match s.trim() {
            "failed" => Ok(Some(KeepPolicy::Failed(DEFAULT_FAILED))),
            "all" => Ok(Some(KeepPolicy::All(ALL_CAP))),
            "none" | "0" => Ok(None),
            n => match n.parse::<usize>() {
                Ok(n) if n <= MAX_KEPT => Ok(Some(KeepPolicy::Failed(n))),
                _ => Err(format!(
                    "--keep-sessions {n}: expected failed, all, none or a count up to {MAX_KEPT}"
                )),
            },
        }
    }

    fn cap(&self) -> usize {
        match *self {
            KeepPolicy::Failed(n) | KeepPolicy::All(n) => n,
        }
    }
}

/// `--keep-sessions` with where kept sessions go (the run's `--out` directory).
#[derive(Debug, Clone)]
pub struct KeepSessions {
    pub policy: KeepPolicy,
    pub dir: PathBuf,
    /// `--filmstrip`: browser mode also shoots the page after every step (not only at the
    /// failure), which costs Chromium a frame and an encoding per step.
    pub filmstrip: bool,
}

/// A kept session, as results.json lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptSession {
    pub mode: Mode,
    pub flow: String,
    pub user: u64,
    pub iteration: u64,
    /// completed, failed, lost or abandoned.
    pub outcome: String,
    /// The step that failed (0-based), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<u32>,
    /// The HAR, relative to the run's output directory.
    pub har: String,
    pub entries: usize,
    /// The filmstrip's images (browser mode), relative to the output directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filmstrip: Vec<String>,
}

/// Bytes a session, its filmstrip and all open sessions may buffer.
#[derive(Debug, Clone, Copy)]
struct Caps {
    session: usize,
    filmstrip: usize,
    buffer: usize,
}

const CAPS: Caps = Caps {
    session: SESSION_CAP,
    filmstrip: FILMSTRIP_CAP,
    buffer: BUFFER_CAP,
};

/// The run's side of keeping sessions: the policy, how many were kept, the bytes buffered.
pub(crate) struct Keeper {
    cfg: KeepSessions,
    caps: Caps,
    /// Sessions kept (written or being written), and for `all`, captures handed out.
    taken: Mutex<(usize, usize)>,
    buffered: AtomicUsize,
    /// Set once the policy's count is kept: open sessions stop buffering.
    full: AtomicBool,
    pub kept: Mutex<Vec<KeptSession>>,
}

impl Keeper {
    pub fn new(cfg: KeepSessions) -> Arc<Self> {
        Self::with_caps(cfg, CAPS)
    }

    fn with_caps(cfg: KeepSessions, caps: Caps) -> Arc<Self> {
        Arc::new(Keeper {
            cfg,
            caps,
            taken: Mutex::new((0, 0)),
            buffered: AtomicUsize::new(0),
            full: AtomicBool::new(false),
            kept: Mutex::new(Vec::new()),
        })
    }

    /// A capture for a session starting now, or None when it can no longer be kept.
    pub fn capture(
        self: &Arc<Self>,
        mode: Mode,
        flow: &str,
        user: u64,
        iteration: u64,
    ) -> Option<Arc<SessionCapture>> {
        let mut taken = self.taken.locked();
        match self.cfg.policy {
            KeepPolicy::Failed(n) if taken.0 >= n => return None,
            KeepPolicy::All(n) if taken.1 >= n => return None,
            _ => taken.1 += 1,
        }
        Some(Arc::new(SessionCapture {
            mode,
            flow: flow.to_string(),
            user,
            iteration,
            keeper: self.clone(),
            log: Mutex::new(Log::default()),
        }))
    }

    /// The session ended (`outcome` as its label): a slot to write it in, if it is kept.
    fn admit(&self, failed: bool) -> bool {
        let mut taken = self.taken.locked();
        let wanted = failed || matches!(self.cfg.policy, KeepPolicy::All(_));
        if !wanted || taken.0 >= self.cfg.policy.cap() {
            return false;
        }
        taken.0 += 1;
        if taken.0 >= self.cfg.policy.cap() {
            self.full.store(true, Ordering::Relaxed);
        }
        true
    }

    fn reserve(&self, n: usize) -> bool {
        self.buffered
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b + n <= self.caps.buffer).then_some(b + n)
            })
            .is_ok()
    }
}

#[derive(Default)]
struct Log {
    /// One HAR page per step: (step, its name, when it started).
    pages: Vec<(Option<u32>, String, SystemTime)>,
    entries: Vec<har::OwnedEntry>,
    bytes: usize,
    shots: Vec<(String, Vec<u8>)>,
    shot_bytes: usize,
    not_kept: usize,
    /// An entry did not fit: later ones are not kept either (a HAR without holes).
    stopped: bool,
    shots_not_kept: usize,
    failed_step: Option<u32>,
    closed: bool,
}

/// One session's buffer while it may still be kept.
pub struct SessionCapture {
    pub mode: Mode,
    pub flow: String,
    pub user: u64,
    pub iteration: u64,
    keeper: Arc<Keeper>,
    log: Mutex<Log>,
}

impl SessionCapture {
    /// Whether more entries would be kept (callers skip copying headers and bodies if not).
    pub fn open(&self) -> bool {
        let log = self.log.locked();
        !log.closed && !log.stopped && !self.keeper.full.load(Ordering::Relaxed)
    }

    /// Step `step` started (labelled as the metrics name it): its HAR page.
    pub fn step(&self, step: u32, label: &str) {
        let mut log = self.log.locked();
        if log.closed || log.pages.iter().any(|(s, _, _)| *s == Some(step)) {
            return;
        }
        log.pages
            .push((Some(step), label.to_string(), SystemTime::now()));
    }

    /// The session failed at `step`.
    pub fn failed_at(&self, step: u32) {
        self.log.locked().failed_step.get_or_insert(step);
    }

    /// One request the session sent.
    pub fn entry(&self, e: HarEntry<'_>) {
        if !self.open() {
            self.log.locked().not_kept += 1;
            return;
        }
        let (step, started) = (e.step, e.started);
        let (owned, n) = har::OwnedEntry::of(e);
        let mut log = self.log.locked();
        if log.closed
            || log.stopped
            || log.bytes + n > self.keeper.caps.session
            || !self.keeper.reserve(n)
        {
            log.not_kept += 1;
            log.stopped = true;
            return;
        }
        log.bytes += n;
        if !log.pages.iter().any(|(s, _, _)| *s == step) {
            log.pages.push((step, String::new(), started));
        }
        log.entries.push(owned);
    }

    /// Whether the page is shot after every step (`--filmstrip`), not only at the failure.
    pub fn every_step(&self) -> bool {
        self.keeper.cfg.filmstrip && !self.keeper.full.load(Ordering::Relaxed)
    }

    /// A filmstrip image (JPEG) named `name` (`step-03.jpg`).
    pub fn shot(&self, name: String, jpeg: Vec<u8>) {
        let mut log = self.log.locked();
        let n = jpeg.len();
        if log.closed
            || self.keeper.full.load(Ordering::Relaxed)
            || log.shot_bytes + n > self.keeper.caps.filmstrip
            || !self.keeper.reserve(n)
        {
            log.shots_not_kept += 1;
            return;
        }
        log.shot_bytes += n;
        log.shots.push((name, jpeg));
    }

    /// Ends the capture: when kept, its HAR (secrets masked) and filmstrip are written and it
    /// is listed in the results. Runs blocking file writes off the runtime.
    pub async fn finish(self: Arc<Self>, outcome: &'static str, secrets: Vec<String>) {
        // A session whose browser died failed too (its HAR holds what it sent until then).
        let failed = matches!(outcome, "failed" | "lost");
        let log = {
            let mut log = self.log.locked();
            log.closed = true;
            std::mem::take(&mut *log)
        };
        let held = log.bytes + log.shot_bytes;
        let keep = self.keeper.admit(failed);
        if keep {
            let me = self.clone();
            let done = tokio::task::spawn_blocking(move || me.write(log, outcome, &secrets));
            if let Ok(Some(record)) = done.await {
                self.keeper.kept.locked().push(record);
            }
        }
        self.keeper.buffered.fetch_sub(held, Ordering::Relaxed);
    }

    fn write(&self, log: Log, outcome: &str, secrets: &[String]) -> Option<KeptSession> {
        // The mode in the name: a compare or hybrid run keeps both modes' sessions side by side.
        let rel = format!(
            "sessions/{}-user{}-{}",
            self.mode, self.user, self.iteration
        );
        let dir = self.keeper.cfg.dir.join(&rel);
        std::fs::create_dir_all(&dir).ok()?;
        let mut bodies_cut = 0;
        let entries: Vec<Value> = log
            .entries
            .iter()
            .map(|e| {
                let (v, cut) = har::entry_json(&e.entry());
                bodies_cut += usize::from(cut);
                v
            })
            .collect();
        let mut notes = vec![format!(
            "throng {} session of flow {}, user {}, iteration {}: {outcome}",
            self.mode, self.flow, self.user, self.iteration
        )];
        if bodies_cut > 0 {
            notes.push(format!("{bodies_cut} bodies cut at {BODY_CAP} bytes"));
        }
        if log.not_kept > 0 {
            notes.push(format!(
                "{} later requests not kept: the session's HAR reached its cap ({} MiB) or the run's buffer for open sessions ({} MiB) was full",
                log.not_kept,
                SESSION_CAP >> 20,
                BUFFER_CAP >> 20
            ));
        }
        if log.shots_not_kept > 0 {
            notes.push(format!(
                "{} filmstrip images not kept (cap {} MiB)",
                log.shots_not_kept,
                FILMSTRIP_CAP >> 20
            ));
        }
        notes.push("credential headers and the flow's variable values are masked (***)".into());
        let mut pages = log.pages;
        pages.sort_by_key(|(s, _, _)| *s);
        let count = entries.len();
        let har = har::log_json(
            pages
                .iter()
                .map(|(s, title, at)| page_json(*s, title, *at))
                .collect(),
            entries,
            &notes.join("; "),
            secrets,
        );
        let text = serde_json::to_vec_pretty(&har).ok()?;
        std::fs::write(dir.join("session.har"), text).ok()?;
        let mut filmstrip = Vec::new();
        for (name, jpeg) in log.shots {
            if std::fs::write(dir.join(&name), jpeg).is_ok() {
                filmstrip.push(format!("{rel}/{name}"));
            }
        }
        Some(KeptSession {
            mode: self.mode,
            flow: self.flow.clone(),
            user: self.user,
            iteration: self.iteration,
            outcome: outcome.to_string(),
            failed_step: log.failed_step,
            har: format!("{rel}/session.har"),
            entries: count,
            filmstrip,
        })
    }
}

/// Where a run's kept sessions are written, relative to its output directory.
pub fn sessions_dir(out: &Path) -> PathBuf {
    out.join("sessions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_parses_and_bounds_its_count() {
        assert_eq!(
            KeepPolicy::parse("failed"),
            Ok(Some(KeepPolicy::Failed(DEFAULT_FAILED)))
        );
        assert_eq!(KeepPolicy::parse("all"), Ok(Some(KeepPolicy::All(ALL_CAP))));
        assert_eq!(KeepPolicy::parse("3"), Ok(Some(KeepPolicy::Failed(3))));
        assert_eq!(KeepPolicy::parse("none"), Ok(None));
        assert_eq!(KeepPolicy::parse("0"), Ok(None));
        assert!(KeepPolicy::parse("5000").is_err());
        assert!(KeepPolicy::parse("some").is_err());
    }

    #[tokio::test]
    async fn failed_sessions_are_kept_up_to_the_cap_and_stop_buffering_after() {
        let dir = tempfile::tempdir().unwrap();
        let keeper = Keeper::new(KeepSessions {
            policy: KeepPolicy::Failed(1),
            dir: dir.path().to_path_buf(),
            filmstrip: false,
        });
        let a = keeper.capture(Mode::Http, "f", 1, 1).unwrap();
        let b = keeper.capture(Mode::Http, "f", 2, 1).unwrap();
        let entry = HarEntry {
            started: SystemTime::now(),
            step: Some(0),
            method: "GET",
            url: "http://h/",
            http_version: "HTTP/1.1",
            request_headers: vec![],
            request_body: None,
            status: Some(200),
            status_text: "",
            response_headers: vec![],
            response_body: None,
            response_mime: None,
            received: Some(1),
            resource_type: "document",
            timings: Timings::waited(1.0),
            error: None,
            server_ip: None,
        };
        a.entry(entry.clone());
        b.entry(entry);
        assert!(keeper.buffered.load(Ordering::Relaxed) > 0);
        b.clone().finish("completed", vec![]).await;
        a.clone().finish("failed", vec![]).await;
        assert_eq!(keeper.buffered.load(Ordering::Relaxed), 0);
        let kept = keeper.kept.locked().clone();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].user, 1);
        assert!(dir.path().join(&kept[0].har).is_file());
        // The cap is reached: a new session buffers nothing.
        assert!(keeper.capture(Mode::Http, "f", 3, 1).is_none());
    }

    fn request(body: &[u8]) -> HarEntry<'_> {
        HarEntry {
            started: SystemTime::now(),
            step: Some(0),
            method: "POST",
            url: "http://h/a",
            http_version: "HTTP/1.1",
            request_headers: vec![],
            request_body: Some(Body {
                mime: "text/plain",
                bytes: body,
                size: None,
            }),
            status: Some(200),
            status_text: "OK",
            response_headers: vec![],
            response_body: None,
            response_mime: None,
            received: Some(0),
            resource_type: "xhr",
            timings: Timings::waited(1.0),
            error: None,
            server_ip: None,
        }
    }

    #[tokio::test]
    async fn a_session_and_all_open_sessions_buffer_within_their_caps() {
        let dir = tempfile::tempdir().unwrap();
        let caps = Caps {
            session: 10_000,
            filmstrip: 1_000,
            buffer: 16_000,
        };
        let cfg = KeepSessions {
            policy: KeepPolicy::All(10),
            dir: dir.path().to_path_buf(),
            filmstrip: true,
        };
        let keeper = Keeper::with_caps(cfg, caps);
        let a = keeper.capture(Mode::Browser, "f", 1, 1).unwrap();
        let b = keeper.capture(Mode::Browser, "f", 2, 1).unwrap();
        let body = vec![b'x'; 3_000];
        for _ in 0..10 {
            a.entry(request(&body));
        }
        // a holds 2 (about 3.6 kB each) of its 10 kB; b gets what is left of the 16 kB.
        for _ in 0..10 {
            b.entry(request(&body));
        }
        assert!(!a.open() && !b.open());
        let held = keeper.buffered.load(Ordering::Relaxed);
        assert!(held <= caps.buffer, "{held}");
        a.shot("step-01.jpg".into(), vec![0; 800]);
        a.shot("step-02.jpg".into(), vec![0; 800]);
        a.clone().finish("completed", vec![]).await;
        b.clone().finish("completed", vec![]).await;
        assert_eq!(keeper.buffered.load(Ordering::Relaxed), 0);
        let kept = keeper.kept.locked().clone();
        let (ka, kb) = (&kept[0], &kept[1]);
        assert_eq!((ka.entries, ka.filmstrip.len()), (2, 1));
        assert!(kb.entries >= 1 && ka.entries + kb.entries <= 4, "{kept:?}");
        let har = std::fs::read_to_string(dir.path().join(&ka.har)).unwrap();
        let har: Value = serde_json::from_str(&har).unwrap();
        let comment = har["log"]["comment"].as_str().unwrap();
        assert!(comment.contains("8 later requests not kept"), "{comment}");
        assert!(comment.contains("1 filmstrip images not kept"), "{comment}");
    }
}
