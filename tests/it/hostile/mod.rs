//! Hostile peers (issue 21, items 4 and 7-18): real throng processes, their address space
//! capped with `prlimit --as` so a failure aborts instead of filling the machine, against fake
//! coordinators, hostile workers, slowloris clients and hostile remote-write receivers on
//! loopback; and (hostile peers III) the surfaces added since: session handoff, kept sessions,
//! changed-keys-only reports, `--network`, the coordinator's `--ui`, OTLP collectors and page
//! timings. Each test checks the rule: memory bounded, deadlines kept, no token or secret
//! reaching the attacker, honest exit codes.

mod coordinator;
mod har;
mod keys;
mod login;
mod otlp;
mod page_numbers;
mod peers;
mod remote_write;
mod secrets;
mod servers;
mod shaping;
mod ui;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const TOKEN: &str = "hostile-test-token-7f3a";
/// Address space each throng process may take: a few hundred MB of real use fits, a peer
/// that makes it allocate gigabytes aborts it.
pub const ADDRESS_SPACE: u64 = 768 << 20;

/// `throng ARGS` under `prlimit --as` (otherwise as [`crate::support::bin::throng`]), output
/// piped, killed when dropped.
pub fn throng(args: &[&str]) -> Command {
    let mut c = Command::new("prlimit");
    c.arg(format!("--as={ADDRESS_SPACE}"))
        .arg(bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("THRONG_TOKEN")
        .env_remove("THRONG_DEMO_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// The throng binary: `THRONG` names another build (a benchmark's before and after).
pub fn bin() -> String {
    std::env::var("THRONG").unwrap_or_else(|_| crate::support::bin::THRONG.into())
}

/// `throng ARGS` without an address-space cap (Chromium reserves far more than it uses),
/// otherwise as [`throng`].
pub fn throng_uncapped(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("THRONG_TOKEN")
        .env_remove("THRONG_DEMO_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// A process's exit code and output (it must end within `limit`).
pub async fn ended(child: Child, limit: Duration) -> (i32, String, String) {
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .expect("the process ends in time")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A coordinator process: its address (`http://IP:PORT`), its stderr lines so far.
pub struct Coordinator {
    pub child: Child,
    pub addr: String,
    pub pid: u32,
    /// Every stderr line, including those before the address (shared with a reader task).
    pub lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Coordinator {
    /// `throng run ARGS --listen LISTEN` (with `--token TOKEN` unless `args` has one or
    /// `token` is false).
    pub async fn start(listen: &str, token: bool, args: &[&str]) -> Coordinator {
        let mut all: Vec<&str> = vec!["run", "--listen", listen];
        if token {
            all.extend(["--token", TOKEN]);
        }
        all.extend(args);
        let mut child = throng(&all).spawn().unwrap();
        let pid = child.id().unwrap();
        let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), reader.next_line())
                .await
                .expect("the coordinator prints its address")
                .unwrap()
                .unwrap_or_else(|| panic!("the coordinator ended: {:?}", lines.lock().unwrap()));
            lines.lock().unwrap().push(line.clone());
            if let Some(rest) = line.strip_prefix("coordinator: listening on ") {
                break rest.split(';').next().unwrap().to_string();
            }
        };
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(l)) = reader.next_line().await {
                sink.lock().unwrap().push(l);
            }
        });
        // Its report goes to stdout: drained, so a long one cannot block it on a full pipe.
        if let Some(mut out) = child.stdout.take() {
            tokio::spawn(async move { tokio::io::copy(&mut out, &mut tokio::io::sink()).await });
        }
        Coordinator {
            child,
            addr,
            pid,
            lines,
        }
    }

    pub fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Exit code and all of stderr, once it ends (within `limit`).
    pub async fn end(mut self, limit: Duration) -> (i32, String) {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("the coordinator ends in time")
            .unwrap();
        // Let the reader take the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status.code().unwrap_or(-1), self.stderr())
    }
}

/// `throng worker --connect ADDR --name NAME` with the token in its environment.
pub fn worker(addr: &str, name: &str, token: &str, tmp: &Path) -> Child {
    throng(&["worker", "--connect", addr, "--name", name, "--wait", "20s"])
        .env("THRONG_TOKEN", token)
        .env("TMPDIR", tmp)
        .spawn()
        .unwrap()
}

/// Open descriptors and resident memory (MB) of a process now.
pub fn fds_and_rss(pid: u32) -> (usize, f64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    (fds, kb / 1024.0)
}

/// Lifts this test process's descriptor limit (a slowloris holds hundreds of sockets).
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Results of a run written with `--out DIR`.
pub fn results(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json written");
    serde_json::from_str(&text).unwrap()
}
