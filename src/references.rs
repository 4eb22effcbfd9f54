//! What a pod template consumes (contract §3): every ConfigMap and Secret reference site,
//! and the merged selection per source that the digest is computed over. Names are
//! checked here, once: a [`Reference`] holds only a valid [`Name`], and every other name
//! becomes a [`Rejected`] that the answer warns about.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    fmt,
};

use k8s_openapi::api::core::v1::{Container, KeyToPath, PodSpec};

use crate::{
    annotations::AnnotationKeys,
    digest::SourceKind,
    name::{InvalidName, Name, is_dns1123_subdomain, quoted},
};

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
    /// `volumes[].configMap` or `volumes[].secret`
    Volume,
    /// `volumes[].projected.sources[].configMap` or `.secret`
    Projected,
    /// `env[].valueFrom.configMapKeyRef` or `.secretKeyRef`
    Env,
    /// `envFrom[].configMapRef` or `.secretRef`
    EnvFrom,
    /// the `extra-configmaps` or `extra-secrets` annotation
    Annotation,
}

/// One reference site, before merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// ConfigMap or Secret.
    pub kind: SourceKind,
    /// Its name, in the workload's namespace.
    pub name: Name,
    /// Where it was found.
    pub via: Via,
    /// The container (or initContainer) for env references; `None` for volumes.
    pub container: Option<String>,
    /// The literal `optional` field.
    pub optional: bool,
    /// The keys it takes.
    pub keys: Keys,
}

/// The merged selection of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Union of the keys of every reference.
    pub keys: Keys,
    /// True only if every reference is optional.
    pub optional: bool,
}

/// A source: its kind and name.
pub type SourceId = (SourceKind, Name);

/// The sources a workload consumes, in digest order: by kind, then bytewise by name.
pub type References = BTreeMap<SourceId, Selection>;

/// A name that is not a valid object name, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// ConfigMap or Secret.
    pub kind: SourceKind,
    /// The name as written.
    pub name: InvalidName,
    /// Where it was found.
    pub origin: Origin,
}

/// Where a rejected name was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A pod-template site; `container` for env references.
    Template {
        /// The kind of site.
        via: Via,
        /// The container (or initContainer) name, as written.
        container: Option<String>,
    },
    /// The `extra-*` or `exclude-*` annotation with this key.
    Annotation(String),
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, name) = (self.kind.kind(), quoted(&self.name.0));
        write!(f, "confighash: {kind} name {name} ")?;
        match &self.origin {
            Origin::Annotation(key) => write!(f, "in annotation {key}")?,
            Origin::Template { via, container } => {
                let site = match via {
                    Via::Volume => "a volume",
                    Via::Projected => "a projected volume",
                    Via::Env => "env",
                    Via::EnvFrom => "envFrom",
                    Via::Annotation => "an annotation",
                };
                write!(f, "in {site}")?;
                if let Some(container) = container {
                    write!(f, " of container {}", quoted(container))?;
                }
            }
        }
        write!(f, " is not a valid name (DNS-1123 subdomain); ignored")
    }
}

/// The names left out as invalid: the first few in full, for the warnings that name them,
/// and a count of the rest, so a hostile list costs no memory beyond its own text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections {
    /// The first [`Rejections::KEPT`] distinct rejections, in document order.
    pub kept: Vec<Rejected>,
    /// How many more were found.
    pub more: usize,
}

impl Rejections {
    /// How many rejections are kept in full.
    pub const KEPT: usize = 32;

    fn add(&mut self, rejected: Rejected) {
        if self.kept.contains(&rejected) {
            return;
        }
        if self.kept.len() < Self::KEPT {
            self.kept.push(rejected);
        } else {
            self.more += 1;
        }
    }

    /// True when no name was rejected.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

/// A reference site before its name is checked.
struct Raw {
    kind: SourceKind,
    name: String,
    via: Via,
    container: Option<String>,
    optional: bool,
    keys: Keys,
}

impl Raw {
    fn check(self) -> Result<Reference, Rejected> {
        match Name::new(self.name) {
            Ok(name) => Ok(Reference {
                kind: self.kind,
                name,
                via: self.via,
                container: self.container,
                optional: self.optional,
                keys: self.keys,
            }),
            Err(name) => Err(Rejected {
                kind: self.kind,
                name,
                origin: Origin::Template {
                    via: self.via,
                    container: self.container,
                },
            }),
        }
    }
}

/// Every ConfigMap and Secret reference site of a pod spec with a valid name: volumes,
/// then initContainers, then containers. `imagePullSecrets` are not references: a new pull
/// secret must not roll pods.
pub fn sites(spec: &PodSpec) -> Vec<Reference> {
    scan(spec, true).0
}

/// [`sites`] (without Secret sites unless `secrets`), and the sites whose name is not
/// valid, both in document order. An empty name is no name at all (the field was left
/// out) and is neither.
pub fn scan(spec: &PodSpec, secrets: bool) -> (Vec<Reference>, Rejections) {
    use SourceKind::{ConfigMap, Secret};
    let mut out = Vec::new();
    for volume in spec.volumes.iter().flatten() {
        if let Some(cm) = &volume.config_map {
            out.push(volume_ref(
                ConfigMap,
                &cm.name,
                Via::Volume,
                cm.optional,
                cm.items.as_ref(),
            ));
        }
        if let Some(s) = &volume.secret {
            let name = s.secret_name.as_deref().unwrap_or_default();
            out.push(volume_ref(
                Secret,
                name,
                Via::Volume,
                s.optional,
                s.items.as_ref(),
            ));
        }
        for projection in volume.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &projection.config_map {
                out.push(volume_ref(
                    ConfigMap,
                    &cm.name,
                    Via::Projected,
                    cm.optional,
                    cm.items.as_ref(),
                ));
            }
            if let Some(s) = &projection.secret {
                out.push(volume_ref(
                    Secret,
                    &s.name,
                    Via::Projected,
                    s.optional,
                    s.items.as_ref(),
                ));
            }
        }
    }
    for container in spec.init_containers.iter().flatten().chain(&spec.containers) {
        container_sites(container, &mut out);
    }
    let (mut valid, mut rejected) = (Vec::new(), Rejections::default());
    let counted = |r: &Raw| !r.name.is_empty() && (secrets || r.kind != SourceKind::Secret);
    for raw in out.into_iter().filter(counted) {
        match raw.check() {
            Ok(reference) => valid.push(reference),
            Err(bad) => rejected.add(bad),
        }
    }
    (valid, rejected)
}

fn volume_ref(
    kind: SourceKind,
    name: &str,
    via: Via,
    optional: Option<bool>,
    items: Option<&Vec<KeyToPath>>,
) -> Raw {
    Raw {
        kind,
        name: name.to_owned(),
        via,
        container: None,
        optional: optional.unwrap_or(false),
        keys: Keys::from_items(items),
    }
}

fn container_sites(container: &Container, out: &mut Vec<Raw>) {
    use SourceKind::{ConfigMap, Secret};
    let at = |kind, name: &str, via, optional: Option<bool>, keys| Raw {
        kind,
        name: name.to_owned(),
        via,
        container: Some(container.name.clone()),
        optional: optional.unwrap_or(false),
        keys,
    };
    let key = |k: &str| Keys::Some(BTreeSet::from([k.to_owned()]));
    for from in container
        .env
        .iter()
        .flatten()
        .filter_map(|e| e.value_from.as_ref())
    {
        if let Some(sel) = &from.config_map_key_ref {
            out.push(at(ConfigMap, &sel.name, Via::Env, sel.optional, key(&sel.key)));
        }
        if let Some(sel) = &from.secret_key_ref {
            out.push(at(Secret, &sel.name, Via::Env, sel.optional, key(&sel.key)));
        }
    }
    for from in container.env_from.iter().flatten() {
        if let Some(r) = &from.config_map_ref {
            out.push(at(ConfigMap, &r.name, Via::EnvFrom, r.optional, Keys::All));
        }
        if let Some(r) = &from.secret_ref {
            out.push(at(Secret, &r.name, Via::EnvFrom, r.optional, Keys::All));
        }
    }
}

/// What a workload consumes: the merged references, and every name that was left out
/// because it is not valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The merged references, valid names only.
    pub references: References,
    /// Names left out, in document order (template first, then annotations).
    pub rejected: Rejections,
}

/// The merged references of a pod template after the workload's `extra-*` and `exclude-*`
/// annotations. Secrets count only when `secrets` is on (`--secrets`).
pub fn find(
    spec: Option<&PodSpec>,
    annotations: &BTreeMap<String, String>,
    keys: &AnnotationKeys,
    secrets: bool,
) -> References {
    find_checked(spec, annotations, keys, secrets, usize::MAX).references
}

/// [`find`], with the names that were left out as not valid. Once more than `limit`
/// sources are found, the names left in the `extra-*` annotations are not read: the
/// workload is over the limit anyway, and a long list must not cost memory per name.
pub fn find_checked(
    spec: Option<&PodSpec>,
    annotations: &BTreeMap<String, String>,
    keys: &AnnotationKeys,
    secrets: bool,
    limit: usize,
) -> Found {
    let (sites, mut rejected) = spec.map(|spec| scan(spec, secrets)).unwrap_or_default();
    let mut kinds = vec![(
        SourceKind::ConfigMap,
        &keys.extra_configmaps,
        &keys.exclude_configmaps,
    )];
    if secrets {
        kinds.push((SourceKind::Secret, &keys.extra_secrets, &keys.exclude_secrets));
    }
    // Exclusions borrow the annotation text: a set of slices, no copy of each name.
    let mut excluded: Vec<(SourceKind, HashSet<&str>, Rejections)> = Vec::new();
    for (kind, _, exclude) in &kinds {
        let mut invalid = Rejections::default();
        let names: HashSet<&str> =
            valid_names(annotations.get(*exclude), *kind, exclude, &mut invalid).collect();
        excluded.push((*kind, names, invalid));
    }
    let is_excluded = |kind: SourceKind, name: &str| {
        excluded
            .iter()
            .any(|(k, names, _)| *k == kind && names.contains(name))
    };
    let mut references = merge(sites.into_iter().filter(|r| !is_excluded(r.kind, &r.name)));
    for (kind, extra, _) in &kinds {
        let mut extras = valid_names(annotations.get(*extra), *kind, extra, &mut rejected);
        while references.len() <= limit {
            let Some(name) = extras.next() else { break };
            if is_excluded(*kind, name) {
                continue;
            }
            let Ok(name) = Name::new(name) else { continue };
            merge_into(
                &mut references,
                Reference {
                    kind: *kind,
                    name,
                    via: Via::Annotation,
                    container: None,
                    optional: false,
                    keys: Keys::All,
                },
            );
        }
    }
    // Warnings keep document order: template, then each kind's extra and exclude lists.
    for (_, _, invalid) in excluded {
        for one in invalid.kept {
            rejected.add(one);
        }
        rejected.more += invalid.more;
    }
    Found { references, rejected }
}

/// Merges reference sites per source (contract §3).
pub fn merge(sites: impl IntoIterator<Item = Reference>) -> References {
    let mut merged = References::new();
    for site in sites {
        merge_into(&mut merged, site);
    }
    merged
}

/// Adds one site: the union of keys, optional only if every reference is.
fn merge_into(merged: &mut References, site: Reference) {
    let selection = Selection {
        keys: site.keys,
        optional: site.optional,
    };
    let id = (site.kind, site.name);
    let merged_selection = match merged.remove(&id) {
        Some(prev) => Selection {
            keys: prev.keys.union(selection.keys),
            optional: prev.optional && selection.optional,
        },
        None => selection,
    };
    merged.insert(id, merged_selection);
}

/// The valid names of a comma-separated annotation value, trimmed, empty ones dropped,
/// read lazily; each invalid one is added to `rejected` as found in annotation `key`.
fn valid_names<'v: 'r, 'r>(
    value: Option<&'v String>,
    kind: SourceKind,
    key: &'r str,
    rejected: &'r mut Rejections,
) -> impl Iterator<Item = &'v str> + 'r {
    value
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .filter(move |name| {
            let valid = is_dns1123_subdomain(name);
            if !valid {
                rejected.add(Rejected {
                    kind,
                    name: InvalidName((*name).to_owned()),
                    origin: Origin::Annotation(key.to_owned()),
                });
            }
            valid
        })
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

    /// Expected references; a name `secret/x` is the Secret `x`, any other a ConfigMap.
    fn refs(entries: &[(&str, Keys, bool)]) -> References {
        let id = |n: &str| match n.strip_prefix("secret/") {
            Some(name) => (SourceKind::Secret, Name::new(name).expect("valid")),
            None => (SourceKind::ConfigMap, Name::new(n).expect("valid")),
        };
        entries
            .iter()
            .map(|(n, k, o)| {
                (
                    id(n),
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
    #[case::plain_values_and_args_are_not_references(
        json!({"containers": [{"name": "c", "args": ["--configmap=ns/app"],
            "env": [{"name": "A", "value": "app"}]}],
            "volumes": [{"name": "e", "emptyDir": {}}]}),
        refs(&[]))]
    fn finds_every_configmap_form(#[case] pod: serde_json::Value, #[case] expected: References) {
        assert_eq!(find(Some(&spec(pod)), &BTreeMap::new(), &keys(), false), expected);
    }

    #[rstest]
    #[case::secret_volume_items(
        json!({"containers": [], "volumes": [{"name": "v", "secret": {"secretName": "tls", "items": [{"key": "tls.crt", "path": "c"}]}}]}),
        refs(&[("secret/tls", some(&["tls.crt"]), false)]))]
    #[case::projected_secret(
        json!({"containers": [], "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "p", "optional": true}}]}}]}),
        refs(&[("secret/p", Keys::All, true)]))]
    #[case::secret_key_ref_and_env_from(
        json!({"initContainers": [{"name": "i", "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}],
            "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "api"}}]}]}),
        refs(&[("secret/api", Keys::All, false), ("secret/db", some(&["password"]), false)]))]
    #[case::image_pull_secrets_do_not_count(
        json!({"containers": [], "imagePullSecrets": [{"name": "registry"}]}),
        refs(&[]))]
    #[case::same_name_configmap_and_secret_are_distinct(
        json!({"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "app"}}, {"secretRef": {"name": "app"}}]}]}),
        refs(&[("app", Keys::All, false), ("secret/app", Keys::All, false)]))]
    fn finds_every_secret_form_only_when_secrets_are_on(
        #[case] pod: serde_json::Value,
        #[case] expected: References,
    ) {
        let pod = spec(pod);
        assert_eq!(find(Some(&pod), &BTreeMap::new(), &keys(), true), expected);
        let configmaps: References = expected
            .into_iter()
            .filter(|((k, _), _)| *k == SourceKind::ConfigMap)
            .collect();
        assert_eq!(find(Some(&pod), &BTreeMap::new(), &keys(), false), configmaps);
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
        let found = find(Some(&pod), &annotations, &keys(), false);
        assert_eq!(
            found,
            refs(&[("app", Keys::All, false), ("flags", Keys::All, false)])
        );
    }

    #[test]
    fn secret_annotations_follow_the_same_rules_per_kind() {
        let pod = spec(json!({"containers": [{"name": "c", "envFrom": [
            {"secretRef": {"name": "noisy"}}, {"secretRef": {"name": "db"}}]}]}));
        let annotations = BTreeMap::from([
            ("confighash.io/extra-secrets".to_string(), "api".to_string()),
            ("confighash.io/exclude-secrets".to_string(), "noisy".to_string()),
            // A ConfigMap exclusion does not touch a Secret of the same name.
            ("confighash.io/exclude-configmaps".to_string(), "db".to_string()),
        ]);
        let found = find(Some(&pod), &annotations, &keys(), true);
        assert_eq!(
            found,
            refs(&[("secret/api", Keys::All, false), ("secret/db", Keys::All, false)])
        );
        assert!(
            find(Some(&pod), &annotations, &keys(), false).is_empty(),
            "Secrets off: none at all"
        );
    }

    #[test]
    fn annotations_follow_the_prefix() {
        let annotations = BTreeMap::from([("example.com/extra-configmaps".to_string(), "x".to_string())]);
        assert!(find(None, &annotations, &keys(), false).is_empty());
        let custom = AnnotationKeys::new("example.com");
        assert_eq!(
            find(None, &annotations, &custom, false),
            refs(&[("x", Keys::All, false)])
        );
    }

    #[test]
    fn invalid_names_are_rejected_where_they_were_found() {
        let pod = spec(json!({
            "volumes": [{"name": "v", "configMap": {"name": "Upper"}},
                {"name": "p", "projected": {"sources": [{"configMap": {"name": "a..b"}}]}},
                {"name": "s", "secret": {"secretName": "bad secret"}}],
            "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "-dash"}}]}],
            "containers": [{"name": "main", "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "ok", "key": "k"}}},
                {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "wé", "key": "k"}}}]}]}));
        let annotations = BTreeMap::from([
            (
                "confighash.io/extra-configmaps".to_string(),
                "flags routes, good".to_string(),
            ),
            (
                "confighash.io/exclude-configmaps".to_string(),
                "ok,under_score".to_string(),
            ),
        ]);
        let found = find_checked(Some(&pod), &annotations, &keys(), false, usize::MAX);
        assert_eq!(found.references, refs(&[("good", Keys::All, false)]));
        let got: Vec<String> = found.rejected.kept.iter().map(ToString::to_string).collect();
        let expected = [
            r#"ConfigMap name "Upper" in a volume"#,
            r#"ConfigMap name "a..b" in a projected volume"#,
            r#"ConfigMap name "-dash" in envFrom of container "init""#,
            r#"ConfigMap name "wé" in env of container "main""#,
            r#"ConfigMap name "flags routes" in annotation confighash.io/extra-configmaps"#,
            r#"ConfigMap name "under_score" in annotation confighash.io/exclude-configmaps"#,
        ];
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for (warning, what) in got.iter().zip(expected) {
            assert_eq!(
                *warning,
                format!("confighash: {what} is not a valid name (DNS-1123 subdomain); ignored")
            );
        }
        let with_secrets = find_checked(Some(&pod), &annotations, &keys(), true, usize::MAX);
        assert!(
            with_secrets
                .rejected
                .kept
                .iter()
                .any(|r| r.name.0 == "bad secret")
        );
        assert_eq!(found.rejected.more, 0);
    }

    #[test]
    fn only_the_first_rejections_are_kept_and_the_rest_counted() {
        let list: Vec<String> = (0..1000).map(|i| format!("Bad{i}")).collect();
        let annotations = BTreeMap::from([
            ("confighash.io/extra-configmaps".to_string(), list.join(",")),
            (
                "confighash.io/exclude-configmaps".to_string(),
                "Bad0,Bad0".to_string(),
            ),
        ]);
        let found = find_checked(None, &annotations, &keys(), false, usize::MAX);
        assert_eq!(found.rejected.kept.len(), Rejections::KEPT);
        // Bad0 counts once more, from the exclude list, however often it repeats there.
        assert_eq!(found.rejected.more, 1000 - Rejections::KEPT + 1);
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
