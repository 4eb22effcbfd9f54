//! Tables for the pure decision: the decode, [`prepare`] and [`decide`].

use k8s_openapi::{api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::{
    digest::{SourceKind, Sources},
    name::Name,
    references::Keys,
    source::Object as SourceObject,
};

const ROLLOUT: &str = "argoproj.io/v1alpha1/Rollout";
const POD_TEMPLATE_KIND: &str = "example.com/v1/Runner=runners:/spec/pod/template";

fn options(extra: &[&str]) -> Options {
    let kinds = extra.iter().map(|k| k.parse().expect("valid kind"));
    Options {
        kinds: WorkloadKinds::new(kinds).expect("no clash"),
        ..Options::default()
    }
}

/// A pod template that mounts the ConfigMap `app-config`.
fn template() -> Value {
    json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx",
            "envFrom": [{"configMapRef": {"name": "app-config"}}]}]}
    })
}

fn object(api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template()}
    })
}

fn review(gvk: (&str, &str, &str), operation: &str, object: Value) -> Value {
    let (group, version, kind) = gvk;
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u-1", "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": "things"},
            "namespace": "demo", "operation": operation, "userInfo": {"username": "me"},
            "object": object
        }
    })
}

fn deployment_review(operation: &str) -> Value {
    review(
        ("apps", "v1", "Deployment"),
        operation,
        object("apps/v1", "Deployment"),
    )
}

fn decode_value(review: &Value, options: &Options) -> Result<Request, InvalidReview> {
    decode_for(&serde_json::to_vec(review).expect("json"), options)
}

/// `Lookup` as the text `lookup`, or the outcome's label.
fn prepared(review: &Value, options: &Options) -> String {
    let request = decode_value(review, options).expect("decodes");
    match prepare(&request, options) {
        Ok(Prepared::Lookup(_)) => "lookup".into(),
        Ok(Prepared::Done(outcome)) => outcome.as_str().into(),
        Err(invalid) => format!("invalid: {invalid}"),
    }
}

#[rstest]
#[case::deployment_create(("apps", "v1", "Deployment"), "CREATE", "lookup")]
#[case::deployment_update(("apps", "v1", "Deployment"), "UPDATE", "lookup")]
#[case::statefulset(("apps", "v1", "StatefulSet"), "CREATE", "lookup")]
#[case::daemonset(("apps", "v1", "DaemonSet"), "UPDATE", "lookup")]
#[case::delete(("apps", "v1", "Deployment"), "DELETE", "ignored")]
#[case::connect(("apps", "v1", "Deployment"), "CONNECT", "ignored")]
#[case::other_kind(("batch", "v1", "Job"), "CREATE", "ignored")]
#[case::other_version(("apps", "v1beta2", "Deployment"), "CREATE", "ignored")]
#[case::rollout_not_configured(("argoproj.io", "v1alpha1", "Rollout"), "CREATE", "ignored")]
fn prepare_by_kind_and_operation(
    #[case] gvk: (&str, &str, &str),
    #[case] operation: &str,
    #[case] want: &str,
) {
    let api_version = if gvk.0.is_empty() {
        gvk.1.to_owned()
    } else {
        format!("{}/{}", gvk.0, gvk.1)
    };
    let review = review(gvk, operation, object(&api_version, gvk.2));
    assert_eq!(prepared(&review, &Options::default()), want);
}

#[rstest]
#[case::subresource(&["request", "subResource"], json!("scale"), "ignored")]
#[case::being_deleted(&["request", "object", "metadata", "deletionTimestamp"], json!("2026-01-01T00:00:00Z"), "ignored")]
#[case::no_template(&["request", "object", "spec", "template"], Value::Null, "ignored")]
#[case::no_object(&["request", "object"], Value::Null, "ignored")]
#[case::skip_annotation(&["request", "object", "metadata", "annotations"], json!({"confighash.io/skip": "true"}), "skipped")]
#[case::skip_label(&["request", "object", "metadata", "labels"], json!({"confighash.io/skip": "true"}), "skipped")]
#[case::skip_not_true(&["request", "object", "metadata", "labels"], json!({"confighash.io/skip": "yes"}), "lookup")]
#[case::namespace_from_object(&["request", "namespace"], Value::Null, "lookup")]
#[case::invalid_namespace(&["request", "namespace"], json!("Not_A_Label"), "invalid")]
fn prepare_by_field(#[case] path: &[&str], #[case] value: Value, #[case] want: &str) {
    let mut review = deployment_review("CREATE");
    let (last, parents) = path.split_last().expect("a path");
    let mut at = &mut review;
    for p in parents {
        at = &mut at[*p];
    }
    at[*last] = value;
    let got = prepared(&review, &Options::default());
    assert!(got.starts_with(want), "{got:?} should start with {want:?}");
}

#[rstest]
#[case::inline_template(object("argoproj.io/v1alpha1", "Rollout"), "lookup")]
#[case::workload_ref(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"},
    "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}), "ignored")]
fn prepare_a_rollout(#[case] rollout: Value, #[case] want: &str) {
    let review = review(("argoproj.io", "v1alpha1", "Rollout"), "CREATE", rollout);
    assert_eq!(prepared(&review, &options(&[ROLLOUT])), want);
}

fn target_of(review: &Value, options: &Options) -> Target {
    let request = decode_value(review, options).expect("decodes");
    match prepare(&request, options).expect("valid") {
        Prepared::Lookup(target) => *target,
        Prepared::Done(outcome) => panic!("not admitted: {outcome:?}"),
    }
}

fn sources(found: bool) -> Sources {
    let id = (SourceKind::ConfigMap, Name::new("app-config").expect("name"));
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("app-config".into()),
            ..Default::default()
        },
        data: Some([("k".to_owned(), "v".to_owned())].into()),
        ..Default::default()
    };
    let digest = SourceObject::ConfigMap(cm).digest(&Keys::All, None);
    Sources::from([(id, digest.filter(|_| found))])
}

#[rstest]
#[case::found_is_patched(true, false, 1, 0)]
#[case::absent_is_patched_with_a_warning(false, false, 1, 1)]
#[case::already_stamped_is_unchanged(true, true, 0, 0)]
fn decide_patches_and_warns(
    #[case] found: bool,
    #[case] stamped: bool,
    #[case] operations: usize,
    #[case] warnings: usize,
) {
    let options = Options::default();
    let mut review = deployment_review("UPDATE");
    if stamped {
        let fresh = decide(&target_of(&review, &options), &sources(found), &options);
        review["request"]["object"]["spec"]["template"]["metadata"]["annotations"] = json!(fresh.desired);
    }
    let decided = decide(&target_of(&review, &options), &sources(found), &options);
    assert_eq!(decided.patch.0.len(), operations, "{:?}", decided.patch);
    assert_eq!(decided.warnings.len(), warnings, "{:?}", decided.warnings);
    assert_eq!(decided.desired.len(), 2, "config-hash and sources");
}

#[test]
fn decide_patches_at_a_configured_kinds_pointer() {
    let options = options(&[POD_TEMPLATE_KIND]);
    let runner = json!({"apiVersion": "example.com/v1", "kind": "Runner", "metadata": {"name": "r"},
        "spec": {"template": {"spec": {"containers": [{"name": "decoy",
            "envFrom": [{"configMapRef": {"name": "elsewhere"}}]}]}}, "pod": {"template": template()}}});
    let review = review(("example.com", "v1", "Runner"), "CREATE", runner);
    let target = target_of(&review, &options);
    let names: Vec<String> = target.references.keys().map(|(_, n)| n.to_string()).collect();
    assert_eq!(names, ["app-config"], "only the template at the pointer is read");
    let patch = serde_json::to_value(decide(&target, &sources(true), &options).patch).expect("json");
    assert_eq!(patch[0]["path"], "/spec/pod/template/metadata/annotations");
}

/// A kind whose template is a top-level field: `hash` stamps it, so the webhook does too.
#[test]
fn decide_patches_at_a_one_segment_pointer() {
    let options = options(&["example.com/v1/PodSet:/template"]);
    let podset = json!({"apiVersion": "example.com/v1", "kind": "PodSet", "metadata": {"name": "p"},
        "template": template()});
    let review = review(("example.com", "v1", "PodSet"), "CREATE", podset);
    let target = target_of(&review, &options);
    let names: Vec<String> = target.references.keys().map(|(_, n)| n.to_string()).collect();
    assert_eq!(names, ["app-config"]);
    let patch = serde_json::to_value(decide(&target, &sources(true), &options).patch).expect("json");
    assert_eq!(patch[0]["path"], "/template/metadata/annotations");
}

/// Elements without a reference site are dropped while they stream by: a template of
/// 200,000 empty containers, plain env entries and empty volumes keeps nothing of them.
#[test]
fn the_decode_keeps_no_element_without_a_reference_site() {
    let options = Options::default();
    let plain = decode_value(&deployment_review("UPDATE"), &options).expect("decodes");
    let mut review = deployment_review("UPDATE");
    let spec = &mut review["request"]["object"]["spec"]["template"]["spec"];
    let mut containers = vec![json!({}); 200_000];
    containers.insert(
        100_000,
        json!({"name": "app", "image": "nginx", "envFrom": [{"configMapRef": {"name": "app-config"}}],
            "env": vec![json!({"name": ""}); 1000]}),
    );
    spec["containers"] = json!(containers);
    spec["initContainers"] = json!(vec![
        json!({"name": "init", "env": [{"name": "A", "value": "1"}]});
        1000
    ]);
    spec["volumes"] = json!(vec![
        json!({"name": "", "projected": {"sources": [{"downwardAPI": {}}]}});
        1000
    ]);
    let decoded = decode_value(&review, &options).expect("decodes");
    let template = |r: &Request| {
        r.object
            .as_ref()
            .and_then(|o| o.template.clone())
            .expect("template")
    };
    let spec = template(&decoded).spec.expect("spec");
    assert_eq!(spec.containers.len(), 1, "only the container with a site");
    assert_eq!(spec.init_containers, Some(vec![]));
    assert_eq!(spec.volumes, Some(vec![]));
    assert_eq!(spec.containers[0].env, Some(vec![]));
    assert_eq!(template(&decoded).metadata, template(&plain).metadata);
    let target = target_of(&review, &options);
    let plain_target = target_of(&deployment_review("UPDATE"), &options);
    assert_eq!(target.references, plain_target.references);
    let desired = |t: &Target| decide(t, &sources(true), &options);
    assert_eq!(desired(&target), desired(&plain_target));
}

/// Past [`MAX_SITES`] reference sites nothing more is kept and the admission ends as past
/// `--max-sources`: allowed, no patch, a warning.
#[rstest]
#[case::at_the_cap(MAX_SITES, "lookup")]
#[case::past_the_cap(MAX_SITES + 1, "too_many_sources")]
fn reference_sites_past_the_cap(#[case] sites: usize, #[case] want: &str) {
    let options = Options::default();
    let mut review = deployment_review("CREATE");
    let env = json!({"name": "K", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "k"}}});
    // The container's envFrom entry is one site; env entries make up the rest.
    review["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!(vec![env; sites - 1]);
    let request = decode_value(&review, &options).expect("decodes");
    let Prepared::Lookup(target) = prepare(&request, &options).expect("valid") else {
        panic!("not looked up");
    };
    // The container whose sites crossed the cap keeps those within it.
    let names: Vec<String> = target.references.keys().map(|(_, n)| n.to_string()).collect();
    assert_eq!(names, ["app-config"]);
    match target.check_fan_out(&options) {
        Ok(()) => assert_eq!(want, "lookup"),
        Err(err) => {
            assert_eq!(err.metric_label(), want);
            assert_eq!(
                err.to_string(),
                "more than 1024 ConfigMap and Secret reference sites in the pod template; none were read"
            );
        }
    }
}

#[test]
fn the_decode_skips_what_the_decision_never_reads() {
    let options = Options::default();
    let plain = decode_value(&deployment_review("UPDATE"), &options).expect("decodes");
    let mut review = deployment_review("UPDATE");
    // Shapes no typed decoding would accept: they are skipped, not built.
    review["request"]["oldObject"] = json!({"spec": 5, "metadata": []});
    review["request"]["object"]["metadata"]["managedFields"] = json!("not a list");
    review["request"]["object"]["metadata"]["uid"] = json!(7);
    review["request"]["object"]["status"] = json!([1, 2]);
    review["request"]["object"]["spec"]["template"]["spec"]["nodeSelector"] = json!(5);
    review["request"]["userInfo"] = json!({"groups": 5});
    review["request"]["options"] = json!("x");
    assert_eq!(decode_value(&review, &options).expect("decodes"), plain);
}

#[test]
fn the_decode_keeps_the_template_at_a_configured_kinds_pointer() {
    let options = options(&[POD_TEMPLATE_KIND]);
    let runner = json!({"apiVersion": "example.com/v1", "kind": "Runner", "metadata": {"name": "r"},
        "spec": {"pod": {"replicas": "any", "template": template()}}});
    let request = decode_value(
        &review(("example.com", "v1", "Runner"), "CREATE", runner),
        &options,
    )
    .expect("decodes");
    let template = request.object.and_then(|o| o.template).expect("template");
    assert!(template.metadata.is_some(), "its metadata, for the patch");
    let containers = template.spec.map(|s| s.containers).unwrap_or_default();
    let env_from = containers.first().and_then(|c| c.env_from.as_ref());
    assert_eq!(env_from.map(Vec::len), Some(1), "its reference sites");
}

#[test]
fn of_labels_and_annotations_only_keys_under_the_prefix_are_kept() {
    let mut review = review(
        ("apps", "v1", "Deployment"),
        "UPDATE",
        object("apps/v1", "Deployment"),
    );
    let ours = json!({"confighash.io/skip": "false", "confighash.io/config-hash": "sha256:x"});
    let mut many = json!({"team": "a", "app.kubernetes.io/name": "web"});
    many.as_object_mut()
        .expect("map")
        .extend(ours.as_object().expect("map").clone());
    review["request"]["object"]["metadata"]["annotations"] = many.clone();
    review["request"]["object"]["metadata"]["labels"] = json!({"app": "web"});
    review["request"]["object"]["spec"]["template"]["metadata"]["annotations"] = many;
    let object = decode_value(&review, &Options::default())
        .expect("decodes")
        .object
        .expect("object");
    let ours: BTreeMap<String, String> = serde_json::from_value(ours).expect("map");
    assert_eq!(object.metadata.annotations.as_ref(), Some(&ours));
    assert_eq!(
        object.metadata.labels,
        Some(BTreeMap::new()),
        "a map without our keys is still a map"
    );
    let template = object
        .template
        .and_then(|t| t.metadata)
        .expect("template metadata");
    assert_eq!(template.annotations, Some(ours));
    // Values the decision never reads are still type-checked.
    review["request"]["object"]["metadata"]["labels"] = json!({"app": 5});
    assert!(decode_value(&review, &Options::default()).is_err());
}

#[test]
fn a_built_in_kinds_spec_beside_the_template_is_checked_by_json_type_without_being_kept() {
    let options = Options::default();
    let mut review = review(
        ("apps", "v1", "Deployment"),
        "UPDATE",
        object("apps/v1", "Deployment"),
    );
    let values: Vec<String> = (0..10_000).map(|i| format!("v{i}")).collect();
    review["request"]["object"]["spec"]["selector"] =
        json!({"matchExpressions": [{"key": "k", "operator": "In", "values": values}]});
    assert!(decode_value(&review, &options).is_ok());
    for wrong in [json!("x"), json!([]), json!(5)] {
        review["request"]["object"]["spec"]["selector"] = wrong;
        assert!(decode_value(&review, &options).is_err());
    }
}

#[rstest]
#[case::empty(b"")]
#[case::not_json(b"{not json")]
#[case::a_list(b"[1,2,3]")]
#[case::null(b"null")]
#[case::a_string(b"\"x\"")]
#[case::a_number(b"5")]
#[case::trailing(b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"} x")]
#[case::not_utf8(&[0xff, 0xfe, 0x00])]
fn bodies_that_are_not_a_review_are_invalid(#[case] body: &[u8]) {
    let err = decode(body).expect_err("invalid");
    assert!(err.0.starts_with("invalid AdmissionReview"), "{err}");
}

#[rstest]
#[case::replicas_not_a_number(&["spec", "replicas"], json!("two"), "not a valid apps/v1 Deployment")]
#[case::spec_not_an_object(&["spec"], json!("x"), "not a valid apps/v1 Deployment")]
#[case::other_api_version(&["apiVersion"], json!("apps/v2"), "not a valid apps/v1 Deployment")]
#[case::env_not_a_list(&["spec", "template", "spec", "containers", "0", "env"], json!(5), "not a valid apps/v1 Deployment")]
#[case::no_metadata(&["metadata"], Value::Null, "not a valid apps/v1 Deployment")]
#[case::labels_not_strings(&["metadata", "labels"], json!({"a": 1}), "not a valid apps/v1 Deployment")]
fn a_stamped_object_that_is_not_valid_is_refused(
    #[case] path: &[&str],
    #[case] value: Value,
    #[case] want: &str,
) {
    let mut review = deployment_review("CREATE");
    let (last, parents) = path.split_last().expect("a path");
    let mut at = &mut review["request"]["object"];
    for p in parents {
        at = match p.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*p],
        };
    }
    if value.is_null() {
        at.as_object_mut().expect("object").remove(*last);
    } else {
        at[*last] = value;
    }
    let err = decode_value(&review, &Options::default()).expect_err("invalid");
    assert!(err.0.contains(want), "{err}");
    // A DELETE is never stamped: its object's spec is not read, so it is not checked; the
    // metadata of any object is.
    review["request"]["operation"] = json!("DELETE");
    let decoded = decode_value(&review, &Options::default());
    assert_eq!(decoded.is_ok(), path[0] != "metadata", "{:?}", decoded.err());
}

/// serde refuses a field named twice where a JSON tree would keep the last; the API server
/// never sends one.
#[test]
fn a_field_named_twice_is_refused() {
    let body =
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","uid":"b"}}"#;
    assert!(decode(body).is_err());
}
