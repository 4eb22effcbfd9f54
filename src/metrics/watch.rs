//! The watcher's metrics: rollouts, what is pending, what the leader holds and whether it
//! leads and is synced.

use std::collections::HashSet;

use super::*;

/// The watcher's metrics (contract §9).
#[derive(Debug, Default)]
pub(super) struct WatchMetrics {
    rollouts: Family<RolloutLabels, Counter>,
    pending: Family<ReasonLabel, Gauge>,
    objects: Family<KindLabel, Gauge>,
    leader: Gauge,
    synced: Gauge,
    workloads: Family<WorkloadStateLabels, Gauge>,
    kinds_unavailable: Family<KindLabel, Gauge>,
    workload_info: Family<WorkloadInfo, Gauge>,
    /// The info series set last, so the next update removes exactly the ones gone.
    published_info: Mutex<HashSet<WorkloadInfo>>,
}

impl WatchMetrics {
    pub(super) fn register(self, registry: &mut Registry) -> Self {
        registry.register(
            "watch_rollouts",
            "Workload patches sent by the watcher, by kind and result",
            self.rollouts.clone(),
        );
        registry.register(
            "watch_pending",
            "Workloads waiting for a rollout, by what holds them (debounce, interval, rate)",
            self.pending.clone(),
        );
        registry.register(
            "watch_objects",
            "Objects the watcher holds, by kind",
            self.objects.clone(),
        );
        registry.register(
            "watch_synced",
            "1 once the leader has listed everything and follows changes live",
            self.synced.clone(),
        );
        registry.register(
            "watch_kind_unavailable",
            "1 while the API server does not serve a configured workload kind (its CRD is not installed); retried with backoff",
            self.kinds_unavailable.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the watcher lease",
            self.leader.clone(),
        );
        registry.register(
            "workloads",
            "Workloads that consume config, by kind and state (current, held, stale, unstamped); set by the leader once synced",
            self.workloads.clone(),
        );
        registry.register(
            "workload_config_info",
            "1 per workload with the config-hash it carries (only with --workload-info-metric)",
            self.workload_info.clone(),
        );
        // Every reason, kind and state exists from the start, so queries never miss a series.
        for reason in Reason::ALL {
            self.pending
                .get_or_create(&ReasonLabel {
                    reason: reason.as_str(),
                })
                .set(0);
        }
        for kind in WorkloadKind::BUILT_IN.map(|k| k.kind()) {
            for state in Drift::ALL {
                self.workloads
                    .get_or_create(&WorkloadStateLabels {
                        kind,
                        state: state.as_str(),
                    })
                    .set(0);
            }
        }
        self
    }
}

impl Metrics {
    /// Records a watcher rollout of a `kind` workload: `patched`, `conflict`, `gone` or `error`.
    pub fn watch_rollout(&self, kind: &'static str, result: &'static str) {
        self.watch
            .rollouts
            .get_or_create(&RolloutLabels { kind, result })
            .inc();
    }

    /// Sets the number of workloads waiting for a rollout, per reason; reasons not given are 0.
    pub fn watch_pending(&self, pending: &[(Reason, usize)]) {
        for reason in Reason::ALL {
            let n = pending.iter().find(|(r, _)| *r == reason).map_or(0, |(_, n)| *n);
            let labels = ReasonLabel {
                reason: reason.as_str(),
            };
            self.watch.pending.get_or_create(&labels).set(n as i64);
        }
    }

    /// Sets how many objects of `kind` the watcher holds.
    pub fn watch_objects(&self, kind: &'static str, count: usize) {
        self.watch
            .objects
            .get_or_create(&KindLabel { kind })
            .set(count as i64);
    }

    /// Sets whether the API server serves the configured workload `kind` (by its name).
    pub fn watch_kind_unavailable(&self, kind: &'static str, unavailable: bool) {
        self.watch
            .kinds_unavailable
            .get_or_create(&KindLabel { kind })
            .set(i64::from(unavailable));
    }

    /// Sets whether the watcher has listed everything and follows changes live.
    pub fn watch_synced(&self, synced: bool) {
        self.watch.synced.set(i64::from(synced));
    }

    /// Sets the count of workloads in each state per kind; kinds and states not given are 0.
    pub fn watch_workloads(&self, counts: &std::collections::BTreeMap<(&'static str, Drift), usize>) {
        let built_in = WorkloadKind::BUILT_IN.map(|k| k.kind());
        let configured = counts
            .keys()
            .map(|(kind, _)| *kind)
            .filter(|k| !built_in.contains(k));
        let kinds: std::collections::BTreeSet<&'static str> =
            built_in.into_iter().chain(configured).collect();
        for kind in kinds {
            for state in Drift::ALL {
                let n = counts.get(&(kind, state)).copied().unwrap_or(0);
                let labels = WorkloadStateLabels {
                    kind,
                    state: state.as_str(),
                };
                self.watch.workloads.get_or_create(&labels).set(n as i64);
            }
        }
    }

    /// Replaces the per-workload info series with `rows` (the series of workloads gone
    /// are removed).
    pub fn workload_info(&self, rows: HashSet<WorkloadInfo>) {
        let mut published = match self.watch.published_info.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for gone in published.difference(&rows) {
            self.watch.workload_info.remove(gone);
        }
        for row in &rows {
            self.watch.workload_info.get_or_create(row).set(1);
        }
        *published = rows;
    }

    /// Sets whether this replica leads.
    pub fn leader(&self, leading: bool) {
        self.watch.leader.set(i64::from(leading));
    }
}
