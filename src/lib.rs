//! confighash: a mutating admission webhook that stamps workloads with a digest of the
//! ConfigMaps their pods consume, so that a config change rolls the pods.
#![deny(missing_docs)]

/// The admission decision shared by the server and the offline commands.
pub mod admission;
/// Annotation names and the values the pod template should carry.
pub mod annotations;
/// Command-line flags.
pub mod cli;
/// What each subcommand does, from parsed flags to an exit code.
pub mod commands;
/// The byte-exact content digest.
pub mod digest;
/// The crate's error type.
pub mod error;
/// The HMAC key of Secret digests.
pub mod hash_key;
/// Binding the listeners: `[::]` for IPv4 and IPv6 at once.
pub mod listen;
/// Prometheus metrics.
pub mod metrics;
/// Object names that can exist.
pub mod name;
/// The `review` and `hash` subcommands.
pub mod offline;
/// The `plan` subcommand: what the watcher would roll.
pub mod plan;
/// ConfigMap references of a pod template.
pub mod references;
/// Re-read a file, keep the last good value: the TLS pair and the hash key.
pub mod reload;
/// `serve` wired once: flags checked, shared things built once, tasks stopped together.
pub mod serve;
/// The HTTPS webhook and ops listeners.
pub mod server;
/// Where ConfigMaps and Secrets are read from.
pub mod source;
/// Logging.
pub mod telemetry;
/// TLS configuration, reload and development certificates.
pub mod tls;
/// The watcher that rolls workloads when only a ConfigMap changes.
pub mod watch;

pub use error::{Error, Result};
