use rstest::rstest;

use super::*;

fn t(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

fn schedule(text: &str) -> Schedule {
    text.parse().expect("valid schedule")
}

#[rstest]
// 2026-06-15 is a Monday; Berlin is UTC+2 in summer.
#[case::weekday_opening("Mon-Fri 09:00-17:00 Europe/Berlin", "2026-06-15T07:00:00Z", true)]
#[case::weekday_before("Mon-Fri 09:00-17:00 Europe/Berlin", "2026-06-15T06:59:59Z", false)]
#[case::weekday_last_second("Mon-Fri 09:00-17:00 Europe/Berlin", "2026-06-15T14:59:59Z", true)]
#[case::weekday_end_is_closed("Mon-Fri 09:00-17:00 Europe/Berlin", "2026-06-15T15:00:00Z", false)]
#[case::friday("Mon-Fri 09:00-17:00 Europe/Berlin", "2026-06-19T12:00:00Z", true)]
#[case::saturday("Mon-Fri 09:00-17:00 Europe/Berlin", "2026-06-20T12:00:00Z", false)]
#[case::winter_offset("Mon-Fri 09:00-17:00 Europe/Berlin", "2026-01-05T07:30:00Z", false)]
#[case::winter_open("Mon-Fri 09:00-17:00 Europe/Berlin", "2026-01-05T08:00:00Z", true)]
#[case::overnight_evening("daily 22:00-02:00 UTC", "2026-06-15T23:00:00Z", true)]
#[case::overnight_morning("daily 22:00-02:00 UTC", "2026-06-16T01:59:00Z", true)]
#[case::overnight_end("daily 22:00-02:00 UTC", "2026-06-16T02:00:00Z", false)]
#[case::overnight_before("daily 22:00-02:00 UTC", "2026-06-15T21:59:59Z", false)]
#[case::overnight_runs_into_saturday("Fri 22:00-02:00 UTC", "2026-06-20T01:00:00Z", true)]
#[case::overnight_belongs_to_its_start_day("Fri 22:00-02:00 UTC", "2026-06-19T01:00:00Z", false)]
#[case::several_second(
    "Mon-Fri 09:00-17:00 Europe/Berlin; Sat 10:00-12:00 UTC",
    "2026-06-20T11:00:00Z",
    true
)]
#[case::several_second_end(
    "Mon-Fri 09:00-17:00 Europe/Berlin; Sat 10:00-12:00 UTC",
    "2026-06-20T12:00:00Z",
    false
)]
#[case::several_first(
    "Mon-Fri 09:00-17:00 Europe/Berlin; Sat 10:00-12:00 UTC",
    "2026-06-16T08:00:00Z",
    true
)]
#[case::comma_list("Mon,Wed 10:00-11:00 UTC", "2026-06-17T10:30:00Z", true)]
#[case::comma_list_gap("Mon,Wed 10:00-11:00 UTC", "2026-06-16T10:30:00Z", false)]
#[case::comma_list_with_spaces("mon, wed 10:00-11:00 UTC", "2026-06-15T10:30:00Z", true)]
#[case::wrapping_range("Fri-Mon 10:00-11:00 UTC", "2026-06-21T10:30:00Z", true)]
#[case::wrapping_range_gap("Fri-Mon 10:00-11:00 UTC", "2026-06-17T10:30:00Z", false)]
#[case::whole_day("Sun 00:00-24:00 UTC", "2026-06-21T23:59:59Z", true)]
#[case::whole_day_next("Sun 00:00-24:00 UTC", "2026-06-22T00:00:00Z", false)]
// Berlin springs forward on 2026-03-29 at 02:00 CET (01:00 UTC) to 03:00 CEST: 02:30 is
// skipped, so the start moves to 03:30 CEST (01:30 UTC) and the window keeps its hour.
#[case::berlin_spring_gap_before("daily 02:30-03:30 Europe/Berlin", "2026-03-29T01:29:59Z", false)]
#[case::berlin_spring_gap_open("daily 02:30-03:30 Europe/Berlin", "2026-03-29T01:30:00Z", true)]
#[case::berlin_spring_gap_last("daily 02:30-03:30 Europe/Berlin", "2026-03-29T02:29:59Z", true)]
#[case::berlin_spring_gap_end("daily 02:30-03:30 Europe/Berlin", "2026-03-29T02:30:00Z", false)]
// 01:00 CET (00:00 UTC) to 03:00 CEST (01:00 UTC): one hour on that night.
#[case::berlin_spring_across("Sun 01:00-03:00 Europe/Berlin", "2026-03-29T00:59:00Z", true)]
#[case::berlin_spring_across_end("Sun 01:00-03:00 Europe/Berlin", "2026-03-29T01:00:00Z", false)]
// Berlin falls back on 2026-10-25 at 03:00 CEST (01:00 UTC) to 02:00 CET: 02:00-02:30
// means its first occurrence (00:00-00:30 UTC), not the repeated one.
#[case::berlin_fall_first("daily 02:00-02:30 Europe/Berlin", "2026-10-25T00:15:00Z", true)]
#[case::berlin_fall_repeat("daily 02:00-02:30 Europe/Berlin", "2026-10-25T01:15:00Z", false)]
// New York springs forward on 2026-03-08 at 02:00 EST (07:00 UTC) to 03:00 EDT.
#[case::new_york_spring_before("daily 02:00-04:00 America/New_York", "2026-03-08T06:59:59Z", false)]
#[case::new_york_spring_open("daily 02:00-04:00 America/New_York", "2026-03-08T07:00:00Z", true)]
#[case::new_york_spring_end("daily 02:00-04:00 America/New_York", "2026-03-08T08:00:00Z", false)]
// New York falls back on 2026-11-01 at 02:00 EDT (06:00 UTC) to 01:00 EST: 01:00-02:00
// runs from 01:00 EDT (05:00 UTC) through the repeated hour to 02:00 EST (07:00 UTC).
#[case::new_york_fall_first_hour("daily 01:00-02:00 America/New_York", "2026-11-01T05:30:00Z", true)]
#[case::new_york_fall_repeated_hour("daily 01:00-02:00 America/New_York", "2026-11-01T06:30:00Z", true)]
#[case::new_york_fall_end("daily 01:00-02:00 America/New_York", "2026-11-01T07:00:00Z", false)]
fn is_open(#[case] text: &str, #[case] now: &str, #[case] open: bool) {
    assert_eq!(schedule(text).is_open(t(now)), open, "{text} at {now}");
}

#[rstest]
#[case::open_now("daily 00:00-24:00 UTC", "2026-06-15T12:00:00Z", "2026-06-15T12:00:00Z", "0s")]
#[case::sunday_evening(
    "Mon-Fri 09:00-17:00 Europe/Berlin",
    "2026-06-14T17:00:00Z",
    "2026-06-15T07:00:00Z",
    "14h"
)]
#[case::friday_evening(
    "Mon-Fri 09:00-17:00 Europe/Berlin",
    "2026-06-19T16:00:00Z",
    "2026-06-22T07:00:00Z",
    "2d 15h"
)]
#[case::later_today(
    "daily 22:00-02:00 UTC",
    "2026-06-15T21:35:00Z",
    "2026-06-15T22:00:00Z",
    "25m"
)]
#[case::earliest_of_several(
    "Sat 10:00-12:00 UTC; Mon-Fri 09:00-17:00 Europe/Berlin",
    "2026-06-19T16:00:00Z",
    "2026-06-20T10:00:00Z",
    "18h"
)]
// The weekend the United States move their clocks: Monday opens at 09:00 EDT.
#[case::across_dst(
    "Mon-Fri 09:00-17:00 America/New_York",
    "2026-03-06T22:00:00Z",
    "2026-03-09T13:00:00Z",
    "2d 15h"
)]
#[case::spring_gap_start(
    "daily 02:30-03:30 Europe/Berlin",
    "2026-03-29T00:00:00Z",
    "2026-03-29T01:30:00Z",
    "1h 30m"
)]
#[case::weekly(
    "Wed 10:00-11:00 UTC",
    "2026-06-17T11:00:00Z",
    "2026-06-24T10:00:00Z",
    "6d 23h"
)]
fn next_opening(#[case] text: &str, #[case] now: &str, #[case] opens: &str, #[case] wait: &str) {
    let next = schedule(text).next_opening(t(now)).expect("opens");
    assert_eq!(next, t(opens), "{text} from {now}");
    assert_eq!(describe_wait(t(now), next), wait);
}

#[rstest]
#[case::empty("", WindowError::Empty)]
#[case::only_separators(" ; ;", WindowError::Empty)]
#[case::no_zone("Mon-Fri 09:00-17:00", WindowError::Shape("Mon-Fri 09:00-17:00".into()))]
#[case::unknown_day("Mon-Fry 09:00-17:00 UTC", WindowError::Day { window: "Mon-Fry 09:00-17:00 UTC".into(), day: "Mon-Fry".into() })]
#[case::one_digit_hour("Mon 9:00-17:00 UTC", WindowError::Times { window: "Mon 9:00-17:00 UTC".into(), times: "9:00-17:00".into() })]
#[case::hour_25("Mon 09:00-25:00 UTC", WindowError::Times { window: "Mon 09:00-25:00 UTC".into(), times: "09:00-25:00".into() })]
#[case::start_24("daily 24:00-02:00 UTC", WindowError::Times { window: "daily 24:00-02:00 UTC".into(), times: "24:00-02:00".into() })]
#[case::no_end("Mon 09:00 UTC", WindowError::Times { window: "Mon 09:00 UTC".into(), times: "09:00".into() })]
#[case::zero_length("Mon 09:00-09:00 UTC", WindowError::Zero("Mon 09:00-09:00 UTC".into()))]
#[case::unknown_zone("Mon 09:00-17:00 Mars/Olympus", WindowError::Zone { window: "Mon 09:00-17:00 Mars/Olympus".into(), zone: "Mars/Olympus".into() })]
#[case::bad_second_window("daily 22:00-02:00 UTC; Sat 10-12 UTC", WindowError::Times { window: "Sat 10-12 UTC".into(), times: "10-12".into() })]
fn invalid(#[case] text: &str, #[case] error: WindowError) {
    assert_eq!(text.parse::<Schedule>(), Err(error));
}

#[test]
fn messages_name_what_is_wrong_and_the_schedule_shows_one_spacing() {
    let error = "Mon-Fry 09:00-17:00 UTC"
        .parse::<Schedule>()
        .expect_err("invalid");
    assert!(error.to_string().contains("unknown day \"Mon-Fry\""), "{error}");
    let message = warning("confighash.io/rollout-window", "Mon 09:00-17:00 Mars/Olympus").expect("warns");
    assert!(
        message.starts_with("confighash: annotation confighash.io/rollout-window: "),
        "{message}"
    );
    assert!(
        message.contains("unknown time zone \"Mars/Olympus\""),
        "{message}"
    );
    assert_eq!(
        warning("confighash.io/rollout-window", "daily 22:00-02:00 UTC"),
        None
    );
    let text = schedule("  Mon-Fri  09:00-17:00 Europe/Berlin ;Sat 10:00-12:00 UTC;").to_string();
    assert_eq!(text, "Mon-Fri 09:00-17:00 Europe/Berlin; Sat 10:00-12:00 UTC");
}
