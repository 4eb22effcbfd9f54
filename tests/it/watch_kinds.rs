//! The watcher follows configured workload kinds (contract §10) against the fake API
//! server, which serves CRD kinds under `/apis/GROUP/VERSION/namespaces/NS/PLURAL`: an Argo
//! Rollout is rolled like a Deployment, one with `workloadRef` never, and a kind whose CRD
//! is not installed is reported and leaves the others running.

use crate::common;

use std::collections::BTreeMap;

use common::{eventually, fake_api::FakeApi, watcher::*};
use confighash::{
    admission::{
        self, Options, Outcome, Target,
        kinds::{WorkloadKind, WorkloadKinds},
        workload::Workload,
    },
    source::dir::documents,
    source::{ClusterSource, Source},
};
use serde_json::{Value, json};

const NS: &str = "demo";
const ROLLOUT: &str = "argoproj.io/v1alpha1/Rollout";
const ROLLOUTS: &str = "/apis/argoproj.io/v1alpha1/namespaces/demo/rollouts";

fn options(kinds: &[&str]) -> Options {
    let kinds = kinds
        .iter()
        .map(|k| k.parse::<WorkloadKind>().expect("valid kind"));
    Options {
        kinds: WorkloadKinds::new(kinds).expect("no clash"),
        ..Options::default()
    }
}

fn rollout_manifest(file: &str, name: &str) -> Value {
    let path = common::repo().join("tests/data").join(file);
    let mut rollout = documents(&path).expect("manifest").remove(0);
    rollout["metadata"] = json!({"name": name, "namespace": NS, "labels": {"app": name}});
    rollout.as_object_mut().expect("object").remove("status");
    rollout
}

/// What admission answers for `manifest` now, under `options`.
async fn desired(api: &FakeApi, manifest: &Value, options: &Options) -> BTreeMap<String, String> {
    let workload = Workload::from_manifest_in(manifest.clone(), &options.kinds)
        .expect("valid")
        .expect("a workload");
    let target = Target::new(NS.into(), workload, options);
    let source = Source::Cluster(ClusterSource::new(api.client()));
    let lookups = admission::read_sources(&target, &source, options)
        .await
        .expect("lookups");
    admission::decide(&target, &lookups, options).desired
}

fn rollout_patches(api: &FakeApi, name: &str) -> usize {
    let path = format!("{ROLLOUTS}/{name}");
    api.requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == path)
        .count()
}

#[tokio::test]
async fn a_configmap_change_rolls_a_rollout_through_its_template_and_never_a_workload_ref() {
    let options = options(&[ROLLOUT]);
    let api = FakeApi::start().await;
    opt_in(&api, NS);
    api.put_configmap(NS, "app", &[("a", "1")]);
    put_sentinel(&api, NS).await;
    let mut rollout = rollout_manifest("rollout.yaml", "web");
    rollout["spec"]["template"]["spec"] = json!({"containers": [env_from("app")]});
    rollout["spec"]["template"]["metadata"]["annotations"] = json!(desired(&api, &rollout, &options).await);
    api.put_object(rollout);
    let mut by_ref = rollout_manifest("rollout-workloadref.yaml", "by-ref");
    by_ref["metadata"]["annotations"] = json!({"note": "references a Deployment"});
    api.put_object(by_ref);

    let mut config = config("a");
    config.options = options.clone();
    let watcher = Watcher::start(&api, config);
    watcher.synced().await;
    let before = api
        .get_object("argoproj.io/v1alpha1", "Rollout", NS, "web")
        .expect("web");

    api.put_configmap(NS, "app", &[("a", "2")]);
    barrier(&api, NS, 1).await;
    eventually("the Rollout patched", async || rollout_patches(&api, "web") == 1).await;
    assert_eq!(
        rollout_patches(&api, "by-ref"),
        0,
        "a Rollout with workloadRef has no template"
    );

    let request = api
        .requests()
        .into_iter()
        .find(|r| r.path == format!("{ROLLOUTS}/web") && r.method == "PATCH");
    let request = request.expect("patch");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    // Only the template annotations changed, to exactly what admission computes now; the
    // canary steps and analysis stay as they were.
    let after = api
        .get_object("argoproj.io/v1alpha1", "Rollout", NS, "web")
        .expect("web");
    let expected = desired(&api, &before, &options).await;
    assert_eq!(
        after["spec"]["template"]["metadata"]["annotations"],
        json!(expected)
    );
    assert_ne!(
        after["spec"]["template"]["metadata"]["annotations"],
        before["spec"]["template"]["metadata"]["annotations"]
    );
    let strip = |mut v: Value| {
        v["spec"]["template"]["metadata"]["annotations"] = Value::Null;
        v["metadata"]["resourceVersion"] = Value::Null;
        v
    };
    assert_eq!(strip(after.clone()), strip(before));

    // The Event names the Rollout; the metric counts it under its kind.
    let event = || {
        let events = api.list_objects("events.k8s.io/v1", "Event");
        events.into_iter().find(|e| e["regarding"]["name"] == "web")
    };
    eventually("an Event for the Rollout", async || event().is_some()).await;
    let event = event().expect("event");
    assert_eq!(event["reason"], "ConfigChanged");
    assert_eq!(event["regarding"]["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(event["regarding"]["kind"], "Rollout");
    let patched = r#"confighash_watch_rollouts_total{kind="Rollout",result="patched"}"#;
    eventually("rollout metric", async || watcher.metric(patched) == 1.0).await;

    // The webhook sees the watcher's patch as an UPDATE and answers with no patch.
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u1", "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Rollout"},
        "resource": {"group": "argoproj.io", "version": "v1alpha1", "resource": "rollouts"},
        "name": "web", "namespace": NS, "operation": "UPDATE", "userInfo": {},
        "object": after, "oldObject": after}});
    let body = serde_json::to_vec(&review).expect("json");
    let request = admission::decode_for(&body, &options).expect("valid review");
    let source = Source::Cluster(ClusterSource::new(api.client()));
    let decision = admission::review(&request, &source, &options)
        .await
        .expect("decides");
    assert_eq!(decision.outcome, Outcome::Unchanged);
    watcher.stop().await;
}

#[tokio::test]
async fn a_kind_whose_crd_is_not_installed_is_reported_and_the_others_still_roll() {
    let api = FakeApi::start().await;
    opt_in(&api, NS);
    put_sentinel(&api, NS).await;
    let mut config = config("a");
    config.options = options(&["example.com/v1/Missing"]);
    let watcher = Watcher::start(&api, config);
    watcher.synced().await;
    let unavailable = r#"confighash_watch_kind_unavailable{kind="Missing"}"#;
    eventually("the missing kind reported", async || {
        watcher.metric(unavailable) == 1.0
    })
    .await;
    // The built-in kinds are followed all the same.
    barrier(&api, NS, 1).await;
    let lists = api
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/apis/example.com/v1/"))
        .count();
    assert!(lists >= 1, "the missing kind was asked for");
    watcher.stop().await;
}

#[tokio::test]
async fn plan_lists_a_stale_rollout_and_warns_about_a_kind_not_served() {
    let options = options(&[ROLLOUT]);
    let api = FakeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    opt_in(&api, NS);
    api.put_configmap(NS, "app", &[("a", "1")]);
    let mut rollout = rollout_manifest("rollout.yaml", "web");
    rollout["spec"]["template"]["spec"] = json!({"containers": [env_from("app")]});
    rollout["spec"]["template"]["metadata"]["annotations"] = json!(desired(&api, &rollout, &options).await);
    api.put_object(rollout);
    api.put_object(rollout_manifest("rollout-workloadref.yaml", "by-ref"));
    api.put_configmap(NS, "app", &[("a", "2")]);

    let kubeconfig = api.kubeconfig(dir.path(), "default");
    let output = tokio::task::spawn_blocking(move || {
        common::process::binary()
            .args(["plan", "--namespace", NS, "--workload-kind", ROLLOUT])
            .args(["--workload-kind", "example.com/v1/Missing"])
            .env("KUBECONFIG", kubeconfig)
            .output()
            .expect("run plan")
    })
    .await
    .expect("join");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("Rollout demo/web would roll: configmap/app "),
        "{stdout}"
    );
    assert!(
        stderr.contains("example.com/v1 Missing") && stderr.contains("CRD"),
        "{stderr}"
    );
}
