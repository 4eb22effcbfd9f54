//! Content digest, version 1 (contract §4): the byte-exact encoding of what a pod sees of
//! its ConfigMaps and Secrets, and the combined digest written to the pod template.
//!
//! The bytes produced here are a compatibility promise: every cluster that upgrades
//! restarts every workload if they change. The tests pin them with the contract vectors.

use std::collections::BTreeMap;

use hmac::Mac;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use sha2::{Digest as _, Sha256};

use crate::{hash_key::HashKey, references::Keys};

/// Version of the encoding below; a different encoding needs a new version and a new major.
pub const DIGEST_VERSION: u8 = 1;
/// Tag of an entry from a ConfigMap's `data` (UTF-8 text).
pub const TAG_DATA: u8 = 0x00;
/// Tag of an entry from `binaryData` (decoded bytes).
pub const TAG_BINARY: u8 = 0x01;
/// Tag of a selected key that the ConfigMap lacks.
pub const TAG_MISSING: u8 = 0xFF;

/// SHA-256 of one source's entries.
pub type SourceDigest = [u8; 32];

/// The kind of a source, as written in digest lines and in the `sources` annotation.
/// Variant order is the digest order: `configmap` sorts before `secret` bytewise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    /// A ConfigMap.
    ConfigMap,
    /// A Secret (digested with HMAC, contract §4.4).
    Secret,
}

impl SourceKind {
    /// The lower-case name used in digest lines and annotations.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "configmap",
            SourceKind::Secret => "secret",
        }
    }

    /// The Kubernetes kind, for messages.
    pub fn kind(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "ConfigMap",
            SourceKind::Secret => "Secret",
        }
    }
}

/// One entry of the encoding: a key, its tag and its value bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The key in `data` or `binaryData`.
    pub key: &'a str,
    /// [`TAG_DATA`], [`TAG_BINARY`] or [`TAG_MISSING`].
    pub tag: u8,
    /// The value bytes (empty for a missing key).
    pub value: &'a [u8],
}

/// The entries of a ConfigMap that the selection keeps, sorted by key (contract §4.1).
pub fn configmap_entries<'a>(cm: &'a ConfigMap, keys: &'a Keys) -> Vec<Entry<'a>> {
    let data = cm.data.iter().flatten().map(|(k, v)| Entry {
        key: k,
        tag: TAG_DATA,
        value: v.as_bytes(),
    });
    let binary = cm.binary_data.iter().flatten().map(|(k, v)| Entry {
        key: k,
        tag: TAG_BINARY,
        value: &v.0,
    });
    select(data.chain(binary).collect(), keys)
}

/// The entries of a Secret: its decoded `data` values, tag 0x01 (contract §4.4).
pub fn secret_entries<'a>(secret: &'a Secret, keys: &'a Keys) -> Vec<Entry<'a>> {
    let data = secret.data.iter().flatten().map(|(k, v)| Entry {
        key: k,
        tag: TAG_BINARY,
        value: &v.0,
    });
    select(data.collect(), keys)
}

/// Keeps the selected entries, adds missing selected keys, and sorts by key.
fn select<'a>(mut all: Vec<Entry<'a>>, keys: &'a Keys) -> Vec<Entry<'a>> {
    if let Keys::Some(selected) = keys {
        all.retain(|e| selected.contains(e.key));
        for key in selected {
            if !all.iter().any(|e| e.key == key) {
                all.push(Entry {
                    key,
                    tag: TAG_MISSING,
                    value: &[],
                });
            }
        }
    }
    // contract §4.2: bytewise key order; str's Ord is bytewise.
    all.sort_by(|a, b| a.key.cmp(b.key));
    all
}

/// Feeds the encoding of `entries` to `hasher`: `u32 BE len(key) ‖ key ‖ tag ‖ u64 BE len(value) ‖ value`.
pub fn encode_into(hasher: &mut impl hmac::digest::Update, entries: &[Entry<'_>]) {
    for e in entries {
        hasher.update(&(e.key.len() as u32).to_be_bytes());
        hasher.update(e.key.as_bytes());
        hasher.update(&[e.tag]);
        hasher.update(&(e.value.len() as u64).to_be_bytes());
        hasher.update(e.value);
    }
}

/// The source digest of one ConfigMap under a key selection (contract §4.2).
pub fn configmap(cm: &ConfigMap, keys: &Keys) -> SourceDigest {
    let mut hasher = Sha256::new();
    encode_into(&mut hasher, &configmap_entries(cm, keys));
    hasher.finalize().into()
}

/// The source digest of one Secret: HMAC-SHA256 under `key` over the same encoding, so
/// an annotation never lets anyone test guesses of a low-entropy secret offline.
pub fn secret(secret: &Secret, keys: &Keys, key: &HashKey) -> SourceDigest {
    let mut mac = key.mac();
    encode_into(&mut mac, &secret_entries(secret, keys));
    mac.finalize().into_bytes().into()
}

/// A source in the combined digest: its digest, or `None` when it does not exist.
pub type Sources = BTreeMap<crate::references::SourceId, Option<SourceDigest>>;

/// The combined digest over all sources, written `sha256:<64 hex>` (contract §4.3).
/// `Sources` is a BTreeMap keyed by (kind, name), so iteration is already the digest order.
pub fn combined(sources: &Sources) -> String {
    let mut hasher = Sha256::new();
    for (i, ((kind, name), digest)) in sources.iter().enumerate() {
        if i > 0 {
            hasher.update(b"\n");
        }
        hasher.update(kind.as_str().as_bytes());
        hasher.update(b"/");
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        match digest {
            Some(d) => hasher.update(hex::encode(d).as_bytes()),
            None => hasher.update(b"absent"),
        }
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The `sources` annotation value: `<kind>/<name>@<12 hex | absent>`, comma-separated, in digest order.
pub fn sources_annotation(sources: &Sources) -> String {
    let parts: Vec<String> = sources
        .iter()
        .map(|((kind, name), digest)| match digest {
            Some(d) => format!("{}/{name}@{}", kind.as_str(), &hex::encode(d)[..12]),
            None => format!("{}/{name}@absent", kind.as_str()),
        })
        .collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use k8s_openapi::ByteString;

    use super::*;

    fn n(name: &str) -> crate::name::Name {
        crate::name::Name::new(name).expect("valid name")
    }

    fn cm(data: &[(&str, &str)], binary: &[(&str, &[u8])]) -> ConfigMap {
        ConfigMap {
            data: (!data.is_empty())
                .then(|| data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            binary_data: (!binary.is_empty()).then(|| {
                binary
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect()
            }),
            ..Default::default()
        }
    }

    fn some(keys: &[&str]) -> Keys {
        Keys::Some(keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>())
    }

    fn encoded(cm: &ConfigMap, keys: &Keys) -> Vec<u8> {
        #[derive(Default)]
        struct Collect(Vec<u8>);
        impl hmac::digest::Update for Collect {
            fn update(&mut self, data: &[u8]) {
                self.0.extend_from_slice(data);
            }
        }
        let mut out = Collect::default();
        encode_into(&mut out, &configmap_entries(cm, keys));
        out.0
    }

    // Contract §4.3 vectors, verbatim.
    const APP_BYTES: &str = "00000001 61 00 0000000000000001 31 00000001 62 00 0000000000000001 32";
    const APP_DIGEST: &str = "e86586d07e4c262f1830b3d9a60bd103ccb88dca72a8a7c1095fea9b5fe5202c";
    const APP_COMBINED: &str = "sha256:babea8e6b599b92336d8b038cdfff1640be392240659b67bba5c700408f3469e";
    const APP_A_Z_DIGEST: &str = "1c614cd19f192544dc291ad7fde1c20e9ab5c1a424ca00630bc11626e2d77b5c";
    const EMPTY_DIGEST: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn contract_vector_all_keys_bytes_and_digest() {
        let app = cm(&[("a", "1"), ("b", "2")], &[]);
        assert_eq!(hex::encode(encoded(&app, &Keys::All)), APP_BYTES.replace(' ', ""));
        assert_eq!(hex::encode(configmap(&app, &Keys::All)), APP_DIGEST);
    }

    #[test]
    fn contract_vector_combined_single_source() {
        let app = cm(&[("a", "1"), ("b", "2")], &[]);
        let sources = Sources::from([(
            (SourceKind::ConfigMap, n("app")),
            Some(configmap(&app, &Keys::All)),
        )]);
        assert_eq!(combined(&sources), APP_COMBINED);
        assert_eq!(sources_annotation(&sources), "configmap/app@e86586d07e4c");
    }

    #[test]
    fn contract_vector_selected_keys_with_missing_key() {
        let app = cm(&[("a", "1"), ("b", "2")], &[]);
        assert_eq!(hex::encode(configmap(&app, &some(&["a", "z"]))), APP_A_Z_DIGEST);
    }

    #[test]
    fn contract_vector_empty_configmap() {
        assert_eq!(
            hex::encode(configmap(&ConfigMap::default(), &Keys::All)),
            EMPTY_DIGEST
        );
    }

    // Own vectors: computed from the documented encoding with `printf ... | sha256sum`.
    #[test]
    fn binary_data_uses_tag_01_and_decoded_bytes() {
        let bin = cm(&[], &[("k", &[0xde, 0xad])]);
        // 00000001 6b 01 0000000000000002 dead
        assert_eq!(
            hex::encode(encoded(&bin, &Keys::All)),
            "000000016b010000000000000002dead"
        );
        assert_eq!(
            hex::encode(configmap(&bin, &Keys::All)),
            "d86f7baca5a7babb1a8b39e880c1c65db44872256cd109e4c925a13b32a2995e"
        );
    }

    #[test]
    fn data_and_binary_data_interleave_by_key() {
        let mixed = cm(&[("b", "x")], &[("a", b"y")]);
        assert_eq!(
            hex::encode(encoded(&mixed, &Keys::All)),
            "0000000161010000000000000001790000000162000000000000000001 78".replace(' ', "")
        );
    }

    #[test]
    fn keys_sort_bytewise_not_by_locale() {
        let upper = cm(&[("a", "1"), ("B", "2")], &[]);
        let keys: Vec<&str> = configmap_entries(&upper, &Keys::All)
            .iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["B", "a"]);
    }

    #[test]
    fn selection_ignores_unselected_keys() {
        let big = cm(&[("a", "1"), ("b", "2"), ("c", "3")], &[]);
        let small = cm(&[("a", "1")], &[]);
        assert_eq!(configmap(&big, &some(&["a"])), configmap(&small, &Keys::All));
    }

    #[test]
    fn absent_sources_and_order_in_combined_digest() {
        let app = cm(&[("a", "1"), ("b", "2")], &[]);
        let sources = Sources::from([
            ((SourceKind::ConfigMap, n("zeta")), None),
            (
                (SourceKind::ConfigMap, n("app")),
                Some(configmap(&app, &Keys::All)),
            ),
        ]);
        assert_eq!(
            sources_annotation(&sources),
            "configmap/app@e86586d07e4c,configmap/zeta@absent"
        );
        // sha256 of "configmap/app=e865…202c\nconfigmap/zeta=absent"
        assert_eq!(
            combined(&sources),
            "sha256:c2847b859c0cc967ca5084269e6dedee887a695d0d839ced00fd276a21a5f351"
        );
    }

    #[test]
    fn no_sources_hash_the_empty_input() {
        assert_eq!(combined(&Sources::new()), format!("sha256:{EMPTY_DIGEST}"));
    }

    // contract §4.4, computed with Python's hmac module from the documented bytes.
    const SECRET_KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
    const DB_BYTES: &str = "00000008 70617373776f7264 01 0000000000000007 68756e74657232";
    const DB_HMAC: &str = "89390e1093419926b64c02d731b2437c1c56581d77a7e13b0c38ce9db343a161";
    const DB_UNKEYED: &str = "1d5951f869cb0f8989795f10197d1c0dd4301e96c36056032d4d2a69586a1ed4";
    const APP_AND_DB: &str = "sha256:10f355adf508919649df3d96d8128e5daef67574a1fc1f973cdf84e28e918735";

    fn db_secret() -> Secret {
        let data = [("password".to_string(), ByteString(b"hunter2".to_vec()))].into();
        Secret {
            data: Some(data),
            ..Default::default()
        }
    }

    /// HMAC-SHA256 from its definition (RFC 2104), independent of the hmac crate.
    fn hmac_by_hand(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        block[..key.len()].copy_from_slice(key);
        let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }

    #[test]
    fn secret_digest_is_the_hmac_of_the_documented_bytes() {
        let key = HashKey::from_bytes(SECRET_KEY).expect("key");
        let secret = db_secret();
        let mut bytes = Vec::new();
        for e in secret_entries(&secret, &Keys::All) {
            bytes.extend((e.key.len() as u32).to_be_bytes());
            bytes.extend(e.key.as_bytes());
            bytes.push(e.tag);
            bytes.extend((e.value.len() as u64).to_be_bytes());
            bytes.extend(e.value);
        }
        assert_eq!(hex::encode(&bytes), DB_BYTES.replace(' ', ""));
        assert_eq!(hex::encode(hmac_by_hand(SECRET_KEY, &bytes)), DB_HMAC);
        assert_eq!(hex::encode(super::secret(&secret, &Keys::All, &key)), DB_HMAC);
        assert_ne!(hex::encode(super::secret(&secret, &Keys::All, &key)), DB_UNKEYED);
    }

    #[test]
    fn secrets_sort_after_configmaps_in_the_combined_digest() {
        let key = HashKey::from_bytes(SECRET_KEY).expect("key");
        let app = cm(&[("a", "1"), ("b", "2")], &[]);
        let sources = Sources::from([
            (
                (SourceKind::Secret, n("db")),
                Some(super::secret(&db_secret(), &Keys::All, &key)),
            ),
            (
                (SourceKind::ConfigMap, n("app")),
                Some(configmap(&app, &Keys::All)),
            ),
        ]);
        assert_eq!(combined(&sources), APP_AND_DB);
        assert_eq!(
            sources_annotation(&sources),
            "configmap/app@e86586d07e4c,secret/db@89390e109341"
        );
    }

    #[test]
    fn another_key_gives_another_secret_digest() {
        let one = HashKey::from_bytes(SECRET_KEY).expect("key");
        let other = HashKey::from_bytes(&[b'x'; 32]).expect("key");
        assert_ne!(
            super::secret(&db_secret(), &Keys::All, &one),
            super::secret(&db_secret(), &Keys::All, &other)
        );
    }
}
