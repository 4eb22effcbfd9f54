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
    /// A review's pod template holds more reference sites than are kept.
    #[error("more than {max} ConfigMap and Secret reference sites in the pod template; none were read")]
    TooManySites {
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
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The serving certificate could not be loaded at start-up.
    #[error("loading the TLS certificate")]
    Certificate(#[source] Box<Error>),
    /// The cluster client could not be configured.
    #[error("kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    /// A flag, or a combination of flags, that cannot work; refused before anything
    /// touches the cluster.
    #[error("{message}")]
    Flag {
        /// The flag at fault, as typed (`--lookup-timeout`).
        flag: &'static str,
        /// What is wrong and how to fix it, naming the flag.
        message: String,
    },
    /// The Secret hash key could not be read, created or used.
    #[error(transparent)]
    HashKey(#[from] crate::hash_key::KeyError),
    /// The AdmissionReview given to `review` is not one confighash can answer.
    #[error("{0}")]
    InvalidReview(String),
    /// An answer could not be encoded as JSON.
    #[error("{0}")]
    Encode(String),
    /// Something that cannot fail did: a closed internal channel or the like.
    #[error("{0}")]
    Internal(String),
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
            Error::TooManySources { .. } | Error::TooManySites { .. } => "too_many_sources",
            Error::Read { .. } | Error::Write { .. } | Error::Manifest { .. } | Error::Io { .. } => "io",
            Error::Tls(_) | Error::Certificate(_) => "tls",
            Error::Kube(_) => "kube",
            // One label for every failure of the configuration, as before they had variants.
            Error::Flag { .. }
            | Error::HashKey(_)
            | Error::InvalidReview(_)
            | Error::Encode(_)
            | Error::Internal(_) => "config",
            Error::InvalidNamespace(_) => "invalid_namespace",
        }
    }
}

impl Error {
    /// A flag error; `message` names `flag` and says how to fix it.
    pub fn flag(flag: &'static str, message: impl Into<String>) -> Self {
        Error::Flag {
            flag,
            message: message.into(),
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
