//! ConfigMaps read from the API server with a GET per admission. No watch cache: a
//! ConfigMap applied a moment before its workload must be seen (contract §1).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};

use crate::{Error, Result};

/// Reads ConfigMaps through a kube client.
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
    pub async fn get(&self, namespace: &str, name: &str) -> Result<Option<ConfigMap>> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name).await.map_err(|source| Error::Lookup {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source: Box::new(source),
        })
    }

    /// Reads a ConfigMap in the client's default namespace.
    pub async fn probe(&self) -> Result<()> {
        self.get(self.client.default_namespace(), PROBE_NAME)
            .await
            .map(drop)
    }
}
