//! `serve --watch` (contract §9): rolls workloads when only a ConfigMap they consume
//! changes, by patching the same pod-template annotations admission writes.
//!
//! One replica acts, through a Lease; the others serve admission only. The leader keeps
//! names, references and digests in memory — never ConfigMap or Secret data — and spaces
//! rollouts with a debounce, a per-workload interval and a global rate.

pub mod changes;
mod controller;
pub mod index;
pub mod lease;
pub mod policy;
pub mod rollout;
pub mod scheduler;
mod streams;
pub mod window;

use std::{sync::Arc, time::Duration};

use kube::Client;
use tokio::sync::{oneshot, watch};
use tracing::info;

pub use self::{
    controller::Controller,
    lease::{Elector, LeaseConfig, LeaseTiming},
    policy::{Policy, WallClock},
    scheduler::Limits,
};
use crate::{admission::Options, metrics::Metrics};

/// Default for `--namespace-selector`: the label the chart's webhook selects on.
pub const DEFAULT_NAMESPACE_SELECTOR: &str = "confighash.io/inject=enabled";

/// Everything the watcher needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Admission's options: annotation names, and the Secret key when `--secrets` is on.
    pub options: Options,
    /// Label selector of opted-in namespaces.
    pub namespace_selector: String,
    /// `--watch-namespaces`: watch only these namespaces, one watch per namespace and kind,
    /// and no namespace at all (a namespace-scoped install). Their annotations are not read.
    pub namespaces: Option<std::collections::BTreeSet<String>>,
    /// Debounce, minimum interval and global rate.
    pub limits: Limits,
    /// The Lease to compete for.
    pub lease: LeaseConfig,
    /// `--workload-info-metric`: export `confighash_workload_config_info`, one series per
    /// workload.
    pub workload_info: bool,
    /// Rollout windows and pauses: the default window and the wall clock.
    pub policy: Policy,
}

// Releasing the lease on shutdown must not hold up the drain for long.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Competes for the lease and runs a [`Controller`] for each term of leadership, until
/// `stop` resolves; then gives the lease up so another replica takes over at once.
pub async fn run(client: Client, config: WatchConfig, metrics: Arc<Metrics>, stop: impl Future<Output = ()>) {
    let (leading_tx, mut leading) = watch::channel(false);
    let (stop_lease, lease_stopped) = oneshot::channel::<()>();
    let elector = Elector::new(client.clone(), config.lease.clone());
    let lease_task = tokio::spawn(elector.run(leading_tx, async {
        _ = lease_stopped.await;
    }));
    let mut stop = std::pin::pin!(stop);
    metrics.leader(false);
    loop {
        tokio::select! {
            () = &mut stop => break,
            won = leading.wait_for(|l| *l) => if won.is_err() { break },
        }
        metrics.leader(true);
        info!(identity = %config.lease.identity, "leading: watching ConfigMaps and workloads");
        let controller = Controller::new(client.clone(), &config, metrics.clone());
        // Biased: once the term ends, the controller is dropped — its pending rollouts and
        // any call in flight with it — before it gets another poll.
        let stopping = tokio::select! {
            biased;
            () = &mut stop => true,
            _ = leading.wait_for(|l| !*l) => false,
            () = controller.run() => false,
        };
        metrics.leader(false);
        metrics.watch_synced(false);
        // Only the leader knows the workloads; a follower exports none.
        metrics.watch_pending(&[]);
        metrics.watch_workloads(&Default::default());
        metrics.workload_info(Default::default());
        if stopping {
            break;
        }
        info!("leadership ended: stopped acting, serving admission only");
    }
    _ = stop_lease.send(());
    _ = tokio::time::timeout(RELEASE_TIMEOUT, lease_task).await;
}
