use k8s_openapi::{api::coordination::v1::LeaseSpec, apimachinery::pkg::apis::meta::v1::ObjectMeta};

use super::*;

const ME: &str = "a";

fn timing() -> LeaseTiming {
    LeaseTiming::new(Duration::from_secs(3), None).expect("valid")
}

fn lease(version: &str, holder: Option<&str>, seconds: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            resource_version: Some(version.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            lease_duration_seconds: Some(seconds),
            ..Default::default()
        }),
    }
}

/// One event on the injected clock, in milliseconds from the start of the scenario.
enum Ev {
    /// A read that came back at this instant with (version, holder, lease seconds); the
    /// step it must lead to.
    Read(u64, &'static str, Option<&'static str>, i32, Step),
    /// A read that found no Lease.
    Missing(u64, Step),
    /// Our write, sent at this instant, succeeded.
    Wrote(u64),
    /// Another replica wrote first.
    Lost,
    /// Whether we lead at this instant.
    Leading(u64, bool),
}

use Ev::*;
use Step::*;

const B: Option<&str> = Some("b");
const OURS: Option<&str> = Some(ME);

#[rustfmt::skip]
const SCENARIOS: &[(&str, &[Ev])] = &[
    ("no Lease: create", &[Missing(0, Create)]),
    ("a released record is taken at once", &[Read(0, "1", None, 3, Acquire), Read(0, "2", Some(""), 3, Acquire)]),
    ("another holder's record is taken only after a whole duration unchanged",
        &[Read(0, "1", B, 3, Follow), Read(2999, "1", B, 3, Follow), Read(3000, "1", B, 3, Acquire)]),
    ("every new version restarts the wait",
        &[Read(0, "1", B, 3, Follow), Read(2000, "2", B, 3, Follow), Read(4999, "2", B, 3, Follow),
          Read(5000, "2", B, 3, Acquire)]),
    ("the wait counts from when the read came back (sent at 0, answered at 1500)",
        &[Read(1500, "1", B, 3, Follow), Read(4499, "1", B, 3, Follow), Read(4500, "1", B, 3, Acquire)]),
    ("a record written with a longer duration is waited for in full",
        &[Read(0, "1", B, 10, Follow), Read(9999, "1", B, 10, Follow), Read(10000, "1", B, 10, Acquire)]),
    ("a record written with a shorter duration is waited for our own",
        &[Read(0, "1", B, 1, Follow), Read(2999, "1", B, 1, Follow), Read(3000, "1", B, 1, Acquire)]),
    ("the term runs from the send instant of the last successful write (answered late or not)",
        &[Wrote(0), Leading(1999, true), Leading(2000, false)]),
    ("each renewal extends the term from its own send instant",
        &[Wrote(0), Read(500, "5", OURS, 3, Renew), Wrote(600), Leading(2599, true), Leading(2600, false)]),
    ("a holder past its renew deadline does not renew its own record",
        &[Wrote(0), Leading(2000, false), Read(2100, "5", OURS, 3, Follow), Read(5099, "5", OURS, 3, Follow),
          Read(5100, "5", OURS, 3, Acquire)]),
    ("a holder whose record names another steps down at once",
        &[Wrote(0), Read(500, "6", B, 3, Follow), Leading(500, false)]),
    ("a conflicting write ends the term", &[Wrote(0), Lost, Leading(1, false)]),
    ("a holder that never wrote does not lead", &[Leading(0, false), Read(0, "5", OURS, 3, Follow)]),
];

#[test]
fn decisions_follow_the_client_go_rules_on_an_injected_clock() {
    let timing = timing();
    for (name, events) in SCENARIOS {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut standing = Standing::default();
        for (i, event) in events.iter().enumerate() {
            let read = |standing: &mut Standing, ms, lease: Option<&Lease>| {
                let expired = standing.observe(lease, at(ms), timing.duration());
                let leading = standing.leading(at(ms));
                // A read that names another holder ends a running term (as the elector does).
                let stepped = step(lease, ME, leading, expired);
                if stepped == Follow && leading {
                    standing.lost();
                }
                stepped
            };
            match *event {
                Read(ms, version, holder, seconds, expected) => {
                    let record = lease(version, holder, seconds);
                    let got = read(&mut standing, ms, Some(&record));
                    assert_eq!(got, expected, "{name}: event {i}");
                }
                Missing(ms, expected) => assert_eq!(read(&mut standing, ms, None), expected, "{name}"),
                Wrote(ms) => standing.wrote(at(ms), timing.renew_deadline()),
                Lost => standing.lost(),
                Leading(ms, expected) => {
                    assert_eq!(standing.leading(at(ms)), expected, "{name}: event {i}")
                }
            }
        }
    }
}

#[test]
fn no_replica_takes_over_before_the_holder_stops_acting() {
    // The holder sends its last successful renewal at 0; the API server stores it at
    // `stored` (never before it was sent); the other replica reads every 100 ms from
    // `first_read`, its answer arriving `latency` later. It must find the holder's term over
    // whenever it acquires.
    let timing = timing();
    let start = Instant::now();
    let ms = |n: u64| start + Duration::from_millis(n);
    for stored in [0, 1, 400, 1999, 2500] {
        for first_read in [stored, stored + 1, stored + 700] {
            for latency in [0, 5, 900] {
                let mut holder = Standing::default();
                holder.wrote(ms(0), timing.renew_deadline());
                let record = lease("9", Some("holder"), timing.seconds());
                let mut other = Standing::default();
                let mut read = first_read;
                let acquired = loop {
                    let back = ms(read + latency);
                    let expired = other.observe(Some(&record), back, timing.duration());
                    if step(Some(&record), "other", false, expired) == Acquire {
                        break back;
                    }
                    read += 100;
                };
                assert!(
                    !holder.leading(acquired),
                    "stored {stored}, read {first_read}, latency {latency}: overlap"
                );
                let margin = acquired - holder.deadline().expect("a term");
                assert!(margin >= timing.duration() - timing.renew_deadline());
            }
        }
    }
}

#[test]
fn expire_ends_a_term_that_ran_out() {
    let timing = timing();
    let start = Instant::now();
    let mut standing = Standing::default();
    standing.wrote(start, timing.renew_deadline());
    standing.expire(start + Duration::from_millis(1999));
    assert_eq!(standing.deadline(), Some(start + timing.renew_deadline()));
    standing.expire(start + timing.renew_deadline());
    assert_eq!(standing.deadline(), None);
}

#[test]
fn timing_defaults_and_limits() {
    let fifteen = LeaseTiming::new(Duration::from_secs(15), None).expect("valid");
    assert_eq!(fifteen.renew_deadline(), Duration::from_secs(10));
    assert_eq!(fifteen.retry_period(), Duration::from_millis(2500));
    assert_eq!(fifteen.call_timeout(), Duration::from_millis(2500));
    assert_eq!(fifteen.seconds(), 15);
    let odd = LeaseTiming::new(Duration::from_millis(3500), None).expect("valid");
    assert_eq!(
        odd.seconds(),
        4,
        "rounded up: others never wait less than configured"
    );
    let custom = LeaseTiming::new(Duration::from_secs(6), Some(Duration::from_secs(5)));
    assert_eq!(custom.expect("valid").renew_deadline(), Duration::from_secs(5));
    for (duration, deadline) in [(6, 6), (6, 7), (6, 0), (3, 3)] {
        let refused = LeaseTiming::new(Duration::from_secs(duration), Some(Duration::from_secs(deadline)));
        assert!(refused.is_err(), "{duration}s / {deadline}s");
    }
    let refused = LeaseTiming::new(Duration::from_secs(3), Some(Duration::from_millis(2500)));
    assert!(refused.is_err(), "less than 1s of margin");
}
