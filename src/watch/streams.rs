//! The watch streams: kube-runtime watchers (paged initial list, bookmarks, relist on
//! 410 Gone, backoff on errors) for opted-in Namespaces, the three workload kinds,
//! ConfigMaps and (with `--secrets`) Secrets, typed and merged for the controller.

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
    runtime::{
        WatchStreamExt,
        watcher::{self, Event, watcher},
    },
};

use crate::{admission::workload::Workload, digest::SourceKind, source::Object};

/// ConfigMaps and Secrets per LIST page: small pages keep the initial list of large
/// objects from ever being in memory at once (kube's default is 500).
pub const SOURCE_PAGE_SIZE: u32 = 50;

/// Secrets that are never pod configuration, left out on the server side: Helm release
/// records are large and churn on every upgrade; token Secrets are managed by Kubernetes.
pub const SECRET_FIELD_SELECTOR: &str = "type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token";

/// An event of one of the merged streams.
pub type Item<K> = Result<Event<K>, watcher::Error>;

/// A workload event, tagged with its kind so that relists are tracked per stream.
pub type WorkloadItem = (&'static str, Item<Workload>);

/// A ConfigMap or Secret event, tagged with its kind.
pub type SourceItem = (SourceKind, Item<Object>);

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

/// ConfigMaps, and Secrets when `secrets`, in every namespace (the controller keeps only
/// opted-in ones), merged.
pub fn sources(client: &Client, secrets: bool) -> BoxStream<'static, SourceItem> {
    let config = || watcher::Config::default().page_size(SOURCE_PAGE_SIZE);
    let configmaps = watch::<ConfigMap>(client, config())
        .map(|e| (SourceKind::ConfigMap, lift(e, Object::ConfigMap)))
        .boxed();
    if !secrets {
        return configmaps;
    }
    let secrets = watch::<Secret>(client, config().fields(SECRET_FIELD_SELECTOR))
        .map(|e| (SourceKind::Secret, lift(e, Object::Secret)));
    futures::stream::select(configmaps, secrets).boxed()
}

/// Deployments, StatefulSets and DaemonSets in every namespace, merged.
pub fn workloads(client: &Client) -> BoxStream<'static, WorkloadItem> {
    let config = watcher::Config::default;
    let deployments =
        watch::<Deployment>(client, config()).map(|e| ("Deployment", lift(e, Workload::Deployment)));
    let statefulsets =
        watch::<StatefulSet>(client, config()).map(|e| ("StatefulSet", lift(e, Workload::StatefulSet)));
    let daemonsets =
        watch::<DaemonSet>(client, config()).map(|e| ("DaemonSet", lift(e, Workload::DaemonSet)));
    futures::stream::select_all([deployments.boxed(), statefulsets.boxed(), daemonsets.boxed()]).boxed()
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
