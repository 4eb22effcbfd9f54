//! ConfigMaps and Secrets read from the API server with a GET per admission. No watch
//! cache: a ConfigMap applied a moment before its workload must be seen (contract §1).
//! Reads of all admissions together are bounded, so the connections to the API server are
//! too (contract §12).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use super::Object;
use crate::{Error, Result, digest::SourceKind, name::Name};

/// Reads through a kube client.
#[derive(Clone)]
pub struct ClusterSource {
    client: Client,
    reads: Arc<Semaphore>,
}

// A name no one creates; a 404 for it proves the API server answers and RBAC allows `get`.
const PROBE_NAME: &str = "confighash-readiness-probe";

impl ClusterSource {
    /// API reads in flight at once across every admission of this process. The client
    /// opens at most one connection per request in flight, so this bounds connections too.
    pub const MAX_CONCURRENT_READS: usize = 64;

    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            reads: Arc::new(Semaphore::new(Self::MAX_CONCURRENT_READS)),
        }
    }

    /// A consistent GET (no `resourceVersion`), `None` on 404.
    pub async fn get(&self, kind: SourceKind, namespace: &str, name: &Name) -> Result<Option<Object>> {
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

    async fn read<K>(&self, kind: SourceKind, namespace: &str, name: &Name) -> Result<Option<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        // Callers check namespaces first; this guard keeps any path from building a URL
        // out of one that could climb out of the namespace or add a query.
        let namespace = crate::name::check_namespace(namespace)?;
        // The semaphore is never closed, so acquiring fails only if it were.
        let _permit = self
            .reads
            .acquire()
            .await
            .map_err(|_| Error::Internal("read limiter closed".into()))?;
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name).await.map_err(|source| Error::Lookup {
            kind: kind.kind(),
            namespace: namespace.to_owned(),
            name: name.to_string(),
            source: Box::new(source),
        })
    }

    /// Reads a ConfigMap in the client's default namespace.
    pub async fn probe(&self) -> Result<()> {
        let namespace = self.client.default_namespace();
        let name = Name::new(PROBE_NAME).map_err(|e| Error::Internal(e.to_string()))?;
        self.get(SourceKind::ConfigMap, namespace, &name).await.map(drop)
    }
}
