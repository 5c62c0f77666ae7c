//! Serving an axum app in the background until told to stop (the demo site, the dashboard),
//! over plain HTTP/1.1 or over TLS with HTTP/2 and HTTP/1.1 (ALPN), as real sites do.

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

    /// Serves `app` over TLS on `listener`: HTTP/2 or HTTP/1.1 as the client's ALPN picks
    /// (WebSocket upgrades on HTTP/1.1), until [`Served::shutdown`].
    pub fn start_tls(
        listener: TcpListener,
        app: axum::Router,
        tls: std::sync::Arc<rustls::ServerConfig>,
    ) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let task = tokio::spawn(async move {
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            loop {
                let (tcp, _) = tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            tracing::debug!("accepting a connection: {e}");
                            continue;
                        }
                    },
                };
                let (acceptor, app, builder) = (acceptor.clone(), app.clone(), builder.clone());
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let io = hyper_util::rt::TokioIo::new(tls);
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let conn = builder.serve_connection_with_upgrades(io, service);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!("TLS connection ended: {e}");
                    }
                });
            }
            graceful.shutdown().await;
            Ok(())
        });
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
