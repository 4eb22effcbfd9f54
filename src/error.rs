//! The crate's error type: one variant per failure a caller handles differently.

use std::path::PathBuf;

/// Errors of confighash.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A ConfigMap or Secret read from the cluster failed.
    #[error("reading {kind} {namespace}/{name}: {}", describe(source))]
    Lookup {
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// Namespace of the ConfigMap.
        namespace: String,
        /// Name of the ConfigMap.
        name: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The lookups did not finish within `--lookup-timeout`.
    #[error("ConfigMap/Secret lookups exceeded the {0:?} budget")]
    LookupTimeout(std::time::Duration),
    /// A workload references more distinct sources than `--max-sources`.
    #[error("more than --max-sources {max} distinct ConfigMaps and Secrets referenced; none were read")]
    TooManySources {
        /// The limit.
        max: usize,
    },
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest file could not be parsed.
    #[error("parsing {path}: {message}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong, on one line.
        message: String,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The cluster client could not be configured.
    #[error("kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    /// Invalid command-line arguments.
    #[error("{0}")]
    Config(String),
    /// A namespace that is not a DNS-1123 label: never sent to the API server.
    #[error(transparent)]
    InvalidNamespace(#[from] crate::name::InvalidNamespace),
    /// A socket could not be bound or served.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Lookup { .. } => "error",
            Error::LookupTimeout(_) => "timeout",
            Error::TooManySources { .. } => "too_many_sources",
            Error::Read { .. } | Error::Manifest { .. } | Error::Io { .. } => "io",
            Error::Tls(_) => "tls",
            Error::Kube(_) => "kube",
            Error::Config(_) => "config",
            Error::InvalidNamespace(_) => "invalid_namespace",
        }
    }
}

/// One line for a client error: `403 Forbidden: <message>` for API answers.
fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} {}: {}", status.code, status.reason, status.message),
        other => other.to_string(),
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
