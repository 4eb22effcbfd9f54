//! A certificate store that re-reads `--tls-cert`/`--tls-key` and swaps in a new pair when
//! their content changes. Polling content rather than watching paths survives the kubelet's
//! `..data` symlink swap; a broken pair is logged and the last good one kept.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use rustls::{
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::{Error, Result, metrics::Metrics};

/// The serving certificate, swapped atomically on reload.
#[derive(Debug)]
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    // The file contents last looked at, loaded or not, so a broken pair is reported once.
    seen: Mutex<(Vec<u8>, Vec<u8>)>,
}

/// What a reload attempt did.
#[derive(Debug)]
pub enum Reload {
    /// The files have not changed since the last attempt.
    Unchanged,
    /// A new pair is being served; its `notAfter` in Unix seconds.
    Reloaded(Option<i64>),
    /// The new files are unusable; the previous pair is still served.
    Failed(Error),
}

impl CertStore {
    /// Loads the pair, failing if it is unusable (checked before any listener is bound).
    pub fn load(cert_path: PathBuf, key_path: PathBuf) -> Result<Self> {
        let (cert, key) = read_pair(&cert_path, &key_path)?;
        let certified = super::certified_key(&cert, &key)?;
        Ok(Self {
            cert_path,
            key_path,
            current: RwLock::new(Arc::new(certified)),
            seen: Mutex::new((cert, key)),
        })
    }

    /// The pair being served.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the files and swaps in the pair if its content changed and is valid.
    pub fn reload(&self) -> Reload {
        let (cert, key) = match read_pair(&self.cert_path, &self.key_path) {
            Ok(pair) => pair,
            Err(e) => return Reload::Failed(e),
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.0 == cert && seen.1 == key {
            return Reload::Unchanged;
        }
        *seen = (cert, key);
        match super::certified_key(&seen.0, &seen.1) {
            Ok(certified) => {
                let expiry = super::not_after(&certified);
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(certified);
                Reload::Reloaded(expiry)
            }
            Err(e) => Reload::Failed(e),
        }
    }

    /// Polls the files every `interval`, for as long as the returned task runs.
    pub fn spawn_reloader(self: Arc<Self>, interval: Duration, metrics: Arc<Metrics>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match self.reload() {
                    Reload::Unchanged => {}
                    Reload::Reloaded(expiry) => {
                        info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
                        metrics.tls_reloaded(true, expiry);
                    }
                    Reload::Failed(e) => {
                        error!(error = %e, "TLS reload failed; serving the previous certificate");
                        metrics.tls_reloaded(false, None);
                    }
                }
            }
        })
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn read_pair(cert: &PathBuf, key: &PathBuf) -> Result<(Vec<u8>, Vec<u8>)> {
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|source| Error::Read {
            path: p.clone(),
            source,
        })
    };
    Ok((read(cert)?, read(key)?))
}
