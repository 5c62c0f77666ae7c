//! Reading CPU and memory from Linux's /proc: the machine's CPU time, this process's, and its
//! descendants' (the Chromium browser, zygote, renderer and utility processes). Zeros (or
//! None) elsewhere.

use std::collections::HashMap;

/// One live process.
pub struct Proc {
    pub pid: u32,
    /// Start time in clock ticks since boot (tells a reused pid apart).
    pub start: u64,
    /// User + system CPU time, in clock ticks.
    pub cpu_ticks: u64,
}

/// Clock ticks per second (the unit of /proc's CPU times).
pub fn ticks_per_s() -> f64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100.0,
        t => t as f64,
    }
}

/// The fields of /proc/PID/stat from field 3 (state) on.
fn stat_fields(pid: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = text.get(text.rfind(')')? + 2..)?;
    // Field 3 (the state letter) is not a number: keep its place with a 0.
    Some(
        rest.split_whitespace()
            .map(|v| v.parse::<u64>().unwrap_or(0))
            .collect(),
    )
}

/// Field `n` (1-based, as in proc(5)) of a [`stat_fields`] list.
fn field(f: &[u64], n: usize) -> Option<u64> {
    f.get(n.checked_sub(3)?).copied()
}

/// (ppid, start, user + system ticks) of one process.
fn stat(pid: u32) -> Option<(u32, u64, u64)> {
    let f = stat_fields(&pid.to_string())?;
    // ppid is field 4, utime 14, stime 15, starttime 22.
    let ppid = u32::try_from(field(&f, 4)?).ok()?;
    Some((ppid, field(&f, 22)?, field(&f, 14)? + field(&f, 15)?))
}

/// This process's CPU ticks: (its own user + system, its reaped children's user + system).
pub fn self_ticks() -> (u64, u64) {
    let Some(f) = stat_fields("self") else {
        return (0, 0);
    };
    let get = |n| field(&f, n).unwrap_or(0);
    // cutime is field 16, cstime 17.
    (get(14) + get(15), get(16) + get(17))
}

/// The machine's CPU ticks since boot over every core: (busy, total). Busy is everything but
/// idle and iowait.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// Cores this machine has (the CPUs /proc/stat lists, else what the standard library sees).
pub fn cores() -> u32 {
    let listed = std::fs::read_to_string("/proc/stat")
        .map(|t| {
            t.lines()
                .filter(|l| {
                    l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)
                })
                .count()
        })
        .unwrap_or(0);
    match listed {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        n => n as u32,
    }
}

/// Every live descendant of `root`.
pub fn descendants(root: u32) -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut by_parent: HashMap<u32, Vec<Proc>> = HashMap::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((ppid, start, cpu_ticks)) = stat(pid) {
            by_parent.entry(ppid).or_default().push(Proc {
                pid,
                start,
                cpu_ticks,
            });
        }
    }
    let mut out = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for child in by_parent.remove(&p).unwrap_or_default() {
            queue.push(child.pid);
            out.push(child);
        }
    }
    out
}

/// Resident memory of a process, MB.
pub fn rss_mb(pid: u32) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else {
        return 0.0;
    };
    let page = rustix::param::page_size().max(4096) as f64;
    text.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * page / (1024.0 * 1024.0))
}

/// Proportional set size (shared pages split among their users), MB; RSS where the kernel
/// has no smaps_rollup. Summing PSS over Chromium's processes does not count their shared
/// libraries once per process.
pub fn pss_mb(pid: u32) -> f64 {
    if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
        if let Some(kb) = text.lines().find_map(|l| {
            l.strip_prefix("Pss:")
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        }) {
            return kb / 1024.0;
        }
    }
    rss_mb(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_the_machine() {
        let (busy, total) = machine_ticks().expect("/proc/stat");
        assert!(total > 0 && busy <= total);
        assert!(cores() >= 1);
        assert!(rss_mb(std::process::id()) > 1.0);
        // Burn a little CPU so our own ticks move.
        let t0 = std::time::Instant::now();
        let mut x = 0u64;
        while t0.elapsed() < std::time::Duration::from_millis(60) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(self_ticks().0 > 0);
    }

    #[test]
    fn finds_a_child_and_its_start_time() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        let found = descendants(std::process::id())
            .into_iter()
            .find(|p| p.pid == child.id())
            .expect("the child is a descendant");
        assert!(found.start > 0);
        child.kill().ok();
        child.wait().ok();
    }
}
