//! The patch builder on arbitrary template metadata, annotation prefixes and desired
//! values: the patch applies, sets exactly our annotations, changes nothing else, and
//! building it again on the patched object gives no patch.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use confighash::{admission::patch, annotations::AnnotationKeys};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

#[derive(Arbitrary, Debug)]
enum Metadata {
    Absent,
    Null,
    WithoutAnnotations,
    NullAnnotations,
    Annotations(Vec<(Key, String)>),
}

#[derive(Arbitrary, Debug)]
enum Key {
    ConfigHash,
    Sources,
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    prefix: String,
    metadata: Metadata,
    /// None: nothing referenced, so our annotations must go.
    desired: Option<(String, String)>,
}

fn template_metadata(input: &Input, keys: &AnnotationKeys) -> Option<Value> {
    Some(match &input.metadata {
        Metadata::Absent => return None,
        Metadata::Null => Value::Null,
        Metadata::WithoutAnnotations => json!({"labels": {"app": "web"}}),
        Metadata::NullAnnotations => json!({"labels": {"app": "web"}, "annotations": null}),
        Metadata::Annotations(entries) => {
            let annotations: BTreeMap<&str, &str> = entries
                .iter()
                .map(|(key, value)| {
                    let key = match key {
                        Key::ConfigHash => &keys.config_hash,
                        Key::Sources => &keys.sources,
                        Key::Other(other) => other,
                    };
                    (key.as_str(), value.as_str())
                })
                .collect();
            json!({"labels": {"app": "web"}, "annotations": annotations})
        }
    })
}

fn typed(object: &Value) -> Option<ObjectMeta> {
    let meta = object
        .pointer("/spec/template/metadata")
        .filter(|m| !m.is_null())?;
    Some(serde_json::from_value(meta.clone()).expect("template metadata is an ObjectMeta"))
}

fuzz_target!(|input: Input| {
    let keys = AnnotationKeys::new(&input.prefix);
    let owned = keys.owned();
    let mut object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}});
    if let Some(metadata) = template_metadata(&input, &keys) {
        object["spec"]["template"]["metadata"] = metadata;
    }
    let desired: BTreeMap<String, String> = match &input.desired {
        Some((hash, sources)) => BTreeMap::from([
            (keys.config_hash.clone(), hash.clone()),
            (keys.sources.clone(), sources.clone()),
        ]),
        None => BTreeMap::new(),
    };

    let ops = patch::annotations(typed(&object).as_ref(), &desired, &owned);
    let patched = confighash_fuzz::apply_and_check(&object, &ops, &desired, &owned);
    let again = patch::annotations(typed(&patched).as_ref(), &desired, &owned);
    assert!(again.0.is_empty(), "a second patch: {again}");
});
