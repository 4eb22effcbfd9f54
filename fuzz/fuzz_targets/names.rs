//! Name lists in the `extra-`/`exclude-` annotations and names in the pod template, as
//! arbitrary strings: nothing that is not a valid name (contract §3, checked against a model
//! written apart from the crate) ever comes out as a reference; every valid extra name that
//! is not excluded does; every invalid one is rejected with a bounded, control-free
//! warning; the warnings of one answer stay bounded however long the lists are; and a
//! `--max-sources` limit gives the full answer when it fits and an over-limit one when not.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use confighash::{
    admission::{Options, Target, workload::Workload},
    annotations::AnnotationKeys,
    digest::SourceKind,
    references::{self, Origin},
};
use confighash_fuzz::model_valid_name;
use k8s_openapi::api::{
    apps::v1::{Deployment, DeploymentSpec},
    core::v1::{ConfigMapEnvSource, Container, EnvFromSource, PodSpec, PodTemplateSpec},
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    extra_configmaps: String,
    exclude_configmaps: String,
    extra_secrets: String,
    exclude_secrets: String,
    /// Names of `envFrom` ConfigMaps in the template.
    template: Vec<String>,
    secrets: bool,
    /// A `--max-sources` to check the early stop against the full answer.
    limit: u8,
}

fn listed(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|n| !n.is_empty())
}

fuzz_target!(|input: Input| {
    let keys = AnnotationKeys::default();
    let annotations = BTreeMap::from([
        (keys.extra_configmaps.clone(), input.extra_configmaps.clone()),
        (keys.exclude_configmaps.clone(), input.exclude_configmaps.clone()),
        (keys.extra_secrets.clone(), input.extra_secrets.clone()),
        (keys.exclude_secrets.clone(), input.exclude_secrets.clone()),
    ]);
    let env_from = input
        .template
        .iter()
        .map(|name| EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: name.clone(),
                optional: None,
            }),
            ..Default::default()
        })
        .collect();
    let spec = PodSpec {
        containers: vec![Container {
            name: "c".into(),
            env_from: Some(env_from),
            ..Default::default()
        }],
        ..Default::default()
    };
    let found = references::find_checked(Some(&spec), &annotations, &keys, input.secrets, usize::MAX);

    for (kind, name) in found.references.keys() {
        assert!(model_valid_name(name), "invalid reference {kind:?} {name:?}");
        assert!(input.secrets || *kind == SourceKind::ConfigMap);
    }
    let mut kinds = vec![(
        SourceKind::ConfigMap,
        &input.extra_configmaps,
        &input.exclude_configmaps,
    )];
    if input.secrets {
        kinds.push((SourceKind::Secret, &input.extra_secrets, &input.exclude_secrets));
    }
    let mut invalid_in_annotations = 0;
    for (kind, extra, exclude) in kinds {
        let excluded: Vec<&str> = listed(exclude).collect();
        for name in listed(extra) {
            if !model_valid_name(name) {
                continue;
            }
            let present = found
                .references
                .keys()
                .any(|(k, n)| *k == kind && n.as_str() == name);
            assert_eq!(present, !excluded.contains(&name), "{kind:?} {name:?}");
        }
        invalid_in_annotations += listed(extra)
            .chain(listed(exclude))
            .filter(|n| !model_valid_name(n))
            .count();
    }
    let invalid_in_template = input
        .template
        .iter()
        .filter(|n| !n.is_empty() && !model_valid_name(n))
        .count();
    // With a limit, the answer is the full one when it fits, and over the limit when not.
    let limit = usize::from(input.limit);
    let limited = references::find_checked(Some(&spec), &annotations, &keys, input.secrets, limit);
    if found.references.len() <= limit {
        assert_eq!(limited.references, found.references);
    } else {
        assert!(limited.references.len() > limit);
    }

    let rejected = &found.rejected;
    let invalid = invalid_in_annotations + invalid_in_template;
    assert!(rejected.kept.len() <= references::Rejections::KEPT);
    assert!(rejected.kept.len() + rejected.more <= invalid);
    assert_eq!(rejected.kept.is_empty(), invalid == 0);
    if invalid <= references::Rejections::KEPT {
        assert_eq!(rejected.more, 0);
    }
    for rejected in &rejected.kept {
        assert!(!model_valid_name(&rejected.name.0), "{rejected:?}");
        assert!(
            matches!(rejected.origin, Origin::Annotation(_) | Origin::Template { .. }),
            "{rejected:?}"
        );
        let warning = rejected.to_string();
        assert!(warning.len() < 1024, "{} bytes", warning.len());
        assert!(!warning.chars().any(char::is_control), "{warning:?}");
    }

    // The admission core warns about the same names, boundedly.
    let deployment = Deployment {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: DeploymentSpec {
            template: PodTemplateSpec {
                spec: Some(spec),
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let options = Options {
        secrets: input
            .secrets
            .then(|| confighash::hash_key::HashKey::from_bytes(&[7; 32]).expect("key")),
        ..Default::default()
    };
    let target = Target::new("ns".into(), Workload::Deployment(deployment), &options);
    assert_eq!(target.references, found.references);
    assert!(target.name_warnings().len() <= references::Rejections::KEPT + 1);
});
