//! When to roll (contract §9 storm safety): a quiet period per workload (`--debounce`,
//! never waiting longer than `--min-rollout-interval`), at most one rollout per workload per
//! `--min-rollout-interval`, and a global `--max-rollouts-per-second`.
//!
//! Pure and clock-injected: callers pass `now`, so tests drive it with explicit instants.
//! It decides *when* a workload is looked at; *whether* it rolls is decided at that moment
//! from the newest digests, so the newest change always wins.

use std::{
    collections::{HashMap, HashSet},
    hash::Hash,
    time::Duration,
};

use tokio::time::Instant;

/// The three limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Quiet period that coalesces a burst of changes.
    pub debounce: Duration,
    /// Shortest time between two rollouts of one workload.
    pub min_interval: Duration,
    /// Rollouts per second across all workloads (greater than zero).
    pub max_per_second: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            debounce: Duration::from_secs(5),
            min_interval: Duration::from_secs(30),
            max_per_second: 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    first: Instant,
    last: Instant,
    /// Released from a hold: its debounce has passed already; only the interval and the
    /// global rate still apply.
    released: bool,
}

/// What holds a workload back beyond the limits (contract §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Outside every rollout window; looked at again at `until` (its next opening, or
    /// sooner, so that a wall clock that moved is noticed).
    Window {
        /// When to look again.
        until: Instant,
    },
    /// `rollouts: paused` on the workload or its namespace; released when that changes.
    Paused,
}

/// Where a workload stands in the scheduler, for the drift metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Waiting for its debounce, interval or the global rate; its last rollout did not fail.
    Waiting,
    /// Its last rollout failed; it is retried once the interval has passed.
    Failing,
    /// Not waiting at all.
    No,
}

/// Why a pending workload has not rolled yet, for `confighash_watch_pending{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Its sources changed less than `--debounce` ago.
    Debounce,
    /// It rolled (or failed to) less than `--min-rollout-interval` ago.
    Interval,
    /// It is due, but `--max-rollouts-per-second` makes it wait its turn.
    Rate,
    /// Outside its rollout window.
    Window,
    /// Its workload or namespace is paused.
    Paused,
}

impl Reason {
    /// Every reason, in label order.
    pub const ALL: [Reason; 5] = [
        Reason::Debounce,
        Reason::Interval,
        Reason::Rate,
        Reason::Window,
        Reason::Paused,
    ];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Debounce => "debounce",
            Reason::Interval => "interval",
            Reason::Rate => "rate",
            Reason::Window => "window",
            Reason::Paused => "paused",
        }
    }
}

/// Pending workloads and the rollout history the limits need.
#[derive(Debug)]
pub struct Scheduler<K> {
    limits: Limits,
    pending: HashMap<K, Pending>,
    last_rollout: HashMap<K, Instant>,
    next_global: Option<Instant>,
    /// Workloads whose last rollout failed, until one succeeds or they are forgotten.
    failing: HashSet<K>,
    /// Workloads due but held by a window or a pause; not pending until released.
    held: HashMap<K, Hold>,
}

impl<K: Eq + Hash + Clone> Scheduler<K> {
    /// An empty scheduler.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            pending: HashMap::new(),
            last_rollout: HashMap::new(),
            next_global: None,
            failing: HashSet::new(),
            held: HashMap::new(),
        }
    }

    /// Something `key` consumes changed at `now`. A held workload stays held: whatever
    /// changed is rolled, newest first, when the hold ends.
    pub fn changed(&mut self, key: K, now: Instant) {
        if self.held.contains_key(&key) {
            return;
        }
        self.pending
            .entry(key)
            .and_modify(|p| p.last = now)
            .or_insert(Pending {
                first: now,
                last: now,
                released: false,
            });
    }

    /// `key` was due but a window or a pause holds it (it was just taken by
    /// [`Scheduler::pop_due`]). It waits without using the rate until released.
    pub fn hold(&mut self, key: K, hold: Hold) {
        self.pending.remove(&key);
        self.held.insert(key, hold);
    }

    /// Ends the hold of `key`, if any (its policy changed): it is due at once, within the
    /// interval and the global rate, and looked at again.
    pub fn release(&mut self, key: &K, now: Instant) {
        if self.held.remove(key).is_some() {
            self.pending.insert(
                key.clone(),
                Pending {
                    first: now,
                    last: now,
                    released: true,
                },
            );
        }
    }

    /// Releases every held workload that `matches`.
    pub fn release_where(&mut self, matches: impl Fn(&K) -> bool, now: Instant) {
        let keys: Vec<K> = self.held.keys().filter(|k| matches(k)).cloned().collect();
        for key in keys {
            self.release(&key, now);
        }
    }

    /// Releases the window holds whose time has come.
    fn release_due(&mut self, now: Instant) {
        let due: Vec<K> = (self.held.iter())
            .filter(|(_, h)| matches!(h, Hold::Window { until } if *until <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.release(&key, now);
        }
    }

    /// The hold of `key`, if held.
    pub fn held(&self, key: &K) -> Option<Hold> {
        self.held.get(key).copied()
    }

    /// Workloads waiting, held ones included.
    pub fn pending(&self) -> usize {
        self.pending.len() + self.held.len()
    }

    /// Whether `key` waits, and whether its last rollout failed.
    pub fn queued(&self, key: &K) -> Queued {
        if self.failing.contains(key) {
            Queued::Failing
        } else if self.pending.contains_key(key) || self.held.contains_key(key) {
            Queued::Waiting
        } else {
            Queued::No
        }
    }

    /// How many pending workloads wait for each reason at `now`.
    pub fn pending_by_reason(&self, now: Instant) -> [(Reason, usize); 5] {
        let mut counts = Reason::ALL.map(|r| (r, 0));
        let held = self.held.values().map(|h| match h {
            Hold::Window { .. } => Reason::Window,
            Hold::Paused => Reason::Paused,
        });
        let pending = self.pending.iter().map(|(key, p)| self.reason(key, p, now));
        for reason in pending.chain(held) {
            if let Some(entry) = counts.iter_mut().find(|(r, _)| *r == reason) {
                entry.1 += 1;
            }
        }
        counts
    }

    fn reason(&self, key: &K, p: &Pending, now: Instant) -> Reason {
        if self.due(key, p) <= now {
            return Reason::Rate;
        }
        let interval = (self.last_rollout.get(key)).map(|last| *last + self.limits.min_interval);
        match interval {
            Some(until) if until > now && until >= self.quiet(p) => Reason::Interval,
            _ => Reason::Debounce,
        }
    }

    fn quiet(&self, p: &Pending) -> Instant {
        if p.released {
            return p.first;
        }
        let Limits {
            debounce,
            min_interval,
            ..
        } = self.limits;
        // A flapping source is never quiet; cap the wait so it still rolls once per interval.
        (p.last + debounce).min(p.first + debounce.max(min_interval))
    }

    fn due(&self, key: &K, p: &Pending) -> Instant {
        let quiet = self.quiet(p);
        match self.last_rollout.get(key) {
            Some(last) => quiet.max(*last + self.limits.min_interval),
            None => quiet,
        }
    }

    /// The earliest instant at which [`Scheduler::pop_due`] may return something.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let due = self.pending.iter().map(|(k, p)| self.due(k, p)).min();
        let due = due.map(|earliest| match self.next_global {
            Some(global) => earliest.max(global),
            None => earliest,
        });
        let windows = self.held.values().filter_map(|h| match h {
            Hold::Window { until } => Some(*until),
            Hold::Paused => None,
        });
        due.into_iter().chain(windows).min()
    }

    /// Takes the workload that has waited longest among those due at `now`, if the global
    /// rate allows a rollout now.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        self.release_due(now);
        if self.next_global.is_some_and(|g| g > now) {
            return None;
        }
        let key = self
            .pending
            .iter()
            .map(|(k, p)| (self.due(k, p), k))
            .filter(|(due, _)| *due <= now)
            .min_by_key(|(due, _)| *due)
            .map(|(_, k)| k.clone())?;
        self.pending.remove(&key);
        Some(key)
    }

    /// `key` was rolled at `now`: it counts against both limits.
    pub fn rolled(&mut self, key: K, now: Instant) {
        let spacing = Duration::from_secs_f64(1.0 / self.limits.max_per_second);
        self.next_global = Some(now + spacing);
        let min_interval = self.limits.min_interval;
        self.last_rollout.retain(|_, at| *at + min_interval > now);
        self.failing.remove(&key);
        self.last_rollout.insert(key, now);
    }

    /// Rolling `key` failed at `now`: try again once the minimum interval has passed.
    pub fn failed(&mut self, key: K, now: Instant) {
        self.last_rollout.insert(key.clone(), now);
        self.failing.insert(key.clone());
        self.changed(key, now);
    }

    /// `key` needed no rollout when its turn came: a failure before no longer counts.
    pub fn settled(&mut self, key: &K) {
        self.failing.remove(key);
    }

    /// `key` is gone (deleted, opted out, or no longer watched).
    pub fn forget(&mut self, key: &K) {
        self.pending.remove(key);
        self.held.remove(key);
        self.last_rollout.remove(key);
        self.failing.remove(key);
    }
}

#[cfg(test)]
mod tests;
