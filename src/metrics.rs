//! Prometheus metrics (prometheus-client), kept in one struct that the server shares.

use std::sync::{Mutex, atomic::AtomicI64};

use kube::core::admission::Operation;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

mod text;
mod watch;

use self::{text::text_format, watch::WatchMetrics};
use crate::{
    admission::{Decision, kinds::WorkloadKind},
    watch::{index::Drift, scheduler::Reason},
};

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
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabel {
    component: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkloadStateLabels {
    kind: &'static str,
    state: &'static str,
}

/// One workload of the opt-in `confighash_workload_config_info` metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkloadInfo {
    /// Namespace.
    pub namespace: String,
    /// `Deployment`, `StatefulSet`, `DaemonSet` or a configured kind.
    pub kind: &'static str,
    /// Name.
    pub name: String,
    /// The `config-hash` its pod template carries (empty when it carries none).
    pub config_hash: String,
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
    refused: Family<ReasonLabel, Counter>,
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
        let refused = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "refused",
            "Requests and connections refused by a limit (contract §12), by reason",
            refused.clone(),
        );
        Self {
            refused,
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

    /// The registry for a server reading from `source`: with the digest cache's metrics
    /// when it reads from the cluster.
    pub fn for_source(source: &crate::source::Source) -> Self {
        let mut metrics = Self::new();
        if let crate::source::Source::Cluster(cluster) = source {
            metrics.register_digest_cache(cluster.digest_cache().metrics());
        }
        metrics
    }

    /// Registers the cluster source's digest cache: lookups by result and objects held.
    pub fn register_digest_cache(&mut self, cache: &crate::source::digest_cache::CacheMetrics) {
        self.registry.register(
            "source_digest_cache_requests",
            "Source digests looked up in the digest cache, by result: hit (no full read, parse or hash) or miss",
            cache.requests.clone(),
        );
        self.registry.register(
            "source_digest_cache_objects",
            "ConfigMaps and Secrets whose digests the digest cache holds",
            cache.objects.clone(),
        );
    }

    /// Records one answered review.
    /// `kind` is a workload kind in use, or `other`.
    pub fn admission(&self, kind: &'static str, operation: &Operation, decision: &Decision, seconds: f64) {
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

    /// Records a request or connection refused by a limit: `memory_budget`, `body_too_large`,
    /// `read_timeout`, `ops_connections` or `webhook_connections`.
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabel { reason }).inc();
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

    /// The exposition a scraper asks for with its `Accept` header: OpenMetrics when it
    /// names `application/openmetrics-text` (Prometheus does), otherwise the classic
    /// Prometheus text format 0.0.4 (curl, `promtool check metrics`, older scrapers).
    /// Returns the content type and the body.
    pub fn exposition(&self, accept: Option<&str>) -> (&'static str, String) {
        if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
            let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
            (content_type, self.encode())
        } else {
            ("text/plain; version=0.0.4; charset=utf-8", self.encode_text())
        }
    }

    /// The Prometheus text format 0.0.4: the OpenMetrics text with the counters' HELP and
    /// TYPE lines named after their `_total` samples, and without `# EOF` and `# UNIT`.
    pub fn encode_text(&self) -> String {
        text_format(&self.encode())
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests;
