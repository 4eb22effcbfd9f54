//! Leader election with a `coordination.k8s.io/v1` Lease (contract §9: one leader means one).
//!
//! The client-go algorithm on kube's `Api`: create the Lease if missing; the holder renews
//! it with a `replace` carrying the resourceVersion it read (so two writers cannot both
//! win); another replica takes it over only after it has seen the same record unchanged for
//! a whole lease duration on its own clock, so clock skew between nodes does not matter.
//!
//! Why a holder that cannot renew stops before anyone else starts: let `s` be the instant,
//! on the holder's clock, just before it sent its last successful write. The API server
//! stored that record at or after `s`, so any other replica read it at or after `s`, and it
//! notes the instant after its read returned — at or after `s` too. It takes over only
//! after seeing that same record unchanged for a whole lease duration `D` (the longer of the
//! record's and its own), so never before `s + D`. The holder acts only until
//! `s + renew deadline`, which is at least 1 s earlier; a write whose outcome it never
//! learned (timed out) leaves `s` at an earlier write, which only moves its deadline
//! earlier. The holder's stop is a timer in this task, raced against any call in flight,
//! and every call has its own timeout, so a hung or throttled call cannot stretch a term.
//! Monotonic clocks on two nodes run at the same rate to far better than the margin.
//!
//! A replica whose term ended — deadline missed, or a conflict — is a candidate like any
//! other, even when the record still names it: between its stop and the record's expiry
//! another replica may be about to take the Lease over, so it waits for the expiry too.

mod standing;

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{Api, Client, api::PostParams};
use tokio::{sync::watch, time::Instant};
use tracing::{debug, info, warn};

pub use self::standing::{LeaseTiming, Standing, Step, step};

/// Who competes for which Lease.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// Lease duration and renew deadline.
    pub timing: LeaseTiming,
}

/// A failed Lease call.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("Lease {0} got no answer within {1:?}")]
    TimedOut(&'static str, Duration),
    #[error(transparent)]
    Api(#[from] kube::Error),
}

impl CallError {
    /// Another replica wrote first (409 Conflict or AlreadyExists).
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Api(kube::Error::Api(s)) if s.code == 409)
    }
}

/// The Lease calls, each bounded by its own timeout.
struct LeaseCalls {
    api: Api<Lease>,
    name: String,
    timeout: Duration,
}

impl LeaseCalls {
    async fn bounded<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = kube::Result<T>>,
    ) -> Result<T, CallError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(CallError::TimedOut(what, self.timeout)),
        }
    }

    async fn get(&self) -> Result<Option<Lease>, CallError> {
        self.bounded("get", self.api.get_opt(&self.name)).await
    }

    async fn create(&self, lease: &Lease) -> Result<Lease, CallError> {
        self.bounded("create", self.api.create(&PostParams::default(), lease))
            .await
    }

    async fn replace(&self, lease: &Lease) -> Result<Lease, CallError> {
        let params = PostParams::default();
        let call = self.api.replace(&self.name, &params, lease);
        self.bounded("replace", call).await
    }
}

/// One replica's view of the Lease.
pub struct Elector {
    calls: LeaseCalls,
    config: LeaseConfig,
    standing: Standing,
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Elector {
    /// An elector for `config` through `client`.
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        let calls = LeaseCalls {
            api: Api::namespaced(client, &config.namespace),
            name: config.name.clone(),
            timeout: config.timing.call_timeout(),
        };
        Self {
            calls,
            config,
            standing: Standing::default(),
        }
    }

    /// One round of reading and writing the Lease.
    async fn round(&mut self) {
        let lease = match self.calls.get().await {
            Ok(lease) => lease,
            Err(e) => return warn!(error = %e, lease = %self.config.name, "could not read the lease"),
        };
        // After the answer: the record was current no earlier than this (see the module doc).
        let seen = Instant::now();
        let timing = self.config.timing;
        let expired = self.standing.observe(lease.as_ref(), seen, timing.duration());
        let leading = self.standing.leading(seen);
        let identity = &self.config.identity;
        let step = step(lease.as_ref(), identity, leading, expired);
        if step == Step::Follow {
            if leading {
                info!(lease = %self.config.name, "the lease names another holder");
                self.standing.lost();
            }
            return;
        }
        let create = lease.is_none();
        let record = self.record(lease);
        // Before sending: the API server cannot store the record earlier than this.
        let sent = Instant::now();
        let written = if create {
            self.calls.create(&record).await
        } else {
            self.calls.replace(&record).await
        };
        match written {
            Ok(_) => self.standing.wrote(sent, timing.renew_deadline()),
            Err(e) if e.is_conflict() => {
                debug!(lease = %self.config.name, "another replica wrote the lease first");
                self.standing.lost();
            }
            // The term, if any, runs on to its deadline; the next round tries again.
            Err(e) => warn!(error = %e, lease = %self.config.name, ?step, "lease update failed"),
        }
    }

    /// The Lease with us as holder: renewed, or acquired from `previous`.
    fn record(&self, previous: Option<Lease>) -> Lease {
        let now = MicroTime(Timestamp::now());
        let mut lease = previous.unwrap_or_else(|| Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                lease_transitions: Some(0),
                ..Default::default()
            }),
        });
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&self.config.identity) {
            spec.holder_identity = Some(self.config.identity.clone());
            spec.acquire_time = Some(now.clone());
            if lease.metadata.resource_version.is_some() {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(self.config.timing.seconds());
        lease
    }

    /// Gives the lease up so that another replica takes over at once (on shutdown).
    async fn release(&mut self) {
        let mut lease = match self.calls.get().await {
            Ok(Some(lease)) => lease,
            Ok(None) => return,
            Err(e) => return warn!(error = %e, "could not release the lease"),
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&self.config.identity) {
            return;
        }
        spec.holder_identity = None;
        if let Err(e) = self.calls.replace(&lease).await {
            warn!(error = %e, "could not release the lease");
        }
        self.standing.lost();
    }

    /// Publishes on `leading` whether our term runs now; ends it if its deadline passed.
    fn publish(&mut self, leading: &watch::Sender<bool>) {
        let now = Instant::now();
        self.standing.expire(now);
        let is_leader = self.standing.leading(now);
        if *leading.borrow() != is_leader {
            info!(identity = %self.config.identity, lease = %self.config.name, leader = is_leader, "leadership changed");
            _ = leading.send(is_leader);
        }
    }

    /// Competes until `stop` resolves, publishing leadership on `leading`; releases the
    /// lease on the way out if held.
    pub async fn run(mut self, leading: watch::Sender<bool>, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        'rounds: loop {
            let next = Instant::now() + self.config.timing.retry_period();
            // A call in flight when the term runs out is abandoned: the stop comes first.
            let deadline = self.standing.deadline();
            tokio::select! {
                () = &mut stop => break 'rounds,
                () = self.round() => {}
                () = sleep_until(deadline) => {}
            }
            self.publish(&leading);
            loop {
                tokio::select! {
                    () = &mut stop => break 'rounds,
                    () = tokio::time::sleep_until(next) => break,
                    () = sleep_until(self.standing.deadline()) => self.publish(&leading),
                }
            }
        }
        if *leading.borrow() {
            _ = leading.send(false);
            self.release().await;
        }
    }
}
