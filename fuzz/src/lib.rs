//! Checks shared by the fuzz targets: a patch must apply to the object, set exactly our
//! annotations to the desired values, and change nothing else (contract §2).

use std::collections::BTreeMap;

use confighash::{
    digest::SourceKind,
    references::References,
    source::{Lookups, Object},
};
use k8s_openapi::{
    ByteString,
    api::core::v1::{ConfigMap, Secret},
};
use serde_json::Value;

/// Applies `patch` to `object` as the API server would and checks that it only moved our
/// annotations to `desired`. Returns the patched object.
pub fn apply_and_check(
    object: &Value,
    patch: &json_patch::Patch,
    desired: &BTreeMap<String, String>,
    owned: &[&str],
) -> Value {
    let mut patched = object.clone();
    if let Err(e) = json_patch::patch(&mut patched, &patch.0) {
        panic!("patch does not apply: {e}\npatch: {patch}\nobject: {object}");
    }
    let annotations = patched.pointer("/spec/template/metadata/annotations");
    for key in owned {
        let have = annotations.and_then(|a| a.get(*key));
        let want = desired.get(*key).map(|v| Value::String(v.clone()));
        assert_eq!(have, want.as_ref(), "annotation {key} after {patch}");
    }
    assert_eq!(
        without_ours(&patched, owned),
        without_ours(object, owned),
        "the patch changed more than our annotations: {patch}"
    );
    patched
}

/// `object` without our annotations, and without an annotations map or template metadata
/// that is empty or null once they are gone (the patch may have had to create them).
fn without_ours(object: &Value, owned: &[&str]) -> Value {
    let mut object = object.clone();
    let Some(template) = object
        .pointer_mut("/spec/template")
        .and_then(Value::as_object_mut)
    else {
        return object;
    };
    let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(|m| m.is_empty());
    if let Some(meta) = template.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for key in owned {
                annotations.remove(*key);
            }
        }
        if meta.get("annotations").is_some_and(empty) {
            meta.remove("annotations");
        }
    }
    if template.get("metadata").is_some_and(empty) {
        template.remove("metadata");
    }
    object
}

/// Deterministic lookups for `references`: a name of even length exists with one entry per
/// character of its name, an odd one is absent.
pub fn lookups(references: &References) -> Lookups {
    references
        .keys()
        .map(|(kind, name)| {
            let entries = || name.chars().map(|c| c.to_string());
            let object = (name.len() % 2 == 0).then(|| match kind {
                SourceKind::ConfigMap => Object::ConfigMap(ConfigMap {
                    data: Some(entries().map(|k| (k, name.to_string())).collect()),
                    ..Default::default()
                }),
                SourceKind::Secret => Object::Secret(Secret {
                    data: Some(
                        entries()
                            .map(|k| (k, ByteString(name.as_bytes().to_vec())))
                            .collect(),
                    ),
                    ..Default::default()
                }),
            });
            ((*kind, name.clone()), object)
        })
        .collect()
}

/// A model of contract §3's valid names, written apart from `confighash::name`: at most 253
/// characters; lower-case letters, digits, `-` and `.`; no `-` or `.` first, no `.` after
/// `-` or `.`, no `-` after `.`, and a letter or digit last.
pub fn model_valid_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let mut previous: Option<char> = None;
    for c in name.chars() {
        let ok = match c {
            'a'..='z' | '0'..='9' => true,
            '-' => !matches!(previous, None | Some('.')),
            '.' => !matches!(previous, None | Some('.' | '-')),
            _ => false,
        };
        if !ok {
            return false;
        }
        previous = Some(c);
    }
    matches!(previous, Some('a'..='z' | '0'..='9'))
}
