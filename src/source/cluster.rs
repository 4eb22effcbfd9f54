//! ConfigMaps and Secrets read from the API server per admission. No watch cache: a
//! ConfigMap applied a moment before its workload must be seen (contract §1). Every read is
//! a consistent GET (no `resourceVersion`); for a source whose digest is cached, it is a
//! metadata-only GET, and the full object is read and hashed only when its uid or
//! resourceVersion moved on. Reads of all admissions together are bounded, so the
//! connections to the API server are too (contract §12).

use std::sync::Arc;

use k8s_openapi::{
    NamespaceResourceScope,
    api::core::v1::{ConfigMap, Secret},
};
use kube::{Api, Client};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{
    Object,
    digest_cache::{DigestCache, ObjectKey, Under, Version},
};
use crate::{
    Error, Result,
    digest::{SourceDigest, SourceKind},
    hash_key::{HashKey, KeyId},
    name::Name,
    references::Keys,
};

/// Reads through a kube client.
#[derive(Clone)]
pub struct ClusterSource {
    client: Client,
    reads: Arc<Semaphore>,
    cache: Arc<DigestCache>,
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
            cache: Arc::new(DigestCache::default()),
        }
    }

    /// The digest cache, for its metrics.
    pub fn digest_cache(&self) -> &DigestCache {
        &self.cache
    }

    /// A consistent GET (no `resourceVersion`) of the whole object, `None` on 404.
    pub async fn get(&self, kind: SourceKind, namespace: &str, name: &Name) -> Result<Option<Object>> {
        let _permit = self.permit().await?;
        self.full(kind, namespace, name).await
    }

    /// The source digest of `name` under `keys` (and for a Secret the pinned HMAC key),
    /// `None` when it does not exist or is a Secret without a key. When some version of the
    /// object is cached, a consistent metadata-only GET says whether it is still that one:
    /// then the digest is served without a full read, parsing or hashing. Otherwise (never
    /// seen, changed, recreated, another selection or key) one full GET, whose digest is
    /// cached under that object's own uid and resourceVersion.
    pub async fn digest(
        &self,
        kind: SourceKind,
        namespace: &str,
        name: &Name,
        keys: &Keys,
        secret_key: Option<&(KeyId, HashKey)>,
    ) -> Result<Option<SourceDigest>> {
        let hmac_key = match kind {
            SourceKind::ConfigMap => None,
            SourceKind::Secret => match secret_key {
                Some((id, _)) => Some(*id),
                None => return Ok(None),
            },
        };
        let under = Under::new(keys, hmac_key);
        let key = ObjectKey {
            kind,
            namespace: namespace.to_owned(),
            name: name.clone(),
        };
        // One permit for both reads: they are sequential, so one request in flight.
        let _permit = self.permit().await?;
        // An object never seen cannot hit: read it whole at once, one round trip as before.
        if self.cache.holds(&key) {
            let Some(version) = self.metadata(kind, namespace, name).await? else {
                self.cache.forget(&key);
                return Ok(None);
            };
            if let Some(digest) = version.and_then(|v| self.cache.get(&key, &v, &under)) {
                self.cache.count(true);
                return Ok(Some(digest));
            }
        }
        self.cache.count(false);
        let Some(object) = self.full(kind, namespace, name).await? else {
            self.cache.forget(&key);
            return Ok(None);
        };
        let digest = object.digest(keys, secret_key.map(|(_, key)| key));
        if let (Some(digest), Some(version)) = (digest, Version::of(object.metadata())) {
            self.cache.insert(&key, version, under, digest);
        }
        Ok(digest)
    }

    async fn permit(&self) -> Result<SemaphorePermit<'_>> {
        // The semaphore is never closed, so acquiring fails only if it were.
        self.reads
            .acquire()
            .await
            .map_err(|_| Error::Internal("read limiter closed".into()))
    }

    async fn full(&self, kind: SourceKind, namespace: &str, name: &Name) -> Result<Option<Object>> {
        match kind {
            SourceKind::ConfigMap => self
                .api::<ConfigMap>(namespace)?
                .get_opt(name)
                .await
                .map(|o| o.map(Object::ConfigMap)),
            SourceKind::Secret => self
                .api::<Secret>(namespace)?
                .get_opt(name)
                .await
                .map(|o| o.map(Object::Secret)),
        }
        .map_err(|source| lookup_error(kind, namespace, name, source))
    }

    /// The version a consistent metadata-only GET names: `Some(None)` when the answer lacks
    /// a uid or resourceVersion (then nothing cached can be trusted), `None` on 404.
    async fn metadata(
        &self,
        kind: SourceKind,
        namespace: &str,
        name: &Name,
    ) -> Result<Option<Option<Version>>> {
        let partial = match kind {
            SourceKind::ConfigMap => self
                .api::<ConfigMap>(namespace)?
                .get_metadata_opt(name)
                .await
                .map(|o| o.map(|p| p.metadata)),
            SourceKind::Secret => self
                .api::<Secret>(namespace)?
                .get_metadata_opt(name)
                .await
                .map(|o| o.map(|p| p.metadata)),
        }
        .map_err(|source| lookup_error(kind, namespace, name, source))?;
        Ok(partial.map(|meta| Version::of(&meta)))
    }

    fn api<K>(&self, namespace: &str) -> Result<Api<K>>
    where
        K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        // Callers check namespaces first; this guard keeps any path from building a URL
        // out of one that could climb out of the namespace or add a query.
        let namespace = crate::name::check_namespace(namespace)?;
        Ok(Api::namespaced(self.client.clone(), namespace))
    }

    /// Reads a ConfigMap in the client's default namespace.
    pub async fn probe(&self) -> Result<()> {
        let namespace = self.client.default_namespace();
        let name = Name::new(PROBE_NAME).map_err(|e| Error::Internal(e.to_string()))?;
        self.get(SourceKind::ConfigMap, namespace, &name).await.map(drop)
    }
}

fn lookup_error(kind: SourceKind, namespace: &str, name: &Name, source: kube::Error) -> Error {
    Error::Lookup {
        kind: kind.kind(),
        namespace: namespace.to_owned(),
        name: name.to_string(),
        source: Box::new(source),
    }
}
