//! Annotation names (contract §2), built once from `--annotation-prefix`, and the values
//! a workload's pod template should carry.

use std::{collections::BTreeMap, fmt, str::FromStr};

use crate::{
    digest::{self, Sources},
    name::{self, Name},
};

/// Default for `--annotation-prefix`.
pub const DEFAULT_PREFIX: &str = "confighash.io";

/// An annotation prefix the API server accepts: a DNS-1123 subdomain of at most 253
/// characters (contract §12). Any other prefix would make every stamped object invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix(Name);

impl Prefix {
    /// The prefix, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl FromStr for Prefix {
    type Err = String;

    /// Accepts `example.com` and, as before, `example.com/`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        Name::new(trimmed).map(Prefix).map_err(|_| {
            format!(
                "{} is not a DNS-1123 subdomain of at most 253 characters (lower-case letters, digits, \
                 '-' and '.', each dot-separated part starting and ending with a letter or digit), \
                 such as {DEFAULT_PREFIX}",
                name::quoted(s)
            )
        })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The full annotation keys for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationKeys {
    /// `<prefix>/config-hash` on the pod template.
    pub config_hash: String,
    /// `<prefix>/sources` on the pod template.
    pub sources: String,
    /// `<prefix>/skip` on the workload.
    pub skip: String,
    /// `<prefix>/extra-configmaps` on the workload.
    pub extra_configmaps: String,
    /// `<prefix>/exclude-configmaps` on the workload.
    pub exclude_configmaps: String,
    /// `<prefix>/extra-secrets` on the workload.
    pub extra_secrets: String,
    /// `<prefix>/exclude-secrets` on the workload.
    pub exclude_secrets: String,
    /// `<prefix>/rollout-window` on the workload or its namespace (contract §11).
    pub rollout_window: String,
    /// `<prefix>/rollouts` (`paused`) on the workload or its namespace (contract §11).
    pub rollouts: String,
}

impl AnnotationKeys {
    /// Keys under `prefix`, e.g. `confighash.io`.
    pub fn new(prefix: &str) -> Self {
        let key = |name: &str| format!("{prefix}/{name}");
        Self {
            config_hash: key("config-hash"),
            sources: key("sources"),
            skip: key("skip"),
            extra_configmaps: key("extra-configmaps"),
            exclude_configmaps: key("exclude-configmaps"),
            extra_secrets: key("extra-secrets"),
            exclude_secrets: key("exclude-secrets"),
            rollout_window: key("rollout-window"),
            rollouts: key("rollouts"),
        }
    }

    /// The annotation prefix with its slash (`confighash.io/`): every key above starts with it.
    pub fn prefix(&self) -> &str {
        self.config_hash.strip_suffix("config-hash").unwrap_or_default()
    }

    /// The keys this product owns on the pod template.
    pub fn owned(&self) -> [&str; 2] {
        [&self.config_hash, &self.sources]
    }

    /// True when the workload's annotations or labels opt it out.
    pub fn skips(
        &self,
        annotations: Option<&BTreeMap<String, String>>,
        labels: Option<&BTreeMap<String, String>>,
    ) -> bool {
        let is_true = |m: Option<&BTreeMap<String, String>>| {
            m.and_then(|m| m.get(&self.skip)).is_some_and(|v| v == "true")
        };
        is_true(annotations) || is_true(labels)
    }
}

impl Default for AnnotationKeys {
    fn default() -> Self {
        Self::new(DEFAULT_PREFIX)
    }
}

/// The pod-template annotations for these sources: both keys, or none when nothing is
/// referenced (contract §2: no references, no annotations).
pub fn desired(keys: &AnnotationKeys, sources: &Sources) -> BTreeMap<String, String> {
    if sources.is_empty() {
        return BTreeMap::new();
    }
    BTreeMap::from([
        (keys.config_hash.clone(), digest::combined(sources)),
        (keys.sources.clone(), digest::sources_annotation(sources)),
    ])
}
