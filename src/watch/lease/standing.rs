//! The pure half of leader election: the timing, what to do with the Lease as read, and
//! this replica's standing on its own monotonic clock. No API calls and no clock reads
//! here — callers pass the instants — so the rules are tested with an injected clock.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use tokio::time::Instant;

/// Lease duration and renew deadline, checked against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    duration: Duration,
    renew_deadline: Duration,
}

/// The shortest renew deadline, and the least it must stay under the lease duration: the
/// margin in which a holder that missed its deadline stops acting before anyone takes over.
const MIN_STEP: Duration = Duration::from_secs(1);

impl LeaseTiming {
    /// `duration` with `renew_deadline` (default: two thirds of it). The deadline must be
    /// at least 1 s, and at least 1 s shorter than the duration.
    pub fn new(duration: Duration, renew_deadline: Option<Duration>) -> Result<Self, String> {
        let renew_deadline = renew_deadline.unwrap_or(duration * 2 / 3);
        if renew_deadline < MIN_STEP || renew_deadline + MIN_STEP > duration {
            return Err(format!(
                "the renew deadline ({renew_deadline:?}) must be at least 1s and at least 1s \
                 shorter than the lease duration ({duration:?})"
            ));
        }
        Ok(Self {
            duration,
            renew_deadline,
        })
    }

    /// How long a record stays valid without renewal.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// How long the holder keeps acting after the send instant of its last successful write.
    pub fn renew_deadline(&self) -> Duration {
        self.renew_deadline
    }

    /// How often the holder renews and the others read: a quarter of the renew deadline,
    /// so the holder gets several tries before its deadline.
    pub fn retry_period(&self) -> Duration {
        self.renew_deadline / 4
    }

    /// The bound on every single Lease or rollout API call (the kube client retries 429,
    /// 503 and 504 by itself, so a call can otherwise outlast the lease).
    pub fn call_timeout(&self) -> Duration {
        self.retry_period()
    }

    /// The duration written into the Lease, in whole seconds rounded up: other replicas wait
    /// at least this long, never less than the configured duration.
    pub fn seconds(&self) -> i32 {
        let whole = self.duration.as_secs() + u64::from(self.duration.subsec_nanos() > 0);
        i32::try_from(whole).unwrap_or(i32::MAX)
    }
}

/// What to do with the Lease as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// No Lease yet: create it.
    Create,
    /// We hold it and our term is running: renew.
    Renew,
    /// Free, or seen unchanged for a whole lease duration: take it over.
    Acquire,
    /// Someone holds a live lease — possibly our own record after we stepped down.
    Follow,
}

/// Decides from the Lease as read, whether our term is running (`leading`), and whether the
/// record has been seen unchanged for a whole lease duration (`expired`).
///
/// A record that names us while our term is over is treated like anyone else's: between
/// our step-down and its expiry another replica may already be about to take it over.
pub fn step(lease: Option<&Lease>, identity: &str, leading: bool, expired: bool) -> Step {
    let Some(lease) = lease else { return Step::Create };
    let holder = lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref());
    match holder {
        Some(h) if h == identity && leading => Step::Renew,
        None | Some("") => Step::Acquire,
        _ if expired => Step::Acquire,
        _ => Step::Follow,
    }
}

/// A record as this replica saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observation {
    version: String,
    /// When the read that returned it came back.
    at: Instant,
    /// How long it stays valid: the longer of its own lease duration and ours.
    lasts: Duration,
}

/// This replica's view: the record last seen and until when it may act.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    observed: Option<Observation>,
    /// The send instant of our last successful write plus the renew deadline.
    leading_until: Option<Instant>,
}

impl Standing {
    /// Notes the Lease read, with `at` taken after the read returned (the record was current
    /// no earlier than that); true when the same record has been seen for its whole duration.
    pub fn observe(&mut self, lease: Option<&Lease>, at: Instant, own: Duration) -> bool {
        let version = lease.and_then(|l| l.metadata.resource_version.clone());
        let version = version.unwrap_or_default();
        match &self.observed {
            Some(seen) if seen.version == version => at >= seen.at + seen.lasts,
            _ => {
                let written = lease.and_then(|l| l.spec.as_ref()?.lease_duration_seconds);
                let written = Duration::from_secs(written.unwrap_or(0).max(0) as u64);
                self.observed = Some(Observation {
                    version,
                    at,
                    lasts: written.max(own),
                });
                false
            }
        }
    }

    /// Our write sent at `sent` succeeded: we may act until `sent + renew_deadline`.
    pub fn wrote(&mut self, sent: Instant, renew_deadline: Duration) {
        self.leading_until = Some(sent + renew_deadline);
    }

    /// Another replica holds the Lease: our term ends now.
    pub fn lost(&mut self) {
        self.leading_until = None;
    }

    /// Whether our term is running at `now`.
    pub fn leading(&self, now: Instant) -> bool {
        self.leading_until.is_some_and(|until| now < until)
    }

    /// When the running term ends, if one runs.
    pub fn deadline(&self) -> Option<Instant> {
        self.leading_until
    }

    /// Ends a term whose deadline has passed at `now`.
    pub fn expire(&mut self, now: Instant) {
        if !self.leading(now) {
            self.leading_until = None;
        }
    }
}

#[cfg(test)]
mod tests;
