//! The webhook over real HTTPS with a real client: contract §2, §5 and §6 behaviours.

use crate::common;

use common::{Webhook, WebhookOptions, fixtures::*};
use serde_json::{Value, json};

// Computed independently from contract §4 (docs/digest.md has the reference script).
const EXAMPLE_HASH: &str = "sha256:f4d818a91b3e78f33d3b44513d93e20314ecca3dda7a8e1fc26b46095cee7117";
const EXAMPLE_SOURCES: &str = "configmap/feature-flags@c8998a5eb70a,configmap/web-config@81e52ba0ff96,\
configmap/web-env@e3a956e31eea,configmap/web-overrides@absent";

fn assert_allowed_without_patch(reply: &Value) {
    assert_eq!(reply["response"]["allowed"], true, "{reply}");
    assert!(reply["response"].get("patch").is_none(), "{reply}");
    assert!(reply["response"].get("patchType").is_none(), "{reply}");
}

#[tokio::test]
async fn create_gets_the_content_hash_as_a_base64_json_patch() {
    let webhook = Webhook::start().await;
    let review = create_review();
    let reply = webhook.mutate(&bytes(&review)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    let body = reply.json();
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(body["kind"], "AdmissionReview");
    assert_eq!(body["response"]["uid"], review["request"]["uid"]);
    assert_eq!(body["response"]["allowed"], true);
    assert_eq!(body["response"]["patchType"], "JSONPatch");
    assert!(
        body["response"]["patch"].is_string(),
        "patch must be base64, not a byte array"
    );

    let patched = patched_object(&review, &body);
    let annotations = template_annotations(&patched);
    assert_eq!(annotations["confighash.io/config-hash"], EXAMPLE_HASH);
    assert_eq!(annotations["confighash.io/sources"], EXAMPLE_SOURCES);
    // Nothing but the template annotations changed.
    let mut expected = object(&review).clone();
    expected["spec"]["template"]["metadata"]["annotations"] = annotations.clone();
    assert_eq!(patched, expected);
    // The optional web-overrides is absent without a warning.
    assert!(body["response"].get("warnings").is_none(), "{body}");
}

#[tokio::test]
async fn re_admitting_the_patched_object_gives_no_patch() {
    let webhook = Webhook::start().await;
    let review = create_review();
    let first = webhook.mutate(&bytes(&review)).await.json();
    let again = with_object(review.clone(), patched_object(&review, &first));
    assert_allowed_without_patch(&webhook.mutate(&bytes(&again)).await.json());
}

#[tokio::test]
async fn update_with_old_object_and_managed_fields_replaces_a_stale_hash() {
    let webhook = Webhook::start().await;
    let review = update_review();
    assert!(bytes(&review).len() > 10_000, "fixture has the API server's size");
    let body = webhook.mutate(&bytes(&review)).await.json();
    let patch = response_patch(&body).expect("patch");
    let ops: Vec<Value> = patch
        .0
        .iter()
        .map(|op| serde_json::to_value(op).expect("op"))
        .collect();
    assert_eq!(
        ops,
        [
            json!({"op": "replace", "path": "/spec/template/metadata/annotations/confighash.io~1config-hash", "value": EXAMPLE_HASH}),
            json!({"op": "replace", "path": "/spec/template/metadata/annotations/confighash.io~1sources", "value": EXAMPLE_SOURCES}),
        ]
    );
}

#[tokio::test]
async fn statefulsets_and_daemonsets_are_stamped_like_deployments() {
    let webhook = Webhook::start().await;
    for (kind, resource) in [("StatefulSet", "statefulsets"), ("DaemonSet", "daemonsets")] {
        let review = with_kind(create_review(), kind, resource);
        let body = webhook.mutate(&bytes(&review)).await.json();
        let patched = patched_object(&review, &body);
        assert_eq!(
            template_annotations(&patched)["confighash.io/config-hash"],
            EXAMPLE_HASH,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn dry_run_gets_the_same_answer() {
    let webhook = Webhook::start().await;
    let mut review = create_review();
    let real = webhook.mutate(&bytes(&review)).await.json();
    review["request"]["dryRun"] = json!(true);
    assert_eq!(webhook.mutate(&bytes(&review)).await.json(), real);
}

#[tokio::test]
async fn missing_required_configmap_is_hashed_absent_with_a_warning() {
    let webhook = Webhook::start().await;
    let mut review = create_review();
    review["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["envFrom"] =
        json!([{"configMapRef": {"name": "not-there"}}]);
    let body = webhook.mutate(&bytes(&review)).await.json();
    assert_eq!(body["response"]["allowed"], true);
    let sources = template_annotations(&patched_object(&review, &body))["confighash.io/sources"].clone();
    assert!(
        sources
            .as_str()
            .expect("sources")
            .contains("configmap/not-there@absent"),
        "{sources}"
    );
    let warnings = body["response"]["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].as_str().expect("warning").contains("demo/not-there"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn an_invalid_rollout_window_is_a_warning_and_the_answer_is_otherwise_the_same() {
    let webhook = Webhook::start().await;
    let plain = webhook.mutate(&bytes(&create_review())).await.json();
    let mut review = create_review();
    review["request"]["object"]["metadata"]["annotations"] =
        json!({"confighash.io/rollout-window": "Mon-Fri 09:00-17:00 Europe/Berln"});
    let body = webhook.mutate(&bytes(&review)).await.json();
    assert_eq!(
        body["response"]["patch"], plain["response"]["patch"],
        "admission still stamps"
    );
    let warnings = body["response"]["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().expect("warning");
    assert!(
        warning.contains("annotation confighash.io/rollout-window"),
        "{warning}"
    );
    assert!(
        warning.contains("unknown time zone \"Europe/Berln\""),
        "{warning}"
    );
    // A valid window warns of nothing.
    review["request"]["object"]["metadata"]["annotations"] =
        json!({"confighash.io/rollout-window": "Mon-Fri 09:00-17:00 Europe/Berlin"});
    let body = webhook.mutate(&bytes(&review)).await.json();
    assert!(body["response"].get("warnings").is_none(), "{body}");
}

#[tokio::test]
async fn no_references_removes_our_stale_annotations() {
    let webhook = Webhook::start().await;
    let mut review = update_review();
    let spec = &mut review["request"]["object"]["spec"]["template"]["spec"];
    spec["volumes"] = json!([]);
    spec["containers"][0]["env"] = json!([]);
    spec["containers"][0]["envFrom"] = json!([]);
    let body = webhook.mutate(&bytes(&review)).await.json();
    let patched = patched_object(&review, &body);
    assert_eq!(template_annotations(&patched), &json!({}));
}

#[tokio::test]
async fn skip_annotation_and_label_leave_the_workload_alone() {
    let webhook = Webhook::start().await;
    for field in ["annotations", "labels"] {
        let mut review = update_review();
        review["request"]["object"]["metadata"][field]["confighash.io/skip"] = json!("true");
        assert_allowed_without_patch(&webhook.mutate(&bytes(&review)).await.json());
    }
}

#[tokio::test]
async fn extra_and_exclude_annotations_change_the_sources() {
    let webhook = Webhook::start().await;
    let mut review = create_review();
    let annotations = &mut review["request"]["object"]["metadata"]["annotations"];
    annotations["confighash.io/exclude-configmaps"] = json!("web-overrides,feature-flags");
    annotations["confighash.io/extra-configmaps"] = json!("feature-flags");
    let body = webhook.mutate(&bytes(&review)).await.json();
    let sources = template_annotations(&patched_object(&review, &body))["confighash.io/sources"].clone();
    assert_eq!(
        sources,
        "configmap/web-config@81e52ba0ff96,configmap/web-env@e3a956e31eea"
    );
}

#[tokio::test]
async fn other_kinds_operations_subresources_and_deletions_pass_untouched() {
    let webhook = Webhook::start().await;
    let mut cases = vec![with_kind(create_review(), "ReplicaSet", "replicasets")];
    let mut delete = create_review();
    delete["request"]["operation"] = json!("DELETE");
    delete["request"]["oldObject"] = delete["request"]["object"].take();
    cases.push(delete);
    let mut scale = update_review();
    scale["request"]["subResource"] = json!("scale");
    cases.push(scale);
    let mut deleting = update_review();
    deleting["request"]["object"]["metadata"]["deletionTimestamp"] = json!("2026-11-21T10:00:00Z");
    cases.push(deleting);
    let mut no_template = create_review();
    no_template["request"]["object"]["metadata"]["annotations"]["confighash.io/extra-configmaps"] =
        json!("web-env");
    no_template["request"]["object"]["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("template");
    cases.push(no_template);
    let mut pod = create_review();
    pod["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Pod"});
    cases.push(pod);
    for review in cases {
        let reply = webhook.mutate(&bytes(&review)).await;
        assert_eq!(reply.status, 200);
        let body = reply.json();
        assert_eq!(body["response"]["uid"], review["request"]["uid"]);
        assert_allowed_without_patch(&body);
    }
}

#[tokio::test]
async fn malformed_bodies_get_400_with_a_one_line_reason() {
    let webhook = Webhook::start().await;
    let mut no_request = create_review();
    no_request.as_object_mut().expect("object").remove("request");
    let mut v1beta1 = create_review();
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let mut bad_object = create_review();
    bad_object["request"]["object"]["spec"]["replicas"] = json!("two");
    let mut no_uid = create_review();
    no_uid["request"].as_object_mut().expect("request").remove("uid");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "invalid AdmissionReview"),
        (b"{not json".to_vec(), "invalid AdmissionReview"),
        (b"[1,2,3]".to_vec(), "invalid AdmissionReview"),
        (bytes(&no_request), "no request"),
        (bytes(&v1beta1), "expected apiVersion admission.k8s.io/v1"),
        (bytes(&bad_object), "not a valid apps/v1 Deployment"),
        (bytes(&no_uid), "invalid AdmissionReview"),
        (vec![0xff, 0xfe, 0x00], "invalid AdmissionReview"),
    ];
    let mut conn = webhook.connect().await;
    for (body, reason) in cases {
        let reply = conn.post("/mutate", body).await;
        assert_eq!(reply.status, 400, "{}", reply.text());
        let text = reply.text();
        assert!(text.contains(reason), "{text:?} should contain {reason:?}");
        assert_eq!(text.trim_end().lines().count(), 1, "{text:?}");
    }
    // The same connection still serves a good review afterwards.
    assert_eq!(conn.post("/mutate", bytes(&create_review())).await.status, 200);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let webhook = Webhook::start().await;
    let mut review = create_review();
    review["request"]["object"]["metadata"]["annotations"]["big"] = json!("x".repeat(9 << 20));
    let reply = webhook.mutate(&bytes(&review)).await;
    assert_eq!(reply.status, 413);
    assert!(reply.text().contains("exceeds 8388608 bytes"), "{}", reply.text());
}

#[tokio::test]
async fn the_limit_follows_max_body_bytes() {
    let webhook = Webhook::with(WebhookOptions {
        max_body_bytes: 4096,
        ..Default::default()
    })
    .await;
    assert_eq!(webhook.mutate(&bytes(&update_review())).await.status, 413);
    assert_eq!(webhook.mutate(&bytes(&create_review())).await.status, 413);
}

#[tokio::test]
async fn one_keep_alive_connection_serves_many_reviews() {
    let webhook = Webhook::start().await;
    let mut conn = webhook.connect().await;
    for _ in 0..20 {
        let reply = conn.post("/mutate?timeout=10s", bytes(&update_review())).await;
        assert_eq!(reply.status, 200);
        assert!(reply.headers.get("connection").is_none_or(|v| v != "close"));
    }
    assert!(!conn.closed.is_finished());
}

#[tokio::test]
async fn unknown_routes_and_methods_are_rejected() {
    let webhook = Webhook::start().await;
    let mut conn = webhook.connect().await;
    assert_eq!(conn.post("/validate", bytes(&create_review())).await.status, 404);
    assert_eq!(webhook.ops_get("/mutate").await.status, 404);
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_both_served_http_1_1_only() {
    let webhook = Webhook::start().await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut config = common::client::client_config(&webhook.certs.ca, &[version]);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut conn = common::client::Conn::connect_with(webhook.addr, config)
            .await
            .expect("handshake");
        assert_eq!(conn.tls_version, Some(version.version));
        assert_eq!(conn.post("/mutate", bytes(&create_review())).await.status, 200);
    }
    let mut h2_only = common::client::client_config(&webhook.certs.ca, rustls::ALL_VERSIONS);
    h2_only.alpn_protocols = vec![b"h2".to_vec()];
    assert!(
        common::client::Conn::connect_with(webhook.addr, h2_only)
            .await
            .is_err(),
        "no HTTP/2"
    );
}

#[tokio::test]
async fn ops_endpoints_report_health_readiness_and_metrics() {
    let webhook = Webhook::start().await;
    assert_eq!(webhook.ops_get("/healthz").await.status, 200);
    common::eventually("readiness", async || {
        webhook.ops_get("/readyz").await.status == 200
    })
    .await;
    webhook.mutate(&bytes(&create_review())).await;
    webhook.mutate(b"{").await;
    let metrics = webhook.ops_get("/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    for line in [
        r#"confighash_admission_requests_total{kind="Deployment",operation="CREATE",outcome="patched"} 1"#,
        r#"confighash_configmap_lookups_total{result="found"} 3"#,
        r#"confighash_configmap_lookups_total{result="absent"} 1"#,
        r#"confighash_tls_reloads_total{result="success"} 1"#,
        r#"confighash_admission_duration_seconds_bucket{le="0.0001"}"#,
        "confighash_tls_certificate_expiry_timestamp_seconds ",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}
