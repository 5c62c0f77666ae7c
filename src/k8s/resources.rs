//! Pod sizes: each worker's share of the plan and the CPU and memory that share needs, from
//! the costs measured in docs/benchmarks.md.

use crate::metrics::Mode;

/// A worker's largest share of `peak` concurrent users over `workers` workers: shares differ
/// by at most one, so the largest is the ceiling.
pub fn largest_share(peak: u64, workers: u32) -> u64 {
    let n = u64::from(workers.max(1));
    peak.div_ceil(n)
}

/// The shares of `peak` users over `workers` workers (first ones get the remainder): they sum
/// to `peak` and differ by at most one.
pub fn shares(peak: u64, workers: u32) -> Vec<u64> {
    let n = u64::from(workers.max(1));
    (0..n).map(|i| peak / n + u64::from(i < peak % n)).collect()
}

/// Requests and limits of one container, in millicores and MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    pub cpu_request_m: u64,
    pub cpu_limit_m: u64,
    pub memory_request_mib: u64,
    pub memory_limit_mib: u64,
}

impl Resources {
    /// `{"requests": {...}, "limits": {...}}` as Kubernetes quantities.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "requests": {"cpu": cpu(self.cpu_request_m), "memory": memory(self.memory_request_mib)},
            "limits": {"cpu": cpu(self.cpu_limit_m), "memory": memory(self.memory_limit_mib)},
        })
    }
}

pub use crate::plan::costs::{
    BROWSER_BASE_MIB, BROWSER_MIB_PER_SESSION, BROWSER_MIB_PER_SESSION_LIMIT,
    BROWSER_SESSIONS_PER_CORE, HTTP_BASE_MIB, HTTP_BASE_MILLICORES, HTTP_KIB_PER_USER,
    HTTP_MILLICORES_PER_1000_USERS,
};

/// Browser sessions a hybrid run's browser worker takes by default (`throng k8s`): two
/// cores' worth.
pub const BROWSER_SESSIONS_PER_WORKER: u64 = 2 * BROWSER_SESSIONS_PER_CORE;

/// What one worker needs for `share` concurrent users (sessions) in `mode`.
pub fn worker(mode: Mode, share: u64) -> Resources {
    match mode {
        Mode::Browser => {
            let cpu_request = 100 + (share * 1000).div_ceil(BROWSER_SESSIONS_PER_CORE);
            Resources {
                cpu_request_m: round_up(cpu_request, 50),
                cpu_limit_m: round_up(2 * cpu_request, 100),
                memory_request_mib: round_up(
                    BROWSER_BASE_MIB + share * BROWSER_MIB_PER_SESSION,
                    64,
                ),
                memory_limit_mib: round_up(
                    BROWSER_BASE_MIB + share * BROWSER_MIB_PER_SESSION_LIMIT,
                    64,
                ),
            }
        }
        Mode::Http => {
            let cpu_request =
                HTTP_BASE_MILLICORES + (share * HTTP_MILLICORES_PER_1000_USERS).div_ceil(1000);
            let memory = HTTP_BASE_MIB + (share * HTTP_KIB_PER_USER).div_ceil(1024);
            Resources {
                cpu_request_m: round_up(cpu_request, 50),
                cpu_limit_m: round_up((2 * cpu_request).max(1000), 100),
                memory_request_mib: round_up(memory, 64),
                memory_limit_mib: round_up(2 * memory, 64),
            }
        }
    }
}

/// The coordinator runs no users: it merges one summary per worker per second. Measured
/// with 100 local workers (bench/dist-scale.sh, docs/benchmarks.md "Simulated scale"): 0.18
/// of a core and 61 MiB peak RSS (43 MiB with 10 workers); requested at about twice that.
pub fn coordinator(workers: u32) -> Resources {
    let w = u64::from(workers);
    let cpu_request = 100 + 3 * w;
    let memory = 96 + w / 2;
    Resources {
        cpu_request_m: round_up(cpu_request, 50),
        cpu_limit_m: round_up((2 * cpu_request).max(1000), 100),
        memory_request_mib: round_up(memory, 64),
        memory_limit_mib: round_up(2 * memory, 64),
    }
}

/// Size of the memory-backed /dev/shm of a browser worker: Chromium's shared memory between
/// its processes. Its pages count against the pod's memory limit anyway; half of it is a
/// bound that leaves the rest to the processes.
pub fn shm_mib(resources: Resources) -> u64 {
    round_up(resources.memory_limit_mib / 2, 64)
}

fn round_up(value: u64, step: u64) -> u64 {
    value.div_ceil(step) * step
}

/// A CPU quantity: whole cores as integers, else millicores.
pub fn cpu(millicores: u64) -> String {
    if millicores % 1000 == 0 {
        (millicores / 1000).to_string()
    } else {
        format!("{millicores}m")
    }
}

/// A memory quantity in Gi when whole, else Mi.
pub fn memory(mib: u64) -> String {
    if mib % 1024 == 0 {
        format!("{}Gi", mib / 1024)
    } else {
        format!("{mib}Mi")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_the_plan_and_differ_by_at_most_one() {
        for (peak, workers) in [(10, 3), (3, 10), (0, 4), (1000, 7), (7, 7), (1, 1)] {
            let s = shares(peak, workers);
            assert_eq!(s.len(), workers as usize);
            assert_eq!(s.iter().sum::<u64>(), peak, "{peak} over {workers}");
            let (lo, hi) = (s.iter().min().unwrap(), s.iter().max().unwrap());
            assert!(hi - lo <= 1, "{s:?}");
            assert_eq!(*hi, largest_share(peak, workers), "{peak} over {workers}");
        }
    }

    #[test]
    fn browser_requests_follow_the_measured_sessions_per_core() {
        // 24 sessions = 2 cores of sessions + 100m for throng.
        let r = worker(Mode::Browser, 24);
        assert_eq!(r.cpu_request_m, 2100);
        assert_eq!(r.cpu_limit_m, 4200);
        // 256 + 24 x 36 = 1120 MiB, rounded to 64.
        assert_eq!(r.memory_request_mib, 1152);
        // 256 + 24 x 100 = 2656 MiB, rounded to 64.
        assert_eq!(r.memory_limit_mib, 2688);
    }

    #[test]
    fn requests_scale_with_the_share() {
        for mode in [Mode::Browser, Mode::Http] {
            let total = match mode {
                Mode::Browser => 120,
                Mode::Http => 60_000,
            };
            let few = worker(mode, largest_share(total, 2));
            let many = worker(mode, largest_share(total, 12));
            assert!(few.cpu_request_m > many.cpu_request_m, "{mode:?}");
            assert!(few.memory_request_mib > many.memory_request_mib, "{mode:?}");
            // More workers need no fewer resources in all: the fixed part is paid per pod.
            assert!(12 * many.cpu_request_m >= 2 * few.cpu_request_m, "{mode:?}");
            for r in [few, many] {
                assert!(
                    r.cpu_limit_m >= r.cpu_request_m && r.memory_limit_mib >= r.memory_request_mib
                );
            }
        }
    }

    #[test]
    fn http_users_cost_far_less_than_browser_sessions() {
        let http = worker(Mode::Http, 1000);
        let browser = worker(Mode::Browser, 1000);
        assert!(http.memory_request_mib * 10 < browser.memory_request_mib);
        // 10,000 HTTP users: 1.2 cores and 64 MiB + 313 MiB requested (measured: 0.6 of a
        // core and 291 MiB peak RSS).
        let big = worker(Mode::Http, 10_000);
        assert_eq!(big.cpu_request_m, 1450);
        assert_eq!(big.memory_request_mib, 384);
    }

    #[test]
    fn the_coordinator_grows_with_the_number_of_workers() {
        assert!(coordinator(100).cpu_request_m > coordinator(2).cpu_request_m);
        assert!(coordinator(500).memory_request_mib > coordinator(2).memory_request_mib);
        // 100 workers measured 0.18 of a core and 61 MiB: requested with room to spare.
        let c = coordinator(100);
        assert_eq!((c.cpu_request_m, c.memory_request_mib), (400, 192));
    }

    #[test]
    fn quantities_are_kubernetes_quantities() {
        assert_eq!(cpu(2000), "2");
        assert_eq!(cpu(350), "350m");
        assert_eq!(memory(1024), "1Gi");
        assert_eq!(memory(1152), "1152Mi");
        assert_eq!(shm_mib(worker(Mode::Browser, 4)), 384);
    }
}
