//! `serve`: the HTTPS webhook listener and the plain-HTTP ops listener, wired from the
//! command line, with certificate reload, readiness and a graceful drain on SIGTERM.

mod accept;
mod body;
mod budget;
mod deadline;
mod limits;
mod open_conns;
mod routes;
mod shutdown;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use self::{
    accept::{Listener, accept_loop},
    budget::MemoryBudget,
};
pub use self::{
    budget::COST_PER_BODY_BYTE,
    limits::Limits,
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
    /// Time, connection and memory limits.
    pub limits: Limits,
    /// The metrics the ops listener serves; the rest of the process records into them too.
    pub metrics: Arc<Metrics>,
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
        let metrics = config.metrics.clone();
        metrics.tls_reloaded(true, tls::not_after(&config.certs.current()));
        let state = AppState {
            source: config.source.clone(),
            options: Arc::new(config.options.clone()),
            metrics,
            readiness: Readiness::default(),
            max_body_bytes: config.max_body_bytes,
            limits: config.limits,
            budget: MemoryBudget::new(config.limits.memory_budget_bytes),
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
        let ops_server = accept_loop(
            ops,
            Listener::Ops,
            ops_router(state.clone()),
            config.limits,
            state.metrics.clone(),
            async { _ = ops_stopped.await },
        );
        let ops_task = tokio::spawn(async move {
            let open = ops_server.await;
            // Probes and scrapes are short; an idle one is not waited for.
            _ = tokio::time::timeout(Duration::from_secs(1), open.shutdown()).await;
        });

        let tls = tls::server_config(config.certs.clone())?;
        let graceful = accept_loop(
            webhook,
            Listener::Webhook(TlsAcceptor::from(Arc::new(tls))),
            webhook_router(state.clone()),
            config.limits,
            state.metrics.clone(),
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

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io {
        context: context.to_owned(),
        source,
    }
}
