//! The key Secret (`--secret-hash-key-secret`): read while the key file is not mounted
//! yet, and created with a random key when it is missing too.

use std::path::Path;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, api::PostParams};
use ring::rand::{SecureRandom, SystemRandom};
use tracing::info;

use super::{HashKey, KeyError, SECRET_DATA_KEY};
use crate::Result;

/// `--secret-hash-key-secret`: the Secret that holds the key until its volume is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl std::str::FromStr for SecretRef {
    type Err = String;

    fn from_str(value: &str) -> std::result::Result<Self, String> {
        let (namespace, name) = value
            .split_once('/')
            .filter(|(ns, n)| !ns.is_empty() && !n.is_empty())
            .ok_or_else(|| format!("must be NAMESPACE/NAME, got {value:?}"))?;
        // Both go into an API URL: a valid namespace and a valid object name, nothing else.
        crate::name::check_namespace(namespace).map_err(|e| e.to_string())?;
        crate::name::Name::new(name).map_err(|e| e.to_string())?;
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// The key for `serve`: from `path`, or, while that file does not exist yet, from the
/// Secret `secret` read (or created) through its client.
pub async fn for_serve(path: &Path, secret: Option<(&SecretRef, &kube::Client)>) -> Result<HashKey> {
    match secret {
        Some((secret, client)) if !path.exists() => {
            load_or_create(path, client.clone(), &secret.namespace, &secret.name).await
        }
        _ => HashKey::load(path),
    }
}

/// The key from `path`, or, when that file does not exist yet, from the Secret
/// `namespace/name`, which is created with a random key if it is missing too. The chart mounts
/// that Secret at `path`; it does not template it, so `helm template` renders (as Argo CD
/// uses) never replace the key.
pub async fn load_or_create(
    path: &Path,
    client: kube::Client,
    namespace: &str,
    name: &str,
) -> Result<HashKey> {
    if path.exists() {
        return HashKey::load(path);
    }
    let api: Api<Secret> = Api::namespaced(client, namespace);
    let kube_err = |source: kube::Error| KeyError::Cluster {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    };
    if let Some(existing) = api.get_opt(name).await.map_err(kube_err)? {
        info!(secret = %format!("{namespace}/{name}"), "using the Secret hash key from the cluster until its volume is mounted");
        return from_secret(&existing, namespace, name);
    }
    let created = match api.create(&PostParams::default(), &new_key_secret(name)?).await {
        Ok(created) => {
            info!(secret = %format!("{namespace}/{name}"), "created the Secret hash key");
            created
        }
        // Another replica created it first: use theirs.
        Err(kube::Error::Api(status)) if status.code == 409 => api.get(name).await.map_err(kube_err)?,
        Err(e) => return Err(kube_err(e).into()),
    };
    from_secret(&created, namespace, name)
}

fn from_secret(secret: &Secret, namespace: &str, name: &str) -> Result<HashKey> {
    let data = secret.data.as_ref().and_then(|d| d.get(SECRET_DATA_KEY));
    let bytes = data.ok_or_else(|| KeyError::NoEntry {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })?;
    HashKey::from_bytes(&bytes.0)
}

fn new_key_secret(name: &str) -> Result<Secret> {
    let mut raw = [0u8; 48];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| KeyError::NoRandomness)?;
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.to_owned());
    secret.metadata.labels = Some([("app.kubernetes.io/name".to_owned(), "confighash".to_owned())].into());
    secret.metadata.annotations = Some(
        [(
            "confighash.io/note".to_owned(),
            "HMAC key of Secret digests; replacing it rolls every workload that consumes a Secret".to_owned(),
        )]
        .into(),
    );
    let encoded = hex::encode(raw).into_bytes();
    secret.data = Some([(SECRET_DATA_KEY.to_owned(), ByteString(encoded))].into());
    Ok(secret)
}
