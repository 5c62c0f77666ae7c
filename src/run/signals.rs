//! Stop signals (Ctrl-C and SIGTERM): the first stops a run gracefully, a second exits at once.

use super::RunControl;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What a shell reports for a process ended by SIGINT; used when a second signal forces exit.
const EXIT_FORCED: i32 = 130;

/// Waits for the next Ctrl-C (SIGINT) or SIGTERM (what Kubernetes, systemd and CI runners
/// send); returns which one.
pub async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}

/// While alive, the first stop signal stops `control` gracefully (the report is still written)
/// and a second one exits at once.
pub struct StopOnSignal {
    task: tokio::task::JoinHandle<()>,
    received: Arc<AtomicBool>,
}

impl StopOnSignal {
    /// `then` says what happens after the stop, e.g. "the report is written".
    pub fn install(control: RunControl, then: &'static str) -> Self {
        let received = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let received = received.clone();
            async move {
                let which = stop_signal().await;
                received.store(true, Ordering::SeqCst);
                eprintln!(
                    "\n{which}: stopping; users finish their requests, then {then} \
                     (again to force)"
                );
                control.stop();
                stop_signal().await;
                eprintln!("forced stop");
                std::process::exit(EXIT_FORCED);
            }
        });
        StopOnSignal { task, received }
    }

    /// True once a stop signal arrived.
    pub fn received(&self) -> bool {
        self.received.load(Ordering::SeqCst)
    }
}

impl Drop for StopOnSignal {
    fn drop(&mut self) {
        self.task.abort();
    }
}
