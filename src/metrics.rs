//! Prometheus metrics (prometheus-client), kept in one struct that the server shares.

use std::{
    collections::HashSet,
    sync::{Mutex, atomic::AtomicI64},
};

use kube::core::admission::Operation;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

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

/// The watcher's metrics (contract §9).
#[derive(Debug, Default)]
struct WatchMetrics {
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
    fn register(self, registry: &mut Registry) -> Self {
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

/// Rewrites an OpenMetrics exposition as Prometheus text format 0.0.4 (see
/// [`Metrics::encode_text`]); sample lines are the same in both.
fn text_format(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        match descriptor {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let total = if counters.contains(name) { "_total" } else { "" };
                out.push_str(&format!("{prefix}{name}{total} {tail}"));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn info(name: &str, hash: &str) -> WorkloadInfo {
        WorkloadInfo {
            namespace: "shop".into(),
            kind: "Deployment",
            name: name.into(),
            config_hash: hash.into(),
        }
    }

    #[test]
    fn scrapers_get_openmetrics_when_they_ask_and_the_text_format_otherwise() {
        let metrics = Metrics::new();
        metrics.tls_reloaded(true, Some(1));
        let (content_type, body) = metrics.exposition(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        ));
        assert!(content_type.starts_with("application/openmetrics-text"));
        assert_eq!(body, metrics.encode());
        assert!(body.contains("# TYPE confighash_tls_reloads counter\n"));
        assert!(body.ends_with("# EOF\n"));

        let (content_type, text) = metrics.exposition(None);
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        assert!(text.contains(
            "# HELP confighash_tls_reloads_total TLS certificate reload attempts by result.\n\
             # TYPE confighash_tls_reloads_total counter\n\
             confighash_tls_reloads_total{result=\"success\"} 1\n"
        ));
        assert!(
            text.contains("# TYPE confighash_leader gauge\n"),
            "gauges keep their name"
        );
        assert!(!text.contains("# EOF"));
        // Sample lines are the same in both formats.
        let samples = |t: &str| {
            t.lines()
                .filter(|l| !l.starts_with('#'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(samples(&text), samples(&body));
    }

    #[test]
    fn every_kind_and_state_is_exported_from_the_start() {
        let text = Metrics::new().encode();
        for kind in WorkloadKind::BUILT_IN.map(|k| k.kind()) {
            for state in Drift::ALL {
                let series = format!(
                    "confighash_workloads{{kind=\"{kind}\",state=\"{}\"}} 0",
                    state.as_str()
                );
                assert!(text.contains(&series), "{series} missing from:\n{text}");
            }
        }
        assert!(
            !text.contains("confighash_workload_config_info{"),
            "off until set"
        );
    }

    #[test]
    fn workload_counts_and_info_series_follow_the_latest_update() {
        let metrics = Metrics::new();
        let counts = BTreeMap::from([(("Deployment", Drift::Stale), 3)]);
        metrics.watch_workloads(&counts);
        let text = metrics.encode();
        assert!(text.contains(r#"confighash_workloads{kind="Deployment",state="stale"} 3"#));
        metrics.watch_workloads(&BTreeMap::new());
        assert!(
            metrics
                .encode()
                .contains(r#"confighash_workloads{kind="Deployment",state="stale"} 0"#)
        );

        metrics.workload_info(HashSet::from([info("web", "sha256:a"), info("api", "sha256:b")]));
        metrics.workload_info(HashSet::from([info("web", "sha256:c"), info("api", "sha256:b")]));
        let text = metrics.encode();
        let lines: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with("confighash_workload_config_info{"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(text.contains(
            r#"confighash_workload_config_info{namespace="shop",kind="Deployment",name="web",config_hash="sha256:c"} 1"#
        ));
        assert!(!text.contains("sha256:a"), "a rolled workload's old hash is gone");
    }
}
