//! The watcher in-process against the fake API server: fixtures for opted-in namespaces,
//! ConfigMaps and workloads (stamped through the admission core, as the webhook would),
//! and a handle that stops the watcher and reads its metrics.

use std::{sync::Arc, time::Duration};

use confighash::{
    admission::{self, Options, Target, workload::Workload},
    metrics::Metrics,
    source::{ClusterSource, Source},
    watch::{self, LeaseConfig, LeaseTiming, Limits, WatchConfig},
};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};

use super::fake_api::FakeApi;

pub const LABEL: (&str, &str) = ("confighash.io/inject", "enabled");
pub const LEASE_NAMESPACE: &str = "confighash-system";

/// Settings quick enough for tests: storm safety is unit-tested in the scheduler.
pub fn config(identity: &str) -> WatchConfig {
    WatchConfig {
        options: Options::default(),
        namespace_selector: watch::DEFAULT_NAMESPACE_SELECTOR.into(),
        namespaces: None,
        limits: Limits {
            debounce: Duration::from_millis(300),
            min_interval: Duration::from_secs(1),
            max_per_second: 50.0,
        },
        lease: LeaseConfig {
            name: "confighash-watcher".into(),
            namespace: LEASE_NAMESPACE.into(),
            identity: identity.into(),
            timing: LeaseTiming::new(Duration::from_secs(3), None).expect("valid timing"),
        },
        workload_info: false,
        policy: Default::default(),
    }
}

/// A running watcher.
pub struct Watcher {
    pub metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Starts a watcher whose API requests name its Lease identity
    /// ([`FakeApi::client_as`]).
    pub fn start(api: &FakeApi, config: WatchConfig) -> Self {
        let metrics = Arc::new(Metrics::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let client = api.client_as(&config.lease.identity);
        let task = tokio::spawn(watch::run(client, config, metrics.clone(), async {
            _ = stopped.await;
        }));
        Self {
            metrics,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A gauge or counter value from the metrics text, 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let text = self.metrics.encode();
        let line = text
            .lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '));
        line.and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    }

    pub fn leading(&self) -> bool {
        self.metric("confighash_leader") == 1.0
    }

    pub async fn synced(&self) {
        super::eventually("watcher synced", async || {
            self.metric("confighash_watch_synced") == 1.0
        })
        .await;
    }

    /// Stops the watcher and waits for it to release the lease.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            _ = task.await;
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub fn opt_in(api: &FakeApi, namespace: &str) {
    api.put_namespace(namespace, &[LABEL]);
}

/// A container consuming key `key` of `cm` through env.
pub fn env_key(cm: &str, key: &str) -> Value {
    json!({"name": "c", "image": "x", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": cm, "key": key}}}]})
}

/// A container consuming all keys of `cm` through envFrom.
pub fn env_from(cm: &str) -> Value {
    json!({"name": "c", "image": "x", "envFrom": [{"configMapRef": {"name": cm}}]})
}

/// A workload manifest of `kind` with one container.
pub fn workload(kind: &str, namespace: &str, name: &str, container: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}})
}

/// What admission would answer for `manifest` now: its annotations from the fake server's
/// ConfigMaps.
pub async fn admitted(api: &FakeApi, manifest: &Value) -> std::collections::BTreeMap<String, String> {
    admitted_with(api, manifest, &Options::default()).await
}

/// [`admitted`] with these admission options (for `--secrets`).
pub async fn admitted_with(
    api: &FakeApi,
    manifest: &Value,
    options: &Options,
) -> std::collections::BTreeMap<String, String> {
    let workload = Workload::from_manifest(manifest.clone())
        .expect("valid")
        .expect("a workload");
    let namespace = manifest["metadata"]["namespace"]
        .as_str()
        .expect("namespace")
        .to_owned();
    let target = Target::new(namespace.clone(), workload, options);
    let source = Source::Cluster(ClusterSource::new(api.client()));
    let sources = source
        .digests(&namespace, &target.references, options.secrets.as_ref())
        .await
        .expect("lookups");
    admission::decide(&target, &sources, options).desired
}

/// Stores `manifest` stamped the way the webhook would have stamped it.
pub async fn put_stamped(api: &FakeApi, mut manifest: Value) {
    let desired = admitted(api, &manifest).await;
    manifest["spec"]["template"]["metadata"]["annotations"] = json!(desired);
    api.put_object(manifest);
}

/// The stored pod-template annotations of a workload.
pub fn template_annotations(api: &FakeApi, kind: &str, namespace: &str, name: &str) -> Value {
    let object = api
        .get_object("apps/v1", kind, namespace, name)
        .expect("workload exists");
    object["spec"]["template"]["metadata"]["annotations"].clone()
}

/// Workload patches per `kind/name` path suffix.
pub fn patched(api: &FakeApi, plural: &str, namespace: &str, name: &str) -> usize {
    let path = format!("/apis/apps/v1/namespaces/{namespace}/{plural}/{name}");
    api.workload_patches().iter().filter(|r| r.path == path).count()
}

/// A barrier: changes the sentinel's ConfigMap and waits for its rollout. Everything the
/// watcher scheduled before has been decided by then (same debounce, earliest due first).
pub async fn barrier(api: &FakeApi, namespace: &str, round: usize) {
    api.put_configmap(namespace, "sentinel", &[("round", &round.to_string())]);
    super::eventually("sentinel rollout", async || {
        patched(api, "deployments", namespace, "sentinel") >= round
    })
    .await;
}

/// Stores the sentinel ConfigMap and its stamped Deployment.
pub async fn put_sentinel(api: &FakeApi, namespace: &str) {
    api.put_configmap(namespace, "sentinel", &[("round", "0")]);
    put_stamped(
        api,
        workload("Deployment", namespace, "sentinel", env_from("sentinel")),
    )
    .await;
}
