//! The watcher (contract §9) against the fake API server through a real `kube::Client`:
//! which workloads a ConfigMap change rolls, the patch it sends, the Event, bursts, and
//! namespace opt-in.

use crate::common;

use common::{eventually, fake_api::FakeApi, watcher::*};
use confighash::admission::{self, Options, Outcome};
use serde_json::{Value, json};

const NS: &str = "demo";

/// `web` takes key `a` of `app`, `api` all of `app`, StatefulSet `db` key `b` of `app`
/// through a volume, `unrelated` all of `other`; all stamped as admission would.
async fn cluster() -> FakeApi {
    let api = FakeApi::start().await;
    opt_in(&api, NS);
    api.put_configmap(NS, "app", &[("a", "1"), ("b", "2")]);
    api.put_configmap(NS, "other", &[("x", "1")]);
    put_sentinel(&api, NS).await;
    put_stamped(&api, workload("Deployment", NS, "web", env_key("app", "a"))).await;
    put_stamped(&api, workload("Deployment", NS, "api", env_from("app"))).await;
    put_stamped(&api, workload("Deployment", NS, "unrelated", env_from("other"))).await;
    let mut db = workload("StatefulSet", NS, "db", json!({"name": "c", "image": "x"}));
    db["spec"]["template"]["spec"]["volumes"] =
        json!([{"name": "v", "configMap": {"name": "app", "items": [{"key": "b", "path": "b"}]}}]);
    put_stamped(&api, db).await;
    api
}

fn patch_counts(api: &FakeApi) -> [usize; 4] {
    [
        patched(api, "deployments", NS, "web"),
        patched(api, "deployments", NS, "api"),
        patched(api, "deployments", NS, "unrelated"),
        patched(api, "statefulsets", NS, "db"),
    ]
}

#[tokio::test]
async fn a_configmap_update_rolls_exactly_the_workloads_that_take_the_changed_keys() {
    let api = cluster().await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;

    api.put_configmap(NS, "app", &[("a", "1"), ("b", "changed")]);
    barrier(&api, NS, 1).await;
    assert_eq!(patch_counts(&api), [0, 1, 0, 1], "web takes only key a");

    api.put_configmap(NS, "app", &[("a", "changed"), ("b", "changed")]);
    barrier(&api, NS, 2).await;
    assert_eq!(patch_counts(&api), [1, 2, 0, 1]);
    // web once, api twice, the sentinel twice (counted once each response is back).
    let deployments = r#"confighash_watch_rollouts_total{kind="Deployment",result="patched"}"#;
    let statefulsets = r#"confighash_watch_rollouts_total{kind="StatefulSet",result="patched"}"#;
    eventually("rollout metrics", async || {
        watcher.metric(deployments) == 5.0 && watcher.metric(statefulsets) == 1.0
    })
    .await;
}

#[tokio::test]
async fn an_unrelated_key_or_configmap_or_a_metadata_change_rolls_nothing() {
    let api = cluster().await;
    api.put_configmap(NS, "lonely", &[("k", "v")]);
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;

    api.put_configmap(NS, "lonely", &[("k", "changed")]);
    // Same data, new resourceVersion and a label: a metadata-only update.
    let mut app = api.get_object("v1", "ConfigMap", NS, "app").expect("app");
    app["metadata"]["labels"] = json!({"touched": "yes"});
    api.put_object(app);
    barrier(&api, NS, 1).await;
    assert_eq!(patch_counts(&api), [0, 0, 0, 0]);
    drop(watcher);
}

#[tokio::test]
async fn the_patch_is_a_merge_patch_with_a_precondition_and_admission_agrees_with_it() {
    let api = cluster().await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    let before = api.get_object("apps/v1", "Deployment", NS, "api").expect("api");

    api.put_configmap(NS, "app", &[("a", "1"), ("b", "new")]);
    eventually("api patched", async || {
        patched(&api, "deployments", NS, "api") == 1
    })
    .await;
    let request = api
        .workload_patches()
        .into_iter()
        .find(|r| r.path.ends_with("/deployments/api"))
        .expect("patch");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/merge-patch+json")
    );

    // Only our two annotations changed, to exactly what admission computes now.
    let after = api.get_object("apps/v1", "Deployment", NS, "api").expect("api");
    let expected = admitted(&api, &before).await;
    assert_eq!(
        after["spec"]["template"]["metadata"]["annotations"],
        json!(expected)
    );
    let strip = |mut v: Value| {
        v["spec"]["template"]["metadata"]["annotations"] = Value::Null;
        v["metadata"]["resourceVersion"] = Value::Null;
        v
    };
    assert_eq!(strip(after.clone()), strip(before));

    // The webhook sees the watcher's patch as an UPDATE: it must answer with no patch.
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u1", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "name": "api", "namespace": NS, "operation": "UPDATE", "userInfo": {},
        "object": after, "oldObject": after}});
    let request = admission::decode(&serde_json::to_vec(&review).expect("json")).expect("valid review");
    let source = confighash::source::Source::Cluster(confighash::source::ClusterSource::new(api.client()));
    let decision = admission::review(&request, &source, &Options::default())
        .await
        .expect("decides");
    assert_eq!(decision.outcome, Outcome::Unchanged);
    assert!(decision.response.patch.is_none());
}

#[tokio::test]
async fn a_rollout_publishes_an_event_naming_the_source_that_changed() {
    let api = cluster().await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    let old = template_annotations(&api, "Deployment", NS, "web")["confighash.io/sources"].clone();
    api.put_configmap(NS, "app", &[("a", "2"), ("b", "2")]);
    let web_event = || {
        let events = api.list_objects("events.k8s.io/v1", "Event");
        events.into_iter().find(|e| e["regarding"]["name"] == "web")
    };
    eventually("an Event for web", async || web_event().is_some()).await;
    let new = template_annotations(&api, "Deployment", NS, "web")["confighash.io/sources"].clone();
    let short = |v: &Value| {
        v.as_str()
            .and_then(|s| s.split('@').nth(1))
            .expect("short digest")
            .to_owned()
    };
    let web = web_event().expect("an Event for web");
    assert_eq!(web["reason"], "ConfigChanged");
    assert_eq!(web["regarding"]["kind"], "Deployment");
    assert_eq!(
        web["note"],
        format!("configmap/app {} → {}", short(&old), short(&new))
    );
    drop(watcher);
}

#[tokio::test]
async fn creating_an_absent_configmap_and_deleting_one_roll_their_consumers() {
    let api = cluster().await;
    put_stamped(&api, workload("Deployment", NS, "late", env_from("later"))).await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    api.put_configmap(NS, "later", &[("k", "v")]);
    eventually("created", async || patched(&api, "deployments", NS, "late") == 1).await;
    api.delete_configmap(NS, "later");
    eventually("deleted", async || patched(&api, "deployments", NS, "late") == 2).await;
    let sources = template_annotations(&api, "Deployment", NS, "late")["confighash.io/sources"].clone();
    assert_eq!(sources, "configmap/later@absent");
    drop(watcher);
}

#[tokio::test]
async fn a_burst_of_twenty_updates_in_two_seconds_gives_one_patch_per_workload() {
    let api = cluster().await;
    let mut config = config("a");
    config.limits.debounce = std::time::Duration::from_millis(600);
    config.limits.min_interval = std::time::Duration::from_secs(30);
    let watcher = Watcher::start(&api, config);
    watcher.synced().await;
    for i in 0..20 {
        api.put_configmap(NS, "app", &[("a", &i.to_string()), ("b", &i.to_string())]);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    barrier(&api, NS, 1).await;
    assert_eq!(patch_counts(&api), [1, 1, 0, 1]);
    // The newest content won.
    let web = template_annotations(&api, "Deployment", NS, "web");
    let manifest = api.get_object("apps/v1", "Deployment", NS, "web").expect("web");
    assert_eq!(web, json!(admitted(&api, &manifest).await));
}

#[tokio::test]
async fn a_flapping_configmap_rolls_at_most_once_per_interval() {
    let api = cluster().await;
    let mut config = config("a");
    config.limits.debounce = std::time::Duration::from_millis(100);
    config.limits.min_interval = std::time::Duration::from_secs(2);
    let watcher = Watcher::start(&api, config);
    watcher.synced().await;
    let started = tokio::time::Instant::now();
    for i in 0..40 {
        api.put_configmap(NS, "other", &[("x", &i.to_string())]);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rollouts = patched(&api, "deployments", NS, "unrelated");
    assert!(rollouts >= 1, "a flapping source still rolls");
    assert!(
        rollouts as f64 <= (elapsed / 2.0).ceil() + 1.0,
        "{rollouts} rollouts in {elapsed:.1}s with a 2s interval"
    );
    drop(watcher);
}

#[tokio::test]
async fn a_namespace_without_the_label_is_ignored_until_it_opts_in() {
    let api = cluster().await;
    api.put_namespace("elsewhere", &[("team", "x")]);
    api.put_configmap("elsewhere", "app", &[("a", "1")]);
    put_stamped(&api, workload("Deployment", "elsewhere", "web", env_from("app"))).await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;

    api.put_configmap("elsewhere", "app", &[("a", "2")]);
    barrier(&api, NS, 1).await;
    assert_eq!(patched(&api, "deployments", "elsewhere", "web"), 0);

    // Opting in is picked up: the change made while it was out is rolled once listed.
    opt_in(&api, "elsewhere");
    eventually("opted-in namespace rolled", async || {
        patched(&api, "deployments", "elsewhere", "web") == 1
    })
    .await;
    // Opting out again stops it.
    api.put_namespace("elsewhere", &[("team", "x")]);
    eventually("namespace dropped", async || {
        watcher.metric(r#"confighash_watch_objects{kind="namespace"}"#) == 1.0
    })
    .await;
    api.put_configmap("elsewhere", "app", &[("a", "3")]);
    barrier(&api, NS, 2).await;
    assert_eq!(patched(&api, "deployments", "elsewhere", "web"), 1);
}

#[tokio::test]
async fn workloads_are_counted_by_kind_and_state_and_listed_with_their_hash_when_asked() {
    let api = cluster().await;
    api.put_object(workload("Deployment", NS, "fresh", env_from("other")));
    let mut outdated = workload("Deployment", NS, "outdated", env_from("other"));
    outdated["spec"]["template"]["metadata"]["annotations"] =
        json!({"confighash.io/config-hash": "sha256:old"});
    api.put_object(outdated);
    let watcher = Watcher::start(
        &api,
        confighash::watch::WatchConfig {
            workload_info: true,
            ..config("a")
        },
    );
    watcher.synced().await;
    let series =
        |kind: &str, state: &str| format!(r#"confighash_workloads{{kind="{kind}",state="{state}"}}"#);
    // `outdated` is rolled by the watcher; `fresh` is left to admission.
    eventually("drift counts", async || {
        watcher.metric(&series("Deployment", "current")) == 5.0
            && watcher.metric(&series("Deployment", "unstamped")) == 1.0
            && watcher.metric(&series("Deployment", "held")) == 0.0
            && watcher.metric(&series("Deployment", "stale")) == 0.0
            && watcher.metric(&series("StatefulSet", "current")) == 1.0
    })
    .await;
    let hash = template_annotations(&api, "Deployment", NS, "web")["confighash.io/config-hash"].clone();
    let info = format!(
        r#"confighash_workload_config_info{{namespace="{NS}",kind="Deployment",name="web",config_hash={hash}}}"#
    );
    assert_eq!(watcher.metric(&info), 1.0, "{}", watcher.metrics.encode());
    let fresh = format!(
        r#"confighash_workload_config_info{{namespace="{NS}",kind="Deployment",name="fresh",config_hash=""}}"#
    );
    assert_eq!(watcher.metric(&fresh), 1.0);
    // A replica that stops leading exports no workloads.
    let metrics = watcher.metrics.clone();
    watcher.stop().await;
    let text = metrics.encode();
    assert!(
        text.contains(&format!("{} 0", series("Deployment", "current"))),
        "{text}"
    );
    assert!(!text.contains("confighash_workload_config_info{"), "{text}");
}
