//! Where ConfigMaps and Secrets come from: the cluster (a consistent read per admission) or
//! a directory of YAML files for use without a cluster. A closed set, so an enum.

mod cluster;
pub mod dir;

use std::collections::BTreeMap;

pub use cluster::ClusterSource;
pub use dir::DirSource;
use futures::future::try_join_all;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use crate::{Result, digest::SourceKind, references::SourceId};

/// A ConfigMap or a Secret, as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A ConfigMap.
    ConfigMap(ConfigMap),
    /// A Secret.
    Secret(Secret),
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
    /// One object, `None` if it does not exist.
    pub async fn get(&self, kind: SourceKind, namespace: &str, name: &str) -> Result<Option<Object>> {
        match self {
            Source::Cluster(c) => c.get(kind, namespace, name).await,
            Source::Dir(d) => Ok(d.get(kind, namespace, name)),
        }
    }

    /// All of `ids`, read concurrently; fails if any read fails.
    pub async fn get_all<'a>(
        &self,
        namespace: &str,
        ids: impl IntoIterator<Item = &'a SourceId>,
    ) -> Result<Lookups> {
        let reads = ids.into_iter().map(|(kind, name)| async move {
            let object = self.get(*kind, namespace, name).await?;
            Ok::<_, crate::Error>(((*kind, name.clone()), object))
        });
        Ok(try_join_all(reads).await?.into_iter().collect())
    }

    /// Succeeds once the source answers at all (readiness).
    pub async fn probe(&self) -> Result<()> {
        match self {
            Source::Cluster(c) => c.probe().await,
            Source::Dir(_) => Ok(()),
        }
    }
}
