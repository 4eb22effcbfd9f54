//! Where ConfigMaps come from: the cluster (a consistent read per admission) or a
//! directory of YAML files for use without a cluster. A closed set, so an enum.

mod cluster;
pub mod dir;

use std::collections::BTreeMap;

pub use cluster::ClusterSource;
pub use dir::DirSource;
use futures::future::try_join_all;
use k8s_openapi::api::core::v1::ConfigMap;

use crate::Result;

/// ConfigMaps by name; `None` for one that does not exist.
pub type Lookups = BTreeMap<String, Option<ConfigMap>>;

/// A source of ConfigMaps.
#[derive(Clone)]
pub enum ConfigMapSource {
    /// The Kubernetes API.
    Cluster(ClusterSource),
    /// YAML files loaded from a directory.
    Dir(DirSource),
}

impl ConfigMapSource {
    /// One ConfigMap, `None` if it does not exist.
    pub async fn get(&self, namespace: &str, name: &str) -> Result<Option<ConfigMap>> {
        match self {
            ConfigMapSource::Cluster(c) => c.get(namespace, name).await,
            ConfigMapSource::Dir(d) => Ok(d.get(namespace, name)),
        }
    }

    /// All of `names`, read concurrently; fails if any read fails.
    pub async fn get_all<'a>(
        &self,
        namespace: &str,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Lookups> {
        let reads = names.into_iter().map(|name| async move {
            let cm = self.get(namespace, name).await?;
            Ok::<_, crate::Error>((name.to_owned(), cm))
        });
        Ok(try_join_all(reads).await?.into_iter().collect())
    }

    /// Succeeds once the source answers at all (readiness).
    pub async fn probe(&self) -> Result<()> {
        match self {
            ConfigMapSource::Cluster(c) => c.probe().await,
            ConfigMapSource::Dir(_) => Ok(()),
        }
    }
}
