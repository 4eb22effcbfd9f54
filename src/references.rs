//! What a pod template consumes (contract §3): every ConfigMap reference site, and the
//! merged selection per ConfigMap that the digest is computed over.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, KeyToPath, PodSpec};

use crate::annotations::AnnotationKeys;

/// Which keys of a ConfigMap a reference takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys {
    /// Every key (a whole-volume mount or `envFrom`).
    All,
    /// Only these keys (`items[]` or `configMapKeyRef`).
    Some(BTreeSet<String>),
}

impl Keys {
    fn from_items(items: Option<&Vec<KeyToPath>>) -> Self {
        match items {
            Some(items) if !items.is_empty() => Keys::Some(items.iter().map(|i| i.key.clone()).collect()),
            _ => Keys::All,
        }
    }

    /// The union of two selections: all keys if either takes all.
    pub fn union(self, other: Keys) -> Keys {
        match (self, other) {
            (Keys::Some(mut a), Keys::Some(b)) => {
                a.extend(b);
                Keys::Some(a)
            }
            _ => Keys::All,
        }
    }
}

/// Where in the pod spec a reference was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `volumes[].configMap`
    Volume,
    /// `volumes[].projected.sources[].configMap`
    Projected,
    /// `env[].valueFrom.configMapKeyRef`
    Env,
    /// `envFrom[].configMapRef`
    EnvFrom,
    /// the `extra-configmaps` annotation
    Annotation,
}

/// One reference site, before merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// ConfigMap name, in the workload's namespace.
    pub name: String,
    /// Where it was found.
    pub via: Via,
    /// The container (or initContainer) for env references; `None` for volumes.
    pub container: Option<String>,
    /// The literal `optional` field.
    pub optional: bool,
    /// The keys it takes.
    pub keys: Keys,
}

/// The merged selection of one ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Union of the keys of every reference.
    pub keys: Keys,
    /// True only if every reference is optional.
    pub optional: bool,
}

/// The ConfigMaps a workload consumes, by name, in bytewise order.
pub type References = BTreeMap<String, Selection>;

/// Every ConfigMap reference site of a pod spec: volumes, then initContainers, then containers.
pub fn sites(spec: &PodSpec) -> Vec<Reference> {
    let mut out = Vec::new();
    for volume in spec.volumes.iter().flatten() {
        if let Some(cm) = &volume.config_map {
            out.push(volume_ref(&cm.name, Via::Volume, cm.optional, cm.items.as_ref()));
        }
        let projections = volume.projected.iter().flat_map(|p| p.sources.iter().flatten());
        for cm in projections.filter_map(|s| s.config_map.as_ref()) {
            out.push(volume_ref(
                &cm.name,
                Via::Projected,
                cm.optional,
                cm.items.as_ref(),
            ));
        }
    }
    for container in spec.init_containers.iter().flatten().chain(&spec.containers) {
        container_sites(container, &mut out);
    }
    out.retain(|r| !r.name.is_empty());
    out
}

fn volume_ref(name: &str, via: Via, optional: Option<bool>, items: Option<&Vec<KeyToPath>>) -> Reference {
    Reference {
        name: name.to_owned(),
        via,
        container: None,
        optional: optional.unwrap_or(false),
        keys: Keys::from_items(items),
    }
}

fn container_sites(container: &Container, out: &mut Vec<Reference>) {
    let at = |name: &str, via, optional: Option<bool>, keys| Reference {
        name: name.to_owned(),
        via,
        container: Some(container.name.clone()),
        optional: optional.unwrap_or(false),
        keys,
    };
    for env in container.env.iter().flatten() {
        if let Some(sel) = env
            .value_from
            .as_ref()
            .and_then(|v| v.config_map_key_ref.as_ref())
        {
            out.push(at(
                &sel.name,
                Via::Env,
                sel.optional,
                Keys::Some(BTreeSet::from([sel.key.clone()])),
            ));
        }
    }
    for from in container.env_from.iter().flatten() {
        if let Some(r) = &from.config_map_ref {
            out.push(at(&r.name, Via::EnvFrom, r.optional, Keys::All));
        }
    }
}

/// The merged ConfigMap references of a pod template, after the workload's
/// `extra-configmaps` and `exclude-configmaps` annotations.
pub fn find(
    spec: Option<&PodSpec>,
    annotations: &BTreeMap<String, String>,
    keys: &AnnotationKeys,
) -> References {
    let mut all = spec.map(sites).unwrap_or_default();
    let extra = list(annotations.get(&keys.extra_configmaps));
    all.extend(extra.map(|name| Reference {
        name: name.to_owned(),
        via: Via::Annotation,
        container: None,
        optional: false,
        keys: Keys::All,
    }));
    let excluded: BTreeSet<&str> = list(annotations.get(&keys.exclude_configmaps)).collect();
    all.retain(|r| !excluded.contains(r.name.as_str()));
    merge(all)
}

/// Merges reference sites per ConfigMap (contract §3).
pub fn merge(sites: impl IntoIterator<Item = Reference>) -> References {
    let mut merged = References::new();
    for site in sites {
        let selection = Selection {
            keys: site.keys,
            optional: site.optional,
        };
        let merged_selection = match merged.remove(&site.name) {
            Some(prev) => Selection {
                keys: prev.keys.union(selection.keys),
                optional: prev.optional && selection.optional,
            },
            None => selection,
        };
        merged.insert(site.name, merged_selection);
    }
    merged
}

/// The names in a comma-separated annotation value, trimmed, empty ones dropped.
fn list(value: Option<&String>) -> impl Iterator<Item = &str> {
    value
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn spec(value: serde_json::Value) -> PodSpec {
        serde_json::from_value(value).expect("test pod spec")
    }

    fn some(keys: &[&str]) -> Keys {
        Keys::Some(keys.iter().map(|k| k.to_string()).collect())
    }

    fn refs(entries: &[(&str, Keys, bool)]) -> References {
        entries
            .iter()
            .map(|(n, k, o)| {
                (
                    n.to_string(),
                    Selection {
                        keys: k.clone(),
                        optional: *o,
                    },
                )
            })
            .collect()
    }

    fn keys() -> AnnotationKeys {
        AnnotationKeys::new("confighash.io")
    }

    #[rstest]
    #[case::volume_all_keys(
        json!({"containers": [], "volumes": [{"name": "v", "configMap": {"name": "app"}}]}),
        refs(&[("app", Keys::All, false)]))]
    #[case::volume_items(
        json!({"containers": [], "volumes": [{"name": "v", "configMap": {"name": "app", "items": [{"key": "a", "path": "x"}]}}]}),
        refs(&[("app", some(&["a"]), false)]))]
    #[case::projected_items(
        json!({"containers": [], "volumes": [{"name": "v", "projected": {"sources": [
            {"configMap": {"name": "p", "items": [{"key": "k", "path": "k"}]}},
            {"serviceAccountToken": {"path": "token"}},
            {"configMap": {"name": "q", "optional": true}}]}}]}),
        refs(&[("p", some(&["k"]), false), ("q", Keys::All, true)]))]
    #[case::env_key_ref(
        json!({"containers": [{"name": "c", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a"}}}]}]}),
        refs(&[("app", some(&["a"]), false)]))]
    #[case::env_from(
        json!({"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "app"}, "prefix": "P_"}]}]}),
        refs(&[("app", Keys::All, false)]))]
    #[case::init_containers_count(
        json!({"initContainers": [{"name": "i", "envFrom": [{"configMapRef": {"name": "init"}}]}], "containers": []}),
        refs(&[("init", Keys::All, false)]))]
    #[case::keys_merge_as_union(
        json!({"containers": [
            {"name": "c", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a"}}}]},
            {"name": "d", "env": [{"name": "B", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "b"}}}]}]}),
        refs(&[("app", some(&["a", "b"]), false)]))]
    #[case::all_keys_wins_merge(
        json!({"containers": [{"name": "c",
            "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a"}}}],
            "envFrom": [{"configMapRef": {"name": "app"}}]}]}),
        refs(&[("app", Keys::All, false)]))]
    #[case::optional_only_if_all_optional(
        json!({"containers": [{"name": "c",
            "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a", "optional": true}}}],
            "envFrom": [{"configMapRef": {"name": "app", "optional": false}}, {"configMapRef": {"name": "opt", "optional": true}}]}]}),
        refs(&[("app", Keys::All, false), ("opt", Keys::All, true)]))]
    #[case::secrets_and_plain_values_are_not_configmaps(
        json!({"containers": [{"name": "c", "args": ["--configmap=ns/app"],
            "env": [{"name": "A", "value": "app"}, {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "envFrom": [{"secretRef": {"name": "s"}}]}],
            "volumes": [{"name": "s", "secret": {"secretName": "s"}}, {"name": "e", "emptyDir": {}}]}),
        refs(&[]))]
    fn finds_every_reference_form(#[case] pod: serde_json::Value, #[case] expected: References) {
        assert_eq!(find(Some(&spec(pod)), &BTreeMap::new(), &keys()), expected);
    }

    #[test]
    fn extra_and_exclude_annotations_adjust_the_set() {
        let pod = spec(json!({"containers": [{"name": "c", "envFrom": [
            {"configMapRef": {"name": "app"}}, {"configMapRef": {"name": "noisy"}}]}]}));
        let annotations = BTreeMap::from([
            (
                "confighash.io/extra-configmaps".to_string(),
                " flags, ,routes ".to_string(),
            ),
            (
                "confighash.io/exclude-configmaps".to_string(),
                "noisy,routes".to_string(),
            ),
        ]);
        let found = find(Some(&pod), &annotations, &keys());
        assert_eq!(
            found,
            refs(&[("app", Keys::All, false), ("flags", Keys::All, false)])
        );
    }

    #[test]
    fn annotations_follow_the_prefix() {
        let annotations = BTreeMap::from([("example.com/extra-configmaps".to_string(), "x".to_string())]);
        assert!(find(None, &annotations, &keys()).is_empty());
        let custom = AnnotationKeys::new("example.com");
        assert_eq!(
            find(None, &annotations, &custom),
            refs(&[("x", Keys::All, false)])
        );
    }

    #[test]
    fn sites_keep_document_order_and_containers() {
        let pod = spec(json!({
            "volumes": [{"name": "v", "configMap": {"name": "vol"}}],
            "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "i"}}]}],
            "containers": [{"name": "main", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "e", "key": "k"}}}]}]}));
        let found = sites(&pod);
        let got: Vec<(&str, Via, Option<&str>)> = found
            .iter()
            .map(|r| (r.name.as_str(), r.via, r.container.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("vol", Via::Volume, None),
                ("i", Via::EnvFrom, Some("init")),
                ("e", Via::Env, Some("main"))
            ]
        );
    }
}
