//! The cost of a consistent read per admission: the same fixed-rate load against a webhook
//! reading the fake API server and one reading a directory, and the fake API server's own
//! time for the same reads (the four GETs of one admission, through the same kube client).
//! Servers run on a 2-worker runtime, the client on its own thread.

#[path = "../../tests/it/common/mod.rs"]
#[allow(dead_code)] // the load benchmark uses a part of the harness
mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{Webhook, WebhookOptions, fake_api::FakeApi};
use confighash::source::{ClusterSource, DirSource, Source};
use hdrhistogram::Histogram;
use serde_json::json;

use super::{client::Target, support};

#[derive(clap::Args)]
pub struct ClusterArgs {
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    #[arg(long, default_value_t = 16)]
    connections: usize,
}

pub fn run(args: ClusterArgs) {
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    support::write_configmaps(dir.path()).expect("ConfigMaps");
    let (api, cluster, local, lookups) = servers.block_on(async {
        let api = FakeApi::start().await;
        for (name, size) in support::CONFIGMAPS {
            let mut object = serde_json::to_value(support::configmap(name, size)).expect("ConfigMap");
            object["apiVersion"] = json!("v1");
            object["kind"] = json!("ConfigMap");
            api.put_object(object);
        }
        let webhook = |source| {
            Webhook::with(WebhookOptions {
                source,
                ..Default::default()
            })
        };
        let cluster = webhook(Source::Cluster(ClusterSource::new(api.client()))).await;
        let local = webhook(Source::Dir(DirSource::load(dir.path()).expect("load"))).await;
        let lookups = Source::Cluster(ClusterSource::new(api.client()));
        (api, cluster, local, lookups)
    });
    let rt = super::client_runtime();
    let mut result = json!({"mode": "cluster-source", "target_rate": args.rate});
    for (label, webhook) in [("directory", &local), ("cluster", &cluster)] {
        let target = Target::new(
            webhook.addr,
            &webhook.certs.ca,
            "/mutate?timeout=10s",
            support::UPDATE.to_vec(),
        );
        super::load(&rt, &target, args.rate, Duration::from_secs(3), args.connections);
        let run = super::load(&rt, &target, args.rate, args.duration, args.connections);
        result[label] = super::summary(&run);
    }
    let ids: Vec<_> = support::lookups().into_keys().collect();
    let read = move || {
        let (lookups, ids) = (lookups.clone(), ids.clone());
        async move { lookups.get_all(support::NAMESPACE, &ids).await.is_ok() }
    };
    servers.block_on(paced(args.rate, Duration::from_secs(3), read.clone()));
    result["fake_api_reads"] = servers.block_on(paced(args.rate, args.duration, read));
    for q in ["p50_ms", "p99_ms", "p99_9_ms"] {
        let added = result["cluster"][q].as_f64().unwrap_or_default()
            - result["directory"][q].as_f64().unwrap_or_default();
        result[format!("added_{q}")] = json!(added);
    }
    result["fake_api_gets"] = json!(api.requests().len());
    super::report(&result);
}

/// Starts `op` at `rate` per second for `duration`, each on its own task, and returns the
/// latency summary measured from the intended start.
async fn paced<F, Fut>(rate: f64, duration: Duration, op: F) -> serde_json::Value
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1_000, 120_000_000_000, 3).expect("histogram"),
    ));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (start, mut next) = super::client::pacer(rate, duration, 1);
    let mut next = next.pop().expect("one channel");
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(intended) = next.recv().await {
        let (histogram, errors, op) = (histogram.clone(), errors.clone(), op());
        tasks.spawn(async move {
            let ok = op.await;
            let latency = intended.elapsed().as_nanos() as u64;
            histogram.lock().expect("lock").saturating_record(latency);
            errors.fetch_add(u64::from(!ok), std::sync::atomic::Ordering::Relaxed);
        });
    }
    tasks.join_all().await;
    let elapsed = start.elapsed().as_secs_f64();
    let h = histogram.lock().expect("lock");
    json!({
        "requests": h.len(),
        "errors": errors.load(std::sync::atomic::Ordering::Relaxed),
        "throughput": h.len() as f64 / elapsed,
        "p50_ms": h.value_at_percentile(50.0) as f64 / 1e6,
        "p99_ms": h.value_at_percentile(99.0) as f64 / 1e6,
        "p99_9_ms": h.value_at_percentile(99.9) as f64 / 1e6,
    })
}
