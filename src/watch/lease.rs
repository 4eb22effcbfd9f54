//! Leader election with a `coordination.k8s.io/v1` Lease (contract §9: one replica acts).
//!
//! The client-go algorithm on kube's `Api`: create the Lease if missing; the holder renews
//! it with a `replace` carrying the resourceVersion it read (so two writers cannot both
//! win); another replica takes it over only after it has seen the same record unchanged for
//! a whole lease duration on its own clock, so clock skew between nodes does not matter.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{Api, Client, api::PostParams};
use tokio::{sync::watch, time::Instant};
use tracing::{info, warn};

/// Who competes for which Lease.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub duration: Duration,
}

impl LeaseConfig {
    /// How often the holder renews and others retry: a third of the duration.
    pub fn retry_period(&self) -> Duration {
        self.duration / 3
    }
}

/// What to do with the Lease as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// No Lease yet: create it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it over.
    Acquire,
    /// Someone else holds a live lease.
    Follow,
}

/// Decides from the Lease and whether its record has been seen unchanged for a full duration.
pub fn step(lease: Option<&Lease>, identity: &str, expired: bool) -> Step {
    let Some(lease) = lease else { return Step::Create };
    let holder = lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref());
    match holder {
        Some(h) if h == identity => Step::Renew,
        None | Some("") => Step::Acquire,
        Some(_) if expired => Step::Acquire,
        Some(_) => Step::Follow,
    }
}

/// One replica's view of the Lease.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The resourceVersion last read and when this replica first saw it.
    observed: Option<(String, Instant)>,
    /// When we last renewed successfully.
    renewed: Option<Instant>,
}

impl Elector {
    /// An elector for `config` through `client`.
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        let api = Api::namespaced(client, &config.namespace);
        Self {
            api,
            config,
            observed: None,
            renewed: None,
        }
    }

    /// One round of reading and writing the Lease; true when we hold it afterwards.
    pub async fn round(&mut self, now: Instant) -> bool {
        match self.try_round(now).await {
            Ok(leading) => {
                self.renewed = leading.then_some(now);
                leading
            }
            Err(e) => {
                warn!(error = %e, lease = %self.config.name, "lease update failed");
                // Keep leading through a short API outage, but never past the lease.
                self.renewed
                    .is_some_and(|at| now < at + self.config.duration * 2 / 3)
            }
        }
    }

    async fn try_round(&mut self, now: Instant) -> Result<bool, kube::Error> {
        let lease = self.api.get_opt(&self.config.name).await?;
        let expired = self.observe(lease.as_ref(), now);
        let write = match (step(lease.as_ref(), &self.config.identity, expired), lease) {
            (Step::Follow, _) => return Ok(false),
            (Step::Renew | Step::Acquire, Some(lease)) => {
                let name = self.config.name.clone();
                self.api
                    .replace(&name, &PostParams::default(), &self.record(Some(lease)))
                    .await
            }
            (_, _) => self.api.create(&PostParams::default(), &self.record(None)).await,
        };
        match write {
            Ok(_) => Ok(true),
            // Another replica wrote first (409 Conflict or AlreadyExists): it leads.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Notes the record read; true when it has not changed for a whole lease duration.
    fn observe(&mut self, lease: Option<&Lease>, now: Instant) -> bool {
        let rv = lease
            .and_then(|l| l.metadata.resource_version.clone())
            .unwrap_or_default();
        match &self.observed {
            Some((seen, since)) if *seen == rv => now >= *since + self.lease_duration(lease),
            _ => {
                self.observed = Some((rv, now));
                false
            }
        }
    }

    fn lease_duration(&self, lease: Option<&Lease>) -> Duration {
        let seconds = lease.and_then(|l| l.spec.as_ref()?.lease_duration_seconds);
        seconds.map_or(self.config.duration, |s| Duration::from_secs(s.max(1) as u64))
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
        spec.lease_duration_seconds = Some(self.config.duration.as_secs().max(1) as i32);
        lease
    }

    /// Gives the lease up so that another replica takes over at once (on shutdown).
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&self.config.identity) {
            return;
        }
        spec.holder_identity = None;
        let name = self.config.name.clone();
        if let Err(e) = self.api.replace(&name, &PostParams::default(), &lease).await {
            warn!(error = %e, "could not release the lease");
        }
        self.renewed = None;
    }

    /// Competes until `stop` resolves, publishing leadership on `leading`; releases the
    /// lease on the way out if held.
    pub async fn run(mut self, leading: watch::Sender<bool>, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            let now = Instant::now();
            let is_leader = self.round(now).await;
            if *leading.borrow() != is_leader {
                info!(identity = %self.config.identity, lease = %self.config.name, leader = is_leader, "leadership changed");
                _ = leading.send(is_leader);
            }
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep_until(now + self.config.retry_period()) => {}
            }
        }
        if *leading.borrow() {
            _ = leading.send(false);
            self.release().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn steps_follow_the_client_go_rules() {
        assert_eq!(step(None, "a", false), Step::Create);
        assert_eq!(step(Some(&lease(Some("a"))), "a", false), Step::Renew);
        assert_eq!(step(Some(&lease(Some("b"))), "a", false), Step::Follow);
        assert_eq!(step(Some(&lease(Some("b"))), "a", true), Step::Acquire);
        assert_eq!(step(Some(&lease(None)), "a", false), Step::Acquire);
        assert_eq!(step(Some(&lease(Some(""))), "a", false), Step::Acquire);
    }
}
