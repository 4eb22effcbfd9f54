//! The cluster ConfigMap source through the real `kube::Client` against a fake API server
//! over HTTPS: consistent reads, missing objects, API errors, outages and slow answers.

use crate::common;

use std::time::Duration;

use common::{
    Webhook, WebhookOptions,
    fake_api::{FakeApi, Fault},
    fixtures::*,
};
use confighash::{
    admission::{LookupErrorPolicy, Options},
    source::{ClusterSource, Source},
};
use serde_json::Value;

const EXAMPLE_HASH: &str = "sha256:f4d818a91b3e78f33d3b44513d93e20314ecca3dda7a8e1fc26b46095cee7117";

/// A fake API server holding the example ConfigMaps, and a webhook reading from it.
async fn setup(options: Options) -> (FakeApi, Webhook) {
    let api = FakeApi::with_examples().await;
    let webhook = Webhook::on_cluster(&api, options).await;
    (api, webhook)
}

fn hash_of(review: &Value, reply: &Value) -> Value {
    template_annotations(&patched_object(review, reply))["confighash.io/config-hash"].clone()
}

fn assert_unchanged_with_warning(reply: &Value, needle: &str) {
    assert_eq!(reply["response"]["allowed"], true, "{reply}");
    assert!(
        reply["response"].get("patch").is_none(),
        "an existing hash is never changed on a guess: {reply}"
    );
    let warning = reply["response"]["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains(needle) && warning.contains("left unchanged"),
        "{reply}"
    );
}

#[tokio::test]
async fn reads_each_configmap_with_a_consistent_get() {
    let (api, webhook) = setup(Options::default()).await;
    let review = create_review();
    let reply = webhook.mutate(&bytes(&review)).await.json();
    assert_eq!(
        hash_of(&review, &reply),
        EXAMPLE_HASH,
        "cluster and directory sources agree"
    );

    let mut gets: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/namespaces/demo/"))
        .map(|r| {
            // A resourceVersion would allow a stale cache read.
            assert!(
                r.query.as_deref().is_none_or(|q| !q.contains("resourceVersion")),
                "{r:?}"
            );
            (r.method, r.path)
        })
        .collect();
    gets.sort();
    let expected: Vec<(String, String)> = ["feature-flags", "web-config", "web-env", "web-overrides"]
        .iter()
        .map(|n| {
            (
                "GET".to_string(),
                format!("/api/v1/namespaces/demo/configmaps/{n}"),
            )
        })
        .collect();
    assert_eq!(gets, expected);
}

#[tokio::test]
async fn a_configmap_changed_just_before_the_workload_is_seen() {
    let (api, webhook) = setup(Options::default()).await;
    let review = create_review();
    let before = hash_of(&review, &webhook.mutate(&bytes(&review)).await.json());
    api.put_configmap(
        "demo",
        "web-env",
        &[("DATABASE_HOST", "db2.demo.svc"), ("CACHE_TTL", "300")],
    );
    let after = hash_of(&review, &webhook.mutate(&bytes(&review)).await.json());
    assert_ne!(before, after);
    api.put_configmap("demo", "web-overrides", &[("x", "1")]);
    let created = hash_of(&review, &webhook.mutate(&bytes(&review)).await.json());
    assert_ne!(
        after, created,
        "an absent ConfigMap that appears changes the hash"
    );
}

#[tokio::test]
async fn api_errors_allow_without_a_patch_and_count_a_metric() {
    let (api, webhook) = setup(Options::default()).await;
    for code in [500, 403] {
        api.set_fault(Fault::Status(code));
        let reply = webhook.mutate(&bytes(&update_review())).await;
        assert_eq!(reply.status, 200);
        let body = reply.json();
        // Reads run concurrently, so any of the four may be the one reported.
        assert_unchanged_with_warning(&body, "reading ConfigMap demo/");
        assert!(
            body["response"]["warnings"][0]
                .as_str()
                .is_some_and(|w| w.contains(&format!(": {code} "))),
            "{body}"
        );
    }
    let metrics = webhook.ops_get("/metrics").await.text();
    assert!(
        metrics.contains(r#"confighash_configmap_lookups_total{result="error"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"outcome="lookup_error"} 2"#), "{metrics}");
}

#[tokio::test]
async fn deny_policy_denies_with_a_clear_message() {
    let options = Options {
        on_lookup_error: LookupErrorPolicy::Deny,
        ..Default::default()
    };
    let (api, webhook) = setup(options).await;
    api.set_fault(Fault::Status(500));
    let reply = webhook.mutate(&bytes(&create_review())).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["response"]["allowed"], false);
    let message = body["response"]["status"]["message"].as_str().expect("message");
    assert!(
        message.contains("--on-lookup-error=deny") && message.contains("ConfigMap demo/"),
        "{message}"
    );
    assert!(body["response"].get("patch").is_none());
}

#[tokio::test]
async fn an_unreachable_api_server_changes_nothing() {
    let (api, webhook) = setup(Options::default()).await;
    api.stop();
    let reply = webhook.mutate(&bytes(&update_review())).await;
    assert_eq!(reply.status, 200);
    assert_unchanged_with_warning(&reply.json(), "reading ConfigMap demo/");
}

#[tokio::test]
async fn a_slow_api_server_hits_the_lookup_budget() {
    let options = Options {
        lookup_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (api, webhook) = setup(options).await;
    api.set_fault(Fault::Delay(Duration::from_secs(3)));
    let reply = webhook.mutate(&bytes(&update_review())).await.json();
    assert_unchanged_with_warning(&reply, "exceeded the 300ms budget");
    let metrics = webhook.ops_get("/metrics").await.text();
    assert!(
        metrics.contains(r#"confighash_configmap_lookups_total{result="timeout"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn lookups_run_concurrently_within_one_budget() {
    // Four reads of 400 ms each fit a 1 s budget only when they run at the same time.
    let options = Options {
        lookup_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let (api, webhook) = setup(options).await;
    api.set_fault(Fault::Delay(Duration::from_millis(400)));
    let review = create_review();
    let reply = webhook.mutate(&bytes(&review)).await.json();
    assert_eq!(hash_of(&review, &reply), EXAMPLE_HASH, "{reply}");
}

#[tokio::test]
async fn ready_once_the_api_server_answers() {
    let (api, webhook) = setup(Options::default()).await;
    common::eventually("readiness", async || {
        webhook.ops_get("/readyz").await.status == 200
    })
    .await;
    let probe = api
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/confighash-readiness-probe"));
    assert_eq!(
        probe.expect("probe request").path,
        "/api/v1/namespaces/default/configmaps/confighash-readiness-probe"
    );
}

#[tokio::test]
async fn not_ready_while_the_api_server_is_down() {
    let api = FakeApi::start().await;
    let source = Source::Cluster(ClusterSource::new(api.client()));
    api.stop();
    let webhook = Webhook::with(WebhookOptions {
        source,
        ..Default::default()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = webhook.ops_get("/readyz").await;
    assert_eq!(reply.status, 503);
    assert!(
        reply.text().contains("ConfigMap source has not answered"),
        "{}",
        reply.text()
    );
}
