//! Where each workload stands against the config it consumes now, for the
//! `confighash_workloads` and `confighash_workload_config_info` metrics.

use super::{Index, WorkloadKey};
use crate::watch::scheduler::Queued;

/// The state of one workload that consumes config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Drift {
    /// Carries exactly the annotations admission would write now.
    Current,
    /// Out of date and waiting in the scheduler (debounce, interval or global rate).
    Held,
    /// Stamped, out of date, and not waiting: its last rollout failed, or nothing
    /// scheduled it.
    Stale,
    /// References a ConfigMap or Secret but carries no `config-hash`: left to admission.
    Unstamped,
}

impl Drift {
    /// Every state, in label order.
    pub const ALL: [Drift; 4] = [Drift::Current, Drift::Held, Drift::Stale, Drift::Unstamped];

    /// The `state` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Drift::Current => "current",
            Drift::Held => "held",
            Drift::Stale => "stale",
            Drift::Unstamped => "unstamped",
        }
    }
}

/// One workload's drift and the `config-hash` its pod template carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadDrift<'a> {
    /// The workload.
    pub key: &'a WorkloadKey,
    /// Its state.
    pub state: Drift,
    /// The `config-hash` it carries, if any.
    pub config_hash: Option<&'a str>,
}

impl Index {
    /// The drift of every workload that consumes config or carries our annotations, with
    /// `queued` telling where an out-of-date one stands in the scheduler. A workload
    /// whose source digests are still being read is left out until they are known.
    pub fn drift(&self, queued: impl Fn(&WorkloadKey) -> Queued) -> Vec<WorkloadDrift<'_>> {
        let config_hash = &self.options.keys.config_hash;
        let mut out = Vec::new();
        for (key, entry) in &self.workloads {
            if entry.references.is_empty() && entry.current.is_empty() {
                continue;
            }
            let Some(sources) = self.sources_of(&key.namespace, &entry.references) else {
                continue;
            };
            let carried = entry.current.get(config_hash).map(String::as_str);
            let keys = &self.options.keys;
            let desired = crate::annotations::desired(keys, &sources);
            let state = if crate::admission::out_of_date::check(keys, desired, &entry.current).is_none() {
                Drift::Current
            } else if carried.is_none() {
                Drift::Unstamped
            } else if queued(key) == Queued::Waiting {
                Drift::Held
            } else {
                Drift::Stale
            };
            out.push(WorkloadDrift {
                key,
                state,
                config_hash: carried,
            });
        }
        out
    }
}
