//! `serve`: the HTTPS webhook listener and the plain-HTTP ops listener, wired from the
//! command line, with certificate reload, readiness and a graceful drain on SIGTERM.

mod routes;
mod shutdown;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

pub use self::{
    routes::{AppState, Readiness, ops_router, webhook_router},
    shutdown::signal,
};
use crate::{
    Error, Result,
    admission::Options,
    metrics::Metrics,
    source::Source,
    tls::{self, reload::CertStore},
};

// A client that opens a connection and sends nothing must not hold it forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything `serve` needs, resolved from the command line.
pub struct ServerConfig {
    /// `--listen`
    pub listen: SocketAddr,
    /// `--metrics-listen`
    pub metrics_listen: SocketAddr,
    /// The serving certificate.
    pub certs: Arc<CertStore>,
    /// `--tls-reload-interval`
    pub tls_reload_interval: Duration,
    /// Where ConfigMaps come from.
    pub source: Source,
    /// Admission settings.
    pub options: Options,
    /// `--max-body-bytes`
    pub max_body_bytes: usize,
    /// `--drain-timeout`
    pub drain_timeout: Duration,
}

/// Bound listeners, ready to [`Server::run`].
pub struct Server {
    config: ServerConfig,
    webhook: TcpListener,
    ops: TcpListener,
    state: AppState,
}

impl Server {
    /// Binds both listeners; the certificate was already validated by [`CertStore::load`].
    pub async fn bind(config: ServerConfig) -> Result<Self> {
        let bind = |addr: SocketAddr, what: &'static str| async move {
            crate::listen::bind(addr).map_err(|source| Error::Io {
                context: format!("binding {what} {addr}"),
                source,
            })
        };
        let webhook = bind(config.listen, "--listen").await?;
        let ops = bind(config.metrics_listen, "--metrics-listen").await?;
        let metrics = Arc::new(Metrics::new());
        metrics.tls_reloaded(true, tls::not_after(&config.certs.current()));
        let state = AppState {
            source: config.source.clone(),
            options: Arc::new(config.options.clone()),
            metrics,
            readiness: Readiness::default(),
            max_body_bytes: config.max_body_bytes,
        };
        state
            .readiness
            .certificate
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(Self {
            config,
            webhook,
            ops,
            state,
        })
    }

    /// The webhook listener's address.
    pub fn webhook_addr(&self) -> SocketAddr {
        self.webhook.local_addr().unwrap_or(self.config.listen)
    }

    /// The metrics served on the ops listener, for other tasks of the process to record.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// The ops listener's address.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.local_addr().unwrap_or(self.config.metrics_listen)
    }

    /// Serves until `shutdown` resolves, then drains (contract §6) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Self {
            config,
            webhook,
            ops,
            state,
        } = self;
        info!(address = %webhook.local_addr().map_err(io("webhook address"))?, "webhook listening (HTTPS, POST /mutate)");
        info!(address = %ops.local_addr().map_err(io("ops address"))?, "ops listening (HTTP, /metrics /healthz /readyz)");
        let reloader = config
            .certs
            .clone()
            .spawn_reloader(config.tls_reload_interval, state.metrics.clone());
        let prober = tokio::spawn(routes::probe_source(state.clone()));
        let (stop_ops, ops_stopped) = tokio::sync::oneshot::channel::<()>();
        let ops_server = axum::serve(ops, ops_router(state.clone()))
            .with_graceful_shutdown(async { _ = ops_stopped.await });
        let ops_task = tokio::spawn(async move { ops_server.await });

        let tls = tls::server_config(config.certs.clone())?;
        let graceful = accept_loop(
            webhook,
            TlsAcceptor::from(Arc::new(tls)),
            webhook_router(state.clone()),
            shutdown,
        )
        .await;

        state
            .readiness
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        info!(timeout = ?config.drain_timeout, "draining webhook connections");
        tokio::select! {
            () = graceful.shutdown() => info!("all webhook connections closed"),
            () = tokio::time::sleep(config.drain_timeout) => warn!("drain timeout reached; closing remaining connections"),
        }
        reloader.abort();
        prober.abort();
        _ = stop_ops.send(());
        _ = ops_task.await;
        info!("stopped");
        Ok(())
    }
}

/// Accepts TLS connections until `shutdown`; returns the tracker of the open ones.
async fn accept_loop(
    listener: TcpListener,
    tls: TlsAcceptor,
    router: axum::Router,
    shutdown: impl Future<Output = ()>,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (tls, service, watcher) = (
            tls.clone(),
            TowerToHyperService::new(router.clone()),
            graceful.watcher(),
        );
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return debug!(%peer, "TLS handshake timed out"),
            };
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    graceful
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io {
        context: context.to_owned(),
        source,
    }
}
