//! The watcher while this replica leads: follows the streams into the [`Index`], turns
//! content changes into scheduled workloads, and rolls them when the [`Scheduler`] says so.
//!
//! Sync order keeps the first list cheap: namespaces, then workloads (so the key
//! selections in use are known), then ConfigMaps and Secrets. Events inside a (re)list never roll
//! anything; when every stream is synced, stamped workloads whose `config-hash` is out of
//! date are scheduled — a change made while no leader ran is not lost.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use futures::{Stream, StreamExt, stream::BoxStream};
use kube::{Client, runtime::watcher::Event};
use tokio::time::Instant;
use tracing::{info, warn};

mod namespaces;
mod relist;
mod rollouts;

use self::{namespaces::Streams, relist::Relists};
use super::{
    WatchConfig,
    index::{Index, SourceKey, WorkloadKey},
    policy::{Annotated, Policy},
    rollout::Patcher,
    scheduler::Scheduler,
    streams::{self, Item, SourceItem, SourceVersion, WorkloadItem},
};
use crate::{
    admission::{
        kinds::{WorkloadKind, WorkloadKinds},
        workload::Workload,
    },
    digest::SourceKind,
    metrics::Metrics,
    source::ClusterSource,
};

/// How often the workload drift metrics are recomputed.
const DRIFT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The state of one leadership term.
pub struct Controller {
    client: Client,
    selector: String,
    /// `--watch-namespaces`, if set.
    scope: streams::Scope,
    secrets: bool,
    reader: ClusterSource,
    index: Index,
    scheduler: Scheduler<WorkloadKey>,
    patcher: Patcher,
    metrics: Arc<Metrics>,
    namespaces: Option<BTreeSet<String>>,
    /// The namespace stream's (re)list: one stream, keyed by `()`.
    namespaces_relist: Relists<(), String>,
    /// The workload kinds followed: the built-in ones and the configured ones.
    kinds: WorkloadKinds,
    /// Configured kinds the API server does not serve (CRD not installed), reported once.
    unavailable: HashSet<WorkloadKind>,
    /// Workload kinds not synced since their stream (re)started, with the keys seen so far.
    workloads_relist: Relists<WorkloadKind, WorkloadKey>,
    /// Source kinds not synced since their stream (re)started, with the keys seen so far.
    sources_relist: Relists<SourceKind, SourceKey>,
    /// Sources to read once synced: referenced during a (re)list, when nothing is read.
    unread: BTreeSet<SourceKey>,
    /// Every stream has listed and what the lists left to do is done; set only by
    /// [`Controller::check_live`], which sees every relist start.
    live: bool,
    /// `--workload-info-metric`: also export one series per workload.
    workload_info: bool,
    /// The default window and the wall clock.
    policy: Policy,
    /// The rollout-window and pause annotations of each opted-in namespace.
    namespace_policy: HashMap<String, Annotated>,
    /// Workloads told (by an Event) that they are held, until they roll or settle.
    announced_holds: HashSet<WorkloadKey>,
    /// The invalid window value each workload was last told about.
    reported_invalid: HashMap<WorkloadKey, String>,
}

async fn next<S: Stream + Unpin>(stream: &mut Option<S>) -> Option<S::Item> {
    match stream {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Controller {
    /// A controller with empty state.
    pub fn new(client: Client, config: &WatchConfig, metrics: Arc<Metrics>) -> Self {
        let patcher = Patcher::new(
            client.clone(),
            config.options.keys.clone(),
            metrics.clone(),
            &config.lease.identity,
            config.lease.timing.call_timeout(),
        );
        Self {
            reader: ClusterSource::new(client.clone()),
            client,
            selector: config.namespace_selector.clone(),
            scope: config.namespaces.clone().map(Arc::new),
            secrets: config.options.secrets.is_some(),
            index: Index::new(config.options.clone()),
            scheduler: Scheduler::new(config.limits),
            patcher,
            metrics,
            namespaces: None,
            namespaces_relist: Relists::default(),
            kinds: config.options.kinds.clone(),
            unavailable: HashSet::new(),
            workloads_relist: Relists::default(),
            sources_relist: Relists::default(),
            unread: BTreeSet::new(),
            live: false,
            workload_info: config.workload_info,
            policy: config.policy.clone(),
            namespace_policy: HashMap::new(),
            announced_holds: HashSet::new(),
            reported_invalid: HashMap::new(),
        }
    }

    /// Runs until dropped (leadership lost or shutdown).
    pub async fn run(mut self) {
        let mut workloads: Option<BoxStream<'static, WorkloadItem>> = None;
        let mut sources: Option<BoxStream<'static, SourceItem>> = None;
        let mut namespaces = match self.scope.clone() {
            None => streams::namespaces(&self.client, &self.selector),
            // A fixed list: nothing to watch (and no right to).
            Some(listed) => {
                if let Streams::Restart = self.set_namespaces(listed.iter().cloned().collect()) {
                    self.restart(&mut workloads, &mut sources);
                }
                futures::stream::pending().boxed()
            }
        };
        // Drift is a walk over every workload: done on a timer, never per event.
        let mut drift = tokio::time::interval(DRIFT_EVERY);
        drift.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wake = self.scheduler.next_wakeup();
            tokio::select! {
                Some(item) = namespaces.next() => {
                    if let Streams::Restart = self.on_namespace(item) {
                        self.restart(&mut workloads, &mut sources);
                    }
                }
                Some((kind, item)) = next(&mut workloads) => self.on_workload(kind, item).await,
                Some((kind, item)) = next(&mut sources) => self.on_source(kind, item).await,
                () = sleep_until(wake) => self.roll_due().await,
                _ = drift.tick() => self.record_drift(),
            }
            if sources.is_none() && workloads.is_some() && self.workloads_relist.done() {
                sources = Some(streams::sources(&self.client, &self.scope, self.secrets));
            }
            self.check_live(sources.is_some()).await;
            self.record_metrics();
        }
    }

    /// Lists workloads, then ConfigMaps and Secrets, again.
    fn restart(
        &mut self,
        workloads: &mut Option<BoxStream<'static, WorkloadItem>>,
        sources: &mut Option<BoxStream<'static, SourceItem>>,
    ) {
        *workloads = Some(streams::workloads(&self.client, &self.scope, &self.kinds));
        *sources = None;
        self.workloads_relist.restart(self.kinds.iter());
        self.sources_relist.restart(self.source_kinds());
    }

    fn source_kinds(&self) -> impl Iterator<Item = SourceKind> + use<> {
        let secrets = self.secrets.then_some(SourceKind::Secret);
        std::iter::once(SourceKind::ConfigMap).chain(secrets)
    }

    fn watched(&self, namespace: Option<&str>) -> bool {
        let ns = namespace.unwrap_or_default();
        self.namespaces.as_ref().is_some_and(|set| set.contains(ns))
    }

    async fn on_workload(&mut self, kind: WorkloadKind, item: Item<Workload>) {
        let event = match item {
            Ok(event) => event,
            Err(e) => return self.on_workload_error(kind, &e),
        };
        if self.unavailable.remove(&kind) {
            info!(%kind, api_version = kind.api_version(), "workload kind served again; following it");
            self.metrics.watch_kind_unavailable(kind.kind(), false);
        }
        match event {
            Event::Init => self.workloads_relist.start(kind),
            Event::InitApply(w) | Event::Apply(w) => {
                if !self.watched(w.metadata().namespace.as_deref()) {
                    return;
                }
                let key = key_of(&w);
                self.workloads_relist.seen(&kind, &key);
                let policy_before = self.index.policy(&key).cloned();
                let missing = self.index.apply_workload(w);
                for _ in 0..self.index.take_over_limit() {
                    self.metrics.sources_over_limit("watcher");
                }
                if self.index.policy(&key) != policy_before.as_ref() {
                    self.scheduler.release(&key, Instant::now());
                }
                if self.live {
                    self.read_sources(missing).await;
                } else {
                    self.unread.extend(missing);
                }
            }
            Event::Delete(w) => {
                let key = key_of(&w);
                self.index.remove_workload(&key);
                self.forget(&key);
            }
            Event::InitDone => {
                let held = self.index.workload_keys().into_iter().filter(|k| k.kind == kind);
                for key in self.workloads_relist.gone(&kind, held) {
                    self.index.remove_workload(&key);
                    self.forget(&key);
                }
            }
        }
    }

    /// A metadata event of a ConfigMap or Secret. Only a source some workload references
    /// is read in full, and only when its resourceVersion is not the one held.
    /// A failed workload watch is retried with backoff by its stream. A configured kind
    /// the API server does not serve (its CRD is not installed) is reported once, counts as
    /// listed (it has no objects) so the other kinds and the sources go on, and is followed
    /// as soon as it is served.
    fn on_workload_error(&mut self, kind: WorkloadKind, e: &kube::runtime::watcher::Error) {
        use kube::runtime::watcher::Error as W;
        let not_served = match e {
            W::InitialListFailed(kube::Error::Api(s)) | W::WatchStartFailed(kube::Error::Api(s)) => {
                s.code == 404
            }
            _ => false,
        };
        if !not_served || kind.is_built_in() {
            return warn!(%kind, error = %e, "workload watch failed; retrying");
        }
        if self.unavailable.insert(kind) {
            warn!(%kind, api_version = kind.api_version(), resource = kind.plural(), error = %e,
                "the API server does not serve this workload kind (is its CRD installed?); retrying with backoff");
            self.metrics.watch_kind_unavailable(kind.kind(), true);
        }
        if self.workloads_relist.abandon(&kind) {
            let gone = self.index.workload_keys().into_iter();
            for key in gone.filter(|k| k.kind == kind) {
                self.index.remove_workload(&key);
                self.scheduler.forget(&key);
            }
        }
    }

    async fn on_source(&mut self, kind: SourceKind, item: Item<SourceVersion>) {
        let event = match item {
            Ok(event) => event,
            Err(e) => return warn!(kind = kind.kind(), error = %e, "watch failed; retrying"),
        };
        let affected = match event {
            Event::Init => return self.sources_relist.start(kind),
            Event::InitApply(version) | Event::Apply(version) => {
                if !self.watched(Some(&version.key.0)) || !self.index.is_referenced(&version.key) {
                    return;
                }
                self.sources_relist.seen(&kind, &version.key);
                self.unread.remove(&version.key);
                if self.index.needs_read(&version.key, &version.resource_version) {
                    self.read_sources(vec![version.key]).await;
                }
                return;
            }
            Event::Delete(version) => {
                self.unread.remove(&version.key);
                self.index.remove_source(&version.key)
            }
            Event::InitDone => {
                let held = self.index.source_keys().into_iter().filter(|k| k.1.0 == kind);
                for key in self.sources_relist.gone(&kind, held) {
                    self.index.remove_source(&key);
                }
                return;
            }
        };
        self.schedule(affected);
    }

    async fn check_live(&mut self, sources_started: bool) {
        let synced = self.namespaces.is_some()
            && self.workloads_relist.done()
            && sources_started
            && self.sources_relist.done();
        if !synced {
            // A (re)list started since the last look: nothing rolls until it is done.
            self.live = false;
        } else if !self.live {
            // Sources a workload started to reference during a relist, not read since.
            let unread = std::mem::take(&mut self.unread);
            self.read_sources(unread.into_iter().collect()).await;
            self.live = true;
            let stale = self.index.stale();
            let (workloads, sources) = self.index.len();
            info!(
                workloads,
                sources,
                stale = stale.len(),
                "watcher synced; out-of-date workloads scheduled"
            );
            let now = Instant::now();
            for key in stale {
                self.scheduler.changed(key, now);
            }
            self.record_drift();
        }
    }
}

fn key_of(w: &Workload) -> WorkloadKey {
    WorkloadKey {
        kind: w.kind(),
        namespace: w.metadata().namespace.clone().unwrap_or_default(),
        name: w.metadata().name.clone().unwrap_or_default(),
    }
}
