//! Reference extraction on arbitrary pod specs, against a model of contract §3: every
//! ConfigMap site with a name counts (and every Secret site, when Secrets are on),
//! selections merge by union ("all keys" wins), a source is optional only if every
//! reference is, and the extra/exclude annotations add and remove names per kind. The spec
//! also survives a JSON round trip (the server's path) with the same references.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use confighash::{
    annotations::AnnotationKeys,
    digest::SourceKind,
    references::{self, Keys, References},
};
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, ConfigMapKeySelector, ConfigMapProjection, ConfigMapVolumeSource, Container,
    EnvFromSource, EnvVar, EnvVarSource, KeyToPath, PodSpec, ProjectedVolumeSource, SecretEnvSource,
    SecretKeySelector, SecretProjection, SecretVolumeSource, Volume, VolumeProjection,
};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = ["", "a", "b", "web-config", "a.b", "z"];
const KEYS: [&str; 4] = ["k", "l", "", "k.v"];

#[derive(Arbitrary, Debug)]
enum Site {
    Volume {
        secret: bool,
        name: u8,
        optional: Option<bool>,
        items: Option<Vec<u8>>,
    },
    Projected {
        sources: Vec<ProjectedSource>,
    },
    Env {
        secret: bool,
        container: u8,
        init: bool,
        name: u8,
        key: u8,
        optional: Option<bool>,
    },
    EnvFrom {
        secret: bool,
        container: u8,
        init: bool,
        name: u8,
        optional: Option<bool>,
    },
}

#[derive(Arbitrary, Debug)]
struct ProjectedSource {
    secret: bool,
    name: u8,
    optional: Option<bool>,
    items: Option<Vec<u8>>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    secrets: bool,
    sites: Vec<Site>,
    extra_configmaps: String,
    exclude_configmaps: String,
    extra_secrets: String,
    exclude_secrets: String,
}

/// The model: (kind, name) → (None for all keys, or the keys; optional).
type Model = BTreeMap<(SourceKind, String), (Option<BTreeSet<String>>, bool)>;

fn kind(secret: bool) -> SourceKind {
    if secret {
        SourceKind::Secret
    } else {
        SourceKind::ConfigMap
    }
}

fn name(i: u8) -> String {
    NAMES[i as usize % NAMES.len()].to_owned()
}

fn key(i: u8) -> String {
    KEYS[i as usize % KEYS.len()].to_owned()
}

fn items(items: &Option<Vec<u8>>) -> Option<Vec<KeyToPath>> {
    let to_path = |k: &u8| KeyToPath {
        key: key(*k),
        path: format!("p/{}", key(*k)),
        ..Default::default()
    };
    Some(items.as_ref()?.iter().map(to_path).collect())
}

fn item_keys(items: &Option<Vec<KeyToPath>>) -> Option<BTreeSet<String>> {
    items
        .as_ref()
        .filter(|i| !i.is_empty())
        .map(|i| i.iter().map(|k| k.key.clone()).collect())
}

fn note(model: &mut Model, id: (SourceKind, String), keys: Option<BTreeSet<String>>, optional: Option<bool>) {
    if id.1.is_empty() {
        return;
    }
    let entry = model.entry(id).or_insert((Some(BTreeSet::new()), true));
    entry.0 = match (entry.0.take(), keys) {
        (Some(mut a), Some(b)) => {
            a.extend(b);
            Some(a)
        }
        _ => None,
    };
    entry.1 &= optional.unwrap_or(false);
}

fn container(spec: &mut PodSpec, index: u8, init: bool) -> &mut Container {
    let list = if init {
        spec.init_containers.get_or_insert_with(Vec::new)
    } else {
        &mut spec.containers
    };
    let i = index as usize % 3;
    while list.len() <= i {
        let name = format!("c{}{}", list.len(), if init { "-init" } else { "" });
        list.push(Container {
            name,
            ..Default::default()
        });
    }
    &mut list[i]
}

fn volume(spec: &mut PodSpec, volume: Volume) {
    spec.volumes.get_or_insert_with(Vec::new).push(volume);
}

fn projection(
    secret: bool,
    name: String,
    optional: Option<bool>,
    items: Option<Vec<KeyToPath>>,
) -> VolumeProjection {
    if secret {
        let secret = SecretProjection {
            name,
            optional,
            items,
        };
        VolumeProjection {
            secret: Some(secret),
            ..Default::default()
        }
    } else {
        let config_map = ConfigMapProjection {
            name,
            optional,
            items,
        };
        VolumeProjection {
            config_map: Some(config_map),
            ..Default::default()
        }
    }
}

fn add_site(spec: &mut PodSpec, model: &mut Model, site: &Site) {
    match site {
        Site::Volume {
            secret,
            name: n,
            optional,
            items: i,
        } => {
            let (name, items, optional) = (name(*n), items(i), *optional);
            note(model, (kind(*secret), name.clone()), item_keys(&items), optional);
            let mut v = Volume {
                name: "v".into(),
                ..Default::default()
            };
            if *secret {
                v.secret = Some(SecretVolumeSource {
                    secret_name: Some(name),
                    optional,
                    items,
                    ..Default::default()
                });
            } else {
                v.config_map = Some(ConfigMapVolumeSource {
                    name,
                    optional,
                    items,
                    ..Default::default()
                });
            }
            volume(spec, v);
        }
        Site::Projected { sources } => {
            let sources = sources.iter().map(|source| {
                let (name, items, optional) = (name(source.name), items(&source.items), source.optional);
                note(
                    model,
                    (kind(source.secret), name.clone()),
                    item_keys(&items),
                    optional,
                );
                projection(source.secret, name, optional, items)
            });
            let projected = ProjectedVolumeSource {
                sources: Some(sources.collect()),
                ..Default::default()
            };
            volume(
                spec,
                Volume {
                    name: "p".into(),
                    projected: Some(projected),
                    ..Default::default()
                },
            );
        }
        Site::Env {
            secret,
            container: c,
            init,
            name: n,
            key: k,
            optional,
        } => {
            let (name, key, optional) = (name(*n), key(*k), *optional);
            note(
                model,
                (kind(*secret), name.clone()),
                Some(BTreeSet::from([key.clone()])),
                optional,
            );
            let source = if *secret {
                let selector = SecretKeySelector { name, key, optional };
                EnvVarSource {
                    secret_key_ref: Some(selector),
                    ..Default::default()
                }
            } else {
                let selector = ConfigMapKeySelector { name, key, optional };
                EnvVarSource {
                    config_map_key_ref: Some(selector),
                    ..Default::default()
                }
            };
            let var = EnvVar {
                name: "E".into(),
                value_from: Some(source),
                ..Default::default()
            };
            container(spec, *c, *init)
                .env
                .get_or_insert_with(Vec::new)
                .push(var);
        }
        Site::EnvFrom {
            secret,
            container: c,
            init,
            name: n,
            optional,
        } => {
            let (name, optional) = (name(*n), *optional);
            note(model, (kind(*secret), name.clone()), None, optional);
            let from = if *secret {
                EnvFromSource {
                    secret_ref: Some(SecretEnvSource { name, optional }),
                    ..Default::default()
                }
            } else {
                EnvFromSource {
                    config_map_ref: Some(ConfigMapEnvSource { name, optional }),
                    ..Default::default()
                }
            };
            container(spec, *c, *init)
                .env_from
                .get_or_insert_with(Vec::new)
                .push(from);
        }
    }
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|n| !n.is_empty())
}

/// The model's references: sites, then the extra annotations, minus the excluded names,
/// and no Secrets unless they are on.
fn expected(mut model: Model, input: &Input) -> Model {
    let mut kinds = vec![(
        SourceKind::ConfigMap,
        &input.extra_configmaps,
        &input.exclude_configmaps,
    )];
    if input.secrets {
        kinds.push((SourceKind::Secret, &input.extra_secrets, &input.exclude_secrets));
    } else {
        model.retain(|(kind, _), _| *kind != SourceKind::Secret);
    }
    for (kind, extra, exclude) in kinds {
        // Only valid names count (contract §3); the others are warned about.
        for name in list(extra).filter(|n| confighash_fuzz::model_valid_name(n)) {
            note(&mut model, (kind, name.to_owned()), None, None);
        }
        for name in list(exclude) {
            model.remove(&(kind, name.to_owned()));
        }
    }
    model
}

fn as_model(references: &References) -> Model {
    let keys = |k: &Keys| match k {
        Keys::All => None,
        Keys::Some(keys) => Some(keys.clone()),
    };
    references
        .iter()
        .map(|(id, sel)| ((id.0, id.1.to_string()), (keys(&sel.keys), sel.optional)))
        .collect()
}

fuzz_target!(|input: Input| {
    let keys = AnnotationKeys::default();
    let (mut spec, mut model) = (PodSpec::default(), Model::new());
    for site in &input.sites {
        add_site(&mut spec, &mut model, site);
    }
    let annotations = BTreeMap::from([
        (keys.extra_configmaps.clone(), input.extra_configmaps.clone()),
        (keys.exclude_configmaps.clone(), input.exclude_configmaps.clone()),
        (keys.extra_secrets.clone(), input.extra_secrets.clone()),
        (keys.exclude_secrets.clone(), input.exclude_secrets.clone()),
    ]);
    let found = references::find(Some(&spec), &annotations, &keys, input.secrets);
    assert_eq!(as_model(&found), expected(model, &input), "{spec:?}");

    let json = serde_json::to_vec(&spec).expect("serializes");
    let decoded: PodSpec = serde_json::from_slice(&json).expect("round trip");
    assert_eq!(
        references::find(Some(&decoded), &annotations, &keys, input.secrets),
        found
    );
});
