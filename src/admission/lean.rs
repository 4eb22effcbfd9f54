//! Decoding a review's object into only what the decision reads (contract §12 memory).
//!
//! A review can carry megabytes the decision never looks at: `managedFields`, `status`, and
//! a pod spec of tens of thousands of plain `env` entries. Here the object streams once
//! through typed shapes that keep its metadata fields in use and, at the kind's template
//! pointer, the pod template's metadata and its reference sites (the fields
//! [`crate::references`] reads); everything else is skipped without being built
//! ([`IgnoredAny`]). The reference sites become a k8s-openapi [`PodTemplateSpec`] carrying
//! only them, so the one reference finder reads them as it reads any workload.
//!
//! List elements that hold no reference site (a plain `env` entry, an `emptyDir` volume, a
//! container with neither) are dropped as they stream by, and at most [`MAX_SITES`] sites
//! are kept: a body of any shape keeps a bounded template, whatever its size.
//!
//! The built-in kinds' `spec` siblings of the template are type-checked as the whole typed
//! object always checked them (a `replicas` that is not a number is not a valid Deployment).

use std::{borrow::Cow, cell::Cell, collections::BTreeMap, fmt, marker::PhantomData};

use k8s_openapi::{
    api::{
        apps::v1::{DaemonSetSpec, DeploymentSpec, StatefulSetSpec},
        core::v1::{
            ConfigMapKeySelector, ConfigMapProjection, ConfigMapVolumeSource, Container, EnvFromSource,
            EnvVar, EnvVarSource, PodSpec, PodTemplateSpec, ProjectedVolumeSource, SecretKeySelector,
            SecretProjection, SecretVolumeSource, Volume, VolumeProjection,
        },
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
};
use serde::{
    Deserialize,
    de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor},
};
use serde_json::{Map, Value};

use super::{DEFAULT_MAX_SOURCES, kinds::WorkloadKind};

mod prune;

/// Most ConfigMap and Secret reference sites (env entries, `envFrom` entries, volumes,
/// projections) one decode keeps. Real pod templates have at most a few hundred; four times
/// the default `--max-sources` leaves room for several sites per source while bounding the
/// memory a hostile body can make the decode keep. Past it the admission is left unchanged,
/// as past `--max-sources`.
pub const MAX_SITES: usize = 4 * DEFAULT_MAX_SOURCES;

thread_local! {
    /// Reference sites met by the decode running on this thread. The decode is synchronous
    /// and not reentrant, so [`object`] resets it before and reads it after.
    static SITES: Cell<usize> = const { Cell::new(0) };
}

/// What the decision reads of a review's object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    /// The metadata fields in use: name, generateName, namespace, labels, annotations and
    /// deletionTimestamp; the others (`managedFields` first) are skipped.
    pub metadata: ObjectMeta,
    /// The pod template at the kind's pointer, with only its metadata and reference sites;
    /// `None` when nothing (or `null`) is there, or when the template was not asked for.
    pub template: Option<PodTemplateSpec>,
    /// The template holds more than [`MAX_SITES`] reference sites; those past it were not kept.
    pub too_many_sites: bool,
}

/// Decodes one object. With `kind`, the pod template at its pointer is kept (and a built-in
/// kind's apiVersion, kind and spec are checked); without, only the metadata.
/// Of labels and annotations, only the keys starting with `prefix` (`confighash.io/`, the
/// annotation prefix and its slash) are kept: the decision reads no others.
pub fn object(json: &str, kind: Option<WorkloadKind>, prefix: &str) -> serde_json::Result<Object> {
    SITES.set(0);
    prune::set_prefix(prefix);
    let mut de = serde_json::Deserializer::from_str(json);
    let mut object = ObjectSeed { kind }.deserialize(&mut de)?;
    de.end()?;
    object.too_many_sites = SITES.get() > MAX_SITES;
    Ok(object)
}

/// A key of a JSON object, borrowed from the input unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

/// The first segment of a JSON pointer remainder (`/a/b` gives `a` and `/b`), unescaped.
fn first_segment(pointer: &'static str) -> (Cow<'static, str>, &'static str) {
    let rest = pointer.strip_prefix('/').unwrap_or(pointer);
    let (segment, rest) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let segment = if segment.contains('~') {
        Cow::Owned(segment.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(segment)
    };
    (segment, rest)
}

/// The object's metadata fields the decision reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: Option<String>,
    generate_name: Option<String>,
    namespace: Option<String>,
    #[serde(default, deserialize_with = "prune::ours")]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "prune::ours")]
    annotations: Option<BTreeMap<String, String>>,
    deletion_timestamp: Option<Time>,
}

impl From<Meta> for ObjectMeta {
    fn from(m: Meta) -> Self {
        ObjectMeta {
            name: m.name,
            generate_name: m.generate_name,
            namespace: m.namespace,
            labels: m.labels,
            annotations: m.annotations,
            deletion_timestamp: m.deletion_timestamp,
            ..Default::default()
        }
    }
}

struct ObjectSeed {
    kind: Option<WorkloadKind>,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Object;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Object, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
        let (segment, rest) = match self.kind {
            Some(kind) => first_segment(kind.pointer()),
            None => (Cow::Borrowed(""), ""),
        };
        let built_in = self.kind.filter(WorkloadKind::is_built_in);
        let mut metadata: Option<Meta> = None;
        let mut template = None;
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "metadata" => {
                    if metadata.is_some() {
                        return Err(de::Error::duplicate_field("metadata"));
                    }
                    metadata = Some(map.next_value()?);
                }
                // The typed built-in objects refuse another apiVersion or kind.
                "apiVersion" | "kind" if built_in.is_some() => {
                    let kind = built_in.unwrap_or(WorkloadKind::DEPLOYMENT);
                    let expected = if key == "kind" {
                        kind.kind()
                    } else {
                        kind.api_version()
                    };
                    let value: Cow<'de, str> = map.next_value::<Key<'de>>()?.0;
                    if value != expected {
                        return Err(de::Error::invalid_value(de::Unexpected::Str(&value), &expected));
                    }
                }
                // A one-segment pointer names the template itself.
                k if self.kind.is_some() && k == segment && rest.is_empty() => {
                    template = map.next_value::<Option<Template>>()?;
                }
                k if self.kind.is_some() && k == segment => {
                    template = map.next_value_seed(Walk {
                        rest,
                        check: built_in,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let metadata = metadata.ok_or_else(|| de::Error::missing_field("metadata"))?;
        Ok(Object {
            metadata: metadata.into(),
            template: template.map(Template::into_k8s),
            too_many_sites: false,
        })
    }
}

/// Follows the rest of a template pointer; `check`: the built-in kind whose spec this is.
struct Walk {
    rest: &'static str,
    check: Option<WorkloadKind>,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = Option<Template>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<Template>, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = Option<Template>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Template>, A::Error> {
        let (segment, rest) = first_segment(self.rest);
        let mut siblings = self.check.map(|_| Map::new());
        let mut found = None;
        // Whether the template's field was there, and held something other than null.
        let mut seen: Option<bool> = None;
        while let Some(Key(key)) = map.next_key()? {
            if key == segment {
                found = if rest.is_empty() {
                    map.next_value::<Option<Template>>()?
                } else {
                    map.next_value_seed(Walk { rest, check: None })?
                };
                seen = Some(found.is_some());
            } else if let Some(siblings) = &mut siblings {
                siblings.insert(key.into_owned(), map.next_value::<prune::Shallow>()?.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if let (Some(kind), Some(mut siblings)) = (self.check, siblings) {
            if let Some(present) = seen {
                let placeholder = if present {
                    Value::Object(Map::new())
                } else {
                    Value::Null
                };
                siblings.insert(segment.into_owned(), placeholder);
            }
            check_spec(kind, Value::Object(siblings)).map_err(de::Error::custom)?;
        }
        Ok(found)
    }

    // Anything else holds no template; a built-in kind's spec must be an object, as typed.
    fn visit_unit<E: de::Error>(self) -> Result<Option<Template>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Template>, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<Template>, E> {
        self.not_an_object(de::Unexpected::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<Template>, E> {
        self.not_an_object(de::Unexpected::Signed(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<Template>, E> {
        self.not_an_object(de::Unexpected::Unsigned(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<Template>, E> {
        self.not_an_object(de::Unexpected::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Template>, E> {
        self.not_an_object(de::Unexpected::Str(v))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Template>, A::Error> {
        if self.check.is_some() {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl Walk {
    fn not_an_object<E: de::Error>(self, found: de::Unexpected<'_>) -> Result<Option<Template>, E> {
        match self.check {
            Some(_) => Err(de::Error::invalid_type(found, &self)),
            None => Ok(None),
        }
    }
}

/// Type-checks a built-in kind's spec, its template replaced by an empty one.
fn check_spec(kind: WorkloadKind, spec: Value) -> serde_json::Result<()> {
    match kind {
        WorkloadKind::STATEFUL_SET => serde_json::from_value::<StatefulSetSpec>(spec).map(drop),
        WorkloadKind::DAEMON_SET => serde_json::from_value::<DaemonSetSpec>(spec).map(drop),
        _ => serde_json::from_value::<DeploymentSpec>(spec).map(drop),
    }
}

/// A pod template: its metadata (annotations are patched) and its reference sites.
#[derive(Deserialize)]
struct Template {
    metadata: Option<TemplateMeta>,
    spec: Option<PodSpecRefs>,
}

/// The pod template's metadata as the patch reads it: its annotations under the prefix
/// (labels are type-checked, and dropped with everything else).
#[derive(Deserialize)]
struct TemplateMeta {
    #[serde(rename = "labels", default, deserialize_with = "prune::ours")]
    _labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "prune::ours")]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpecRefs {
    volumes: Option<Kept<VolumeRefs>>,
    init_containers: Option<Kept<ContainerRefs>>,
    containers: Option<Kept<ContainerRefs>>,
}

/// A list element that may hold reference sites.
trait Sites {
    /// Sites held directly, not in a nested [`Kept`] list (those counted themselves).
    fn own_sites(&self) -> usize;
    /// Whether the element holds any site, its own or nested, and so is kept.
    fn holds_sites(&self) -> bool {
        self.own_sites() > 0
    }
}

/// A list of which only the elements holding reference sites are kept, while the sites of
/// the decode stay within [`MAX_SITES`]; the others are dropped as they are read.
struct Kept<T>(Vec<T>);

impl<'de, T: Deserialize<'de> + Sites> Deserialize<'de> for Kept<T> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeptVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Sites> Visitor<'de> for KeptVisitor<T> {
            type Value = Kept<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Kept<T>, A::Error> {
                let mut kept = Vec::new();
                loop {
                    // Past the cap nothing more is kept, so the rest is only skipped.
                    if SITES.get() > MAX_SITES {
                        while seq.next_element::<IgnoredAny>()?.is_some() {}
                        break;
                    }
                    let Some(item) = seq.next_element::<T>()? else {
                        break;
                    };
                    if !item.holds_sites() {
                        continue;
                    }
                    let own = item.own_sites();
                    let sites = SITES.get() + own;
                    SITES.set(sites);
                    // An element holding only nested sites (a container) kept only what
                    // was within the cap, so it is kept too.
                    if own == 0 || sites <= MAX_SITES {
                        kept.push(item);
                    }
                }
                Ok(Kept(kept))
            }
        }
        de.deserialize_seq(KeptVisitor(PhantomData))
    }
}

impl Sites for VolumeRefs {
    fn own_sites(&self) -> usize {
        usize::from(self.config_map.is_some()) + usize::from(self.secret.is_some())
    }
    fn holds_sites(&self) -> bool {
        let projected = self.projected.as_ref().and_then(|p| p.sources.as_ref());
        self.own_sites() > 0 || projected.is_some_and(|s| !s.0.is_empty())
    }
}

impl Sites for ProjectionRefs {
    fn own_sites(&self) -> usize {
        usize::from(self.config_map.is_some()) + usize::from(self.secret.is_some())
    }
}

impl Sites for ContainerRefs {
    fn own_sites(&self) -> usize {
        0
    }
    fn holds_sites(&self) -> bool {
        let env = self.env.as_ref().is_some_and(|e| !e.0.is_empty());
        env || self.env_from.as_ref().is_some_and(|e| !e.0.is_empty())
    }
}

impl Sites for EnvRefs {
    fn own_sites(&self) -> usize {
        self.value_from.as_ref().map_or(0, |v| {
            usize::from(v.config_map_key_ref.is_some()) + usize::from(v.secret_key_ref.is_some())
        })
    }
}

impl Sites for EnvFromSource {
    fn own_sites(&self) -> usize {
        usize::from(self.config_map_ref.is_some()) + usize::from(self.secret_ref.is_some())
    }
}

/// A volume, of which only ConfigMap, Secret and projected sources are read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumeRefs {
    #[serde(default)]
    name: String,
    config_map: Option<ConfigMapVolumeSource>,
    secret: Option<SecretVolumeSource>,
    projected: Option<ProjectedRefs>,
}

#[derive(Deserialize)]
struct ProjectedRefs {
    sources: Option<Kept<ProjectionRefs>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectionRefs {
    config_map: Option<ConfigMapProjection>,
    secret: Option<SecretProjection>,
}

/// A container: its name (reference sites name it), `envFrom`, and `env`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerRefs {
    #[serde(default)]
    name: String,
    env: Option<Kept<EnvRefs>>,
    env_from: Option<Kept<EnvFromSource>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvRefs {
    #[serde(default)]
    name: String,
    value_from: Option<ValueFromRefs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValueFromRefs {
    config_map_key_ref: Option<ConfigMapKeySelector>,
    secret_key_ref: Option<SecretKeySelector>,
}

impl Template {
    /// The k8s-openapi template with only the reference sites: volumes and env entries
    /// without a ConfigMap or Secret are left out, as they hold no reference.
    fn into_k8s(self) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: self.metadata.map(|m| ObjectMeta {
                annotations: m.annotations,
                ..Default::default()
            }),
            spec: self.spec.map(PodSpecRefs::into_k8s),
        }
    }
}

impl PodSpecRefs {
    fn into_k8s(self) -> PodSpec {
        let containers =
            |list: Kept<ContainerRefs>| list.0.into_iter().map(ContainerRefs::into_k8s).collect();
        PodSpec {
            volumes: self
                .volumes
                .map(|v| v.0.into_iter().filter_map(VolumeRefs::into_k8s).collect()),
            init_containers: self.init_containers.map(containers),
            containers: self.containers.map(containers).unwrap_or_default(),
            ..Default::default()
        }
    }
}

impl VolumeRefs {
    fn into_k8s(self) -> Option<Volume> {
        let projected = self.projected.map(|p| ProjectedVolumeSource {
            sources: p.sources.map(|sources| {
                sources
                    .0
                    .into_iter()
                    .map(|s| VolumeProjection {
                        config_map: s.config_map,
                        secret: s.secret,
                        ..Default::default()
                    })
                    .collect()
            }),
            ..Default::default()
        });
        (self.config_map.is_some() || self.secret.is_some() || projected.is_some()).then(|| Volume {
            name: self.name,
            config_map: self.config_map,
            secret: self.secret,
            projected,
            ..Default::default()
        })
    }
}

impl ContainerRefs {
    fn into_k8s(self) -> Container {
        let env = self.env.map(|env| {
            env.0
                .into_iter()
                .filter_map(|e| {
                    let from = e.value_from?;
                    (from.config_map_key_ref.is_some() || from.secret_key_ref.is_some()).then(|| EnvVar {
                        name: e.name,
                        value_from: Some(EnvVarSource {
                            config_map_key_ref: from.config_map_key_ref,
                            secret_key_ref: from.secret_key_ref,
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                })
                .collect()
        });
        Container {
            name: self.name,
            env,
            env_from: self.env_from.map(|e| e.0),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decode(object: &Value, kind: Option<WorkloadKind>) -> serde_json::Result<Object> {
        object_json(&object.to_string(), kind)
    }

    fn object_json(json: &str, kind: Option<WorkloadKind>) -> serde_json::Result<Object> {
        super::object(json, kind, "confighash.io/")
    }

    #[test]
    fn keeps_only_what_the_decision_reads() {
        let object = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "x", "annotations": {"a": "b"}, "managedFields": [{"manager": "m"}]},
            "spec": {"replicas": 2, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "nodeSelector": {"k": "v"},
                    "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}},
                        {"name": "p", "projected": {"defaultMode": 420, "sources": [{"downwardAPI": {}}, {"secret": {"name": "s"}}]}}],
                    "containers": [{"name": "app", "image": "i", "env": [
                        {"name": "PLAIN", "value": "1"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
                        "envFrom": [{"configMapRef": {"name": "e"}}]}]
                }}},
            "status": {"replicas": 2}
        });
        let decoded = decode(&object, Some(WorkloadKind::DEPLOYMENT)).expect("decodes");
        let expected: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {},
            "spec": {
                "volumes": [{"name": "cfg", "configMap": {"name": "c"}},
                    {"name": "p", "projected": {"sources": [{"secret": {"name": "s"}}]}}],
                "containers": [{"name": "app", "env": [
                    {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
                    "envFrom": [{"configMapRef": {"name": "e"}}]}]
            }
        }))
        .expect("template");
        assert_eq!(decoded.template, Some(expected));
        // Of annotations, only keys under the prefix: the map is there, empty.
        let meta: ObjectMeta =
            serde_json::from_value(json!({"name": "web", "annotations": {}})).expect("meta");
        assert_eq!(decoded.metadata, meta);
    }
}
