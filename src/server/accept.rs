//! The accept loop of both listeners: the connection caps, TCP_NODELAY, and HTTP/1.1 on
//! each connection under its deadlines.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::{GracefulShutdown, Watcher},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, warn};

use super::{
    Limits,
    deadline::{ConnClock, TimedIo},
    open_conns::OpenConnections,
};
use crate::metrics::Metrics;

// Large enough for any request head the API server sends; small enough that many
// connections streaming bodies at once hold little.
const MAX_READ_BUFFER: usize = 64 * 1024;

/// What a listener serves, and what it does when its connections are at the cap.
#[derive(Clone)]
pub(super) enum Listener {
    /// HTTPS; at the cap, a new connection closes the oldest one not handling a request
    /// (idle keep-alive, or still in its handshake or first request head), so that idle
    /// connections cannot keep the API server out; if every one is handling a review, it
    /// waits for the first to end.
    Webhook(TlsAcceptor),
    /// Plain HTTP; at the cap, a new connection closes the oldest one not handling a
    /// request (or is itself closed at once if every one is), so that idle connections,
    /// however many are opened, never keep the kubelet's probes out.
    Ops,
}

impl Listener {
    /// The `confighash_refused_total` reason of a connection closed or refused at the cap.
    fn cap_reason(&self) -> &'static str {
        match self {
            Listener::Webhook(_) => "webhook_connections",
            Listener::Ops => "ops_connections",
        }
    }

    /// Webhook connections idle as long as the API server keeps them; probes and scrapes
    /// open a connection per request, so an idle ops connection is only holding a slot.
    fn idle_timeout(&self, limits: &Limits) -> Duration {
        match self {
            Listener::Webhook(_) => limits.idle_timeout,
            Listener::Ops => limits.request_read_timeout,
        }
    }
}

/// Accepts connections until `shutdown`, at most `cap` open at once; returns the tracker
/// of the open ones.
pub(super) async fn accept_loop(
    listener: TcpListener,
    kind: Listener,
    router: axum::Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> GracefulShutdown {
    let cap = match kind {
        Listener::Webhook(_) => limits.max_connections,
        Listener::Ops => limits.ops_max_connections,
    };
    let slots = Arc::new(Semaphore::new(cap.max(1)));
    let open = Arc::new(OpenConnections::default());
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
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) if open.close_oldest_idle() => {
                metrics.refused(kind.cap_reason());
                debug!(%peer, cap, "oldest idle connection closed to admit a new one");
                // The closed connection's task gives its slot back as soon as it runs.
                match tokio::time::timeout(SLOT_HANDOVER, slots.clone().acquire_owned()).await {
                    Ok(Ok(slot)) => slot,
                    _ => continue,
                }
            }
            Err(_) => match kind {
                // Every connection is handling a review: this one waits for the first to end.
                Listener::Webhook(_) => tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    // The semaphore is never closed.
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => continue,
                    },
                },
                Listener::Ops => {
                    metrics.refused(kind.cap_reason());
                    debug!(%peer, cap, "ops connection refused: at the cap, all handling requests");
                    continue;
                }
            },
        };
        set_nodelay(&tcp);
        let (kind, router, watcher) = (kind.clone(), router.clone(), graceful.watcher());
        let open = open.clone();
        tokio::spawn(async move {
            let clock = ConnClock::new(limits.request_read_timeout, kind.idle_timeout(&limits));
            let registration = open.register(clock.clone());
            let serve = async move {
                match kind {
                    Listener::Webhook(tls) => {
                        let handshake = tokio::time::timeout(limits.request_read_timeout, tls.accept(tcp));
                        match handshake.await {
                            Ok(Ok(stream)) => serve_connection(stream, clock, router, watcher, peer).await,
                            Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => debug!(%peer, "TLS handshake timed out"),
                        }
                    }
                    Listener::Ops => serve_connection(tcp, clock, router, watcher, peer).await,
                }
            };
            tokio::select! {
                () = serve => {}
                () = registration.closed() => debug!(%peer, "idle connection closed for a newer one"),
            }
            drop(slot);
        });
    }
    graceful
}

/// How long a new connection waits for the slot of the idle one it closed.
const SLOT_HANDOVER: Duration = Duration::from_millis(500);

/// Small answers go out at once rather than waiting behind a delayed ACK (a TLS 1.3
/// session ticket is written just before the first response).
fn set_nodelay(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(error = %e, "cannot set TCP_NODELAY");
    }
}

/// Serves HTTP/1.1 on one connection under its deadlines.
async fn serve_connection<I>(
    io: I,
    clock: Arc<ConnClock>,
    router: axum::Router,
    watcher: Watcher,
    peer: SocketAddr,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let clock = clock.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(clock.request_started());
            let (clock, answer) = (clock.clone(), router.clone().oneshot(request));
            async move {
                let response = answer.await;
                clock.request_finished();
                response
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // The connection's own deadlines (ConnClock) replace hyper's header timeout,
        // which would also close idle keep-alive connections.
        .header_read_timeout(None)
        // Hyper's read buffer grows to this per connection while a body streams in.
        .max_buf_size(MAX_READ_BUFFER)
        .serve_connection(TokioIo::new(TimedIo::new(io, clock)), service);
    if let Err(e) = watcher.watch(conn).await {
        debug!(%peer, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_get_tcp_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        assert!(!accepted.nodelay().expect("getsockopt"), "off by default");
        set_nodelay(&accepted);
        assert!(accepted.nodelay().expect("getsockopt"));
        drop(client);
    }
}
