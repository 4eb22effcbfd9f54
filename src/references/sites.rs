//! The reference sites of a pod spec: volumes, then initContainers, then containers.

use k8s_openapi::api::core::v1::{Container, KeyToPath};

use super::*;

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
