//! What a workload's annotations should be now, from the digests the [`Index`] holds,
//! through the same `annotations::desired` admission uses.

use super::{Index, Rollout, WorkloadKey};
use crate::{admission::out_of_date, annotations, digest::Sources, references::References};

impl Index {
    /// The patch `key` needs now, or `None` when it carries the right annotations (or is
    /// unknown, or a digest is not known yet).
    pub fn rollout(&self, key: &WorkloadKey) -> Option<Rollout> {
        let entry = self.workloads.get(key)?;
        let sources = self.sources_of(&key.namespace, &entry.references)?;
        let keys = &self.options.keys;
        let desired = annotations::desired(keys, &sources);
        let out_of_date::OutOfDate { desired, changes } = out_of_date::check(keys, desired, &entry.current)?;
        Some(Rollout {
            key: key.clone(),
            resource_version: entry.resource_version.clone(),
            desired,
            changes,
        })
    }

    /// Workloads already stamped with a `config-hash` that is out of date: what a restart
    /// or a new leader rolls. Unstamped workloads are left to admission.
    pub fn stale(&self) -> Vec<WorkloadKey> {
        let mut stale: Vec<WorkloadKey> = self
            .workloads
            .iter()
            .filter(|(_, e)| e.current.contains_key(&self.options.keys.config_hash))
            .filter(|(k, _)| self.rollout(k).is_some())
            .map(|(k, _)| k.clone())
            .collect();
        stale.sort();
        stale
    }

    pub(super) fn sources_of(&self, namespace: &str, references: &References) -> Option<Sources> {
        let mut sources = Sources::new();
        for (id, selection) in references {
            let digest = match self.sources.get(&(namespace.to_owned(), id.clone())) {
                Some(entry) => entry.digest(&selection.keys)?,
                None => None,
            };
            sources.insert(id.clone(), digest);
        }
        Some(sources)
    }
}
