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

use futures::{Stream, StreamExt, stream::BoxStream};
use k8s_openapi::{
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

fn watch<K>(client: &Client, config: watcher::Config) -> impl Stream<Item = Item<K>> + Send + use<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher(Api::<K>::all(client.clone()), config).default_backoff()
}

/// Namespaces that match the opt-in selector.
pub fn namespaces(client: &Client, selector: &str) -> BoxStream<'static, Item<Namespace>> {
    watch::<Namespace>(client, watcher::Config::default().labels(selector)).boxed()
}

/// The metadata of ConfigMaps, and of Secrets when `secrets`, in every namespace (the
/// controller keeps only opted-in ones), merged.
pub fn sources(client: &Client, secrets: bool) -> BoxStream<'static, SourceItem> {
    let config = || watcher::Config::default().page_size(SOURCE_PAGE_SIZE);
    let configmaps = watch::<PartialObjectMeta<ConfigMap>>(client, config())
        .filter_map(|e| {
            let item = lift_valid(e, |m| version(SourceKind::ConfigMap, m));
            futures::future::ready(item.map(|item| (SourceKind::ConfigMap, item)))
        })
        .boxed();
    if !secrets {
        return configmaps;
    }
    let secrets = watch::<PartialObjectMeta<Secret>>(client, config().fields(SECRET_FIELD_SELECTOR))
        .filter_map(|e| {
            let item = lift_valid(e, |m| version(SourceKind::Secret, m));
            futures::future::ready(item.map(|item| (SourceKind::Secret, item)))
        });
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

/// The workloads of every kind in `kinds`, in every namespace, merged.
pub fn workloads(client: &Client, kinds: &WorkloadKinds) -> BoxStream<'static, WorkloadItem> {
    let config = watcher::Config::default;
    let mut streams = Vec::new();
    for kind in kinds.iter() {
        let tag = move |item| (kind, item);
        streams.push(match kind {
            WorkloadKind::DEPLOYMENT => watch::<Deployment>(client, config())
                .map(move |e| tag(lift(e, Workload::Deployment)))
                .boxed(),
            WorkloadKind::STATEFUL_SET => watch::<StatefulSet>(client, config())
                .map(move |e| tag(lift(e, Workload::StatefulSet)))
                .boxed(),
            WorkloadKind::DAEMON_SET => watch::<DaemonSet>(client, config())
                .map(move |e| tag(lift(e, Workload::DaemonSet)))
                .boxed(),
            _ => {
                let api = Api::<DynamicObject>::all_with(client.clone(), &kind.api_resource());
                watcher(api, config())
                    .default_backoff()
                    .filter_map(move |e| futures::future::ready(configured(kind, e).map(tag)))
                    .boxed()
            }
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
        Event::Apply(k) => Event::Apply(decode(kind, k)?),
        Event::Delete(k) => Event::Delete(decode(kind, k)?),
        Event::Init => Event::Init,
        Event::InitApply(k) => Event::InitApply(decode(kind, k)?),
        Event::InitDone => Event::InitDone,
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

fn lift<K, T>(item: Item<K>, wrap: fn(K) -> T) -> Item<T> {
    item.map(|event| match event {
        Event::Apply(k) => Event::Apply(wrap(k)),
        Event::Delete(k) => Event::Delete(wrap(k)),
        Event::Init => Event::Init,
        Event::InitApply(k) => Event::InitApply(wrap(k)),
        Event::InitDone => Event::InitDone,
    })
}

/// [`lift`] for a `wrap` that may refuse an object: the events of refused objects are dropped.
fn lift_valid<K, T>(item: Item<K>, wrap: fn(K) -> Option<T>) -> Option<Item<T>> {
    let Ok(event) = item else {
        return item.err().map(Err);
    };
    let event = match event {
        Event::Apply(k) => Event::Apply(wrap(k)?),
        Event::Delete(k) => Event::Delete(wrap(k)?),
        Event::Init => Event::Init,
        Event::InitApply(k) => Event::InitApply(wrap(k)?),
        Event::InitDone => Event::InitDone,
    };
    Some(Ok(event))
}
