//! The acting half of the [`Controller`]: scheduling affected workloads, reading sources
//! whose digest is missing, and rolling what the scheduler releases.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use tokio::time::Instant;
use tracing::{debug, warn};

use super::Controller;
use crate::{
    metrics::WorkloadInfo,
    watch::{
        index::{SourceKey, WorkloadKey},
        rollout::Sent,
    },
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
            debug!(namespace = %key.namespace, kind = %key.kind, name = %key.name, "source content changed; rollout scheduled");
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
            let read = self.reader.get(kind, &namespace, &name);
            let read = tokio::time::timeout(self.patcher.timeout(), read).await;
            let affected = match read {
                Ok(Ok(Some(object))) => self.index.apply_source(kind, object),
                Ok(Ok(None)) => self.index.remove_source(&(namespace, (kind, name))),
                Err(_) => {
                    let timeout = self.patcher.timeout();
                    warn!(
                        namespace,
                        name = %name,
                        ?timeout,
                        "could not read a referenced source in time"
                    );
                    continue;
                }
                Ok(Err(e)) => {
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
                return self.scheduler.settled(&key);
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

    /// Counts pending workloads per reason and workloads per kind and state (and, with
    /// `--workload-info-metric`, exports each one's `config-hash`). Walks every pending
    /// and every held workload, so it runs on a timer. Only once synced: before that the
    /// index is partial and nothing is pending.
    pub(super) fn record_drift(&self) {
        if !self.live {
            return;
        }
        let pending = self.scheduler.pending_by_reason(Instant::now());
        self.metrics.watch_pending(&pending);
        let drift = self.index.drift(|key| self.scheduler.queued(key));
        let mut counts = BTreeMap::new();
        for d in &drift {
            *counts.entry((d.key.kind.kind(), d.state)).or_insert(0) += 1;
        }
        self.metrics.watch_workloads(&counts);
        if self.workload_info {
            let rows: HashSet<WorkloadInfo> = drift
                .iter()
                .map(|d| WorkloadInfo {
                    namespace: d.key.namespace.clone(),
                    kind: d.key.kind.kind(),
                    name: d.key.name.clone(),
                    config_hash: d.config_hash.unwrap_or_default().to_owned(),
                })
                .collect();
            self.metrics.workload_info(rows);
        }
    }

    pub(super) fn record_metrics(&self) {
        for (kind, count) in self.index.counts() {
            self.metrics.watch_objects(kind, count);
        }
        let namespaces = self.namespaces.as_ref().map_or(0, BTreeSet::len);
        self.metrics.watch_objects("namespace", namespaces);
        self.metrics.watch_synced(self.live);
    }
}
