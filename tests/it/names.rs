//! Untrusted names (contract §3, §12): only DNS-1123 subdomains are references. Anything
//! else is never sent to the API server, is left out of the digest and `sources`, and gets
//! a warning naming it; the webhook, `review` and the watcher agree.

use crate::common;

use common::{
    Webhook, eventually,
    fake_api::FakeApi,
    fixtures::*,
    process::{binary, run_with_stdin},
    watcher::{LABEL, Watcher, config},
};
use confighash::admission::Options;
use serde_json::{Value, json};

// The example workload's annotations with its four example ConfigMaps (tests/it/webhook.rs).
const EXAMPLE_HASH: &str = "sha256:f4d818a91b3e78f33d3b44513d93e20314ecca3dda7a8e1fc26b46095cee7117";
const VALID: [&str; 4] = ["feature-flags", "web-config", "web-env", "web-overrides"];
const HOSTILE: &str = "x?watch=true,../../kube-system/configmaps/kubeadm-config";

/// The UPDATE fixture (a stamped Deployment mounting web-config, with a stale hash) with
/// `extra-configmaps` set to `extra`.
fn update_with_extra(extra: &str) -> Value {
    let mut review = update_review();
    review["request"]["object"]["metadata"]["annotations"]["confighash.io/extra-configmaps"] = json!(extra);
    review
}

fn warnings(reply: &Value) -> Vec<String> {
    let list = reply["response"]["warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.iter()
        .map(|w| w.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every request for one ConfigMap by name (not the watcher's lists and watches), and any
/// that strays out of the namespace.
fn configmap_requests(api: &FakeApi) -> Vec<(String, Option<String>)> {
    api.requests()
        .into_iter()
        .filter(|r| {
            r.path.contains("/configmaps/") || r.path.contains("kube-system") || r.path.contains("..")
        })
        .map(|r| (r.path, r.query))
        .collect()
}

fn assert_only_valid_names_requested(api: &FakeApi) {
    let probe = "/api/v1/namespaces/default/configmaps/confighash-readiness-probe";
    for (path, query) in configmap_requests(api).into_iter().filter(|(p, _)| p != probe) {
        let name = path.rsplit('/').next().unwrap_or_default();
        assert!(
            path.starts_with("/api/v1/namespaces/demo/configmaps/") && VALID.contains(&name),
            "unexpected request {path} {query:?}"
        );
        assert!(
            query.as_deref().is_none_or(|q| !q.contains("watch")),
            "{path} {query:?}"
        );
    }
}

#[tokio::test]
async fn a_space_instead_of_a_comma_still_patches_and_names_the_bad_name() {
    let api = FakeApi::with_examples().await;
    let webhook = Webhook::on_cluster(&api, Options::default()).await;
    let review = update_with_extra("feature-flags routes");
    let reply = webhook.mutate(&bytes(&review)).await.json();
    assert_eq!(reply["response"]["allowed"], true, "{reply}");
    let patched = patched_object(&review, &reply);
    let annotations = template_annotations(&patched);
    assert_eq!(
        annotations["confighash.io/config-hash"], EXAMPLE_HASH,
        "web-config and the others are still hashed: {reply}"
    );
    assert!(
        !annotations["confighash.io/sources"]
            .as_str()
            .unwrap_or_default()
            .contains("routes"),
        "{annotations}"
    );
    let warnings = warnings(&reply);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("\"feature-flags routes\"")
            && warnings[0].contains("confighash.io/extra-configmaps")
            && warnings[0].contains("not a valid name"),
        "{warnings:?}"
    );
    assert_only_valid_names_requested(&api);
}

#[tokio::test]
async fn hostile_names_never_reach_a_url() {
    let api = FakeApi::with_examples().await;
    let webhook = Webhook::on_cluster(&api, Options::default()).await;
    let reply = webhook.mutate(&bytes(&update_with_extra(HOSTILE))).await.json();
    assert_eq!(reply["response"]["allowed"], true, "{reply}");
    assert!(reply["response"]["patch"].is_string(), "{reply}");
    let warnings = warnings(&reply);
    assert_eq!(warnings.len(), 2, "one per rejected name: {warnings:?}");
    assert!(warnings[0].contains("\"x?watch=true\""), "{warnings:?}");
    assert!(
        warnings[1].contains("\"../../kube-system/configmaps/kubeadm-config\""),
        "{warnings:?}"
    );
    let requested: Vec<_> = configmap_requests(&api)
        .into_iter()
        .filter(|(p, _)| p.starts_with("/api/v1/namespaces/demo/"))
        .collect();
    assert!(
        requested
            .iter()
            .all(|(p, q)| !p.contains("kube-system") && !p.contains("..") && q.is_none()),
        "{requested:?}"
    );
    assert_only_valid_names_requested(&api);
    assert_eq!(requested.len(), VALID.len(), "{requested:?}");
}

#[tokio::test]
async fn invalid_names_in_the_pod_template_are_left_out_with_a_warning_each() {
    let api = FakeApi::with_examples().await;
    let webhook = Webhook::on_cluster(&api, Options::default()).await;
    let mut review = update_review();
    let spec = &mut review["request"]["object"]["spec"]["template"]["spec"];
    spec["volumes"]
        .as_array_mut()
        .expect("volumes")
        .push(json!({"name": "bad", "configMap": {"name": "../secrets"}}));
    spec["containers"][0]["envFrom"]
        .as_array_mut()
        .expect("envFrom")
        .push(json!({"configMapRef": {"name": "Web-Env"}}));
    spec["initContainers"] = json!([{"name": "init", "image": "x",
        "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "a b", "key": "k"}}}]}]);
    let reply = webhook.mutate(&bytes(&review)).await.json();
    let annotations = template_annotations(&patched_object(&review, &reply)).clone();
    assert_eq!(annotations["confighash.io/config-hash"], EXAMPLE_HASH, "{reply}");
    let warnings = warnings(&reply);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].contains("\"../secrets\" in a volume"), "{warnings:?}");
    assert!(
        warnings[1].contains("\"a b\" in env of container \"init\""),
        "{warnings:?}"
    );
    assert!(
        warnings[2].contains("\"Web-Env\" in envFrom of container \"web\""),
        "{warnings:?}"
    );
    assert_only_valid_names_requested(&api);
}

#[tokio::test]
async fn a_long_hostile_list_gives_bounded_warnings() {
    let api = FakeApi::with_examples().await;
    let webhook = Webhook::on_cluster(&api, Options::default()).await;
    let names: Vec<String> = (0..1000).map(|i| format!("Bad_{i}{}", "x".repeat(300))).collect();
    let reply = webhook
        .mutate(&bytes(&update_with_extra(&names.join(","))))
        .await
        .json();
    assert!(reply["response"]["patch"].is_string(), "{reply}");
    let warnings = warnings(&reply);
    assert_eq!(warnings.len(), 33, "32 named, one for the rest");
    assert!(warnings.iter().all(|w| w.len() < 300), "{:?}", warnings[0]);
    assert!(warnings[32].contains("968 more"), "{}", warnings[32]);
    assert_only_valid_names_requested(&api);
}

fn review_command(body: &[u8]) -> Value {
    let output = run_with_stdin(
        binary()
            .args(["review", "--configmaps-from"])
            .arg(common::repo().join("examples/configmaps")),
        body,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("review JSON")
}

#[tokio::test]
async fn webhook_review_and_watcher_agree_on_an_object_with_invalid_names() {
    let extra = format!("feature-flags routes,{HOSTILE}");
    let review = update_with_extra(&extra);
    let api = FakeApi::with_examples().await;
    api.put_namespace("demo", &[LABEL]);
    let webhook = Webhook::on_cluster(&api, Options::default()).await;

    let served = webhook.mutate(&bytes(&review)).await.json();
    let by_webhook = template_annotations(&patched_object(&review, &served)).clone();
    let offline = review_command(&bytes(&review));
    let by_review = template_annotations(&patched_object(&review, &offline)).clone();
    assert_eq!(by_webhook, by_review);
    assert_eq!(warnings(&served), warnings(&offline));

    // The same object, stored with its stale hash: the watcher rolls it to the same values.
    api.put_object(object(&review).clone());
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    let stored = || {
        api.get_object("apps/v1", "Deployment", "demo", "web")
            .expect("stored")["spec"]["template"]["metadata"]["annotations"]
            .clone()
    };
    eventually("the watcher rolls web", async || {
        stored()["confighash.io/config-hash"]
            != object(&review)["spec"]["template"]["metadata"]["annotations"]["confighash.io/config-hash"]
    })
    .await;
    let by_watcher = stored();
    assert_eq!(
        by_watcher["confighash.io/config-hash"],
        by_webhook["confighash.io/config-hash"]
    );
    assert_eq!(
        by_watcher["confighash.io/sources"],
        by_webhook["confighash.io/sources"]
    );
    watcher.stop().await;
    assert_only_valid_names_requested(&api);
}
