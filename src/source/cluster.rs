//! ConfigMaps and Secrets read from the API server with a GET per admission. No watch
//! cache: a ConfigMap applied a moment before its workload must be seen (contract §1).

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use serde::de::DeserializeOwned;

use super::Object;
use crate::{Error, Result, digest::SourceKind};

/// Reads through a kube client.
#[derive(Clone)]
pub struct ClusterSource {
    client: Client,
}

// A name no one creates; a 404 for it proves the API server answers and RBAC allows `get`.
const PROBE_NAME: &str = "confighash-readiness-probe";

impl ClusterSource {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A consistent GET (no `resourceVersion`), `None` on 404.
    pub async fn get(&self, kind: SourceKind, namespace: &str, name: &str) -> Result<Option<Object>> {
        match kind {
            SourceKind::ConfigMap => Ok(self
                .read::<ConfigMap>(kind, namespace, name)
                .await?
                .map(Object::ConfigMap)),
            SourceKind::Secret => Ok(self
                .read::<Secret>(kind, namespace, name)
                .await?
                .map(Object::Secret)),
        }
    }

    async fn read<K>(&self, kind: SourceKind, namespace: &str, name: &str) -> Result<Option<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name).await.map_err(|source| Error::Lookup {
            kind: kind.kind(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source: Box::new(source),
        })
    }

    /// Reads a ConfigMap in the client's default namespace.
    pub async fn probe(&self) -> Result<()> {
        let namespace = self.client.default_namespace();
        self.get(SourceKind::ConfigMap, namespace, PROBE_NAME)
            .await
            .map(drop)
    }
}
