//! `confighash serve --watch` as a real process with KUBECONFIG on the fake API server:
//! the CLI wiring, the Lease namespace from the kubeconfig, one log line per rollout, and
//! releasing the Lease on SIGTERM so another replica takes over at once.

use crate::common;

use std::time::Duration;

use common::{client::http_get, eventually, fake_api::FakeApi, process::ServeProcess, watcher::*};
use serde_json::Value;

const NS: &str = "demo";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_watch_rolls_logs_and_releases_its_lease_on_sigterm() {
    let api = FakeApi::start().await;
    opt_in(&api, NS);
    api.put_configmap(NS, "app", &[("a", "1")]);
    put_stamped(&api, workload("Deployment", NS, "web", env_from("app"))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(dir.path(), "confighash-system");
    let kubeconfig = kubeconfig.to_str().expect("utf-8 path");
    let args = ["--watch", "--debounce", "0s", "--lease-identity", "pod-a"];
    let mut server =
        ServeProcess::start_with(&dir.path().join("certs"), &args, &[("KUBECONFIG", kubeconfig)]);
    eventually("synced", async || {
        http_get(server.ops, "/metrics")
            .await
            .text()
            .contains("confighash_watch_synced 1")
    })
    .await;

    api.put_configmap(NS, "app", &[("a", "2")]);
    eventually("rolled", async || patched(&api, "deployments", NS, "web") == 1).await;
    let metrics = http_get(server.ops, "/metrics").await.text();
    assert!(metrics.contains("confighash_leader 1"), "{metrics}");
    let lease = || {
        api.get_object(
            "coordination.k8s.io/v1",
            "Lease",
            "confighash-system",
            "confighash-watcher",
        )
    };
    assert_eq!(lease().expect("lease")["spec"]["holderIdentity"], "pod-a");

    server.signal("TERM");
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(
        lease().expect("lease")["spec"]["holderIdentity"],
        Value::Null,
        "released"
    );

    let logs = server.drain_logs(Duration::from_millis(100));
    let rollouts: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["message"].as_str().is_some_and(|m| m.starts_with("rolled out")))
        .collect();
    assert_eq!(rollouts.len(), 1, "{logs:#?}");
    assert_eq!(rollouts[0]["name"], "web");
    assert!(
        rollouts[0]["changed"]
            .as_str()
            .is_some_and(|c| c.starts_with("configmap/app "))
    );
}
