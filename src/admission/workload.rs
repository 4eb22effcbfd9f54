//! The three workload kinds this webhook stamps, typed.

use k8s_openapi::{
    api::{
        apps::v1::{DaemonSet, Deployment, StatefulSet},
        core::v1::PodTemplateSpec,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::de::DeserializeOwned;

/// An `apps/v1` Deployment, StatefulSet or DaemonSet.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// apps/v1 Deployment
    Deployment(Deployment),
    /// apps/v1 StatefulSet
    StatefulSet(StatefulSet),
    /// apps/v1 DaemonSet
    DaemonSet(DaemonSet),
}

/// The kinds, as they appear in `kind`.
pub const KINDS: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];

impl Workload {
    /// Parses `object` as `kind`; `Ok(None)` for any other kind.
    pub fn parse(kind: &str, object: serde_json::Value) -> Result<Option<Self>, serde_json::Error> {
        fn typed<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, serde_json::Error> {
            serde_json::from_value(v)
        }
        Ok(Some(match kind {
            "Deployment" => Workload::Deployment(typed(object)?),
            "StatefulSet" => Workload::StatefulSet(typed(object)?),
            "DaemonSet" => Workload::DaemonSet(typed(object)?),
            _ => return Ok(None),
        }))
    }

    /// Parses a whole manifest, checking `apiVersion: apps/v1` and the kind.
    pub fn from_manifest(object: serde_json::Value) -> Result<Option<Self>, serde_json::Error> {
        let field = |name| {
            object
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let (api_version, kind) = (field("apiVersion"), field("kind"));
        if api_version != "apps/v1" {
            return Ok(None);
        }
        Self::parse(&kind, object)
    }

    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub fn kind(&self) -> &'static str {
        match self {
            Workload::Deployment(_) => KINDS[0],
            Workload::StatefulSet(_) => KINDS[1],
            Workload::DaemonSet(_) => KINDS[2],
        }
    }

    /// The workload's own metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Workload::Deployment(w) => &w.metadata,
            Workload::StatefulSet(w) => &w.metadata,
            Workload::DaemonSet(w) => &w.metadata,
        }
    }

    /// The pod template.
    pub fn template(&self) -> &PodTemplateSpec {
        match self {
            Workload::Deployment(w) => &w.spec.template,
            Workload::StatefulSet(w) => &w.spec.template,
            Workload::DaemonSet(w) => &w.spec.template,
        }
    }
}
