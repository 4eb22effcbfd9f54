//! Configured workload kinds (contract §10): an Argo Rollout and other kinds with a pod
//! template are stamped like a Deployment, through the webhook over HTTPS and the offline
//! commands; a Rollout with `workloadRef` and kinds not configured are left alone.

use crate::common;

use common::{
    Webhook, WebhookOptions,
    fixtures::*,
    process::{binary, run_with_stdin},
};
use confighash::{
    admission::{
        Options,
        kinds::{WorkloadKind, WorkloadKinds},
    },
    source::dir::documents,
};
use serde_json::{Value, json};

const ROLLOUT: &str = "argoproj.io/v1alpha1/Rollout";

fn data(name: &str) -> std::path::PathBuf {
    common::repo().join("tests/data").join(name)
}

fn examples() -> std::path::PathBuf {
    common::repo().join("examples")
}

fn manifest(name: &str) -> Value {
    documents(&data(name)).expect("manifest").remove(0)
}

/// The example CREATE review, for `object` of `group/version` `kind` (`resource`).
fn review_of(object: Value, group: &str, version: &str, kind: &str, resource: &str) -> Value {
    let mut review = with_object(create_review(), object);
    let gvk = json!({"group": group, "version": version, "kind": kind});
    let gvr = json!({"group": group, "version": version, "resource": resource});
    for (field, value) in [
        ("kind", &gvk),
        ("requestKind", &gvk),
        ("resource", &gvr),
        ("requestResource", &gvr),
    ] {
        review["request"][field] = value.clone();
    }
    review
}

fn rollout_review(name: &str) -> Value {
    review_of(manifest(name), "argoproj.io", "v1alpha1", "Rollout", "rollouts")
}

fn options(kinds: &[&str]) -> Options {
    let kinds = kinds
        .iter()
        .map(|k| k.parse::<WorkloadKind>().expect("valid kind"));
    Options {
        kinds: WorkloadKinds::new(kinds).expect("no clash"),
        ..Options::default()
    }
}

async fn webhook(kinds: &[&str]) -> Webhook {
    Webhook::with(WebhookOptions {
        options: options(kinds),
        ..Default::default()
    })
    .await
}

fn ops(body: &Value) -> Vec<Value> {
    let patch = response_patch(body).expect("patch");
    patch
        .0
        .iter()
        .map(|op| serde_json::to_value(op).expect("op"))
        .collect()
}

fn assert_allowed_without_patch(reply: &Value) {
    assert_eq!(reply["response"]["allowed"], true, "{reply}");
    assert!(reply["response"].get("patch").is_none(), "{reply}");
    assert!(reply["response"].get("warnings").is_none(), "{reply}");
}

/// The annotations the example Deployment gets: the Rollout carries the same template.
async fn deployment_annotations(webhook: &Webhook) -> Value {
    let review = create_review();
    let body = webhook.mutate(&bytes(&review)).await.json();
    template_annotations(&patched_object(&review, &body)).clone()
}

#[tokio::test]
async fn a_rollout_with_a_template_is_stamped_like_a_deployment() {
    let webhook = webhook(&[ROLLOUT]).await;
    let review = rollout_review("rollout.yaml");
    let reply = webhook.mutate(&bytes(&review)).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["response"]["allowed"], true);
    assert_eq!(body["response"]["patchType"], "JSONPatch");
    let expected = deployment_annotations(&webhook).await;
    assert_eq!(
        ops(&body),
        [json!({"op": "add", "path": "/spec/template/metadata/annotations", "value": expected})]
    );
    // Nothing but the template annotations changed: steps, analysis and status stay.
    let patched = patched_object(&review, &body);
    let mut unchanged = object(&review).clone();
    unchanged["spec"]["template"]["metadata"]["annotations"] = expected;
    assert_eq!(patched, unchanged);
    // Admitting the stamped Rollout again changes nothing.
    let again = with_object(review.clone(), patched);
    assert_allowed_without_patch(&webhook.mutate(&bytes(&again)).await.json());
}

#[tokio::test]
async fn a_rollout_with_a_workload_ref_is_left_alone() {
    let webhook = webhook(&[ROLLOUT]).await;
    let body = webhook
        .mutate(&bytes(&rollout_review("rollout-workloadref.yaml")))
        .await
        .json();
    assert_allowed_without_patch(&body);
}

#[tokio::test]
async fn a_rollout_is_ignored_unless_its_kind_is_configured() {
    let webhook = webhook(&[]).await;
    let review = rollout_review("rollout.yaml");
    let body = webhook.mutate(&bytes(&review)).await.json();
    assert_allowed_without_patch(&body);
    // The same kind under another version is another kind.
    let webhook = webhook_v1().await;
    assert_allowed_without_patch(&webhook.mutate(&bytes(&review)).await.json());
}

async fn webhook_v1() -> Webhook {
    webhook(&["argoproj.io/v1/Rollout"]).await
}

#[tokio::test]
async fn a_kind_with_its_own_plural_and_pointer_is_patched_at_the_pointer() {
    let flags = [
        "apps.kruise.io/v1alpha1/CloneSet=clonesets:/spec/template",
        "example.com/v1/Agent=agents:/spec/pod/template",
    ];
    let webhook = webhook(&flags).await;
    let expected = deployment_annotations(&webhook).await;
    let template = object(&create_review())["spec"]["template"].clone();

    let mut cloneset = manifest("rollout.yaml");
    cloneset["apiVersion"] = json!("apps.kruise.io/v1alpha1");
    cloneset["kind"] = json!("CloneSet");
    cloneset["spec"] =
        json!({"replicas": 2, "updateStrategy": {"type": "InPlaceIfPossible"}, "template": template});
    let review = review_of(cloneset, "apps.kruise.io", "v1alpha1", "CloneSet", "clonesets");
    let body = webhook.mutate(&bytes(&review)).await.json();
    assert_eq!(
        ops(&body),
        [json!({"op": "add", "path": "/spec/template/metadata/annotations", "value": expected})]
    );

    let agent = json!({"apiVersion": "example.com/v1", "kind": "Agent",
        "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"template": {"not": "a pod template"}, "pod": {"template": template}}});
    let review = review_of(agent, "example.com", "v1", "Agent", "agents");
    let body = webhook.mutate(&bytes(&review)).await.json();
    assert_eq!(
        ops(&body),
        [json!({"op": "add", "path": "/spec/pod/template/metadata/annotations", "value": expected})]
    );
    let patched = patched_object(&review, &body);
    assert_eq!(
        patched["spec"]["pod"]["template"]["metadata"]["annotations"],
        expected
    );
}

#[tokio::test]
async fn a_template_below_spec_template_is_read_whole() {
    let webhook = webhook(&["example.com/v1/PodSet=podsets:/spec/template/pod"]).await;
    let expected = deployment_annotations(&webhook).await;
    let template = object(&create_review())["spec"]["template"].clone();
    let podset = json!({"apiVersion": "example.com/v1", "kind": "PodSet",
        "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"template": {"replicas": 1, "pod": template}}});
    let body = webhook
        .mutate(&bytes(&review_of(
            podset,
            "example.com",
            "v1",
            "PodSet",
            "podsets",
        )))
        .await
        .json();
    assert_eq!(
        ops(&body),
        [json!({"op": "add", "path": "/spec/template/pod/metadata/annotations", "value": expected})]
    );
}

fn run(args: &[&str], stdin: &[u8]) -> std::process::Output {
    run_with_stdin(
        binary()
            .args(args)
            .arg("--configmaps-from")
            .arg(examples().join("configmaps")),
        stdin,
    )
}

#[tokio::test]
async fn review_answers_a_rollout_exactly_as_the_webhook() {
    let webhook = webhook(&[ROLLOUT]).await;
    for name in ["rollout.yaml", "rollout-workloadref.yaml"] {
        let review = bytes(&rollout_review(name));
        let served = webhook.mutate(&review).await;
        let output = run(&["review", "--workload-kind", ROLLOUT], &review);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            output.stdout.strip_suffix(b"\n").expect("newline"),
            &served.body[..],
            "{name}"
        );
    }
}

#[tokio::test]
async fn hash_reads_a_rollout_manifest() {
    let webhook = webhook(&[ROLLOUT]).await;
    let expected = deployment_annotations(&webhook).await;
    let file = data("rollout.yaml");
    let file = file.to_str().expect("utf-8 path");
    let output = run(&["hash", "--workload-kind", ROLLOUT, "-f", file], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).expect("utf-8"),
        format!(
            "# Rollout demo/web\nconfighash.io/config-hash: {}\nconfighash.io/sources: {}\n",
            expected["confighash.io/config-hash"].as_str().expect("hash"),
            expected["confighash.io/sources"].as_str().expect("sources"),
        )
    );
    // Without the flag a Rollout is not a workload.
    let output = run(&["hash", "-f", file], b"");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no apps/v1 Deployment, StatefulSet or DaemonSet in the file"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_workload_kind_is_refused_before_anything_runs() {
    for (flag, reason) in [
        ("argoproj.io/Rollout", "exactly three parts"),
        ("argoproj.io/v1alpha1/Rollout:spec/template", "JSON pointer"),
        ("apps/v1/Deployment", "built in"),
    ] {
        let output = run(&["hash", "--workload-kind", flag, "-f", "-"], b"");
        assert_eq!(output.status.code(), Some(2), "{flag}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(reason) && stderr.contains("--workload-kind"),
            "{flag}: {stderr}"
        );
    }
    let twice = run(
        &[
            "hash",
            "--workload-kind",
            ROLLOUT,
            "--workload-kind",
            "argoproj.io/v1alpha1/Rollout=r",
            "-f",
            "-",
        ],
        b"",
    );
    assert!(!twice.status.success());
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("clashes"),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
}
