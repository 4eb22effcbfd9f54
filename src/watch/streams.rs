//! The watch streams: kube-runtime watchers (paged initial list, bookmarks, relist on
//! 410 Gone, backoff on errors) for opted-in Namespaces, every workload kind in use,
//! ConfigMaps and (with `--secrets`) Secrets, typed and merged for the controller. The
//! built-in kinds are watched as their k8s-openapi types; a configured kind as
//! `DynamicObject` with its `ApiResource`, decoded into the same [`Workload`] at its
//! template pointer.
//!
//! ConfigMaps and Secrets are watched in the metadata-only form (`PartialObjectMetadata`):
//! the API server sends names and resourceVersions, never data, and the controller GETs
//! the full object only for a source some workload references, when its resourceVersion
//! changes. The watch is cluster-wide and filtered to opted-in namespaces on this side:
//! the metadata of a ConfigMap is a few hundred bytes, streamed in pages and never held,
//! whereas one watch per opted-in namespace would hold a connection, a relist and a
//! backoff per namespace — hundreds with `namespaceSelector.mode: optOut` — and miss
//! nothing the cluster-wide form does not.
//!
//! With `--watch-namespaces` (a namespace-scoped install, whose Roles grant nothing
//! cluster-wide) every kind is watched once per listed namespace instead, and namespaces
//! are not watched at all.

use futures::{StreamExt, stream::BoxStream};
use k8s_openapi::{
    NamespaceResourceScope,
    api::{
        apps::v1::{DaemonSet, Deployment, StatefulSet},
        core::v1::{ConfigMap, Namespace, Secret},
    },
    serde::de::DeserializeOwned,
};
use kube::{
    Api, Client, Resource,
    core::{DynamicObject, PartialObjectMeta},
    runtime::{
        WatchStreamExt,
        watcher::{self, Event, watcher},
    },
};

use serde_json::Value;
use tracing::warn;

use super::index::SourceKey;
use crate::{
    admission::{
        kinds::{WorkloadKind, WorkloadKinds},
        workload::{Configured, Workload},
    },
    digest::SourceKind,
    name::Name,
};

/// ConfigMaps and Secrets per metadata LIST page. Metadata is small, but annotations may
/// hold up to 256 KiB (a `kubectl apply` of a large object copies it into
/// `last-applied-configuration`): small pages bound what one page can weigh (kube's default
/// is 500).
pub const SOURCE_PAGE_SIZE: u32 = 50;

/// Secrets that are never pod configuration, left out on the server side: Helm release
/// records are large and churn on every upgrade; token Secrets are managed by Kubernetes.
pub const SECRET_FIELD_SELECTOR: &str = "type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token";

/// An event of one of the merged streams.
pub type Item<K> = Result<Event<K>, watcher::Error>;

/// A workload event, tagged with its kind so that relists are tracked per stream.
pub type WorkloadItem = (WorkloadKind, Item<Workload>);

/// A ConfigMap or Secret as its metadata-only watch reports it: which one, and its
/// resourceVersion. Everything else in the metadata is dropped on arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceVersion {
    /// Namespace, kind and name.
    pub key: SourceKey,
    /// The resourceVersion the event carries.
    pub resource_version: String,
}

/// A ConfigMap or Secret metadata event, tagged with its kind.
pub type SourceItem = (SourceKind, Item<SourceVersion>);

/// Where the watcher looks: every namespace, or only these.
pub type Scope = Option<std::sync::Arc<std::collections::BTreeSet<String>>>;

fn watch<K>(client: &Client, scope: &Scope, config: watcher::Config) -> BoxStream<'static, Item<K>>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    watch_with(
        scope,
        config,
        || Api::all(client.clone()),
        |ns| Api::namespaced(client.clone(), ns),
    )
}

/// [`watch`] for a configured kind, read as `DynamicObject`s of its `ApiResource`.
fn watch_dynamic(
    client: &Client,
    scope: &Scope,
    kind: WorkloadKind,
    config: watcher::Config,
) -> BoxStream<'static, Item<DynamicObject>> {
    let resource = kind.api_resource();
    watch_with(
        scope,
        config,
        || Api::all_with(client.clone(), &resource),
        |ns| Api::namespaced_with(client.clone(), ns, &resource),
    )
}

/// One watch over every namespace (`all`), or one per namespace of `scope` (`namespaced`)
/// merged into one.
fn watch_with<K>(
    scope: &Scope,
    config: watcher::Config,
    all: impl FnOnce() -> Api<K>,
    namespaced: impl Fn(&str) -> Api<K>,
) -> BoxStream<'static, Item<K>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let Some(namespaces) = scope else {
        return watcher(all(), config).default_backoff().boxed();
    };
    let streams = namespaces
        .iter()
        .map(|ns| watcher(namespaced(ns), config.clone()).default_backoff().boxed());
    merge_relists(streams.collect())
}

/// Merges one stream per namespace into one that looks like a single watch to the
/// controller: one `Init` before the first list, one `InitDone` once every namespace has
/// been listed. A namespace that relists later (after `410 Gone`) reports its objects as
/// updates, without an `Init`/`InitDone` of its own: the controller would otherwise take
/// the objects of the other namespaces, missing from that relist, as deleted. A deletion
/// missed during such a gap is noticed when the watcher next acts on the object (a patch
/// of a workload that is gone removes it).
fn merge_relists<K: Send + 'static>(
    streams: Vec<BoxStream<'static, Item<K>>>,
) -> BoxStream<'static, Item<K>> {
    let tagged = streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.map(move |item| (i, item)).boxed());
    let mut listing: std::collections::BTreeSet<usize> = (0..tagged.len()).collect();
    let mut started = false;
    let mut synced = false;
    futures::stream::select_all(tagged)
        .filter_map(move |(i, item)| {
            let out = match item {
                Ok(Event::Init) if !started => {
                    started = true;
                    Some(Ok(Event::Init))
                }
                Ok(Event::Init) => None,
                Ok(Event::InitDone) if !synced => {
                    listing.remove(&i);
                    synced = listing.is_empty();
                    synced.then_some(Ok(Event::InitDone))
                }
                Ok(Event::InitDone) => None,
                Ok(Event::InitApply(k)) if synced => Some(Ok(Event::Apply(k))),
                other => Some(other),
            };
            std::future::ready(out)
        })
        .boxed()
}

/// Namespaces that match the opt-in selector.
pub fn namespaces(client: &Client, selector: &str) -> BoxStream<'static, Item<Namespace>> {
    let api = Api::<Namespace>::all(client.clone());
    watcher(api, watcher::Config::default().labels(selector))
        .default_backoff()
        .boxed()
}

/// The metadata of ConfigMaps, and of Secrets when `secrets`, in every namespace (the
/// controller keeps only opted-in ones), merged.
pub fn sources(client: &Client, scope: &Scope, secrets: bool) -> BoxStream<'static, SourceItem> {
    let config = || watcher::Config::default().page_size(SOURCE_PAGE_SIZE);
    let configmaps = lifted(
        watch::<PartialObjectMeta<ConfigMap>>(client, scope, config()),
        SourceKind::ConfigMap,
        |m| version(SourceKind::ConfigMap, m),
    );
    if !secrets {
        return configmaps;
    }
    let secrets = lifted(
        watch::<PartialObjectMeta<Secret>>(client, scope, config().fields(SECRET_FIELD_SELECTOR)),
        SourceKind::Secret,
        |m| version(SourceKind::Secret, m),
    );
    futures::stream::select(configmaps, secrets).boxed()
}

/// `None` for a name no reference can hold (the API server stores none, so such an event
/// is not ours).
fn version<K>(kind: SourceKind, object: PartialObjectMeta<K>) -> Option<SourceVersion> {
    let meta = object.metadata;
    let name = Name::new(meta.name.unwrap_or_default()).ok()?;
    Some(SourceVersion {
        key: (meta.namespace.unwrap_or_default(), (kind, name)),
        resource_version: meta.resource_version.unwrap_or_default(),
    })
}

/// The workloads of every kind in `kinds`, in every namespace of `scope`, merged.
pub fn workloads(client: &Client, scope: &Scope, kinds: &WorkloadKinds) -> BoxStream<'static, WorkloadItem> {
    let config = watcher::Config::default;
    let mut streams = Vec::new();
    for kind in kinds.iter() {
        let tag = move |item| (kind, item);
        streams.push(match kind {
            WorkloadKind::DEPLOYMENT => lifted(watch::<Deployment>(client, scope, config()), kind, |w| {
                Some(Workload::Deployment(w))
            }),
            WorkloadKind::STATEFUL_SET => lifted(watch::<StatefulSet>(client, scope, config()), kind, |w| {
                Some(Workload::StatefulSet(w))
            }),
            WorkloadKind::DAEMON_SET => lifted(watch::<DaemonSet>(client, scope, config()), kind, |w| {
                Some(Workload::DaemonSet(w))
            }),
            _ => watch_dynamic(client, scope, kind, config())
                .filter_map(move |e| futures::future::ready(configured(kind, e).map(tag)))
                .boxed(),
        });
    }
    futures::stream::select_all(streams).boxed()
}

/// A configured kind's event as a [`Workload`]. An object with nothing at the kind's
/// template pointer (an Argo Rollout with `spec.workloadRef`) is not a workload here, as in
/// admission: its change is passed on as a deletion, so nothing held for it is ever patched;
/// one that does not decode is dropped with a warning.
fn configured(kind: WorkloadKind, item: Item<DynamicObject>) -> Option<Item<Workload>> {
    let Ok(event) = item else {
        return item.err().map(Err);
    };
    let event = match event {
        Event::Apply(k) | Event::Delete(k) if k.data.pointer(kind.pointer()).is_none_or(Value::is_null) => {
            Event::Delete(Workload::Configured(Box::new(Configured {
                kind,
                metadata: k.metadata,
                template: Default::default(),
            })))
        }
        event => map_event(event, |k| decode(kind, k))?,
    };
    Some(Ok(event))
}

fn decode(kind: WorkloadKind, object: DynamicObject) -> Option<Workload> {
    let name = object.metadata.name.clone().unwrap_or_default();
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let parsed = serde_json::to_value(object).and_then(|value| Workload::parse(kind, value));
    parsed
        .inspect_err(|e| warn!(%kind, %namespace, %name, error = %e, "not a valid workload; ignored"))
        .ok()
        .flatten()
}

/// `event` with its object turned into a `T` by `wrap`; `None` when `wrap` refuses it.
fn map_event<K, T>(event: Event<K>, wrap: impl FnOnce(K) -> Option<T>) -> Option<Event<T>> {
    Some(match event {
        Event::Apply(k) => Event::Apply(wrap(k)?),
        Event::Delete(k) => Event::Delete(wrap(k)?),
        Event::Init => Event::Init,
        Event::InitApply(k) => Event::InitApply(wrap(k)?),
        Event::InitDone => Event::InitDone,
    })
}

/// The items of `stream` tagged with `tag`, their objects turned into `T` by `wrap`; the
/// events of objects `wrap` refuses are dropped.
fn lifted<K, T, G>(
    stream: BoxStream<'static, Item<K>>,
    tag: G,
    wrap: impl Fn(K) -> Option<T> + Send + 'static,
) -> BoxStream<'static, (G, Item<T>)>
where
    K: Send + 'static,
    T: Send + 'static,
    G: Copy + Send + 'static,
{
    stream
        .filter_map(move |item| {
            let item = match item {
                Ok(event) => map_event(event, &wrap).map(Ok),
                Err(e) => Some(Err(e)),
            };
            futures::future::ready(item.map(|item| (tag, item)))
        })
        .boxed()
}

#[cfg(test)]
mod tests;
