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

    /// Drops everything (leadership lost).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.last_rollout.clear();
        self.failing.clear();
        self.held.clear();
        self.next_global = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn scheduler() -> Scheduler<&'static str> {
        Scheduler::new(Limits::default())
    }

    /// Runs the scheduler from `start` to `end`, calling `pop_due` at every wake-up and at
    /// each change instant, rolling whatever is due. Returns the rollout instants per key.
    fn drive(
        s: &mut Scheduler<&'static str>,
        changes: &[(Duration, &'static str)],
        start: Instant,
        end: Duration,
    ) -> Vec<(Duration, &'static str)> {
        let mut rolled = Vec::new();
        let mut changes = changes.iter().peekable();
        let mut now = start;
        loop {
            while let Some((at, key)) = changes.peek().copied().filter(|(at, _)| start + *at <= now) {
                s.changed(key, start + *at);
                changes.next();
            }
            while let Some(key) = s.pop_due(now) {
                s.rolled(key, now);
                rolled.push((now - start, key));
            }
            let next_change = changes.peek().map(|(at, _)| start + *at);
            let next = [s.next_wakeup(), next_change].into_iter().flatten().min();
            match next {
                Some(next) if next <= start + end => now = next.max(now),
                _ => return rolled,
            }
        }
    }

    #[test]
    fn a_single_change_rolls_after_the_debounce() {
        let mut s = scheduler();
        let t0 = Instant::now();
        s.changed("web", t0);
        assert_eq!(s.pop_due(t0 + 4 * S), None);
        assert_eq!(s.next_wakeup(), Some(t0 + 5 * S));
        assert_eq!(s.pop_due(t0 + 5 * S), Some("web"));
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn a_burst_of_twenty_changes_in_two_seconds_gives_one_rollout() {
        let changes: Vec<_> = (0..20).map(|i| (i * S / 10, "web")).collect();
        let rolled = drive(&mut scheduler(), &changes, Instant::now(), 120 * S);
        // Quiet for 5 s after the last change at 1.9 s.
        assert_eq!(rolled, [(S * 19 / 10 + 5 * S, "web")]);
    }

    #[test]
    fn a_source_flapping_every_second_for_ten_minutes_rolls_once_per_interval() {
        let changes: Vec<_> = (0..600).map(|i| (i * S, "web")).collect();
        let rolled = drive(&mut scheduler(), &changes, Instant::now(), 700 * S);
        assert!(rolled.len() <= 600 / 30 + 1, "{}", rolled.len());
        assert!(rolled.len() >= 600 / 30 - 1, "flapping still rolls: {rolled:?}");
        for pair in rolled.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= 30 * S, "{pair:?}");
        }
        // The newest change is not lost: something rolls after the flapping stops.
        assert!(rolled.last().is_some_and(|(at, _)| *at >= 599 * S));
    }

    #[test]
    fn a_change_right_after_a_rollout_waits_for_the_interval() {
        let mut s = scheduler();
        let t0 = Instant::now();
        s.changed("web", t0);
        assert_eq!(s.pop_due(t0 + 5 * S), Some("web"));
        s.rolled("web", t0 + 5 * S);
        s.changed("web", t0 + 6 * S);
        s.changed("web", t0 + 7 * S);
        assert_eq!(s.pop_due(t0 + 12 * S), None);
        assert_eq!(s.next_wakeup(), Some(t0 + 35 * S));
        assert_eq!(s.pop_due(t0 + 35 * S), Some("web"));
    }

    #[test]
    fn the_global_rate_spaces_rollouts_of_different_workloads() {
        let mut s = scheduler();
        let t0 = Instant::now();
        for key in ["a", "b", "c", "d"] {
            s.changed(key, t0);
        }
        let due = t0 + 5 * S;
        let first = s.pop_due(due).expect("one is due");
        s.rolled(first, due);
        assert_eq!(s.pop_due(due), None, "2 per second: the next waits 500 ms");
        assert_eq!(s.next_wakeup(), Some(due + S / 2));
        let second = s.pop_due(due + S / 2).expect("due");
        assert_ne!(first, second);
    }

    #[test]
    fn a_workload_that_did_not_need_a_rollout_does_not_use_the_rate() {
        let mut s = scheduler();
        let t0 = Instant::now();
        s.changed("a", t0);
        s.changed("b", t0);
        assert!(s.pop_due(t0 + 5 * S).is_some());
        // Not rolled (the newest digest matched): the next one may go at once.
        assert!(s.pop_due(t0 + 5 * S).is_some());
    }

    #[test]
    fn a_failed_rollout_stays_failing_until_one_succeeds_or_none_is_needed() {
        let mut s = scheduler();
        let t0 = Instant::now();
        assert_eq!(s.queued(&"web"), Queued::No);
        s.changed("web", t0);
        assert_eq!(s.queued(&"web"), Queued::Waiting);
        assert_eq!(s.pop_due(t0 + 5 * S), Some("web"));
        assert_eq!(s.queued(&"web"), Queued::No);
        s.failed("web", t0 + 5 * S);
        assert_eq!(s.queued(&"web"), Queued::Failing, "retried, but failing");
        assert_eq!(s.pop_due(t0 + 35 * S), Some("web"));
        assert_eq!(s.queued(&"web"), Queued::Failing, "not rolled yet");
        s.rolled("web", t0 + 35 * S);
        assert_eq!(s.queued(&"web"), Queued::No);
        s.failed("api", t0);
        s.settled(&"api");
        assert_eq!(s.queued(&"api"), Queued::Waiting);
        s.failed("db", t0);
        s.forget(&"db");
        assert_eq!(s.queued(&"db"), Queued::No);
    }

    #[test]
    fn pending_workloads_are_counted_by_what_holds_them() {
        let mut s = scheduler();
        let t0 = Instant::now();
        let count = |s: &Scheduler<&'static str>, at| s.pending_by_reason(at).map(|(_, n)| n);
        s.changed("a", t0);
        s.changed("b", t0);
        assert_eq!(count(&s, t0 + S), [2, 0, 0, 0, 0], "both in their debounce");
        let first = s.pop_due(t0 + 5 * S).expect("due");
        s.rolled(first, t0 + 5 * S);
        assert_eq!(
            count(&s, t0 + 5 * S),
            [0, 0, 1, 0, 0],
            "the other waits for the global rate"
        );
        s.changed(first, t0 + 6 * S);
        assert_eq!(
            count(&s, t0 + 6 * S),
            [0, 1, 1, 0, 0],
            "rolled 1 s ago: the interval holds it"
        );
        assert_eq!(count(&s, t0 + 20 * S), [0, 1, 1, 0, 0]);
        // A failed rollout is retried after the interval.
        let second = s.pop_due(t0 + 6 * S).expect("rate allows it now");
        s.failed(second, t0 + 6 * S);
        assert_eq!(count(&s, t0 + 7 * S), [0, 2, 0, 0, 0]);
    }

    #[test]
    fn zero_debounce_rolls_at_once_and_forget_drops_pending_work() {
        let mut s = Scheduler::new(Limits {
            debounce: Duration::ZERO,
            ..Limits::default()
        });
        let t0 = Instant::now();
        s.changed("a", t0);
        assert_eq!(s.pop_due(t0), Some("a"));
        s.changed("b", t0);
        s.forget(&"b");
        assert_eq!(s.next_wakeup(), None);
    }

    #[test]
    fn a_window_opening_for_a_thousand_workloads_rolls_them_at_the_global_rate() {
        let mut s = scheduler();
        let t0 = Instant::now();
        let keys: Vec<&'static str> = (0..1000).map(|i| &*format!("w{i}").leak()).collect();
        for key in &keys {
            s.changed(key, t0);
        }
        // Due after the debounce, but outside the window: all held until it opens at 60 s.
        let opens = t0 + 60 * S;
        while let Some(key) = s.pop_due(t0 + 5 * S) {
            s.hold(key, Hold::Window { until: opens });
        }
        assert_eq!(
            s.pending_by_reason(t0 + 5 * S).map(|(_, n)| n),
            [0, 0, 0, 1000, 0]
        );
        assert_eq!(
            s.queued(&"w1"),
            Queued::Waiting,
            "held counts as held in the drift"
        );
        s.changed("w1", t0 + 10 * S);
        assert_eq!(
            s.pending_by_reason(t0 + 10 * S)[3].1,
            1000,
            "a change keeps it held"
        );
        assert_eq!(s.next_wakeup(), Some(opens));
        let rolled = drive(&mut s, &[], opens, 1000 * S);
        assert_eq!(rolled.len(), 1000);
        assert_eq!(
            rolled[0].0,
            Duration::ZERO,
            "the first rolls at the opening, no new debounce"
        );
        for pair in rolled.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= S / 2, "2 per second: {pair:?}");
        }
        assert!(rolled[999].0 >= 499 * S);
    }

    #[test]
    fn a_pause_holds_until_released_and_then_rolls_once_within_the_interval() {
        let mut s = scheduler();
        let t0 = Instant::now();
        s.changed("web", t0);
        assert_eq!(s.pop_due(t0 + 5 * S), Some("web"));
        s.hold("web", Hold::Paused);
        assert_eq!(s.next_wakeup(), None, "a pause has no end of its own");
        assert_eq!(s.pending_by_reason(t0 + 5 * S)[4], (Reason::Paused, 1));
        s.changed("web", t0 + 6 * S);
        assert_eq!(s.held(&"web"), Some(Hold::Paused));
        s.release(&"web", t0 + 100 * S);
        assert_eq!(s.pop_due(t0 + 100 * S), Some("web"));
        s.rolled("web", t0 + 100 * S);
        assert_eq!(s.pending(), 0, "rolled once");
        // Released again right after a rollout: the interval still applies.
        s.changed("web", t0 + 101 * S);
        assert_eq!(s.pop_due(t0 + 106 * S), None);
        s.release(&"api", t0 + 106 * S);
        assert_eq!(s.pending(), 1, "releasing what is not held does nothing");
        s.forget(&"web");
        s.changed("db", t0 + 200 * S);
        assert_eq!(s.pop_due(t0 + 205 * S), Some("db"));
        s.hold("db", Hold::Paused);
        s.release_where(|k| k.starts_with('d'), t0 + 300 * S);
        assert_eq!(s.pop_due(t0 + 300 * S), Some("db"));
    }
}
