//! Shared test harness: certificates, the webhook server in-process on 127.0.0.1:0, an
//! HTTPS client, a fake Kubernetes API server, and review fixtures.

pub mod client;
pub mod fake_api;
pub mod fixtures;
pub mod process;
pub mod watcher;

use std::{net::SocketAddr, path::Path, sync::Arc, sync::Once, time::Duration};

use confighash::{
    admission::Options,
    server::{Server, ServerConfig},
    source::{DirSource, Source},
    tls::{
        dev::{self, DevCerts},
        reload::CertStore,
    },
};
use tokio::task::JoinHandle;

/// Installs the ring provider once per test binary.
pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A CA and a localhost serving pair in `dir`.
pub fn certs(dir: &Path) -> DevCerts {
    dev::generate(dir, &[]).expect("generate test certificates")
}

/// The ConfigMaps of `examples/configmaps`.
pub fn example_source() -> Source {
    Source::Dir(DirSource::load(&repo().join("examples/configmaps")).expect("example ConfigMaps"))
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A webhook server running in this process.
pub struct Webhook {
    pub addr: SocketAddr,
    pub ops: SocketAddr,
    pub certs: DevCerts,
    task: JoinHandle<confighash::Result<()>>,
    _dir: tempfile::TempDir,
}

/// How to start a [`Webhook`].
pub struct WebhookOptions {
    pub source: Source,
    pub options: Options,
    pub max_body_bytes: usize,
    pub tls_reload_interval: Duration,
    pub drain_timeout: Duration,
    pub limits: confighash::server::Limits,
    /// Serve these files instead of a fresh pair.
    pub tls: Option<DevCerts>,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            source: example_source(),
            options: Options::default(),
            max_body_bytes: 8 << 20,
            tls_reload_interval: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
            limits: Default::default(),
            tls: None,
        }
    }
}

impl Webhook {
    /// Starts a server with the example ConfigMaps and default options.
    pub async fn start() -> Self {
        Self::with(WebhookOptions::default()).await
    }

    /// Starts a server reading from the fake API server `api` with `options`.
    pub async fn on_cluster(api: &fake_api::FakeApi, options: confighash::admission::Options) -> Self {
        let source = Source::Cluster(confighash::source::ClusterSource::new(api.client()));
        Self::with(WebhookOptions {
            source,
            options,
            ..Default::default()
        })
        .await
    }

    /// Starts a server on 127.0.0.1:0 with fresh certificates.
    pub async fn with(opts: WebhookOptions) -> Self {
        setup();
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = opts.tls.clone().unwrap_or_else(|| certs(dir.path()));
        let store = Arc::new(CertStore::load(certs.cert.clone(), certs.key.clone()).expect("load certs"));
        let metrics = Arc::new(confighash::metrics::Metrics::for_source(&opts.source));
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            metrics_listen: "127.0.0.1:0".parse().expect("addr"),
            certs: store.clone(),
            tls_reload_interval: opts.tls_reload_interval,
            source: opts.source,
            options: opts.options,
            max_body_bytes: opts.max_body_bytes,
            drain_timeout: opts.drain_timeout,
            limits: opts.limits,
            metrics,
        };
        let server = Server::bind(config).await.expect("bind");
        let (addr, ops) = (server.webhook_addr(), server.ops_addr());
        // Runs until the handle is dropped, which aborts it.
        let task = tokio::spawn(server.run(std::future::pending()));
        Self {
            addr,
            ops,
            certs,
            task,
            _dir: dir,
        }
    }

    /// A new keep-alive HTTPS connection trusting the server's CA.
    pub async fn connect(&self) -> client::Conn {
        client::Conn::connect(self.addr, &self.certs.ca).await
    }

    /// POSTs `body` to `/mutate?timeout=10s` on a new connection.
    pub async fn mutate(&self, body: &[u8]) -> client::Reply {
        self.connect()
            .await
            .post("/mutate?timeout=10s", body.to_vec())
            .await
    }

    /// GETs a path on the ops listener.
    pub async fn ops_get(&self, path: &str) -> client::Reply {
        client::http_get(self.ops, path).await
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls `check` every 20 ms for up to 10 s.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}
