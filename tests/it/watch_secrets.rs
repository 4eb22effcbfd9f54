//! The watcher with `--secrets` (contract §8, §9): Secrets are followed like ConfigMaps,
//! digested with the admission core's HMAC key, and Helm release records and token Secrets
//! are left out on the server side.

use crate::common;

use common::{eventually, fake_api::FakeApi, watcher::*};
use confighash::{admission::Options, hash_key::HashKey};
use serde_json::json;

const NS: &str = "demo";

fn options() -> Options {
    Options {
        secrets: Some(HashKey::from_bytes(&[7u8; 32]).expect("key")),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_secret_change_rolls_its_consumers_with_the_hmac_digest_admission_computes() {
    let api = FakeApi::start().await;
    opt_in(&api, NS);
    put_sentinel(&api, NS).await;
    api.put_secret(NS, "db", &[("password", "hunter2"), ("user", "app")]);
    api.put_object(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": "sh.helm.release.v1.app.v1", "namespace": NS}, "data": {"release": "eA=="}}),
    );
    let container = json!({"name": "c", "image": "x", "env": [
        {"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]});
    let mut manifest = workload("Deployment", NS, "web", container);
    let stamped = admitted_with(&api, &manifest, &options()).await;
    assert!(stamped["confighash.io/sources"].starts_with("secret/db@"));
    manifest["spec"]["template"]["metadata"]["annotations"] = json!(stamped);
    api.put_object(manifest.clone());

    let mut config = config("a");
    config.options = options();
    let watcher = Watcher::start(&api, config);
    watcher.synced().await;
    api.put_secret(NS, "db", &[("password", "hunter2"), ("user", "changed")]);
    barrier(&api, NS, 1).await;
    assert_eq!(patched(&api, "deployments", NS, "web"), 0, "user is not consumed");

    api.put_secret(NS, "db", &[("password", "correct horse"), ("user", "changed")]);
    eventually("rolled", async || patched(&api, "deployments", NS, "web") == 1).await;
    let web = api.get_object("apps/v1", "Deployment", NS, "web").expect("web");
    let expected = admitted_with(&api, &web, &options()).await;
    assert_eq!(
        web["spec"]["template"]["metadata"]["annotations"],
        json!(expected)
    );
    assert_ne!(expected, stamped);

    let secret_lists: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/secrets")
        .collect();
    assert!(!secret_lists.is_empty());
    for request in secret_lists {
        let query = request.query.unwrap_or_default();
        assert!(
            query.contains("fieldSelector=type%21%3Dhelm.sh%2Frelease.v1%2Ctype%21%3Dkubernetes.io%2Fservice-account-token"),
            "{query}"
        );
    }
    drop(watcher);
}

#[tokio::test]
async fn without_secrets_the_watcher_never_reads_a_secret() {
    let api = FakeApi::start().await;
    opt_in(&api, NS);
    put_sentinel(&api, NS).await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    barrier(&api, NS, 1).await;
    assert!(api.requests().iter().all(|r| !r.path.contains("/secrets")));
    drop(watcher);
}
