//! Flags of the admission decision and of where ConfigMaps and Secrets are read from,
//! shared by every subcommand.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use crate::{
    Error, Result,
    admission::{
        DEFAULT_MAX_SOURCES, LookupErrorPolicy, Options,
        kinds::{WorkloadKind, WorkloadKinds},
    },
    annotations::{AnnotationKeys, DEFAULT_PREFIX, Prefix},
    hash_key::HashKey,
    source::{ClusterSource, DirSource, Source},
};

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
        Ok(match self.directory()? {
            Some(dir) => Source::Dir(dir),
            None => Source::Cluster(ClusterSource::new(kube::Client::try_default().await?)),
        })
    }

    /// The objects of `--configmaps-from`, if given; an error names the flag.
    pub fn directory(&self) -> Result<Option<DirSource>> {
        let Some(dir) = &self.configmaps_from else {
            return Ok(None);
        };
        let loaded = DirSource::load(dir)
            .map_err(|e| Error::flag("--configmaps-from", format!("--configmaps-from: {e}")))?;
        Ok(Some(loaded))
    }
}

/// The flags of every command that answers reviews: the decision and its sources.
#[derive(Debug, Args)]
pub struct DecisionArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub admission: AdmissionArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
}
