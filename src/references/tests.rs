use rstest::rstest;
use serde_json::json;

use super::*;

fn spec(value: serde_json::Value) -> PodSpec {
    serde_json::from_value(value).expect("test pod spec")
}

fn some(keys: &[&str]) -> Keys {
    Keys::Some(keys.iter().map(|k| k.to_string()).collect())
}

/// Expected references; a name `secret/x` is the Secret `x`, any other a ConfigMap.
fn refs(entries: &[(&str, Keys, bool)]) -> References {
    let id = |n: &str| match n.strip_prefix("secret/") {
        Some(name) => (SourceKind::Secret, Name::new(name).expect("valid")),
        None => (SourceKind::ConfigMap, Name::new(n).expect("valid")),
    };
    entries
        .iter()
        .map(|(n, k, o)| {
            (
                id(n),
                Selection {
                    keys: k.clone(),
                    optional: *o,
                },
            )
        })
        .collect()
}

fn keys() -> AnnotationKeys {
    AnnotationKeys::new("confighash.io")
}

#[rstest]
#[case::volume_all_keys(
        json!({"containers": [], "volumes": [{"name": "v", "configMap": {"name": "app"}}]}),
        refs(&[("app", Keys::All, false)]))]
#[case::volume_items(
        json!({"containers": [], "volumes": [{"name": "v", "configMap": {"name": "app", "items": [{"key": "a", "path": "x"}]}}]}),
        refs(&[("app", some(&["a"]), false)]))]
#[case::projected_items(
        json!({"containers": [], "volumes": [{"name": "v", "projected": {"sources": [
            {"configMap": {"name": "p", "items": [{"key": "k", "path": "k"}]}},
            {"serviceAccountToken": {"path": "token"}},
            {"configMap": {"name": "q", "optional": true}}]}}]}),
        refs(&[("p", some(&["k"]), false), ("q", Keys::All, true)]))]
#[case::env_key_ref(
        json!({"containers": [{"name": "c", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a"}}}]}]}),
        refs(&[("app", some(&["a"]), false)]))]
#[case::env_from(
        json!({"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "app"}, "prefix": "P_"}]}]}),
        refs(&[("app", Keys::All, false)]))]
#[case::init_containers_count(
        json!({"initContainers": [{"name": "i", "envFrom": [{"configMapRef": {"name": "init"}}]}], "containers": []}),
        refs(&[("init", Keys::All, false)]))]
#[case::keys_merge_as_union(
        json!({"containers": [
            {"name": "c", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a"}}}]},
            {"name": "d", "env": [{"name": "B", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "b"}}}]}]}),
        refs(&[("app", some(&["a", "b"]), false)]))]
#[case::all_keys_wins_merge(
        json!({"containers": [{"name": "c",
            "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a"}}}],
            "envFrom": [{"configMapRef": {"name": "app"}}]}]}),
        refs(&[("app", Keys::All, false)]))]
#[case::optional_only_if_all_optional(
        json!({"containers": [{"name": "c",
            "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a", "optional": true}}}],
            "envFrom": [{"configMapRef": {"name": "app", "optional": false}}, {"configMapRef": {"name": "opt", "optional": true}}]}]}),
        refs(&[("app", Keys::All, false), ("opt", Keys::All, true)]))]
#[case::plain_values_and_args_are_not_references(
        json!({"containers": [{"name": "c", "args": ["--configmap=ns/app"],
            "env": [{"name": "A", "value": "app"}]}],
            "volumes": [{"name": "e", "emptyDir": {}}]}),
        refs(&[]))]
fn finds_every_configmap_form(#[case] pod: serde_json::Value, #[case] expected: References) {
    assert_eq!(find(Some(&spec(pod)), &BTreeMap::new(), &keys(), false), expected);
}

#[rstest]
#[case::secret_volume_items(
        json!({"containers": [], "volumes": [{"name": "v", "secret": {"secretName": "tls", "items": [{"key": "tls.crt", "path": "c"}]}}]}),
        refs(&[("secret/tls", some(&["tls.crt"]), false)]))]
#[case::projected_secret(
        json!({"containers": [], "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "p", "optional": true}}]}}]}),
        refs(&[("secret/p", Keys::All, true)]))]
#[case::secret_key_ref_and_env_from(
        json!({"initContainers": [{"name": "i", "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}],
            "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "api"}}]}]}),
        refs(&[("secret/api", Keys::All, false), ("secret/db", some(&["password"]), false)]))]
#[case::image_pull_secrets_do_not_count(
        json!({"containers": [], "imagePullSecrets": [{"name": "registry"}]}),
        refs(&[]))]
#[case::same_name_configmap_and_secret_are_distinct(
        json!({"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "app"}}, {"secretRef": {"name": "app"}}]}]}),
        refs(&[("app", Keys::All, false), ("secret/app", Keys::All, false)]))]
fn finds_every_secret_form_only_when_secrets_are_on(
    #[case] pod: serde_json::Value,
    #[case] expected: References,
) {
    let pod = spec(pod);
    assert_eq!(find(Some(&pod), &BTreeMap::new(), &keys(), true), expected);
    let configmaps: References = expected
        .into_iter()
        .filter(|((k, _), _)| *k == SourceKind::ConfigMap)
        .collect();
    assert_eq!(find(Some(&pod), &BTreeMap::new(), &keys(), false), configmaps);
}

#[test]
fn extra_and_exclude_annotations_adjust_the_set() {
    let pod = spec(json!({"containers": [{"name": "c", "envFrom": [
            {"configMapRef": {"name": "app"}}, {"configMapRef": {"name": "noisy"}}]}]}));
    let annotations = BTreeMap::from([
        (
            "confighash.io/extra-configmaps".to_string(),
            " flags, ,routes ".to_string(),
        ),
        (
            "confighash.io/exclude-configmaps".to_string(),
            "noisy,routes".to_string(),
        ),
    ]);
    let found = find(Some(&pod), &annotations, &keys(), false);
    assert_eq!(
        found,
        refs(&[("app", Keys::All, false), ("flags", Keys::All, false)])
    );
}

#[test]
fn secret_annotations_follow_the_same_rules_per_kind() {
    let pod = spec(json!({"containers": [{"name": "c", "envFrom": [
            {"secretRef": {"name": "noisy"}}, {"secretRef": {"name": "db"}}]}]}));
    let annotations = BTreeMap::from([
        ("confighash.io/extra-secrets".to_string(), "api".to_string()),
        ("confighash.io/exclude-secrets".to_string(), "noisy".to_string()),
        // A ConfigMap exclusion does not touch a Secret of the same name.
        ("confighash.io/exclude-configmaps".to_string(), "db".to_string()),
    ]);
    let found = find(Some(&pod), &annotations, &keys(), true);
    assert_eq!(
        found,
        refs(&[("secret/api", Keys::All, false), ("secret/db", Keys::All, false)])
    );
    assert!(
        find(Some(&pod), &annotations, &keys(), false).is_empty(),
        "Secrets off: none at all"
    );
}

#[test]
fn annotations_follow_the_prefix() {
    let annotations = BTreeMap::from([("example.com/extra-configmaps".to_string(), "x".to_string())]);
    assert!(find(None, &annotations, &keys(), false).is_empty());
    let custom = AnnotationKeys::new("example.com");
    assert_eq!(
        find(None, &annotations, &custom, false),
        refs(&[("x", Keys::All, false)])
    );
}

#[test]
fn invalid_names_are_rejected_where_they_were_found() {
    let pod = spec(json!({
            "volumes": [{"name": "v", "configMap": {"name": "Upper"}},
                {"name": "p", "projected": {"sources": [{"configMap": {"name": "a..b"}}]}},
                {"name": "s", "secret": {"secretName": "bad secret"}}],
            "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "-dash"}}]}],
            "containers": [{"name": "main", "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "ok", "key": "k"}}},
                {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "wé", "key": "k"}}}]}]}));
    let annotations = BTreeMap::from([
        (
            "confighash.io/extra-configmaps".to_string(),
            "flags routes, good".to_string(),
        ),
        (
            "confighash.io/exclude-configmaps".to_string(),
            "ok,under_score".to_string(),
        ),
    ]);
    let found = find_checked(Some(&pod), &annotations, &keys(), false, usize::MAX);
    assert_eq!(found.references, refs(&[("good", Keys::All, false)]));
    let got: Vec<String> = found.rejected.kept.iter().map(ToString::to_string).collect();
    let expected = [
        r#"ConfigMap name "Upper" in a volume"#,
        r#"ConfigMap name "a..b" in a projected volume"#,
        r#"ConfigMap name "-dash" in envFrom of container "init""#,
        r#"ConfigMap name "wé" in env of container "main""#,
        r#"ConfigMap name "flags routes" in annotation confighash.io/extra-configmaps"#,
        r#"ConfigMap name "under_score" in annotation confighash.io/exclude-configmaps"#,
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (warning, what) in got.iter().zip(expected) {
        assert_eq!(
            *warning,
            format!("confighash: {what} is not a valid name (DNS-1123 subdomain); ignored")
        );
    }
    let with_secrets = find_checked(Some(&pod), &annotations, &keys(), true, usize::MAX);
    assert!(
        with_secrets
            .rejected
            .kept
            .iter()
            .any(|r| r.name.0 == "bad secret")
    );
    assert_eq!(found.rejected.more, 0);
}

#[test]
fn only_the_first_rejections_are_kept_and_the_rest_counted() {
    let list: Vec<String> = (0..1000).map(|i| format!("Bad{i}")).collect();
    let annotations = BTreeMap::from([
        ("confighash.io/extra-configmaps".to_string(), list.join(",")),
        (
            "confighash.io/exclude-configmaps".to_string(),
            "Bad0,Bad0".to_string(),
        ),
    ]);
    let found = find_checked(None, &annotations, &keys(), false, usize::MAX);
    assert_eq!(found.rejected.kept.len(), Rejections::KEPT);
    // Bad0 counts once more, from the exclude list, however often it repeats there.
    assert_eq!(found.rejected.more, 1000 - Rejections::KEPT + 1);
}

#[test]
fn sites_keep_document_order_and_containers() {
    let pod = spec(json!({
            "volumes": [{"name": "v", "configMap": {"name": "vol"}}],
            "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "i"}}]}],
            "containers": [{"name": "main", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "e", "key": "k"}}}]}]}));
    let found = sites(&pod);
    let got: Vec<(&str, Via, Option<&str>)> = found
        .iter()
        .map(|r| (r.name.as_str(), r.via, r.container.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("vol", Via::Volume, None),
            ("i", Via::EnvFrom, Some("init")),
            ("e", Via::Env, Some("main"))
        ]
    );
}
