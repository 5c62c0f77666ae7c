//! Where HTTP-mode virtual users run: single-threaded tokio runtimes (one per core, or fewer:
//! see `replay::http::user_threads` and `--threads`), users dealt out round-robin. A user's requests, timers and pollers then stay on one thread: no
//! work-stealing queues, no cross-thread wake-ups, which measured about 8% less CPU per
//! request than the multi-threaded runtime (docs/benchmarks.md, "HTTP throughput").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// Per-core runtimes, stopped when dropped (tasks still on them are cancelled).
pub struct UserRuntimes {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    next: AtomicUsize,
}

impl UserRuntimes {
    /// `threads` runtimes (at least one), each driven by its own OS thread.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let mut handles = Vec::new();
        let mut stops = Vec::new();
        for i in 0..threads.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            thread::Builder::new()
                .name(format!("throng-users-{i}"))
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    // Dropped here, on its own thread: tasks left on it are cancelled.
                    drop(runtime);
                })?;
        }
        Ok(UserRuntimes {
            handles,
            stops,
            next: AtomicUsize::new(0),
        })
    }

    /// The runtime the next user goes to.
    pub fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }
}

impl Drop for UserRuntimes {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[tokio::test]
    async fn users_are_dealt_round_robin_to_threads_of_their_own() {
        let runtimes = UserRuntimes::start(2).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..4 {
            tasks.spawn_on(
                async {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    thread::current().name().map(str::to_string)
                },
                runtimes.next(),
            );
        }
        let mut names = HashSet::new();
        while let Some(name) = tasks.join_next().await {
            names.insert(name.unwrap().unwrap());
        }
        let main = thread::current().name().map(str::to_string);
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("throng-users-")));
        assert!(!names.contains(&main.unwrap_or_default()));
    }

    #[tokio::test]
    async fn dropping_stops_the_runtimes_and_cancels_their_tasks() {
        let runtimes = UserRuntimes::start(1).unwrap();
        let task = runtimes.next().spawn(std::future::pending::<()>());
        drop(runtimes);
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled());
    }
}
