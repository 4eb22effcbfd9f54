//! ConfigMaps and Secrets from YAML (or JSON) files in a directory, for running without a
//! cluster. Files may hold several documents and `List`/`ConfigMapList`/`SecretList` objects.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use k8s_openapi::{
    ByteString,
    api::core::v1::{ConfigMap, Secret},
};
use serde_json::Value;

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

/// Objects indexed by (kind, namespace, name); a file without a namespace matches any.
#[derive(Clone, Default)]
pub struct DirSource {
    // Shared, so an admission reads an object without copying it.
    by_name: Arc<HashMap<(SourceKind, String, String), Arc<Object>>>,
    // The files are read once, so an object's digest under a selection never changes:
    // a repeat admission neither copies nor hashes, as on a cluster cache hit.
    digests: Arc<DigestCache>,
}

/// The one version every object of a directory has: the files are read once.
fn loaded() -> Version {
    Version {
        uid: String::new(),
        resource_version: String::new(),
    }
}

impl DirSource {
    /// Loads every `.yaml`, `.yml` and `.json` file directly in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let read_err = |source| Error::Read {
            path: dir.to_owned(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            })
            .collect();
        paths.sort();
        let mut by_name = HashMap::new();
        for path in paths {
            for (kind, object, meta) in objects_in(&path)? {
                let namespace = meta.namespace.unwrap_or_default();
                by_name.insert((kind, namespace, meta.name.unwrap_or_default()), Arc::new(object));
            }
        }
        Ok(Self {
            by_name: Arc::new(by_name),
            digests: Arc::default(),
        })
    }

    /// The object `name` in `namespace`, or one of that name with no namespace; shared, not
    /// copied.
    pub fn get(&self, kind: SourceKind, namespace: &str, name: &Name) -> Option<Arc<Object>> {
        let key = |ns: &str| (kind, ns.to_owned(), name.to_string());
        self.by_name
            .get(&key(namespace))
            .or_else(|| self.by_name.get(&key("")))
            .cloned()
    }

    /// The source digest of `name` in `namespace` under `keys` (for a Secret, under the
    /// pinned HMAC key), `None` when there is no such object or a Secret has no key. Made
    /// once per object, selection and key, then served from memory.
    pub fn digest(
        &self,
        kind: SourceKind,
        namespace: &str,
        name: &Name,
        keys: &Keys,
        pinned: Option<&(KeyId, HashKey)>,
    ) -> Option<SourceDigest> {
        let hmac_key = match kind {
            SourceKind::ConfigMap => None,
            SourceKind::Secret => Some(pinned?.0),
        };
        let key = ObjectKey {
            kind,
            namespace: namespace.to_owned(),
            name: name.clone(),
        };
        let under = Under::new(keys, hmac_key);
        if let Some(digest) = self.digests.get(&key, &loaded(), &under) {
            return Some(digest);
        }
        let digest = self
            .get(kind, namespace, name)?
            .digest(keys, pinned.map(|(_, key)| key))?;
        self.digests.insert(&key, loaded(), under, digest);
        Some(digest)
    }

    /// How many ConfigMaps were loaded.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when nothing was loaded.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Every document of a YAML file, as JSON values (null documents dropped).
pub fn documents(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_documents(&text, path)
}

/// Every document of YAML (or JSON) `text` read from `origin`, as JSON values (null
/// documents dropped).
pub fn parse_documents(text: &str, origin: &Path) -> Result<Vec<Value>> {
    // kubectl reads YAML 1.1: `defaultMode: 0440` is octal 288, not decimal 440.
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| Error::Manifest {
            path: origin.to_owned(),
            message: first_line(&e.to_string()),
        })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The objects a document holds: the `items` of a list (`kind: List` as kubectl prints
/// it, or a typed one such as `ConfigMapList` or `DeploymentList`), else the document.
/// Items of a typed list may leave out `apiVersion` and `kind`, as the API server does;
/// they take the list's.
pub fn objects(doc: Value) -> Vec<Value> {
    let Value::Object(mut map) = doc else {
        return vec![doc];
    };
    let list_kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    let Some(item_kind) = list_kind.strip_suffix("List").map(str::to_owned) else {
        return vec![Value::Object(map)];
    };
    let api_version = map.get("apiVersion").cloned();
    let Some(Value::Array(mut items)) = map.remove("items") else {
        return Vec::new();
    };
    if !item_kind.is_empty() {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            item.entry("kind")
                .or_insert_with(|| Value::from(item_kind.as_str()));
            if let Some(api_version) = &api_version {
                item.entry("apiVersion").or_insert_with(|| api_version.clone());
            }
        }
    }
    items
}

type Meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn objects_in(path: &Path) -> Result<Vec<(SourceKind, Object, Meta)>> {
    let invalid = |kind: &str, e: serde_json::Error| Error::Manifest {
        path: path.to_owned(),
        message: format!("invalid {kind}: {e}"),
    };
    let mut out = Vec::new();
    for doc in documents(path)? {
        for item in objects(doc) {
            match item.get("kind").and_then(Value::as_str) {
                Some("ConfigMap") => {
                    let cm: ConfigMap = serde_json::from_value(item).map_err(|e| invalid("ConfigMap", e))?;
                    let meta = cm.metadata.clone();
                    out.push((SourceKind::ConfigMap, Object::ConfigMap(cm), meta));
                }
                Some("Secret") => {
                    let secret =
                        with_string_data(serde_json::from_value(item).map_err(|e| invalid("Secret", e))?);
                    let meta = secret.metadata.clone();
                    out.push((SourceKind::Secret, Object::Secret(secret), meta));
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Folds `stringData` into `data`, as the API server does on write.
fn with_string_data(mut secret: Secret) -> Secret {
    if let Some(strings) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(Default::default);
        data.extend(strings.into_iter().map(|(k, v)| (k, ByteString(v.into_bytes()))));
    }
    secret
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(name: &str) -> Name {
        Name::new(name).expect("valid name")
    }

    fn parse(yaml: &str) -> Vec<Value> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("doc.yaml");
        std::fs::write(&path, yaml).expect("write");
        documents(&path).expect("parses")
    }

    #[test]
    fn numbers_follow_kubectl_yaml_1_1() {
        let docs = parse("mode: 0440\nplain: 440\nquoted: \"0440\"\n");
        assert_eq!(
            docs,
            [serde_json::json!({"mode": 288, "plain": 440, "quoted": "0440"})]
        );
    }

    #[test]
    fn multi_document_files_and_lists_load_every_configmap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata: {k: v}\n---\n\
            apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n\
            - {apiVersion: v1, kind: Secret, metadata: {name: s}}\n---\n";
        std::fs::write(dir.path().join("all.yaml"), yaml).expect("write");
        std::fs::write(dir.path().join("notes.txt"), "ignored").expect("write");
        let source = DirSource::load(dir.path()).expect("loads");
        assert_eq!(source.len(), 3);
        let cm = SourceKind::ConfigMap;
        assert!(source.get(cm, "x", &name("a")).is_some());
        assert!(
            source.get(cm, "other", &name("a")).is_none(),
            "a namespaced file matches only its namespace"
        );
        assert!(
            source.get(cm, "any", &name("b")).is_some(),
            "a file without namespace matches any"
        );
        assert!(
            source.get(cm, "x", &name("s")).is_none(),
            "a Secret is not a ConfigMap"
        );
        assert!(source.get(SourceKind::Secret, "x", &name("s")).is_some());
    }

    #[test]
    fn a_digest_is_made_once_per_selection_and_key_and_equals_the_objects_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1', b: '2'}\n---\n\
            apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n";
        std::fs::write(dir.path().join("all.yaml"), yaml).expect("write");
        let source = DirSource::load(dir.path()).expect("loads");
        let (cm, secret) = (SourceKind::ConfigMap, SourceKind::Secret);
        let only_a = Keys::Some(["a".to_owned()].into());
        let own = |kind, keys: &Keys, key: Option<&HashKey>| {
            let object = source.get(kind, "ns", &name(if kind == cm { "c" } else { "s" }));
            object.expect("loaded").digest(keys, key)
        };
        for _ in 0..2 {
            let all = source.digest(cm, "ns", &name("c"), &Keys::All, None);
            let some = source.digest(cm, "ns", &name("c"), &only_a, None);
            assert_eq!(all, own(cm, &Keys::All, None));
            assert_eq!(some, own(cm, &only_a, None));
            assert_ne!(all, some, "each selection has its own digest");
        }
        assert_eq!(source.digests.len(), 1, "one object held, with two selections");
        assert_eq!(source.digest(secret, "ns", &name("s"), &Keys::All, None), None);
        let first = HashKey::from_bytes(&[1; 32]).expect("key").pinned();
        let second = HashKey::from_bytes(&[2; 32]).expect("key").pinned();
        for pinned in [&first, &second, &first] {
            assert_eq!(
                source.digest(secret, "ns", &name("s"), &Keys::All, Some(pinned)),
                own(secret, &Keys::All, Some(&pinned.1)),
                "a Secret's digest follows the HMAC key"
            );
        }
        assert_eq!(source.digest(cm, "ns", &name("missing"), &Keys::All, None), None);
    }

    #[test]
    fn secret_string_data_is_folded_into_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml =
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: YQ==}\nstringData: {b: bee}\n";
        std::fs::write(dir.path().join("s.yaml"), yaml).expect("write");
        let loaded = DirSource::load(dir.path())
            .expect("loads")
            .get(SourceKind::Secret, "ns", &name("s"));
        let Some(Object::Secret(secret)) = loaded.as_deref().cloned() else {
            panic!("the Secret loads")
        };
        let data = secret.data.expect("data");
        assert_eq!(
            (data["a"].0.as_slice(), data["b"].0.as_slice()),
            (&b"a"[..], &b"bee"[..])
        );
        assert!(secret.string_data.is_none());
    }

    #[test]
    fn a_broken_file_names_itself_on_one_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("bad.yaml"), "a: [unclosed\n").expect("write");
        let message = DirSource::load(dir.path()).err().expect("fails").to_string();
        assert!(
            message.contains("bad.yaml") && !message.contains('\n'),
            "{message}"
        );
    }
}
