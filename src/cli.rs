//! The command line (clap derive): `serve`, `review`, `hash` and `plan`.

mod admission;
mod limits;
mod plan;
mod tls;
mod watch;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

pub use self::{
    admission::{AdmissionArgs, DecisionArgs, SourceArgs},
    limits::LimitArgs,
    plan::PlanArgs,
    tls::{TlsArgs, TlsSource},
    watch::WatchArgs,
};
use crate::{hash_key::SecretRef, telemetry::LogFormat};

/// Stamps Deployments, StatefulSets and DaemonSets with a digest of the ConfigMaps they
/// consume, so that a config change rolls the pods.
///
/// A flag given twice takes its last value (`args_override_self`), so that extra arguments
/// appended by a deployment (the chart's `server.extraArgs`) override the ones it renders.
#[derive(Debug, Parser)]
#[command(name = "confighash", version, args_override_self = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the admission webhook over HTTPS.
    Serve(Box<ServeArgs>),
    /// Answer one AdmissionReview from stdin on stdout.
    Review(DecisionArgs),
    /// Print the annotations the workloads in a file would get.
    Hash(HashArgs),
    /// List the workloads in a namespace whose config-hash is out of date and would roll
    /// (exit code 2 when any would, 0 when none would).
    Plan(PlanArgs),
}

/// `confighash serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTPS webhook listener. `[::]` accepts IPv4 and IPv6 (falls back to
    /// 0.0.0.0 where the node has no IPv6).
    #[arg(long, default_value = "[::]:8443")]
    pub listen: SocketAddr,
    /// Address of the plain-HTTP listener for /metrics, /healthz and /readyz (`[::]` as
    /// for --listen).
    #[arg(long, default_value = "[::]:9090")]
    pub metrics_listen: SocketAddr,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub tls: TlsArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub decision: DecisionArgs,
    /// With --secrets: when the key file does not exist yet, read the key from this Secret
    /// (NAMESPACE/NAME), creating it with a random key if it is missing too.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub secret_hash_key_secret: Option<SecretRef>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub watch: WatchArgs,
    /// Largest request body accepted; larger ones get HTTP 413.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub limits: LimitArgs,
    /// After SIGTERM, how long in-flight requests may take before connections are closed.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
    /// Log format.
    #[arg(long, value_enum, default_value_t)]
    pub log_format: LogFormat,
}

/// `confighash hash`
#[derive(Debug, Args)]
pub struct HashArgs {
    /// YAML or JSON file with workloads, or lists of them as `kubectl get -o yaml` prints;
    /// `-` reads stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// Namespace for workloads that do not name one.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub decision: DecisionArgs,
}

/// Parsing for tests: `confighash serve ARGS` and `confighash review ARGS`.
#[cfg(test)]
impl Cli {
    pub(crate) fn serve_args(args: &[&str]) -> ServeArgs {
        match Self::parse_test(["serve"].iter().chain(args)) {
            Command::Serve(serve) => *serve,
            _ => unreachable!("serve parses as serve"),
        }
    }

    pub(crate) fn review_args(args: &[&str]) -> DecisionArgs {
        match Self::parse_test(["review"].iter().chain(args)) {
            Command::Review(review) => review,
            _ => unreachable!("review parses as review"),
        }
    }

    fn parse_test<'a>(args: impl Iterator<Item = &'a &'a str>) -> Command {
        let argv = std::iter::once(&"confighash").chain(args);
        Self::try_parse_from(argv).expect("parses").command
    }
}

/// A duration greater than zero (humantime syntax: `10s`, `2m`): an interval of zero would
/// spin a timer or close every connection before its first byte.
fn positive_duration(s: &str) -> std::result::Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be greater than zero".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
