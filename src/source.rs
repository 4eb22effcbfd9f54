//! Where ConfigMaps and Secrets come from: the cluster (a consistent read per admission) or
//! a directory of YAML files for use without a cluster. A closed set, so an enum.

mod cluster;
pub mod digest_cache;
pub mod dir;

use std::collections::BTreeMap;

pub use cluster::ClusterSource;
pub use dir::DirSource;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use crate::{
    Result,
    digest::{self, SourceDigest, SourceKind, Sources},
    hash_key::{HashKey, KeyId},
    name::Name,
    references::{Keys, References, SourceId},
};

/// Reads of one admission in flight at once: enough to overlap round trips, few enough
/// that one workload cannot open a connection per source.
pub const READS_PER_ADMISSION: usize = 16;

/// A ConfigMap or a Secret, as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A ConfigMap.
    ConfigMap(ConfigMap),
    /// A Secret.
    Secret(Secret),
}

impl Object {
    /// Its source digest under `keys` (contract §4.2, §4.4): SHA-256 for a ConfigMap,
    /// HMAC-SHA256 under `secret_key` for a Secret, and `None` for a Secret without a key
    /// (Secrets are then never referenced). The one place an object becomes a digest, for
    /// the webhook, the CLI and the watcher.
    pub fn digest(&self, keys: &Keys, secret_key: Option<&HashKey>) -> Option<SourceDigest> {
        match self {
            Object::ConfigMap(cm) => Some(digest::configmap(cm, keys)),
            Object::Secret(secret) => Some(digest::secret(secret, keys, secret_key?)),
        }
    }

    /// Its metadata.
    pub fn metadata(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        match self {
            Object::ConfigMap(cm) => &cm.metadata,
            Object::Secret(secret) => &secret.metadata,
        }
    }
}

/// Sources by kind and name; `None` for one that does not exist.
pub type Lookups = BTreeMap<SourceId, Option<Object>>;

/// A source of ConfigMaps and Secrets.
#[derive(Clone)]
pub enum Source {
    /// The Kubernetes API.
    Cluster(ClusterSource),
    /// YAML files loaded from a directory.
    Dir(DirSource),
}

impl Source {
    /// One whole object, `None` if it does not exist (a copy of a directory's object:
    /// admissions go through [`Source::digests`], which copies nothing).
    pub async fn get(&self, kind: SourceKind, namespace: &str, name: &Name) -> Result<Option<Object>> {
        match self {
            Source::Cluster(c) => c.get(kind, namespace, name).await,
            Source::Dir(d) => Ok(d.get(kind, namespace, name).map(|o| Object::clone(&o))),
        }
    }

    /// The source digest of each of `references` in `namespace`, under its merged key
    /// selection: `None` for one that does not exist. Secrets take `secret_key`, pinned
    /// once so that a key reload cannot split one answer across two keys; without a key a
    /// Secret is neither read nor listed (`find` leaves them out then anyway). At most
    /// [`READS_PER_ADMISSION`] reads at a time; fails if any read fails.
    pub async fn digests(
        &self,
        namespace: &str,
        references: &References,
        secret_key: Option<&HashKey>,
    ) -> Result<Sources> {
        let pinned = secret_key.map(HashKey::pinned);
        let pinned = pinned.as_ref();
        // Futures of a named async fn, made up front (they start only when polled): a
        // closure in the stream would make the whole future too general to prove `Send`.
        let reads: Vec<_> = references
            .iter()
            .filter(|((kind, _), _)| *kind == SourceKind::ConfigMap || pinned.is_some())
            .map(|(id, selection)| self.digest(namespace, id, &selection.keys, pinned))
            .collect();
        stream::iter(reads)
            .buffer_unordered(READS_PER_ADMISSION)
            .try_collect()
            .await
    }

    async fn digest(
        &self,
        namespace: &str,
        id: &SourceId,
        keys: &Keys,
        pinned: Option<&(KeyId, HashKey)>,
    ) -> Result<(SourceId, Option<SourceDigest>)> {
        let (kind, name) = id;
        let digest = match self {
            Source::Cluster(c) => c.digest(*kind, namespace, name, keys, pinned).await?,
            Source::Dir(d) => d.digest(*kind, namespace, name, keys, pinned),
        };
        Ok((id.clone(), digest))
    }

    /// All of `ids`, whole, at most [`READS_PER_ADMISSION`] at a time; fails if any read fails.
    pub async fn get_all<'a>(
        &self,
        namespace: &str,
        ids: impl IntoIterator<Item = &'a SourceId>,
    ) -> Result<Lookups> {
        let ids: Vec<SourceId> = ids.into_iter().cloned().collect();
        stream::iter(ids)
            .map(|(kind, name)| async move {
                let object = self.get(kind, namespace, &name).await?;
                Ok::<_, crate::Error>(((kind, name), object))
            })
            .buffer_unordered(READS_PER_ADMISSION)
            .try_collect()
            .await
    }

    /// Succeeds once the source answers at all (readiness).
    pub async fn probe(&self) -> Result<()> {
        match self {
            Source::Cluster(c) => c.probe().await,
            Source::Dir(_) => Ok(()),
        }
    }
}
