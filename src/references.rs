//! What a pod template consumes (contract §3): every ConfigMap and Secret reference site,
//! and the merged selection per source that the digest is computed over. Names are
//! checked here, once: a [`Reference`] holds only a valid [`Name`], and every other name
//! becomes a [`Rejected`] that the answer warns about.

mod rejected;
mod sites;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use k8s_openapi::api::core::v1::{KeyToPath, PodSpec};

pub use self::{
    rejected::{Origin, Rejected, Rejections},
    sites::{scan, sites},
};
use crate::{
    annotations::AnnotationKeys,
    digest::SourceKind,
    name::{InvalidName, Name, is_dns1123_subdomain},
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
mod tests;
