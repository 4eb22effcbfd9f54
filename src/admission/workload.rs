//! A workload as the decision reads it: its kind, its own metadata and its pod template.

use k8s_openapi::{
    api::{
        apps::v1::{DaemonSet, Deployment, StatefulSet},
        core::v1::PodTemplateSpec,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::kinds::{WorkloadKind, WorkloadKinds};

/// An `apps/v1` Deployment, StatefulSet or DaemonSet, or an object of a configured kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// apps/v1 Deployment
    Deployment(Deployment),
    /// apps/v1 StatefulSet
    StatefulSet(StatefulSet),
    /// apps/v1 DaemonSet
    DaemonSet(DaemonSet),
    /// Only what the decision reads: an object of a kind added with `--workload-kind`, or
    /// of any kind as an AdmissionReview brings it ([`super::wire`]).
    Configured(Box<Configured>),
}

/// What the decision reads of an object: its kind, metadata and pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct Configured {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its own metadata.
    pub metadata: ObjectMeta,
    /// The pod template at the kind's pointer.
    pub template: PodTemplateSpec,
}

impl Workload {
    /// Parses `object` as `kind`. The built-in kinds decode as their whole typed object,
    /// as they always have (its checks decide what is valid); a configured kind decodes its
    /// metadata and the pod template at its pointer, and is `Ok(None)` with nothing there
    /// (an Argo Rollout with `spec.workloadRef` has no template of its own).
    pub fn parse(kind: WorkloadKind, mut object: Value) -> Result<Option<Self>, serde_json::Error> {
        fn typed<T: DeserializeOwned>(v: Value) -> Result<T, serde_json::Error> {
            serde_json::from_value(v)
        }
        Ok(Some(match kind {
            WorkloadKind::DEPLOYMENT => Workload::Deployment(typed(object)?),
            WorkloadKind::STATEFUL_SET => Workload::StatefulSet(typed(object)?),
            WorkloadKind::DAEMON_SET => Workload::DaemonSet(typed(object)?),
            _ => {
                let template = match object.pointer_mut(kind.pointer()).map(Value::take) {
                    None | Some(Value::Null) => return Ok(None),
                    Some(template) => typed(template)?,
                };
                let metadata = match object.get_mut("metadata").map(Value::take) {
                    None | Some(Value::Null) => ObjectMeta::default(),
                    Some(metadata) => typed(metadata)?,
                };
                Workload::Configured(Box::new(Configured {
                    kind,
                    metadata,
                    template,
                }))
            }
        }))
    }

    /// Parses a whole manifest of one of the built-in kinds.
    pub fn from_manifest(object: Value) -> Result<Option<Self>, serde_json::Error> {
        Self::from_manifest_in(object, &WorkloadKinds::default())
    }

    /// Parses a whole manifest whose `apiVersion` and `kind` are one of `kinds`.
    pub fn from_manifest_in(object: Value, kinds: &WorkloadKinds) -> Result<Option<Self>, serde_json::Error> {
        let field = |name| object.get(name).and_then(|v| v.as_str()).unwrap_or_default();
        match kinds.of_manifest(field("apiVersion"), field("kind")) {
            Some(kind) => Self::parse(kind, object),
            None => Ok(None),
        }
    }

    /// The workload's kind.
    pub fn kind(&self) -> WorkloadKind {
        match self {
            Workload::Deployment(_) => WorkloadKind::DEPLOYMENT,
            Workload::StatefulSet(_) => WorkloadKind::STATEFUL_SET,
            Workload::DaemonSet(_) => WorkloadKind::DAEMON_SET,
            Workload::Configured(w) => w.kind,
        }
    }

    /// The workload's own metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Workload::Deployment(w) => &w.metadata,
            Workload::StatefulSet(w) => &w.metadata,
            Workload::DaemonSet(w) => &w.metadata,
            Workload::Configured(w) => &w.metadata,
        }
    }

    /// The pod template.
    pub fn template(&self) -> &PodTemplateSpec {
        match self {
            Workload::Deployment(w) => &w.spec.template,
            Workload::StatefulSet(w) => &w.spec.template,
            Workload::DaemonSet(w) => &w.spec.template,
            Workload::Configured(w) => &w.template,
        }
    }
}
