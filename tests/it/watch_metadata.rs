//! The watcher follows ConfigMaps and Secrets in the metadata-only form (contract §9): it
//! never lists or watches their data, and reads in full only the sources some workload
//! references — when their resourceVersion changes, or when a workload starts to reference
//! one. Also the fake API server's metadata-only answers and paging, as the real API server
//! gives them.

use crate::common;

use common::{
    eventually,
    fake_api::{FakeApi, Recorded},
    watcher::*,
};
use confighash::{admission::Options, hash_key::HashKey};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, api::ListParams};
use serde_json::json;

const NS: &str = "demo";

fn options() -> Options {
    Options {
        secrets: Some(HashKey::from_bytes(&[7u8; 32]).expect("key")),
        ..Options::default()
    }
}

/// The names of ConfigMaps or Secrets (`plural`) that requests read with their data.
fn read_in_full(requests: &[Recorded], plural: &str) -> Vec<String> {
    let reads = requests.iter().filter(|r| r.reads_full(plural));
    reads.map(|r| r.path.clone()).collect()
}

#[tokio::test]
async fn only_referenced_sources_are_ever_read_with_their_data() {
    let api = FakeApi::start().await;
    opt_in(&api, NS);
    api.put_namespace("elsewhere", &[]);
    put_sentinel(&api, NS).await;
    api.put_configmap(NS, "app", &[("a", "1")]);
    api.put_configmap(NS, "unused", &[("big", &"x".repeat(100_000))]);
    api.put_configmap(NS, "later", &[("l", "1")]);
    api.put_configmap("elsewhere", "app", &[("a", "1")]);
    api.put_secret(NS, "unused-secret", &[("password", "never read")]);
    api.put_secret("elsewhere", "db", &[("password", "never read")]);
    put_stamped(&api, workload("Deployment", NS, "web", env_key("app", "a"))).await;
    let late = workload("Deployment", NS, "late", env_from("later"));
    let mut stamped_late = late.clone();
    stamped_late["spec"]["template"]["metadata"]["annotations"] = json!(admitted(&api, &late).await);
    let from = api.requests().len();

    let mut config = config("a");
    config.options = options();
    let watcher = Watcher::start(&api, config);
    watcher.synced().await;
    // Unreferenced sources change: nothing is read.
    api.put_configmap(NS, "unused", &[("big", "changed")]);
    api.put_secret(NS, "unused-secret", &[("password", "changed")]);
    api.put_configmap("elsewhere", "app", &[("a", "changed")]);
    // A referenced one changes: read, and its consumer rolls.
    api.put_configmap(NS, "app", &[("a", "2")]);
    eventually("web rolled", async || {
        patched(&api, "deployments", NS, "web") == 1
    })
    .await;
    // A workload starts referencing a source no one referenced: read once, then followed.
    api.put_object(stamped_late);
    barrier(&api, NS, 1).await;
    api.put_configmap(NS, "later", &[("l", "2")]);
    eventually("late rolled", async || {
        patched(&api, "deployments", NS, "late") == 1
    })
    .await;
    barrier(&api, NS, 2).await;

    let requests = &api.requests()[from..];
    let mut configmaps = read_in_full(requests, "configmaps");
    configmaps.sort();
    configmaps.dedup();
    let path = |name: &str| format!("/api/v1/namespaces/{NS}/configmaps/{name}");
    assert_eq!(
        configmaps,
        [path("app"), path("later"), path("sentinel")],
        "only referenced ConfigMaps, one GET each"
    );
    assert_eq!(read_in_full(requests, "secrets"), Vec::<String>::new());
    let metadata_lists = requests
        .iter()
        .filter(|r| r.metadata_only && (r.path == "/api/v1/configmaps" || r.path == "/api/v1/secrets"));
    assert!(
        metadata_lists.count() >= 2,
        "ConfigMaps and Secrets followed by metadata"
    );
    let sent = api.bytes_sent();
    assert!(
        sent.keys().all(|k| !(k.verb == "list" || k.verb == "watch")
            || k.resource != "configmaps"
            || k.metadata_only),
        "no full ConfigMap list or watch: {sent:?}"
    );
    watcher.stop().await;
}

#[tokio::test]
async fn a_source_deleted_and_created_again_is_read_again() {
    let api = FakeApi::start().await;
    opt_in(&api, NS);
    put_sentinel(&api, NS).await;
    api.put_configmap(NS, "app", &[("a", "1")]);
    put_stamped(&api, workload("Deployment", NS, "web", env_from("app"))).await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    api.delete_configmap(NS, "app");
    eventually("rolled on delete", async || {
        patched(&api, "deployments", NS, "web") == 1
    })
    .await;
    barrier(&api, NS, 1).await;
    api.put_configmap(NS, "app", &[("a", "1")]);
    eventually("rolled on create", async || {
        patched(&api, "deployments", NS, "web") == 2
    })
    .await;
    let web = api.get_object("apps/v1", "Deployment", NS, "web").expect("web");
    let expected = admitted(&api, &web).await;
    assert_eq!(
        web["spec"]["template"]["metadata"]["annotations"],
        json!(expected)
    );
    watcher.stop().await;
}

#[tokio::test]
async fn the_fake_api_server_answers_metadata_only_and_in_pages() {
    let api = FakeApi::start().await;
    for i in 0..5 {
        api.put_configmap(NS, &format!("cm-{i}"), &[("data", &"d".repeat(10_000))]);
    }
    let configmaps: Api<ConfigMap> = Api::namespaced(api.client(), NS);
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(2);
    loop {
        let page = configmaps.list_metadata(&params).await.expect("metadata page");
        assert!(page.items.len() <= 2);
        names.extend(
            page.items
                .iter()
                .map(|m| m.metadata.name.clone().unwrap_or_default()),
        );
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(names, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
    let one = configmaps.get_metadata("cm-3").await.expect("metadata");
    assert_eq!(one.metadata.name.as_deref(), Some("cm-3"));
    assert!(one.metadata.resource_version.is_some());

    let sent = api.bytes_sent();
    let metadata: u64 = sent.iter().filter(|(k, _)| k.metadata_only).map(|(_, n)| n).sum();
    assert!(metadata > 0 && metadata < 5_000, "no data in {metadata} bytes");
    assert!(
        api.requests()
            .iter()
            .all(|r| r.metadata_only && !r.reads_full("configmaps"))
    );
    let full = configmaps.get("cm-3").await.expect("full");
    assert_eq!(full.data.expect("data")["data"].len(), 10_000);
    assert!(
        api.bytes_sent()
            .keys()
            .any(|k| k.verb == "get" && !k.metadata_only)
    );
}
