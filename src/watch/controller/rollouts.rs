//! The acting half of the [`Controller`]: scheduling affected workloads, reading sources
//! whose digest is missing, and rolling what the scheduler releases.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use kube::runtime::events::EventType;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::Controller;
use crate::{
    metrics::WorkloadInfo,
    watch::{
        index::{SourceKey, WorkloadKey},
        policy::{self, Decision, Held},
        rollout::Sent,
        scheduler::Hold,
    },
};

/// The longest a window hold sleeps before the wall clock is read again, so a clock that
/// was stepped (NTP, a suspended node) is noticed within this bound.
const WINDOW_RECHECK: std::time::Duration = std::time::Duration::from_secs(3600);

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
                self.announced_holds.remove(&key);
                return self.scheduler.settled(&key);
            };
            if let Some(held) = self.policy_holds(&key).await {
                return self.hold(key, held).await;
            }
            match self.patcher.send(&rollout).await {
                Sent::Patched(workload) => {
                    self.announced_holds.remove(&key);
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

    /// What the rollout policy says about `key` now; an invalid window is logged and
    /// reported by one Event per value, and counts as no window.
    async fn policy_holds(&mut self, key: &WorkloadKey) -> Option<Held> {
        let workload = self.index.policy(key).cloned().unwrap_or_default();
        let namespace = self.namespace_policy.get(&key.namespace);
        let default = self.policy.default_window.as_ref();
        let now = self.policy.clock.now();
        let Decision { held, invalid } = policy::decide(&workload, &key.namespace, namespace, default, now);
        match invalid {
            Some(invalid) if self.reported_invalid.get(key) != Some(&invalid.value) => {
                warn!(namespace = %key.namespace, kind = %key.kind, name = %key.name, "{invalid}");
                let note = Some(invalid.to_string());
                let sent = (self.patcher)
                    .publish(key, EventType::Warning, "InvalidRolloutWindow", "Rollout", note)
                    .await;
                if let Err(e) = sent {
                    warn!(namespace = %key.namespace, name = %key.name, error = %e, "could not publish the invalid-window Event");
                }
                self.reported_invalid.insert(key.clone(), invalid.value);
            }
            Some(_) => {}
            None => _ = self.reported_invalid.remove(key),
        }
        held
    }

    /// Holds `key` for `held`; the first hold since its last rollout is announced by an
    /// Event and a log line.
    async fn hold(&mut self, key: WorkloadKey, held: Held) {
        let hold = match &held {
            Held::Paused(_) => Hold::Paused,
            Held::Window { opens, now, .. } => {
                let wait = opens.duration_since(*now).unsigned_abs().min(WINDOW_RECHECK);
                Hold::Window {
                    until: Instant::now() + wait,
                }
            }
        };
        self.scheduler.hold(key.clone(), hold);
        if self.announced_holds.insert(key.clone()) {
            let reason = held.to_string();
            info!(namespace = %key.namespace, kind = %key.kind, name = %key.name, %reason, "rollout held");
            let sent = (self.patcher)
                .publish(&key, EventType::Normal, "RolloutHeld", "Rollout", Some(reason))
                .await;
            if let Err(e) = sent {
                warn!(namespace = %key.namespace, name = %key.name, error = %e, "could not publish the held Event");
            }
        }
    }

    /// `key` is gone or no longer watched.
    pub(super) fn forget(&mut self, key: &WorkloadKey) {
        self.scheduler.forget(key);
        self.announced_holds.remove(key);
        self.reported_invalid.remove(key);
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
