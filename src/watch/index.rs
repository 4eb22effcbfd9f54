//! What the watcher remembers (contract §9): per workload its references, resourceVersion
//! and current annotations; per referenced ConfigMap or Secret its resourceVersion and one
//! digest per key selection that some workload uses. Never source data: a source is
//! digested when it is read, through the admission core, and then dropped. Sources no
//! workload references are not held at all: their metadata events are ignored, so a
//! source becoming referenced is read afresh ([`Index::apply_workload`] asks for it).

mod desired;
mod drift;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tracing::warn;

pub use self::drift::{Drift, WorkloadDrift};
use super::{changes::SourceChange, policy::Annotated};
use crate::{
    admission::{Options, Target, kinds::WorkloadKind, workload::Workload},
    digest::{SourceDigest, SourceKind},
    name::Name,
    references::{Keys, References, SourceId},
    source::Object,
};

/// A workload, by kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadKey {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// A ConfigMap or Secret: its namespace, kind and name.
pub type SourceKey = (String, SourceId);

#[derive(Debug)]
struct WorkloadEntry {
    references: References,
    resource_version: String,
    /// Our annotations as the pod template carries them now.
    current: BTreeMap<String, String>,
    /// Its own rollout-window and pause annotations.
    policy: Annotated,
}

#[derive(Debug, Default)]
struct SourceEntry {
    resource_version: String,
    digests: Vec<(Keys, Option<SourceDigest>)>,
}

impl SourceEntry {
    fn digest(&self, keys: &Keys) -> Option<Option<SourceDigest>> {
        self.digests.iter().find(|(k, _)| k == keys).map(|(_, d)| *d)
    }
}

/// A patch the watcher would send.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// The workload.
    pub key: WorkloadKey,
    /// Its resourceVersion when decided (the patch's precondition).
    pub resource_version: String,
    /// The annotations the pod template should carry (empty: remove ours).
    pub desired: BTreeMap<String, String>,
    /// The sources whose digest differs from what the workload carries.
    pub changes: Vec<SourceChange>,
}

/// The watcher's memory.
#[derive(Debug)]
pub struct Index {
    options: Options,
    workloads: HashMap<WorkloadKey, WorkloadEntry>,
    sources: HashMap<SourceKey, SourceEntry>,
    users: HashMap<SourceKey, BTreeSet<WorkloadKey>>,
    /// Objects held per kind, kept as they change so the metric costs nothing per event.
    counts: BTreeMap<&'static str, usize>,
    /// Workloads left out since the last [`Index::take_over_limit`] for referencing more
    /// than `--max-sources` sources.
    over_limit: usize,
}

/// The `kind` label of a source in the objects metric.
fn source_label(kind: SourceKind) -> &'static str {
    kind.as_str()
}

impl Index {
    /// An empty index for these admission options (annotation names, Secret key).
    pub fn new(options: Options) -> Self {
        Self {
            options,
            workloads: HashMap::new(),
            sources: HashMap::new(),
            users: HashMap::new(),
            counts: BTreeMap::new(),
            over_limit: 0,
        }
    }

    /// The admission options (annotation names) this index was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Objects held per kind (`configmap`, `secret`, `deployment`, ...), for the metric.
    pub fn counts(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        self.counts.iter().map(|(k, n)| (*k, *n))
    }

    /// Workloads and sources held.
    pub fn len(&self) -> (usize, usize) {
        (self.workloads.len(), self.sources.len())
    }

    fn count(&mut self, label: &'static str, delta: isize) {
        let n = self.counts.entry(label).or_default();
        *n = n.saturating_add_signed(delta);
    }

    /// Every workload key held.
    pub fn workload_keys(&self) -> Vec<WorkloadKey> {
        self.workloads.keys().cloned().collect()
    }

    /// The rollout-window and pause annotations of a workload held.
    pub fn policy(&self, key: &WorkloadKey) -> Option<&Annotated> {
        self.workloads.get(key).map(|e| &e.policy)
    }

    /// Every ConfigMap and Secret key held.
    pub fn source_keys(&self) -> Vec<SourceKey> {
        self.sources.keys().cloned().collect()
    }

    /// Records a workload as the API server has it now. Returns the sources it references
    /// that must be read: held ones that lack a digest for a key selection it uses, and
    /// ones no workload referenced until now (not held, so perhaps existing). A source
    /// already referenced and not held is known to be absent: its creation arrives as an
    /// event.
    pub fn apply_workload(&mut self, workload: Workload) -> Vec<SourceKey> {
        let meta = workload.metadata();
        let key = WorkloadKey {
            kind: workload.kind(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        };
        let skipped = (self.options.keys).skips(meta.annotations.as_ref(), meta.labels.as_ref());
        if meta.deletion_timestamp.is_some() || skipped {
            self.remove_workload(&key);
            return Vec::new();
        }
        let resource_version = meta.resource_version.clone().unwrap_or_default();
        let policy = Annotated::read(&self.options.keys, meta.annotations.as_ref());
        let current = self.owned(&workload);
        let target = Target::new(key.namespace.clone(), workload, &self.options);
        // Admission leaves such a workload unchanged, so the watcher never rolls it and
        // holds nothing for it.
        if let Err(e) = target.check_fan_out(&self.options) {
            warn!(namespace = %key.namespace, kind = %key.kind, name = %key.name, error = %e,
                "workload left alone");
            self.over_limit += 1;
            self.remove_workload(&key);
            return Vec::new();
        }
        let mut missing = Vec::new();
        for (id, selection) in &target.references {
            let source = (key.namespace.clone(), id.clone());
            // `users` holds current references only (this workload's included, until it is
            // replaced below): none means no one referenced the source until now.
            let referenced = self.is_referenced(&source);
            self.users.entry(source.clone()).or_default().insert(key.clone());
            let unread = match self.sources.get(&source) {
                Some(known) => known.digest(&selection.keys).is_none(),
                None => !referenced,
            };
            if unread {
                missing.push(source);
            }
        }
        let entry = WorkloadEntry {
            references: target.references,
            resource_version,
            current,
            policy,
        };
        // Insert before detaching the old references, so digests still in use are kept.
        let label = key.kind.label();
        match self.workloads.insert(key.clone(), entry) {
            Some(old) => self.detach(&key, &old.references),
            None => self.count(label, 1),
        }
        missing
    }

    fn owned(&self, workload: &Workload) -> BTreeMap<String, String> {
        let annotations = workload
            .template()
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref());
        let owned = self.options.keys.owned();
        annotations
            .into_iter()
            .flatten()
            .filter(|(k, _)| owned.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// How many workloads were left out for referencing more than `--max-sources`
    /// sources since the last call.
    pub fn take_over_limit(&mut self) -> usize {
        std::mem::take(&mut self.over_limit)
    }

    /// Forgets a workload, and the digests no other workload needs.
    pub fn remove_workload(&mut self, key: &WorkloadKey) {
        if let Some(entry) = self.workloads.remove(key) {
            self.count(key.kind.label(), -1);
            self.detach(key, &entry.references);
        }
    }

    /// Drops `key` as a user of the `old` sources it no longer references, and every
    /// digest of those sources that no workload needs any more.
    fn detach(&mut self, key: &WorkloadKey, old: &References) {
        let still = self.workloads.get(key).map(|e| &e.references);
        let mut unused = Vec::new();
        for id in old.keys() {
            let source = (key.namespace.clone(), id.clone());
            if still.is_none_or(|refs| !refs.contains_key(id))
                && let Some(users) = self.users.get_mut(&source)
            {
                users.remove(key);
                if users.is_empty() {
                    self.users.remove(&source);
                }
            }
            let needed = self.selections(&source);
            if needed.is_empty() {
                unused.push(source);
            } else if let Some(s) = self.sources.get_mut(&source) {
                s.digests.retain(|(k, _)| needed.contains(k));
            }
        }
        // No longer referenced: their events are ignored from now on, so what is held would
        // go stale. A later reference reads them again.
        for source in unused {
            if self.sources.remove(&source).is_some() {
                self.count(source_label(source.1.0), -1);
            }
        }
    }

    /// Whether some workload references `source`.
    pub fn is_referenced(&self, source: &SourceKey) -> bool {
        self.users.contains_key(source)
    }

    /// Whether a source event at `resource_version` calls for a read of the full object:
    /// the source is referenced, and what is held is of another version or lacks a digest
    /// for a selection in use (or nothing is held).
    pub fn needs_read(&self, source: &SourceKey, resource_version: &str) -> bool {
        if !self.is_referenced(source) {
            return false;
        }
        let needed = self.selections(source);
        let held = self.sources.get(source);
        !held.is_some_and(|h| {
            h.resource_version == resource_version && needed.iter().all(|k| h.digest(k).is_some())
        })
    }

    /// The distinct key selections the users of `source` take.
    fn selections(&self, source: &SourceKey) -> Vec<Keys> {
        let mut out: Vec<Keys> = Vec::new();
        let users = self.users.get(source).into_iter().flatten();
        let selections = users
            .filter_map(|w| self.workloads.get(w))
            .filter_map(|w| w.references.get(&source.1).map(|s| s.keys.clone()));
        for keys in selections {
            if !out.contains(&keys) {
                out.push(keys);
            }
        }
        out
    }

    /// Records a ConfigMap as read; see [`Index::apply_source`].
    #[cfg(test)]
    pub fn apply_configmap(&mut self, cm: k8s_openapi::api::core::v1::ConfigMap) -> Vec<WorkloadKey> {
        self.apply_source(SourceKind::ConfigMap, Object::ConfigMap(cm))
    }

    /// Records a source as read: digests every selection in use (through the admission
    /// core), drops the object, and returns the workloads whose selection's digest changed.
    /// A source that was absent affects every workload that references it; a source no
    /// workload references is not held.
    pub fn apply_source(&mut self, kind: SourceKind, object: Object) -> Vec<WorkloadKey> {
        let meta = match &object {
            Object::ConfigMap(cm) => &cm.metadata,
            Object::Secret(secret) => &secret.metadata,
        };
        // The API server stores only valid names; anything else is referenced by no one.
        let Ok(name) = Name::new(meta.name.clone().unwrap_or_default()) else {
            return Vec::new();
        };
        let source = (meta.namespace.clone().unwrap_or_default(), (kind, name));
        let resource_version = meta.resource_version.clone().unwrap_or_default();
        let needed = self.selections(&source);
        if needed.is_empty() {
            return Vec::new();
        }
        let previous = self.sources.get(&source);
        let unchanged = previous.is_some_and(|p| {
            p.resource_version == resource_version && needed.iter().all(|k| p.digest(k).is_some())
        });
        if unchanged {
            return Vec::new();
        }
        let secret_key = self.options.secrets.as_ref();
        let digests: Vec<(Keys, Option<SourceDigest>)> = needed
            .into_iter()
            .map(|keys| {
                let digest = object.digest(&keys, secret_key);
                (keys, digest)
            })
            .collect();
        let changed = |keys: &Keys, now: Option<SourceDigest>| match previous {
            None => true,
            Some(p) => p.digest(keys).is_some_and(|before| before != now),
        };
        let changed: Vec<&Keys> = digests
            .iter()
            .filter(|(k, d)| changed(k, *d))
            .map(|(k, _)| k)
            .collect();
        let affected = self.users_taking(&source, &changed);
        let entry = SourceEntry {
            resource_version,
            digests,
        };
        if self.sources.insert(source, entry).is_none() {
            self.count(source_label(kind), 1);
        }
        affected
    }

    /// Forgets a deleted ConfigMap or Secret; every workload that referenced it is affected.
    pub fn remove_source(&mut self, source: &SourceKey) -> Vec<WorkloadKey> {
        match self.sources.remove(source) {
            Some(_) => {
                self.count(source_label(source.1.0), -1);
                self.users.get(source).into_iter().flatten().cloned().collect()
            }
            None => Vec::new(),
        }
    }

    fn users_taking(&self, source: &SourceKey, selections: &[&Keys]) -> Vec<WorkloadKey> {
        let users = self.users.get(source).into_iter().flatten();
        users
            .filter(|w| {
                let keys = self.workloads.get(w).and_then(|e| e.references.get(&source.1));
                keys.is_some_and(|s| selections.contains(&&s.keys))
            })
            .cloned()
            .collect()
    }

    /// Forgets every workload and ConfigMap in namespaces that `keep` rejects.
    pub fn retain_namespaces(&mut self, keep: impl Fn(&str) -> bool) -> Vec<WorkloadKey> {
        let dropped: Vec<WorkloadKey> = self
            .workloads
            .keys()
            .filter(|k| !keep(&k.namespace))
            .cloned()
            .collect();
        for key in &dropped {
            self.remove_workload(key);
        }
        let gone: Vec<SourceKey> = self.sources.keys().filter(|(ns, _)| !keep(ns)).cloned().collect();
        for source in &gone {
            self.remove_source(source);
        }
        dropped
    }
}

#[cfg(test)]
mod tests;
