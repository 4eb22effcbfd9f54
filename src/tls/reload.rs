//! The serving certificate: `--tls-cert`/`--tls-key` re-read by the crate's one
//! [`Reloader`], a new pair swapped in when their content changes; a broken pair is logged,
//! counted and the last good one kept.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use rustls::{
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio::task::JoinHandle;

use crate::{
    Error, Result,
    metrics::Metrics,
    reload::{self, Outcome, Reloader},
};

/// The certificate and key files.
#[derive(Debug)]
struct PairFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl reload::Source for PairFiles {
    type Raw = (Vec<u8>, Vec<u8>);
    type Value = Arc<CertifiedKey>;
    const WHAT: &'static str = "TLS certificate";

    fn path(&self) -> &Path {
        &self.cert
    }

    fn read(&self) -> Result<Option<Self::Raw>> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })
        };
        Ok(Some((read(&self.cert)?, read(&self.key)?)))
    }

    fn load(&self, (cert, key): &Self::Raw) -> Result<Self::Value> {
        super::certified_key(cert, key).map(Arc::new)
    }
}

/// The serving certificate, swapped atomically on reload.
#[derive(Debug)]
pub struct CertStore {
    files: Reloader<PairFiles>,
}

impl CertStore {
    /// Loads the pair, failing if it is unusable (checked before any listener is bound).
    pub fn load(cert: PathBuf, key: PathBuf) -> Result<Self> {
        let files = PairFiles { cert, key };
        let raw = reload::Source::read(&files)?.unwrap_or_default();
        let certified = reload::Source::load(&files, &raw)?;
        Ok(Self {
            files: Reloader::new(files, reload::current(certified, raw)),
        })
    }

    /// The pair being served.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.files.current().value.clone()
    }

    /// Polls the files every `interval`, for as long as the returned task runs; each
    /// attempt that loads or fails is counted in `confighash_tls_reloads_total`.
    pub fn spawn_reloader(self: Arc<Self>, interval: Duration, metrics: Arc<Metrics>) -> JoinHandle<()> {
        let files = ReloaderOf(self);
        reload::spawn(files, interval, move |outcome| match outcome {
            Outcome::Unchanged => {}
            Outcome::Reloaded(pair) => metrics.tls_reloaded(true, super::not_after(&pair.value)),
            Outcome::Failed(_) => metrics.tls_reloaded(false, None),
        })
    }
}

/// The store's reloader, owned by the reload task.
struct ReloaderOf(Arc<CertStore>);

impl std::ops::Deref for ReloaderOf {
    type Target = Reloader<PairFiles>;

    fn deref(&self) -> &Self::Target {
        &self.0.files
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}
