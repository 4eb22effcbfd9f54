//! Real workloads from public projects (`../shared/corpus`): every case gives exactly the
//! ConfigMap references in `expected.json`, and admitting it stamps exactly those sources.

use crate::common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use confighash::{
    admission::{self, Options, workload::Workload},
    references::{self, Keys, Reference, Via},
    source::{DirSource, Source, dir::documents},
};
use serde_json::{Value, json};

fn corpus() -> PathBuf {
    let dir = common::repo().join("../shared/corpus");
    assert!(
        dir.join("expected.json").is_file(),
        "the corpus must sit at {}",
        dir.display()
    );
    dir
}

fn cases() -> Vec<(String, PathBuf)> {
    let dir = corpus();
    let expected: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"))
            .expect("json");
    assert_eq!(expected.len(), 58);
    expected
        .keys()
        .map(|case| (case.clone(), dir.join(case)))
        .collect()
}

fn workload_doc(case: &Path) -> Value {
    let mut docs = documents(&case.join("workload.yaml")).expect("workload.yaml parses");
    assert_eq!(docs.len(), 1, "{}", case.display());
    docs.remove(0)
}

/// One comparable entry: (kind, name, via, container, optional, keys or None for all).
type Entry = (
    String,
    String,
    String,
    Option<String>,
    bool,
    Option<BTreeSet<String>>,
);

fn expected_entries(case: &str) -> BTreeSet<Entry> {
    let all: BTreeMap<String, Vec<Value>> =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("expected.json")).expect("read"))
            .expect("json");
    let text = |v: &Value| v.as_str().expect("string").to_owned();
    all[case]
        .iter()
        .map(|r| {
            let keys = r["keys"].as_array().map(|k| k.iter().map(text).collect());
            let container = r["container"].as_str().map(str::to_owned);
            (
                text(&r["kind"]),
                text(&r["name"]),
                text(&r["via"]),
                container,
                r["optional"] == true,
                keys,
            )
        })
        .collect()
}

/// Our sites in the corpus's shape: env references grouped per (kind, name, container, optional).
fn found_entries(sites: Vec<Reference>) -> BTreeSet<Entry> {
    type EnvGroup = (String, String, Option<String>, bool);
    let mut env_keys: BTreeMap<EnvGroup, BTreeSet<String>> = BTreeMap::new();
    let mut entries = BTreeSet::new();
    for site in sites {
        let kind = site.kind.kind().to_owned();
        let keys = match site.keys {
            Keys::All => None,
            Keys::Some(keys) => Some(keys),
        };
        let via = match site.via {
            Via::Env => {
                let group = env_keys
                    .entry((kind, site.name.to_string(), site.container, site.optional))
                    .or_default();
                group.extend(keys.expect("an env reference names its key"));
                continue;
            }
            Via::Volume => "volume",
            Via::Projected => "projected",
            Via::EnvFrom => "envFrom",
            Via::Annotation => "annotation",
        };
        entries.insert((
            kind,
            site.name.to_string(),
            via.into(),
            site.container,
            site.optional,
            keys,
        ));
    }
    let env = env_keys
        .into_iter()
        .map(|((kind, name, container, optional), keys)| {
            (kind, name, "env".to_owned(), container, optional, Some(keys))
        });
    entries.extend(env);
    entries
}

#[test]
fn every_case_gives_exactly_the_expected_configmap_and_secret_references() {
    for (case, dir) in cases() {
        let workload = Workload::from_manifest(workload_doc(&dir))
            .expect("valid workload")
            .expect("apps/v1 workload");
        let sites = workload
            .template()
            .spec
            .as_ref()
            .map(references::sites)
            .unwrap_or_default();
        assert_eq!(found_entries(sites), expected_entries(&case), "case {case}");
    }
}

fn review_for(object: &Value, namespace: &str) -> Value {
    let kind = object["kind"].as_str().expect("kind");
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "corpus", "kind": {"group": "apps", "version": "v1", "kind": kind},
        "resource": {"group": "apps", "version": "v1", "resource": format!("{}s", kind.to_lowercase())},
        "name": object["metadata"]["name"], "namespace": namespace, "operation": "CREATE",
        "userInfo": {"username": "test"}, "object": object, "dryRun": false}})
}

async fn admit(review: &Value, source: &Source) -> Value {
    let request = admission::decode(&serde_json::to_vec(review).expect("json")).expect("decodes");
    let decision = admission::review(&request, source, &Options::default())
        .await
        .expect("reviews");
    serde_json::from_slice(&admission::encode(decision.response).expect("encodes")).expect("json")
}

#[tokio::test]
async fn admitting_every_case_stamps_exactly_its_configmaps() {
    for (case, dir) in cases() {
        let object = workload_doc(&dir);
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let source = Source::Dir(DirSource::load(&dir).expect("case ConfigMaps load"));
        let review = review_for(&object, &namespace);
        let reply = admit(&review, &source).await;
        assert_eq!(reply["response"]["allowed"], true, "{case}");

        let names: BTreeSet<String> = expected_entries(&case)
            .into_iter()
            .filter(|e| e.0 == "ConfigMap")
            .map(|e| e.1)
            .collect();
        let patched = common::fixtures::patched_object(&review, &reply);
        let sources = common::fixtures::template_annotations(&patched)["confighash.io/sources"]
            .as_str()
            .map(str::to_owned);
        let Some(sources) = sources else {
            assert!(
                names.is_empty(),
                "{case}: no annotation although {names:?} are referenced"
            );
            continue;
        };
        let listed: BTreeSet<String> = sources
            .split(',')
            .map(|s| {
                s.trim_start_matches("configmap/")
                    .split('@')
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        assert_eq!(listed, names, "{case}");
        // Every ConfigMap saved beside the workload is found, not recorded absent.
        for name in &names {
            let saved = dir.join(format!("configmap-{name}.yaml")).exists();
            assert_eq!(
                !sources.contains(&format!("configmap/{name}@absent")),
                saved,
                "{case}: {name}"
            );
        }
        // Admitting the patched object again changes nothing.
        let again = admit(&common::fixtures::with_object(review.clone(), patched), &source).await;
        assert!(again["response"].get("patch").is_none(), "{case}");
    }
}
