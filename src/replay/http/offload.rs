//! CPU work on response bodies (HTML trees, CSS selectors, regexes, JSON) runs off the users'
//! runtimes: on blocking threads, at most one per core at a time, each job with a time budget.
//! A page built to be slow to parse then costs one pool thread its budget, while the users'
//! timers, the run's deadline and signals go on (parsed inline, one such page froze a run past
//! its deadline and made it ignore SIGTERM).

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How long one job may run: a real page parses in milliseconds (a 10 MB one in well under a
/// second); past this, what was parsed so far is used and the cut is counted.
pub const JOB_BUDGET: Duration = Duration::from_secs(2);

/// When a job must stop: its budget spent or the run's hard deadline passed. Jobs check it
/// between small pieces of work.
pub struct Budget {
    until: Instant,
    stop: CancellationToken,
}

impl Budget {
    pub fn new(budget: Duration, stop: CancellationToken) -> Self {
        Budget {
            until: Instant::now() + budget,
            stop,
        }
    }

    pub fn spent(&self) -> bool {
        self.stop.is_cancelled() || Instant::now() >= self.until
    }
}

/// The run's pool for body work, shared by every user.
#[derive(Debug, Clone)]
pub struct Offload {
    permits: Arc<Semaphore>,
    budget: Duration,
}

impl Default for Offload {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Offload::new(cores, JOB_BUDGET)
    }
}

impl Offload {
    /// At most `threads` jobs at once, each with `budget`.
    pub fn new(threads: usize, budget: Duration) -> Self {
        Offload {
            permits: Arc::new(Semaphore::new(threads.max(1))),
            budget,
        }
    }

    /// Runs `job` on a pool thread; `None` when `deadline` fired first (the job, if started,
    /// sees it in its budget and stops soon after) or the job panicked.
    pub async fn run<T, F>(&self, deadline: &CancellationToken, job: F) -> Option<T>
    where
        F: FnOnce(&Budget) -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = tokio::select! {
            biased;
            _ = deadline.cancelled() => return None,
            permit = self.permits.clone().acquire_owned() => permit.ok()?,
        };
        let budget = Budget::new(self.budget, deadline.clone());
        let handle = tokio::task::spawn_blocking(move || {
            // Held until the job really ends: a job abandoned at the deadline still counts.
            let _permit = permit;
            job(&budget)
        });
        tokio::select! {
            biased;
            _ = deadline.cancelled() => None,
            done = handle => done.ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_job_runs_off_the_runtime_and_the_deadline_does_not_wait_for_it() {
        let offload = Offload::new(1, Duration::from_secs(60));
        let deadline = CancellationToken::new();
        // The runtime's only thread stays free while a job spins: its timer fires.
        let spin = offload.run(&deadline, |budget| {
            while !budget.spent() {
                std::thread::sleep(Duration::from_millis(1));
            }
            1
        });
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            deadline.cancel();
        };
        let started = Instant::now();
        let (result, ()) = tokio::join!(spin, cancel);
        assert_eq!(result, None);
        assert!(started.elapsed() < Duration::from_secs(5));
        // The pool's one permit comes back once the job saw the deadline.
        let again = Offload {
            budget: Duration::from_millis(10),
            ..offload
        };
        let fresh = CancellationToken::new();
        assert_eq!(again.run(&fresh, |_| 2).await, Some(2));
    }

    #[test]
    fn a_budget_is_spent_by_time_or_by_the_deadline() {
        let stop = CancellationToken::new();
        assert!(!Budget::new(Duration::from_secs(60), stop.clone()).spent());
        assert!(Budget::new(Duration::ZERO, stop.clone()).spent());
        let b = Budget::new(Duration::from_secs(60), stop.clone());
        stop.cancel();
        assert!(b.spent());
    }
}
