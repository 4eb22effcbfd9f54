//! The JSONPatch that moves a pod template's annotations to the desired values, touching
//! nothing else (contract §2).

use std::collections::BTreeMap;

use json_patch::{
    AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation,
    jsonptr::{Pointer, PointerBuf},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

/// Where the built-in kinds keep their pod template.
const TEMPLATE: &str = super::kinds::DEFAULT_POINTER;

/// `template` (a valid JSON pointer, as every [`super::kinds::WorkloadKind`] holds), then
/// `metadata`, then `extra`.
fn pointer(template: &str, extra: &[&str]) -> PointerBuf {
    let mut path = Pointer::parse(template).map(Pointer::to_buf).unwrap_or_default();
    // push_back escapes `/` as `~1` and `~` as `~0`.
    for token in std::iter::once(&"metadata").chain(extra) {
        path.push_back(*token);
    }
    path
}

/// Operations that set `owned` annotations of the template to `desired` (a key missing from
/// `desired` is removed). Empty when the template already matches, so re-admission is a no-op.
pub fn annotations(
    template: Option<&ObjectMeta>,
    desired: &BTreeMap<String, String>,
    owned: &[&str],
) -> Patch {
    annotations_at(TEMPLATE, template, desired, owned)
}

/// [`annotations`] for a pod template at the JSON pointer `at`.
pub fn annotations_at(
    at: &str,
    template: Option<&ObjectMeta>,
    desired: &BTreeMap<String, String>,
    owned: &[&str],
) -> Patch {
    let current = template.and_then(|m| m.annotations.as_ref());
    let ops = match current {
        Some(current) => owned
            .iter()
            .filter_map(|key| update(at, current, desired, key))
            .collect(),
        None if desired.is_empty() => vec![],
        None if template.is_none() => vec![add(pointer(at, &[]), json!({ "annotations": desired }))],
        None => vec![add(pointer(at, &["annotations"]), json!(desired))],
    };
    Patch(ops)
}

fn update(
    at: &str,
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
    key: &str,
) -> Option<PatchOperation> {
    let path = pointer(at, &["annotations", key]);
    match (current.get(key), desired.get(key)) {
        (None, Some(want)) => Some(add(path, json!(want))),
        (Some(have), Some(want)) if have != want => Some(PatchOperation::Replace(ReplaceOperation {
            path,
            value: json!(want),
        })),
        (Some(_), None) => Some(PatchOperation::Remove(RemoveOperation { path })),
        _ => None,
    }
}

fn add(path: PointerBuf, value: serde_json::Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path, value })
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::Value;

    use super::*;

    const OWNED: [&str; 2] = ["example.com/config-hash", "example.com/sources"];

    fn desired(hash: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (OWNED[0].to_string(), hash.to_string()),
            (OWNED[1].to_string(), "configmap/app@abc".to_string()),
        ])
    }

    /// Applies the patch built for `object` and returns the result.
    fn apply(object: &Value, desired: &BTreeMap<String, String>) -> (Patch, Value) {
        let meta: Option<ObjectMeta> = object
            .pointer("/spec/template/metadata")
            .map(|m| serde_json::from_value(m.clone()).expect("metadata"));
        let patch = annotations(meta.as_ref(), desired, &OWNED);
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &patch.0).expect("patch applies");
        (patch, patched)
    }

    fn deployment(template_metadata: Option<Value>) -> Value {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {"keep": "me"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}});
        if let Some(m) = template_metadata {
            d["spec"]["template"]["metadata"] = m;
        }
        d
    }

    #[rstest]
    #[case::no_template_metadata(None)]
    #[case::no_annotations_map(Some(json!({"labels": {"app": "web"}})))]
    #[case::null_annotations(Some(json!({"labels": {"app": "web"}, "annotations": null})))]
    #[case::other_annotations(Some(json!({"annotations": {"team": "a/b~c"}})))]
    #[case::stale_values(Some(json!({"annotations": {"example.com/config-hash": "sha256:old", "team": "x"}})))]
    fn sets_exactly_our_annotations_and_nothing_else(#[case] metadata: Option<Value>) {
        let object = deployment(metadata);
        let (_, patched) = apply(&object, &desired("sha256:new"));

        // Expected: the original with our two keys set in a (possibly new) annotations map.
        let mut expected = object.clone();
        let template = expected["spec"]["template"].as_object_mut().expect("template");
        let meta = template.entry("metadata").or_insert_with(|| json!({}));
        if !meta["annotations"].is_object() {
            meta["annotations"] = json!({});
        }
        for (key, value) in desired("sha256:new") {
            meta["annotations"][key] = json!(value);
        }
        assert_eq!(patched, expected);
    }

    #[test]
    fn re_admitting_the_patched_object_gives_no_patch() {
        let (_, patched) = apply(&deployment(None), &desired("sha256:new"));
        let (again, unchanged) = apply(&patched, &desired("sha256:new"));
        assert!(again.0.is_empty(), "{again:?}");
        assert_eq!(unchanged, patched);
    }

    #[test]
    fn removes_stale_annotations_when_nothing_is_referenced() {
        let object = deployment(Some(json!({"annotations": {
            "example.com/config-hash": "sha256:old", "example.com/sources": "configmap/x@absent", "team": "a"}})));
        let (_, patched) = apply(&object, &BTreeMap::new());
        assert_eq!(
            patched["spec"]["template"]["metadata"]["annotations"],
            json!({"team": "a"})
        );
    }

    #[test]
    fn nothing_referenced_and_nothing_present_gives_no_patch() {
        for metadata in [None, Some(json!({})), Some(json!({"annotations": {"team": "a"}}))] {
            let (patch, _) = apply(&deployment(metadata), &BTreeMap::new());
            assert!(patch.0.is_empty());
        }
    }

    #[test]
    fn keys_are_json_pointer_escaped() {
        let object = deployment(Some(json!({"annotations": {}})));
        let (patch, _) = apply(&object, &desired("sha256:new"));
        let paths: Vec<String> = patch.0.iter().map(|op| op.path().to_string()).collect();
        assert_eq!(
            paths,
            [
                "/spec/template/metadata/annotations/example.com~1config-hash",
                "/spec/template/metadata/annotations/example.com~1sources"
            ]
        );
    }
}
