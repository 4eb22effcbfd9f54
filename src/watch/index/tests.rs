use k8s_openapi::api::{apps::v1::Deployment, core::v1::ConfigMap};
use serde_json::{Value, json};

use super::*;
use crate::{admission, source::Lookups, watch::scheduler::Queued};

const NS: &str = "demo";

fn n(name: &str) -> crate::name::Name {
    crate::name::Name::new(name).expect("valid name")
}

fn options() -> Options {
    Options::default()
}

fn source(name: &str) -> SourceKey {
    (NS.into(), (SourceKind::ConfigMap, n(name)))
}

fn cm(name: &str, rv: &str, data: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": NS, "resourceVersion": rv},
        "data": data}),
    )
    .expect("configmap")
}

fn deployment(name: &str, containers: Value, template_annotations: Value) -> Workload {
    let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": "7"},
        "spec": {"selector": {}, "template": {"metadata": {"annotations": template_annotations},
            "spec": {"containers": containers}}}});
    Workload::Deployment(serde_json::from_value::<Deployment>(object).expect("deployment"))
}

fn env_key(cm: &str, key: &str) -> Value {
    json!([{"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": cm, "key": key}}}]}])
}

fn env_from(cm: &str) -> Value {
    json!([{"name": "c", "envFrom": [{"configMapRef": {"name": cm}}]}])
}

fn key(name: &str) -> WorkloadKey {
    WorkloadKey {
        kind: WorkloadKind::DEPLOYMENT,
        namespace: NS.into(),
        name: name.into(),
    }
}

/// An index with `web` (key `a` of app), `api` (all of app) and `other` (all of other).
fn index() -> Index {
    let mut index = Index::new(options());
    index.apply_workload(deployment("web", env_key("app", "a"), json!({})));
    index.apply_workload(deployment("api", env_from("app"), json!({})));
    index.apply_workload(deployment("other", env_from("other"), json!({})));
    index.apply_configmap(cm("app", "1", json!({"a": "1", "b": "2"})));
    index.apply_configmap(cm("other", "1", json!({"x": "1"})));
    index
}

#[test]
fn counts_follow_each_kind() {
    let index = index();
    let counts: Vec<_> = index.counts().collect();
    assert_eq!(counts, [("configmap", 2), ("deployment", 3)]);
}

#[test]
fn a_change_affects_exactly_the_workloads_that_take_the_changed_key() {
    let mut index = index();
    let mut affected = index.apply_configmap(cm("app", "2", json!({"a": "1", "b": "changed"})));
    assert_eq!(affected, [key("api")]);
    affected = index.apply_configmap(cm("app", "3", json!({"a": "changed", "b": "changed"})));
    affected.sort();
    assert_eq!(affected, [key("api"), key("web")]);
}

#[test]
fn a_metadata_only_update_or_a_replayed_version_is_not_a_change() {
    let mut index = index();
    assert!(
        index
            .apply_configmap(cm("app", "2", json!({"a": "1", "b": "2"})))
            .is_empty()
    );
    assert!(
        index
            .apply_configmap(cm("app", "2", json!({"a": "1", "b": "2"})))
            .is_empty()
    );
}

#[test]
fn creating_an_absent_configmap_or_deleting_one_is_a_change() {
    let mut index = index();
    index.apply_workload(deployment("late", env_from("later"), json!({})));
    assert_eq!(index.apply_configmap(cm("later", "5", json!({}))), [key("late")]);
    assert_eq!(index.remove_source(&source("later")), [key("late")]);
    assert!(index.remove_source(&source("never")).is_empty());
}

#[test]
fn the_rollout_carries_the_annotations_admission_computes() {
    let mut index = index();
    let workload = deployment(
        "web",
        env_key("app", "a"),
        json!({"confighash.io/config-hash": "sha256:old"}),
    );
    index.apply_workload(workload.clone());
    let rollout = index.rollout(&key("web")).expect("out of date");

    let target = Target::new(NS.into(), workload, &options());
    let app = Object::ConfigMap(cm("app", "1", json!({"a": "1", "b": "2"})));
    let lookups = Lookups::from([((SourceKind::ConfigMap, n("app")), Some(app))]);
    let sources = admission::source_digests(&target.references, &lookups, None);
    let decided = admission::decide(&target, &sources, &options());
    assert_eq!(rollout.desired, decided.desired);
    assert_eq!(rollout.resource_version, "7");
    assert_eq!(rollout.changes.len(), 1);
    assert_eq!(rollout.changes[0].from, "none");
}

#[test]
fn a_workload_carrying_the_current_annotations_needs_nothing() {
    let mut index = index();
    let desired = index.rollout(&key("web")).expect("unstamped").desired;
    index.apply_workload(deployment("web", env_key("app", "a"), json!(desired)));
    assert_eq!(index.rollout(&key("web")), None);
    assert!(index.stale().is_empty());
}

#[test]
fn stale_lists_only_stamped_workloads_that_are_out_of_date() {
    let mut index = index();
    let current = index.rollout(&key("api")).expect("unstamped").desired;
    index.apply_workload(deployment("api", env_from("app"), json!(current)));
    index.apply_workload(deployment(
        "other",
        env_from("other"),
        json!({"confighash.io/config-hash": "x"}),
    ));
    assert_eq!(
        index.stale(),
        [key("other")],
        "web has no config-hash: left to admission"
    );
    index.apply_configmap(cm("app", "9", json!({"a": "1", "b": "new"})));
    assert_eq!(index.stale(), [key("api"), key("other")]);
}

#[test]
fn a_new_selection_of_a_known_configmap_asks_for_a_read() {
    let mut index = index();
    let missing = index.apply_workload(deployment("b-only", env_key("app", "b"), json!({})));
    assert_eq!(missing, [source("app")]);
    assert_eq!(index.rollout(&key("b-only")), None, "undecidable until read");
    // The read returns the same version: digests fill in without affecting anyone.
    assert!(
        index
            .apply_configmap(cm("app", "1", json!({"a": "1", "b": "2"})))
            .is_empty()
    );
    assert!(index.rollout(&key("b-only")).is_some());
}

#[test]
fn a_source_no_one_referenced_is_read_when_a_workload_starts_referencing_it() {
    let mut index = index();
    let missing = index.apply_workload(deployment("absent", env_from("nope"), json!({})));
    assert_eq!(missing, [source("nope")], "not held: it may exist");
    assert!(index.is_referenced(&source("nope")));
    assert!(index.needs_read(&source("nope"), "1"));
    // Read and found absent: a second user, or the same one again, needs no read.
    let again = index.apply_workload(deployment("absent", env_from("nope"), json!({})));
    assert!(again.is_empty());
    assert!(
        index
            .apply_workload(deployment("absent-too", env_from("nope"), json!({})))
            .is_empty()
    );
}

#[test]
fn only_referenced_sources_of_another_version_need_a_read() {
    let mut index = index();
    assert!(!index.needs_read(&source("app"), "1"), "held at this version");
    assert!(index.needs_read(&source("app"), "2"));
    assert!(!index.needs_read(&source("unused"), "1"), "no one references it");
    assert!(
        index
            .apply_configmap(cm("unused", "1", json!({"a": "1"})))
            .is_empty()
    );
    assert_eq!(index.len().1, 2, "an unreferenced source is not held");
}

#[test]
fn removing_workloads_and_namespaces_forgets_their_digests() {
    let mut index = index();
    index.remove_workload(&key("api"));
    index.remove_workload(&key("web"));
    assert!(
        !index.sources.contains_key(&source("app")),
        "a source no one references is not held"
    );
    assert!(!index.needs_read(&source("other"), "1"));
    let dropped = index.retain_namespaces(|ns| ns != NS);
    assert_eq!(dropped, [key("other")]);
    assert_eq!(index.len(), (0, 0));
    assert!(index.counts().all(|(_, n)| n == 0));
}

#[test]
fn a_skipped_workload_is_not_followed() {
    let mut index = index();
    let mut workload = deployment("web", env_key("app", "a"), json!({}));
    if let Workload::Deployment(d) = &mut workload {
        d.metadata.annotations = Some(BTreeMap::from([("confighash.io/skip".into(), "true".into())]));
    }
    index.apply_workload(workload);
    assert_eq!(index.rollout(&key("web")), None);
    assert_eq!(
        index.apply_configmap(cm("app", "2", json!({"a": "new"}))),
        [key("api")]
    );
}

fn states(index: &Index, queued: impl Fn(&WorkloadKey) -> Queued) -> Vec<(String, Drift, Option<String>)> {
    let mut out: Vec<_> = index
        .drift(queued)
        .into_iter()
        .map(|d| (d.key.name.clone(), d.state, d.config_hash.map(str::to_owned)))
        .collect();
    out.sort();
    out
}

#[test]
fn drift_tells_current_held_stale_and_unstamped_apart() {
    let mut index = index();
    let current = index.rollout(&key("api")).expect("unstamped").desired;
    let hash = current["confighash.io/config-hash"].clone();
    index.apply_workload(deployment("api", env_from("app"), json!(current)));
    let old = json!({"confighash.io/config-hash": "sha256:old"});
    index.apply_workload(deployment("other", env_from("other"), old.clone()));
    index.apply_workload(deployment("held", env_from("other"), old));
    index.apply_workload(deployment("plain", json!([{"name": "c"}]), json!({})));
    let queued = |k: &WorkloadKey| match k.name.as_str() {
        "held" => Queued::Waiting,
        "other" => Queued::Failing,
        _ => Queued::No,
    };
    let old = Some("sha256:old".to_owned());
    assert_eq!(
        states(&index, queued),
        [
            ("api".into(), Drift::Current, Some(hash)),
            ("held".into(), Drift::Held, old.clone()),
            ("other".into(), Drift::Stale, old.clone()),
            ("web".into(), Drift::Unstamped, None),
        ],
        "a workload that references no config is not counted"
    );
    // Not waiting at all is stale too; a content change makes the current one out of date.
    index.apply_configmap(cm("app", "9", json!({"a": "1", "b": "new"})));
    let drift = states(&index, |_| Queued::No);
    assert_eq!(drift[0].1, Drift::Stale);
    assert_eq!(drift[1].1, Drift::Stale);
}

#[test]
fn drift_leaves_out_workloads_whose_digests_are_not_known_yet() {
    let mut index = Index::new(options());
    index.apply_workload(deployment("web", env_key("app", "a"), json!({})));
    index.apply_configmap(cm("app", "1", json!({"a": "1"})));
    // A new key selection of a known ConfigMap: its digest is read later.
    index.apply_workload(deployment("api", env_key("app", "b"), json!({})));
    let names: Vec<_> = states(&index, |_| Queued::No).into_iter().map(|s| s.0).collect();
    assert_eq!(names, ["web"]);
    // A stamped workload that stopped referencing config still carries our annotations.
    let stamped = json!({"confighash.io/config-hash": "sha256:old"});
    index.apply_workload(deployment("api", json!([{"name": "c"}]), stamped));
    let drift = states(&index, |_| Queued::No);
    assert_eq!(drift[0].0, "api");
    assert_eq!(drift[0].1, Drift::Stale);
}

#[test]
fn invalid_names_are_neither_indexed_nor_looked_up() {
    let mut index = Index::new(options());
    let containers = json!([{"name": "c", "envFrom": [
        {"configMapRef": {"name": "app"}},
        {"configMapRef": {"name": "x?watch=true"}},
        {"configMapRef": {"name": "../../kube-system/configmaps/kubeadm-config"}}]}]);
    let missing = index.apply_workload(deployment("web", containers, json!({})));
    assert_eq!(missing, [source("app")], "only the valid name is read");
    let users: Vec<SourceKey> = index.users.keys().cloned().collect();
    assert_eq!(users, [source("app")], "only the valid name is followed");
    // A source event under an invalid name (which the API server never sends) is dropped.
    assert!(index.apply_configmap(cm("Not_Valid", "1", json!({}))).is_empty());
    assert_eq!(index.len(), (1, 0));
}

#[test]
fn a_workload_over_max_sources_is_never_held_or_rolled() {
    let mut index = Index::new(Options {
        max_sources: 2,
        ..options()
    });
    let containers = json!([{"name": "c", "envFrom": [
        {"configMapRef": {"name": "a"}}, {"configMapRef": {"name": "b"}}, {"configMapRef": {"name": "c"}}]}]);
    let stamped = json!({"confighash.io/config-hash": "sha256:stale"});
    index.apply_workload(deployment("web", containers, stamped.clone()));
    assert_eq!(index.take_over_limit(), 1);
    assert_eq!(index.take_over_limit(), 0, "taken once");
    assert_eq!(index.len(), (0, 0));
    assert!(index.stale().is_empty() && index.rollout(&key("web")).is_none());
    // Back under the limit, it is held again.
    index.apply_workload(deployment("web", env_from("a"), stamped));
    assert_eq!(index.len().0, 1);
}
