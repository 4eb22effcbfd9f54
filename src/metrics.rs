//! Prometheus metrics (prometheus-client), kept in one struct that the server shares.

use std::sync::atomic::AtomicI64;

use kube::core::admission::Operation;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::admission::{Decision, workload::KINDS};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdmissionLabels {
    kind: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RolloutLabels {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabel {
    component: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// Every metric confighash exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    admissions: Family<AdmissionLabels, Counter>,
    admission_duration: Histogram,
    lookups: Family<ResultLabel, Counter>,
    sources_over_limit: Family<ComponentLabel, Counter>,
    tls_reloads: Family<ResultLabel, Counter>,
    tls_expiry: Gauge<i64, AtomicI64>,
    watch: WatchMetrics,
}

/// The watcher's metrics (contract §9).
#[derive(Debug, Default)]
struct WatchMetrics {
    rollouts: Family<RolloutLabels, Counter>,
    pending: Gauge,
    objects: Family<KindLabel, Gauge>,
    leader: Gauge,
    synced: Gauge,
}

impl WatchMetrics {
    fn register(self, registry: &mut Registry) -> Self {
        registry.register(
            "watch_rollouts",
            "Workload patches sent by the watcher, by kind and result",
            self.rollouts.clone(),
        );
        registry.register(
            "watch_pending",
            "Workloads waiting for a rollout",
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
            "leader",
            "1 while this replica holds the watcher lease",
            self.leader.clone(),
        );
        self
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered under the `confighash_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("confighash");
        let admissions = Family::<AdmissionLabels, Counter>::default();
        // 100 µs to ~3.3 s: the core answers in microseconds, lookups take milliseconds.
        let admission_duration = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            1e-4, 2.0, 16,
        ));
        let lookups = Family::<ResultLabel, Counter>::default();
        let tls_reloads = Family::<ResultLabel, Counter>::default();
        let sources_over_limit = Family::<ComponentLabel, Counter>::default();
        let tls_expiry = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "admission_requests",
            "Admission reviews answered",
            admissions.clone(),
        );
        registry.register(
            "admission_duration_seconds",
            "Time to answer an admission review",
            admission_duration.clone(),
        );
        registry.register("configmap_lookups", "ConfigMap reads by result", lookups.clone());
        registry.register(
            "sources_over_limit",
            "Workloads left unchanged because they reference more than --max-sources sources, by component",
            sources_over_limit.clone(),
        );
        registry.register(
            "tls_reloads",
            "TLS certificate reload attempts by result",
            tls_reloads.clone(),
        );
        registry.register(
            "tls_certificate_expiry_timestamp_seconds",
            "notAfter of the served certificate, Unix seconds",
            tls_expiry.clone(),
        );
        let watch = WatchMetrics::default().register(&mut registry);
        Self {
            registry,
            watch,
            admissions,
            admission_duration,
            lookups,
            sources_over_limit,
            tls_reloads,
            tls_expiry,
        }
    }

    /// Records one answered review.
    pub fn admission(&self, kind: &str, operation: &Operation, decision: &Decision, seconds: f64) {
        let kind = KINDS.iter().copied().find(|k| *k == kind).unwrap_or("other");
        let operation = match operation {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        };
        let labels = AdmissionLabels {
            kind,
            operation,
            outcome: decision.outcome.as_str(),
        };
        self.admissions.get_or_create(&labels).inc();
        if decision.outcome == crate::admission::Outcome::TooManySources {
            self.sources_over_limit("webhook");
        }
        self.admission_duration.observe(seconds);
        let lookups = decision.lookups;
        self.lookup("found", lookups.found);
        self.lookup("absent", lookups.absent);
        if let Some(result) = lookups.failed {
            self.lookup(result, 1);
        }
    }

    fn lookup(&self, result: &'static str, n: u64) {
        if n > 0 {
            self.lookups.get_or_create(&ResultLabel { result }).inc_by(n);
        }
    }

    /// Records a workload left alone by `component` (`webhook` or `watcher`) because it
    /// references more than `--max-sources` sources.
    pub fn sources_over_limit(&self, component: &'static str) {
        self.sources_over_limit
            .get_or_create(&ComponentLabel { component })
            .inc();
    }

    /// Records a TLS load; `expiry` is the new certificate's notAfter.
    pub fn tls_reloaded(&self, ok: bool, expiry: Option<i64>) {
        let result = if ok { "success" } else { "failure" };
        self.tls_reloads.get_or_create(&ResultLabel { result }).inc();
        if let Some(expiry) = expiry {
            self.tls_expiry.set(expiry);
        }
    }

    /// Records a watcher rollout of a `kind` workload: `patched`, `conflict`, `gone` or `error`.
    pub fn watch_rollout(&self, kind: &'static str, result: &'static str) {
        self.watch
            .rollouts
            .get_or_create(&RolloutLabels { kind, result })
            .inc();
    }

    /// Sets the number of workloads waiting for a rollout.
    pub fn watch_pending(&self, pending: usize) {
        self.watch.pending.set(pending as i64);
    }

    /// Sets how many objects of `kind` the watcher holds.
    pub fn watch_objects(&self, kind: &'static str, count: usize) {
        self.watch
            .objects
            .get_or_create(&KindLabel { kind })
            .set(count as i64);
    }

    /// Sets whether the watcher has listed everything and follows changes live.
    pub fn watch_synced(&self, synced: bool) {
        self.watch.synced.set(i64::from(synced));
    }

    /// Sets whether this replica leads.
    pub fn leader(&self, leading: bool) {
        self.watch.leader.set(i64::from(leading));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
