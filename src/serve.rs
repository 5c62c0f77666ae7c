//! Serving an axum app in the background until told to stop (the demo site, the dashboard).

use std::future::IntoFuture as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An app served on its own task; [`Served::shutdown`] stops it gracefully.
pub struct Served {
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// Serves `app` on `listener` until [`Served::shutdown`] (or until dropped).
    pub fn start(listener: TcpListener, app: axum::Router) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        Served { stop, task }
    }

    /// Stops accepting and lets open requests finish, for at most `limit` (then aborts them).
    pub async fn shutdown(self, limit: std::time::Duration) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(limit, &mut task).await.is_err() {
            task.abort();
        }
    }
}
