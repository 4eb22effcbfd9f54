//! The fake API server's in-memory object store: typed resource paths, a global
//! resourceVersion, selectors, and an event log that watches replay from.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Mutex,
};

use serde_json::{Value, json};
use tokio::sync::Notify;

/// A resource the fake server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> Resource {
    Resource {
        group,
        version,
        plural,
        kind,
        namespaced,
    }
}

/// The built-in kinds, and CRD kinds served under `/apis/GROUP/VERSION/namespaces/NS/PLURAL`
/// like any other group (Argo Rollouts, OpenKruise).
pub const RESOURCES: [Resource; 11] = [
    res("", "v1", "configmaps", "ConfigMap", true),
    res("", "v1", "secrets", "Secret", true),
    res("", "v1", "namespaces", "Namespace", false),
    res("", "v1", "events", "Event", true),
    res("apps", "v1", "deployments", "Deployment", true),
    res("apps", "v1", "statefulsets", "StatefulSet", true),
    res("apps", "v1", "daemonsets", "DaemonSet", true),
    res("coordination.k8s.io", "v1", "leases", "Lease", true),
    res("events.k8s.io", "v1", "events", "Event", true),
    res("argoproj.io", "v1alpha1", "rollouts", "Rollout", true),
    res("apps.kruise.io", "v1alpha1", "clonesets", "CloneSet", true),
];

pub fn by_path(group: &str, version: &str, plural: &str) -> Option<Resource> {
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource of a manifest, from `apiVersion` and `kind` (a bare manifest is a ConfigMap).
pub fn of_object(object: &Value) -> Resource {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let kind = object["kind"].as_str().unwrap_or("ConfigMap");
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.api_version() == api_version && r.kind == kind)
        .unwrap_or_else(|| panic!("fake API server does not serve {api_version} {kind}"))
}

/// (resource plural with group, namespace or "", name)
pub type Key = (String, String, String);

pub fn key(r: &Resource, namespace: &str, name: &str) -> Key {
    (
        format!("{}/{}", r.group, r.plural),
        namespace.to_owned(),
        name.to_owned(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub rv: u64,
    pub key: Key,
    pub change: Change,
    pub object: Value,
    pub old: Option<Value>,
}

#[derive(Default)]
pub struct Data {
    pub objects: BTreeMap<Key, Value>,
    pub rv: u64,
    pub log: VecDeque<LogEntry>,
    /// Watches from a resourceVersion below this get 410 Gone.
    pub compacted: u64,
}

#[derive(Default)]
pub struct Objects {
    pub data: Mutex<Data>,
    pub changed: Notify,
    /// Bumped to end every open watch.
    pub epoch: std::sync::atomic::AtomicU64,
}

impl Objects {
    /// Stores `object` under `key` with a new resourceVersion, logging the change.
    pub fn write(&self, key: Key, mut object: Value) -> Value {
        let mut data = self.data.lock().expect("lock");
        data.rv += 1;
        let rv = data.rv;
        let old = data.objects.get(&key).cloned();
        let meta = &mut object["metadata"];
        meta["resourceVersion"] = json!(rv.to_string());
        meta["uid"] = old
            .as_ref()
            .map(|o| o["metadata"]["uid"].clone())
            .unwrap_or_else(|| {
                // A new object gets a new uid, even under the name of a deleted one.
                let plural = key.0.rsplit('/').next().unwrap_or_default();
                json!(format!("uid-{plural}-{}-{}-{rv}", key.1, key.2))
            });
        meta["creationTimestamp"] = json!("2026-11-20T09:00:00Z");
        if key.1.is_empty() {
            meta.as_object_mut().map(|m| m.remove("namespace"));
        } else {
            meta["namespace"] = json!(key.1);
        }
        let change = if old.is_some() {
            Change::Modified
        } else {
            Change::Added
        };
        data.objects.insert(key.clone(), object.clone());
        data.log.push_back(LogEntry {
            rv,
            key,
            change,
            object: object.clone(),
            old,
        });
        drop(data);
        self.changed.notify_waiters();
        object
    }

    /// Removes an object, logging the deletion; `None` if it did not exist.
    pub fn delete(&self, key: &Key) -> Option<Value> {
        let mut data = self.data.lock().expect("lock");
        let mut object = data.objects.remove(key)?;
        data.rv += 1;
        let rv = data.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        data.log.push_back(LogEntry {
            rv,
            key: key.clone(),
            change: Change::Deleted,
            object: object.clone(),
            old: None,
        });
        drop(data);
        self.changed.notify_waiters();
        Some(object)
    }

    pub fn get(&self, key: &Key) -> Option<Value> {
        self.data.lock().expect("lock").objects.get(key).cloned()
    }

    /// Ends every open watch; clients reconnect from their last resourceVersion.
    pub fn end_watches(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Forgets the event log: later watches from an older resourceVersion get 410 Gone.
    pub fn compact(&self) {
        let mut data = self.data.lock().expect("lock");
        data.compacted = data.rv;
        data.log.clear();
    }
}

/// A parsed `labelSelector` or `fieldSelector`: terms that must all hold.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    labels: Vec<Term>,
    fields: Vec<Term>,
}

#[derive(Debug, Clone)]
enum Term {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    Absent(String),
}

fn terms(text: Option<&str>) -> Vec<Term> {
    let parts = text.into_iter().flat_map(|t| t.split(',')).map(str::trim);
    parts
        .filter(|p| !p.is_empty())
        .map(|p| {
            if let Some((k, v)) = p.split_once("!=") {
                Term::Ne(k.into(), v.into())
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                Term::Eq(k.into(), v.into())
            } else if let Some(k) = p.strip_prefix('!') {
                Term::Absent(k.into())
            } else {
                Term::Exists(p.into())
            }
        })
        .collect()
}

impl Selector {
    pub fn parse(labels: Option<&str>, fields: Option<&str>) -> Self {
        Self {
            labels: terms(labels),
            fields: terms(fields),
        }
    }

    pub fn matches(&self, object: &Value) -> bool {
        let label = |k: &str| object["metadata"]["labels"][k].as_str().map(str::to_owned);
        let field = |path: &str| {
            let pointer = format!("/{}", path.replace('.', "/"));
            object
                .pointer(&pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        self.labels.iter().all(|t| holds(t, label)) && self.fields.iter().all(|t| holds(t, field))
    }
}

fn holds(term: &Term, get: impl Fn(&str) -> Option<String>) -> bool {
    match term {
        Term::Eq(k, v) => get(k).as_deref() == Some(v),
        Term::Ne(k, v) => get(k).as_deref() != Some(v),
        Term::Exists(k) => get(k).is_some(),
        Term::Absent(k) => get(k).is_none(),
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().expect("object");
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}
