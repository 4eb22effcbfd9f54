//! The acting half of the [`Controller`]: scheduling affected workloads, reading sources
//! whose digest is missing, and rolling what the scheduler releases.

use std::collections::BTreeSet;

use tokio::time::Instant;
use tracing::{debug, warn};

use super::Controller;
use crate::watch::{
    index::{SourceKey, WorkloadKey},
    rollout::Sent,
};

// A conflicting writer gets this many fresh reads before the rollout waits for the interval.
const CONFLICT_RETRIES: usize = 3;

impl Controller {
    pub(super) fn schedule(&mut self, affected: Vec<WorkloadKey>) {
        if !self.live {
            return;
        }
        let now = Instant::now();
        for key in affected {
            debug!(namespace = %key.namespace, kind = key.kind, name = %key.name, "source content changed; rollout scheduled");
            self.scheduler.changed(key, now);
        }
    }

    /// Reads sources whose digest for a key selection in use is unknown (a consistent GET
    /// through the admission source). A source no workload references (any more) is never
    /// read: its data has no business here.
    pub(super) async fn read_sources(&mut self, sources: Vec<SourceKey>) {
        for source in sources {
            if !self.index.is_referenced(&source) {
                continue;
            }
            let (namespace, (kind, name)) = source;
            let affected = match self.reader.get(kind, &namespace, &name).await {
                Ok(Some(object)) => self.index.apply_source(kind, object),
                Ok(None) => self.index.remove_source(&(namespace, (kind, name))),
                Err(e) => {
                    warn!(error = %e, "could not read a referenced source");
                    continue;
                }
            };
            self.schedule(affected);
        }
    }

    pub(super) async fn roll_due(&mut self) {
        while let Some(key) = self.scheduler.pop_due(Instant::now()) {
            self.roll(key).await;
        }
    }

    /// Decides `key` from the newest digests and patches it if it is out of date.
    async fn roll(&mut self, key: WorkloadKey) {
        for _ in 0..CONFLICT_RETRIES {
            let Some(rollout) = self.index.rollout(&key) else {
                return;
            };
            match self.patcher.send(&rollout).await {
                Sent::Patched(workload) => {
                    self.index.apply_workload(*workload);
                    self.scheduler.rolled(key, Instant::now());
                    return;
                }
                Sent::Gone => return self.index.remove_workload(&key),
                Sent::Failed => break,
                Sent::Conflict => match self.patcher.read(&key).await {
                    Ok(Some(fresh)) => {
                        let missing = self.index.apply_workload(fresh);
                        self.read_sources(missing).await;
                    }
                    Ok(None) => return self.index.remove_workload(&key),
                    Err(e) => {
                        warn!(name = %key.name, error = %e, "could not re-read workload after a conflict");
                        break;
                    }
                },
            }
        }
        self.scheduler.failed(key, Instant::now());
    }

    pub(super) fn record_metrics(&self) {
        for (kind, count) in self.index.counts() {
            self.metrics.watch_objects(kind, count);
        }
        let namespaces = self.namespaces.as_ref().map_or(0, BTreeSet::len);
        self.metrics.watch_objects("namespace", namespaces);
        self.metrics.watch_pending(self.scheduler.pending());
        self.metrics.watch_synced(self.live);
    }
}
