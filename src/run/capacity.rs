//! Whether a plan's users can fit this machine: an estimate of memory per user against the
//! memory available, checked before any load is sent (a run of 10 million users must be
//! refused at once, not grow until the machine swaps).

use crate::plan::costs::{HTTP_KIB_PER_USER, LOCAL_MEMORY_HEADROOM};
use crate::plan::LoadPlan;

/// Memory one virtual user may take in throng: the measured cost with headroom. A browser
/// user beyond the pool's sessions waits as a task; the pool itself is sized by memory
/// already.
pub const BYTES_PER_USER: u64 = (HTTP_KIB_PER_USER * LOCAL_MEMORY_HEADROOM) << 10;

/// `Err` (one line naming `flag`, the flag that set the user count) when the plan's peak
/// users would need more memory than `available` bytes.
pub fn check_fits(plan: &LoadPlan, flag: &str, available: u64) -> Result<(), String> {
    check_users_fit(plan.peak_users(), flag, available, "this machine")
}

/// `Err` when `users` (a whole plan's, or one worker's share) would need more memory than
/// `available` bytes on `machine` (how the message names it).
pub fn check_users_fit(
    users: u64,
    flag: &str,
    available: u64,
    machine: &str,
) -> Result<(), String> {
    let users = users as f64;
    let need = users * BYTES_PER_USER as f64;
    if need <= available as f64 {
        return Ok(());
    }
    Err(format!(
        "{flag}: {users:.0} users would need about {} (at {} KiB each) but {machine} \
         has {} available: lower the user count or spread it over machines",
        human_bytes(need),
        BYTES_PER_USER >> 10,
        human_bytes(available as f64)
    ))
}

/// Memory the system could give this process now (`MemAvailable`), in bytes.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b;
    for unit in UNITS {
        if v < 1024.0 {
            return format!("{v:.0} {unit}");
        }
        v /= 1024.0;
    }
    format!("{:.1e} B", b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Arrival, Stages};
    use std::time::Duration;

    fn plan(stages: Stages) -> LoadPlan {
        LoadPlan {
            browsers: None,
            arrival: Arrival::Users(stages),
            iterations: None,
            think: Default::default(),
            dwell: None,
            grace: Duration::ZERO,
            drain: crate::plan::DEFAULT_DRAIN,
        }
    }

    #[test]
    fn absurd_user_counts_are_refused_naming_the_flag() {
        let second = Duration::from_secs(1);
        let gib = 16u64 << 30;
        let ten_million = plan(Stages::ramp_and_hold(10_000_000, second, second * 2).unwrap());
        let err = check_fits(&ten_million, "--users", gib).unwrap_err();
        assert!(err.starts_with("--users: 10000000 users"), "{err}");
        assert!(err.contains("610 GiB") && err.contains("16 GiB"), "{err}");
        let huge = plan(Stages::parse("99999999999999999999@1s").unwrap());
        let err = check_fits(&huge, "--stages", gib).unwrap_err();
        assert!(err.starts_with("--stages: "), "{err}");
        let fine = plan(Stages::ramp_and_hold(10_000, second, second * 2).unwrap());
        assert!(check_fits(&fine, "--users", gib).is_ok());
    }
}
