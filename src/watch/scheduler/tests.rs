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
