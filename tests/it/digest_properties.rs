//! Properties of the digest (contract §4) over generated ConfigMaps: it does not depend on
//! the order of keys in the manifest, of the maps, or of the sources, and the entry
//! encoding is injective (it decodes back to exactly the entries it encodes).

use std::collections::{BTreeMap, BTreeSet};

use confighash::{
    digest::{self, Entry, SourceKind, Sources},
    references::Keys,
};
use k8s_openapi::{
    ByteString,
    api::core::v1::{ConfigMap, Secret},
};
use proptest::{collection, prelude::*};

/// The encoded bytes of entries.
fn encoded_entries(entries: &[Entry<'_>]) -> Vec<u8> {
    struct Collect(Vec<u8>);
    impl hmac::digest::Update for Collect {
        fn update(&mut self, data: &[u8]) {
            self.0.extend_from_slice(data);
        }
    }
    let mut out = Collect(Vec::new());
    digest::encode_into(&mut out, entries);
    out.0
}

/// The encoded bytes of a ConfigMap's entries under a selection.
fn encoded(cm: &ConfigMap, keys: &Keys) -> Vec<u8> {
    encoded_entries(&digest::configmap_entries(cm, keys))
}

fn owned(entries: &[Entry<'_>]) -> Vec<(String, u8, Vec<u8>)> {
    entries
        .iter()
        .map(|Entry { key, tag, value }| (key.to_string(), *tag, value.to_vec()))
        .collect()
}

/// The inverse of the encoding: `u32 BE len ‖ key ‖ tag ‖ u64 BE len ‖ value`, repeated.
fn decode(mut rest: &[u8]) -> Vec<(String, u8, Vec<u8>)> {
    fn split<const N: usize>(bytes: &[u8]) -> ([u8; N], &[u8]) {
        let (head, tail) = bytes.split_at(N);
        (head.try_into().expect("N bytes"), tail)
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (key_len, tail) = split::<4>(rest);
        let (key, tail) = tail.split_at(u32::from_be_bytes(key_len) as usize);
        let ([tag], tail) = split::<1>(tail);
        let (value_len, tail) = split::<8>(tail);
        let (value, tail) = tail.split_at(u64::from_be_bytes(value_len) as usize);
        let key = String::from_utf8(key.to_vec()).expect("keys are UTF-8");
        out.push((key, tag, value.to_vec()));
        rest = tail;
    }
    out
}

fn configmap(data: &BTreeMap<String, String>, binary: &BTreeMap<String, Vec<u8>>) -> ConfigMap {
    ConfigMap {
        data: (!data.is_empty()).then(|| data.clone()),
        binary_data: (!binary.is_empty()).then(|| {
            binary
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                .collect()
        }),
        ..Default::default()
    }
}

fn keys() -> impl Strategy<Value = String> {
    // Any UTF-8, weighted towards short keys that collide and sort in interesting ways.
    prop_oneof![3 => "[a-cA-C._-]{0,3}", 1 => any::<String>()]
}

fn data() -> impl Strategy<Value = BTreeMap<String, String>> {
    collection::btree_map(keys(), any::<String>(), 0..8)
}

fn binary() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    collection::btree_map(keys(), collection::vec(any::<u8>(), 0..16), 0..4)
}

fn selection() -> impl Strategy<Value = Keys> {
    prop_oneof![
        Just(Keys::All),
        collection::btree_set(keys(), 0..6).prop_map(Keys::Some)
    ]
}

/// A ConfigMap manifest with `data` and `binaryData` written in the given key orders, and
/// `binaryData` first if asked.
fn manifest(data: &[(String, String)], binary: &[(String, Vec<u8>)], binary_first: bool) -> String {
    use base64::Engine;
    let object = |fields: Vec<String>| format!("{{{}}}", fields.join(","));
    let json = |v: &str| serde_json::Value::from(v).to_string();
    let data = object(
        data.iter()
            .map(|(k, v)| format!("{}:{}", json(k), json(v)))
            .collect(),
    );
    let binary = object(
        binary
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}:{}",
                    json(k),
                    json(&base64::engine::general_purpose::STANDARD.encode(v))
                )
            })
            .collect(),
    );
    let maps = if binary_first {
        format!(r#""binaryData":{binary},"data":{data}"#)
    } else {
        format!(r#""data":{data},"binaryData":{binary}"#)
    };
    format!(r#"{{"apiVersion":"v1","kind":"ConfigMap",{maps}}}"#)
}

fn shuffled<T: Clone + std::fmt::Debug>(items: Vec<T>) -> impl Strategy<Value = (Vec<T>, Vec<T>)> {
    (Just(items.clone()), Just(items).prop_shuffle())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn digest_does_not_depend_on_key_or_map_order_in_the_manifest(
        data in data().prop_flat_map(|d| shuffled(d.into_iter().collect())),
        binary in binary().prop_flat_map(|b| shuffled(b.into_iter().collect())),
        binary_first in any::<bool>(),
        keys in selection(),
    ) {
        let parse = |text: String| -> ConfigMap { serde_json::from_str(&text).expect("manifest") };
        let canonical = parse(manifest(&data.0, &binary.0, false));
        let reordered = parse(manifest(&data.1, &binary.1, binary_first));
        prop_assert_eq!(digest::configmap(&canonical, &keys), digest::configmap(&reordered, &keys));
    }

    #[test]
    fn digest_does_not_depend_on_selection_or_source_order(
        sources in collection::btree_map("[a-z0-9.-]{1,8}", proptest::option::of(any::<[u8; 32]>()), 0..8)
            .prop_flat_map(|s| shuffled(s.into_iter().collect())),
        selected in collection::vec(keys(), 0..6).prop_flat_map(shuffled),
        data in data(),
    ) {
        let collect = |s: &[(String, Option<[u8; 32]>)]| -> Sources {
            // Names that can never be references (`-`, `a..b`) are left out of both orders alike.
            s.iter()
                .filter_map(|(name, d)| Some(((SourceKind::ConfigMap, confighash::name::Name::new(name.as_str()).ok()?), *d)))
                .collect()
        };
        let (a, b) = (collect(&sources.0), collect(&sources.1));
        prop_assert_eq!(digest::combined(&a), digest::combined(&b));
        prop_assert_eq!(digest::sources_annotation(&a), digest::sources_annotation(&b));

        let cm = configmap(&data, &BTreeMap::new());
        let as_keys = |k: &[String]| Keys::Some(k.iter().cloned().collect::<BTreeSet<_>>());
        prop_assert_eq!(
            digest::configmap(&cm, &as_keys(&selected.0)),
            digest::configmap(&cm, &as_keys(&selected.1))
        );
    }

    #[test]
    fn the_encoding_decodes_back_to_its_entries(data in data(), binary in binary(), keys in selection()) {
        let cm = configmap(&data, &binary);
        let entries = digest::configmap_entries(&cm, &keys);
        prop_assert_eq!(decode(&encoded_entries(&entries)), owned(&entries));

        let secret = Secret {
            data: Some(binary.iter().map(|(k, v)| (k.clone(), ByteString(v.clone()))).collect()),
            ..Default::default()
        };
        let entries = digest::secret_entries(&secret, &keys);
        prop_assert!(entries.iter().all(|e| e.tag == digest::TAG_BINARY || e.tag == digest::TAG_MISSING));
        prop_assert_eq!(decode(&encoded_entries(&entries)), owned(&entries));
    }

    #[test]
    fn different_entries_never_share_an_encoding(
        a in (data(), binary()), b in (data(), binary()), keys in selection(),
    ) {
        let (a, b) = (configmap(&a.0, &a.1), configmap(&b.0, &b.1));
        let same_entries = digest::configmap_entries(&a, &keys) == digest::configmap_entries(&b, &keys);
        prop_assert_eq!(encoded(&a, &keys) == encoded(&b, &keys), same_entries);
    }
}
