//! `--watch-namespaces` (a namespace-scoped install): the watcher watches each listed
//! namespace on its own, never lists or watches anything cluster-wide, and never looks at
//! a namespace outside the list.

use crate::common;

use common::{eventually, fake_api::FakeApi, watcher::*};
use confighash::watch::WatchConfig;

#[tokio::test]
async fn listed_namespaces_are_watched_one_by_one_and_nothing_cluster_wide() {
    let api = FakeApi::start().await;
    // No opt-in label anywhere: the list is what counts.
    for ns in ["a", "b", "outside"] {
        api.put_namespace(ns, &[]);
        api.put_configmap(ns, "app", &[("k", "1")]);
        put_stamped(&api, workload("Deployment", ns, "web", env_from("app"))).await;
    }
    let watcher = Watcher::start(
        &api,
        WatchConfig {
            namespaces: Some(["a".to_owned(), "b".to_owned()].into()),
            ..config("a")
        },
    );
    watcher.synced().await;
    api.put_configmap("outside", "app", &[("k", "2")]);
    api.put_configmap("a", "app", &[("k", "2")]);
    api.put_configmap("b", "app", &[("k", "2")]);
    eventually("a and b rolled", async || {
        patched(&api, "deployments", "a", "web") == 1 && patched(&api, "deployments", "b", "web") == 1
    })
    .await;
    assert_eq!(patched(&api, "deployments", "outside", "web"), 0, "not listed");

    let requests = api.requests();
    let watcher_reads: Vec<_> = requests
        .iter()
        .filter(|r| r.client.as_deref() == Some("a") && r.method == "GET")
        .filter(|r| !r.path.contains("/leases"))
        .collect();
    assert!(!watcher_reads.is_empty());
    for r in &watcher_reads {
        assert!(
            r.path.starts_with("/api/v1/namespaces/a/")
                || r.path.starts_with("/api/v1/namespaces/b/")
                || r.path.starts_with("/apis/apps/v1/namespaces/a/")
                || r.path.starts_with("/apis/apps/v1/namespaces/b/"),
            "a read outside the listed namespaces: {r:?}"
        );
    }
    for kind in ["configmaps", "deployments", "statefulsets", "daemonsets"] {
        for ns in ["a", "b"] {
            let suffix = format!("/namespaces/{ns}/{kind}");
            assert!(
                watcher_reads.iter().any(|r| r.path.ends_with(&suffix)),
                "no list or watch of {kind} in {ns}"
            );
        }
    }
    drop(watcher);
}
