//! Decoding an AdmissionReview into only what the decision reads (contract §12 memory).
//!
//! A review can carry megabytes the decision never looks at: `oldObject`, `managedFields`,
//! `status`, and a pod spec of tens of thousands of plain `env` entries. Decoding all of it
//! into a tree costs many times the body's size. Here the body streams through shapes that
//! keep the review's own fields, the object's metadata (without `managedFields`) and spec,
//! and of the pod template at `spec.template` only the reference sites that
//! [`crate::references`] reads; everything else is skipped without being built. The result
//! is a small JSON tree that decodes as before, so every answer stays the same. A pod
//! template elsewhere in the spec (a configured kind's pointer) is kept whole; when some
//! kind's template lies below `spec.template`, `spec` is kept whole.

use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::kinds::WorkloadKinds;

/// Decodes `body` into the pruned review as a JSON tree, for the workload kinds in use.
pub fn decode(body: &[u8], kinds: &WorkloadKinds) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = if kinds.nests_in_spec_template() {
        Pruned::<ReviewShape<Everything>>::deserialize(&mut de)?
    } else {
        Pruned::<ReviewShape<SpecShape>>::deserialize(&mut de)?
    };
    de.end()?;
    Ok(value)
}

/// How the fields of one JSON object are pruned.
trait Shape {
    /// Reads the value of `key` from `map`: `None` drops the field.
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        let _ = key;
        map.next_value::<Value>().map(Some)
    }

    /// Whether a pruned element of a list is kept (list shapes drop non-references).
    fn keep(_object: &Map<String, Value>) -> bool {
        true
    }
}

/// A JSON object pruned by `S` (or any other JSON value, kept as it is).
struct Pruned<S>(PhantomData<S>);

impl<S: Shape> Pruned<S> {
    fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Value, D::Error> {
        de.deserialize_any(PrunedVisitor::<S>(PhantomData))
    }
}

impl<'de, S: Shape> DeserializeSeed<'de> for Pruned<S> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        Pruned::<S>::deserialize(de)
    }
}

struct PrunedVisitor<S>(PhantomData<S>);

macro_rules! keep_scalar {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Value, E> {
            Ok(Value::from(v))
        }
    )*};
}

impl<'de, S: Shape> Visitor<'de> for PrunedVisitor<S> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    keep_scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str, visit_string: String);

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        Pruned::<S>::deserialize(de)
    }

    // A list where an object is expected is kept as it is, for the typed decoding to refuse.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Some(value) = S::field(&key, &mut map)? {
                out.insert(key, value);
            }
        }
        Ok(Value::Object(out))
    }
}

/// A JSON list whose objects are pruned by `S`, keeping those `S::keep` accepts (anything
/// that is not an object is kept, for the typed decoding to refuse).
struct List<S>(PhantomData<S>);

impl<'de, S: Shape> DeserializeSeed<'de> for List<S> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(ListVisitor::<S>(PhantomData))
    }
}

struct ListVisitor<S>(PhantomData<S>);

impl<'de, S: Shape> Visitor<'de> for ListVisitor<S> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Pruned::<S>(PhantomData))? {
            if v.as_object().is_none_or(S::keep) {
                out.push(v);
            }
        }
        Ok(Value::Array(out))
    }

    // Anything but a list is kept as it is, for the typed decoding to refuse.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        PrunedVisitor::<Everything>(PhantomData).visit_map(map)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }

    keep_scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str, visit_string: String);
}

fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Value>, A::Error> {
    map.next_value::<IgnoredAny>().map(|_| None)
}

fn nested<'de, S: Shape, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Value>, A::Error> {
    map.next_value_seed(Pruned::<S>(PhantomData)).map(Some)
}

fn list<'de, S: Shape, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Value>, A::Error> {
    map.next_value_seed(List::<S>(PhantomData)).map(Some)
}

/// Everything kept.
struct Everything;
impl Shape for Everything {}

/// The AdmissionReview: its request pruned, the object's spec by `Spec`.
struct ReviewShape<Spec>(PhantomData<Spec>);
impl<Spec: Shape> Shape for ReviewShape<Spec> {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "request" => nested::<RequestShape<Spec>, A>(map),
            _ => map.next_value().map(Some),
        }
    }
}

/// The request: the decision never reads `oldObject`.
struct RequestShape<Spec>(PhantomData<Spec>);
impl<Spec: Shape> Shape for RequestShape<Spec> {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "object" => nested::<ObjectShape<Spec>, A>(map),
            "oldObject" => skip(map),
            _ => map.next_value().map(Some),
        }
    }
}

/// The object: metadata without `managedFields`, the spec with its pod template pruned,
/// no `status`.
struct ObjectShape<Spec>(PhantomData<Spec>);
impl<Spec: Shape> Shape for ObjectShape<Spec> {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "metadata" => nested::<MetadataShape, A>(map),
            "spec" => nested::<Spec, A>(map),
            "status" => skip(map),
            _ => map.next_value().map(Some),
        }
    }
}

struct MetadataShape;
impl Shape for MetadataShape {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "managedFields" => skip(map),
            _ => map.next_value().map(Some),
        }
    }
}

/// The workload spec: where the pod template is (the one place that knows the path).
struct SpecShape;
impl Shape for SpecShape {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "template" => nested::<TemplateShape, A>(map),
            _ => map.next_value().map(Some),
        }
    }
}

/// The pod template: its metadata (annotations are patched), its spec pruned.
struct TemplateShape;
impl Shape for TemplateShape {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "metadata" => map.next_value().map(Some),
            "spec" => nested::<PodSpecShape, A>(map),
            _ => skip(map),
        }
    }
}

/// The pod spec: volumes and containers, the only places references are.
struct PodSpecShape;
impl Shape for PodSpecShape {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "volumes" => list::<VolumeShape, A>(map),
            "initContainers" | "containers" => list::<ContainerShape, A>(map),
            _ => skip(map),
        }
    }
}

/// A volume that mounts a ConfigMap or Secret, directly or projected.
struct VolumeShape;
impl Shape for VolumeShape {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "name" | "configMap" | "secret" => map.next_value().map(Some),
            "projected" => nested::<ProjectedShape, A>(map),
            _ => skip(map),
        }
    }

    fn keep(object: &Map<String, Value>) -> bool {
        ["configMap", "secret", "projected"]
            .iter()
            .any(|k| object.contains_key(*k))
    }
}

struct ProjectedShape;
impl Shape for ProjectedShape {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "sources" => list::<ProjectionShape, A>(map),
            _ => skip(map),
        }
    }
}

struct ProjectionShape;
impl Shape for ProjectionShape {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "configMap" | "secret" => map.next_value().map(Some),
            _ => skip(map),
        }
    }

    fn keep(object: &Map<String, Value>) -> bool {
        !object.is_empty()
    }
}

/// A container: its name (reference sites name it), `envFrom`, and the `env` entries that
/// take a key of a ConfigMap or Secret.
struct ContainerShape;
impl Shape for ContainerShape {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "name" | "envFrom" => map.next_value().map(Some),
            "env" => list::<EnvShape, A>(map),
            _ => skip(map),
        }
    }
}

struct EnvShape;
impl Shape for EnvShape {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "name" => map.next_value().map(Some),
            "valueFrom" => nested::<ValueFromShape, A>(map),
            _ => skip(map),
        }
    }

    fn keep(object: &Map<String, Value>) -> bool {
        object
            .get("valueFrom")
            .and_then(Value::as_object)
            .is_some_and(|from| !from.is_empty())
    }
}

struct ValueFromShape;
impl Shape for ValueFromShape {
    fn field<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Value>, A::Error> {
        match key {
            "configMapKeyRef" | "secretKeyRef" => map.next_value().map(Some),
            _ => skip(map),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keeps_only_what_the_decision_reads() {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u", "operation": "UPDATE",
                "oldObject": {"spec": {"big": "x"}},
                "object": {
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "annotations": {"a": "b"}, "managedFields": [{"manager": "m"}]},
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
                }
            }
        });
        let pruned = decode(
            &serde_json::to_vec(&review).expect("json"),
            &WorkloadKinds::default(),
        )
        .expect("decodes");
        assert_eq!(
            pruned,
            json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {
                    "uid": "u", "operation": "UPDATE",
                    "object": {
                        "apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "web", "annotations": {"a": "b"}},
                        "spec": {"replicas": 2, "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {
                                "volumes": [{"name": "cfg", "configMap": {"name": "c"}},
                                    {"name": "p", "projected": {"sources": [{"secret": {"name": "s"}}]}}],
                                "containers": [{"name": "app", "env": [
                                    {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
                                    "envFrom": [{"configMapRef": {"name": "e"}}]}]
                            }}}
                    }
                }
            })
        );
    }

    #[test]
    fn anything_but_an_object_is_kept_for_the_typed_decoding_to_refuse() {
        for body in [&b"[1,2,3]"[..], b"null", b"\"x\""] {
            let value: Value = serde_json::from_slice(body).expect("json");
            assert_eq!(decode(body, &WorkloadKinds::default()).expect("decodes"), value);
        }
        assert!(decode(b"{not json", &WorkloadKinds::default()).is_err());
        assert!(decode(b"{} trailing", &WorkloadKinds::default()).is_err());
    }
}
