//! The command line (clap derive): `serve`, `review`, `hash` and `plan`.

mod limits;
mod watch;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

pub use self::{
    limits::LimitArgs,
    watch::{PlanArgs, WatchArgs},
};
use crate::{
    Error, Result,
    admission::{
        DEFAULT_MAX_SOURCES, LookupErrorPolicy, Options,
        kinds::{WorkloadKind, WorkloadKinds},
    },
    annotations::{AnnotationKeys, DEFAULT_PREFIX, Prefix},
    hash_key::{HashKey, SecretRef},
    source::{ClusterSource, DirSource, Source},
    telemetry::LogFormat,
};

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
    Review(ReviewArgs),
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
    pub admission: AdmissionArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
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
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
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

/// Flags of the admission decision, shared by every subcommand.
#[derive(Debug, Args)]
pub struct AdmissionArgs {
    /// Prefix of every annotation confighash reads or writes (a DNS-1123 subdomain).
    #[arg(long, default_value = DEFAULT_PREFIX)]
    pub annotation_prefix: Prefix,
    /// Most distinct ConfigMaps and Secrets one workload may reference; a workload over it
    /// is admitted unchanged with a warning, and nothing is read for it.
    #[arg(long, default_value_t = DEFAULT_MAX_SOURCES, value_parser = at_least_one)]
    pub max_sources: usize,
    /// Budget for all ConfigMap reads of one admission; keep it below the webhook timeout.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub lookup_timeout: Duration,
    /// When ConfigMaps cannot be read in time: allow unchanged (with a warning) or deny.
    #[arg(long, value_enum, default_value_t)]
    pub on_lookup_error: LookupErrorPolicy,
    /// Also hash the Secrets the pod template consumes (needs --secret-hash-key-file and
    /// RBAC to read Secrets).
    #[arg(long)]
    pub secrets: bool,
    /// HMAC key of Secret digests: a file of at least 32 bytes, re-read when it changes.
    #[arg(long, value_name = "PATH")]
    pub secret_hash_key_file: Option<PathBuf>,
    /// Also stamp this kind of workload with a pod template (repeatable):
    /// GROUP/VERSION/KIND[=PLURAL][:POINTER], e.g. argoproj.io/v1alpha1/Rollout. PLURAL
    /// defaults to the lower-cased kind plus "s", POINTER to /spec/template.
    #[arg(long = "workload-kind", value_name = "GROUP/VERSION/KIND[=PLURAL][:POINTER]")]
    pub workload_kinds: Vec<WorkloadKind>,
}

impl AdmissionArgs {
    /// The key file to use: `None` without `--secrets`; an error when the combination is wrong.
    pub fn secret_hash_key_file(&self) -> Result<Option<&PathBuf>> {
        match (self.secrets, &self.secret_hash_key_file) {
            (true, Some(path)) => Ok(Some(path)),
            (true, None) => Err(Error::flag(
                "--secrets",
                "--secrets needs --secret-hash-key-file: a file of at least 32 random bytes, e.g. from \
                 `head -c 48 /dev/urandom | base64 > hash.key` (the Helm chart creates and keeps one)",
            )),
            (false, Some(_)) => Err(Error::flag(
                "--secret-hash-key-file",
                "--secret-hash-key-file is used only with --secrets",
            )),
            (false, None) => Ok(None),
        }
    }

    /// The options for the offline commands: the key, if any, is read from its file.
    pub fn options(&self) -> Result<Options> {
        let key = self
            .secret_hash_key_file()?
            .map(|path| HashKey::load(path))
            .transpose()?;
        self.options_with(key)
    }

    /// The admission options these flags give, with the Secret hash key already loaded.
    pub fn options_with(&self, secrets: Option<HashKey>) -> Result<Options> {
        if self.lookup_timeout.is_zero() {
            return Err(Error::flag(
                "--lookup-timeout",
                "--lookup-timeout must be greater than zero",
            ));
        }
        Ok(Options {
            keys: AnnotationKeys::new(self.annotation_prefix.as_str()),
            lookup_timeout: self.lookup_timeout,
            on_lookup_error: self.on_lookup_error,
            secrets,
            max_sources: self.max_sources,
            kinds: WorkloadKinds::new(self.workload_kinds.iter().copied())
                .map_err(|clash| Error::flag("--workload-kind", clash))?,
        })
    }
}

/// A count of at least 1.
fn at_least_one(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of at least 1")),
    }
}

/// Where ConfigMaps and Secrets are read from.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Read ConfigMaps (and, with --secrets, Secrets) from the YAML files in DIR instead of the cluster.
    #[arg(long, value_name = "DIR")]
    pub configmaps_from: Option<PathBuf>,
}

impl SourceArgs {
    /// The directory source, or a cluster client from the usual kube configuration
    /// (in-cluster service account or KUBECONFIG).
    pub async fn source(&self) -> Result<Source> {
        Ok(match &self.configmaps_from {
            Some(dir) => Source::Dir(DirSource::load(dir)?),
            None => Source::Cluster(ClusterSource::new(kube::Client::try_default().await?)),
        })
    }
}

/// `confighash review`
#[derive(Debug, Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub admission: AdmissionArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
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
    pub admission: AdmissionArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(args: &[&str]) -> Result<TlsSource> {
        let mut argv = vec!["confighash", "serve"];
        argv.extend(args);
        let Command::Serve(serve) = Cli::try_parse_from(argv).expect("parses").command else {
            unreachable!("serve parses as serve")
        };
        serve.tls.source()
    }

    #[test]
    fn tls_flags_must_be_complete_and_not_mixed_with_dev() {
        assert!(matches!(tls(&["--dev"]), Ok(TlsSource::Dev(_))));
        assert_eq!(
            tls(&["--tls-cert", "c", "--tls-key", "k"]).ok(),
            Some(TlsSource::Files {
                cert: "c".into(),
                key: "k".into()
            })
        );
        for bad in [&["--tls-cert", "c"][..], &["--dev", "--tls-key", "k"], &[]] {
            let message = tls(bad).expect_err("rejected").to_string();
            assert!(message.contains("--tls-"), "{message}");
        }
    }

    #[test]
    fn serve_defaults_match_the_contract() {
        let cli = Cli::try_parse_from(["confighash", "serve", "--dev"]).expect("parses");
        let Command::Serve(serve) = cli.command else {
            unreachable!("serve parses as serve")
        };
        assert_eq!(serve.listen.to_string(), "[::]:8443");
        assert_eq!(serve.metrics_listen.to_string(), "[::]:9090");
        assert_eq!(serve.max_body_bytes, 8 << 20);
        let options = serve.admission.options().expect("valid");
        assert_eq!(options.lookup_timeout, Duration::from_secs(2));
        assert_eq!(options.on_lookup_error, LookupErrorPolicy::Allow);
        assert_eq!(options.keys.config_hash, "confighash.io/config-hash");
        assert_eq!(options.max_sources, 256);
    }

    #[rstest::rstest]
    #[case::slash_inside("a/b")]
    #[case::underscore("example_corp")]
    #[case::double_dot("a..b")]
    #[case::space("my corp")]
    #[case::leading_dash("-team.example.com")]
    #[case::too_long(&"a".repeat(254))]
    #[case::empty("")]
    fn an_invalid_prefix_is_refused_while_parsing_naming_the_flag(#[case] prefix: &str) {
        for command in ["serve", "review", "hash", "plan"] {
            let flag = format!("--annotation-prefix={prefix}");
            let message = Cli::try_parse_from(["confighash", command, &flag])
                .expect_err("refused")
                .to_string();
            assert!(
                message.contains("--annotation-prefix") && message.contains("DNS-1123"),
                "{command}: {message}"
            );
        }
    }

    #[test]
    fn a_flag_given_twice_takes_its_last_value() {
        let cli = Cli::try_parse_from([
            "confighash",
            "serve",
            "--dev",
            "--listen=0.0.0.0:8443",
            "--lookup-timeout=2s",
            "--listen=[::1]:10250",
            "--lookup-timeout=3s",
            "--dev",
        ])
        .expect("a repeated flag parses");
        let Command::Serve(serve) = cli.command else {
            unreachable!("serve parses as serve")
        };
        assert_eq!(serve.listen.to_string(), "[::1]:10250");
        assert_eq!(
            serve.admission.options().expect("valid").lookup_timeout,
            Duration::from_secs(3)
        );
    }

    #[test]
    fn a_valid_prefix_and_max_sources_reach_the_options() {
        let cli = Cli::try_parse_from([
            "confighash",
            "review",
            "--annotation-prefix",
            "team.example.com/",
            "--max-sources",
            "3",
        ])
        .expect("parses");
        let Command::Review(review) = cli.command else {
            unreachable!("review parses as review")
        };
        let options = review.admission.options().expect("valid");
        assert_eq!(options.keys.config_hash, "team.example.com/config-hash");
        assert_eq!(options.max_sources, 3);
        assert!(Cli::try_parse_from(["confighash", "review", "--max-sources", "0"]).is_err());
    }
}

#[cfg(test)]
mod secret_flag_tests {
    use super::*;

    fn admission(args: &[&str]) -> AdmissionArgs {
        let mut argv = vec!["confighash", "review"];
        argv.extend(args);
        let Command::Review(review) = Cli::try_parse_from(argv).expect("parses").command else {
            unreachable!("review parses as review")
        };
        review.admission
    }

    #[test]
    fn secrets_without_a_key_file_refuse_with_instructions() {
        let message = admission(&["--secrets"])
            .options()
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("--secret-hash-key-file") && message.contains("/dev/urandom"),
            "{message}"
        );
        let message = admission(&["--secret-hash-key-file", "k"])
            .options()
            .expect_err("refused")
            .to_string();
        assert!(message.contains("only with --secrets"), "{message}");
        assert!(admission(&[]).options().expect("no secrets").secrets.is_none());
    }
}
