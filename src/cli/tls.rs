//! Where the serving certificate comes from: files, or a throw-away pair with `--dev`.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use crate::{Error, Result};

/// Where the serving certificate comes from.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// PEM certificate chain, leaf first; reloaded when its content changes.
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1); reloaded with the certificate.
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<PathBuf>,
    /// How often the certificate files are checked for changes.
    #[arg(long, default_value = "10s", value_parser = super::positive_duration)]
    pub tls_reload_interval: Duration,
    /// Generate a throw-away CA and certificate for localhost at start-up (local use only).
    #[arg(long)]
    pub dev: bool,
    /// Where --dev writes ca.crt, tls.crt and tls.key.
    #[arg(long, value_name = "DIR", default_value_os_t = std::env::temp_dir().join("confighash-dev"))]
    pub dev_cert_dir: PathBuf,
}

/// The certificate files to serve, decided from [`TlsArgs`].
#[derive(Debug, PartialEq, Eq)]
pub enum TlsSource {
    /// `--tls-cert` and `--tls-key`.
    Files {
        /// Certificate path.
        cert: PathBuf,
        /// Key path.
        key: PathBuf,
    },
    /// `--dev`, into this directory.
    Dev(PathBuf),
}

impl TlsArgs {
    /// Checks the flag combination.
    pub fn source(&self) -> Result<TlsSource> {
        match (self.dev, &self.tls_cert, &self.tls_key) {
            (true, None, None) => Ok(TlsSource::Dev(self.dev_cert_dir.clone())),
            (true, _, _) => Err(Error::flag(
                "--dev",
                "--dev generates its own certificate; drop --tls-cert/--tls-key",
            )),
            (false, Some(cert), Some(key)) => Ok(TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (false, Some(_), None) | (false, None, Some(_)) => Err(Error::flag(
                "--tls-cert",
                "--tls-cert and --tls-key must be given together",
            )),
            (false, None, None) => Err(Error::flag(
                "--tls-cert",
                "serving needs --tls-cert and --tls-key, or --dev for a throw-away certificate",
            )),
        }
    }
}
