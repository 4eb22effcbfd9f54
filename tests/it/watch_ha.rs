//! The watcher across replicas and restarts (contract §9): one leader through a Lease,
//! takeover, catching up on changes made while no leader ran, and relisting after 410 Gone.

use crate::common;

use common::{eventually, fake_api::FakeApi, watcher::*};
use serde_json::json;

const NS: &str = "demo";

async fn cluster() -> FakeApi {
    let api = FakeApi::start().await;
    opt_in(&api, NS);
    api.put_namespace(LEASE_NAMESPACE, &[]);
    api.put_configmap(NS, "app", &[("a", "1")]);
    api.put_configmap(NS, "other", &[("x", "1")]);
    put_sentinel(&api, NS).await;
    put_stamped(&api, workload("Deployment", NS, "web", env_from("app"))).await;
    put_stamped(&api, workload("DaemonSet", NS, "agent", env_from("app"))).await;
    put_stamped(&api, workload("Deployment", NS, "unrelated", env_from("other"))).await;
    api
}

fn counts(api: &FakeApi) -> [usize; 3] {
    [
        patched(api, "deployments", NS, "web"),
        patched(api, "daemonsets", NS, "agent"),
        patched(api, "deployments", NS, "unrelated"),
    ]
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_patch_once_per_change() {
    let api = cluster().await;
    let first = Watcher::start(&api, config("replica-a"));
    let second = Watcher::start(&api, config("replica-b"));
    eventually("a leader", async || first.leading() || second.leading()).await;
    let (leader, follower) = if first.leading() {
        (first, second)
    } else {
        (second, first)
    };
    leader.synced().await;
    assert!(!follower.leading());

    api.put_configmap(NS, "app", &[("a", "2")]);
    barrier(&api, NS, 1).await;
    assert_eq!(counts(&api), [1, 1, 0]);
    let lease = api
        .get_object(
            "coordination.k8s.io/v1",
            "Lease",
            LEASE_NAMESPACE,
            "confighash-watcher",
        )
        .expect("lease");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .is_some_and(|h| h.starts_with("replica-"))
    );

    // The leader stops and releases the lease; the other replica takes over.
    leader.stop().await;
    eventually("takeover", async || follower.leading()).await;
    follower.synced().await;
    assert_eq!(
        counts(&api),
        [1, 1, 0],
        "nothing changed: the new leader rolls nothing"
    );
    api.put_configmap(NS, "app", &[("a", "3")]);
    barrier(&api, NS, 2).await;
    assert_eq!(counts(&api), [2, 2, 0]);
}

#[tokio::test]
async fn a_restart_rolls_a_change_made_while_down_once_and_nothing_otherwise() {
    let api = cluster().await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    watcher.stop().await;

    // Restart with no change: nothing rolls.
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    barrier(&api, NS, 1).await;
    assert_eq!(counts(&api), [0, 0, 0]);
    watcher.stop().await;

    // A change while down rolls once on restart.
    api.put_configmap(NS, "app", &[("a", "changed while down")]);
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    eventually("caught up", async || counts(&api) == [1, 1, 0]).await;
    barrier(&api, NS, 2).await;
    assert_eq!(counts(&api), [1, 1, 0]);
    watcher.stop().await;
}

#[tokio::test]
async fn a_watch_that_expires_relists_and_rolls_what_it_missed() {
    let api = cluster().await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    let lists_before = api.requests().iter().filter(|r| is_configmap_list(r)).count();

    // The watch ends, the change lands, and the history it would resume from is gone.
    api.end_watches();
    api.put_configmap(NS, "app", &[("a", "missed")]);
    api.compact();
    eventually("rolled after relist", async || counts(&api) == [1, 1, 0]).await;
    let lists_after = api.requests().iter().filter(|r| is_configmap_list(r)).count();
    assert!(lists_after > lists_before, "410 Gone leads to a new LIST");
    barrier(&api, NS, 1).await;
    assert_eq!(counts(&api), [1, 1, 0]);
    let web = api.get_object("apps/v1", "Deployment", NS, "web").expect("web");
    assert_eq!(
        web["spec"]["template"]["metadata"]["annotations"],
        json!(admitted(&api, &web).await)
    );
    watcher.stop().await;
}

fn is_configmap_list(r: &common::fake_api::Recorded) -> bool {
    r.method == "GET"
        && r.path == "/api/v1/configmaps"
        && r.query.as_deref().is_some_and(|q| !q.contains("watch="))
}

#[tokio::test]
async fn a_leader_that_vanished_is_replaced_once_its_lease_expires() {
    let api = cluster().await;
    // A leader that died without releasing: its record stays, renewed a moment ago.
    api.put_object(json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "confighash-watcher", "namespace": LEASE_NAMESPACE},
        "spec": {"holderIdentity": "ghost", "leaseDurationSeconds": 3, "leaseTransitions": 4,
            "renewTime": "2026-11-22T05:00:00.000000Z"}}));
    let watcher = Watcher::start(&api, config("replica-b"));
    // The record must stay unchanged for a whole lease duration on b's clock first.
    eventually("b takes over", async || watcher.leading()).await;
    watcher.synced().await;
    let lease = api
        .get_object(
            "coordination.k8s.io/v1",
            "Lease",
            LEASE_NAMESPACE,
            "confighash-watcher",
        )
        .expect("lease");
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 5);
    let lease_writes = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/leases/"))
        .count();
    assert!(lease_writes >= 1);
    api.put_configmap(NS, "app", &[("a", "after takeover")]);
    barrier(&api, NS, 1).await;
    assert_eq!(counts(&api), [1, 1, 0]);
}
