//! Change windows (contract §11): when the watcher may roll a workload.
//!
//! A schedule is one or more windows separated by `;`, each `<days> <HH:MM>-<HH:MM> <zone>`:
//! days are `daily` or a comma list of `Mon`…`Sun` and ranges such as `Mon-Fri` (a range may
//! wrap, `Fri-Mon`); the zone is an IANA name (`Europe/Berlin`, `UTC`). An end at or before
//! the start runs past midnight into the next day (`daily 22:00-02:00 UTC`); `24:00` is the
//! end of the day. The days name the day a window *starts*.
//!
//! Daylight-saving time: each window occurrence is turned into two instants with the
//! "compatible" rule (as `cron`, RFC 5545 and JavaScript's Temporal do): a start or end
//! the clock jumps over (spring forward) is moved forward by the length of the jump, and
//! one the clock shows twice (fall back) means its first occurrence. Should a moved start
//! leave a window empty (`02:30-03:30` on the night the clock jumps from 02:00 to 03:00),
//! it lasts its length on the clock from its moved start. So every window opens exactly
//! once per scheduled day and is never skipped.
//!
//! Pure: every function takes `now`, so tests drive it with explicit instants.

use std::{fmt, str::FromStr};

use jiff::{
    Timestamp, ToSpan,
    civil::{Date, Time, Weekday},
    tz::{Disambiguation, TimeZone},
};

/// What is wrong with a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Nothing but separators and spaces.
    #[error("no window given (expected e.g. \"Mon-Fri 09:00-17:00 Europe/Berlin\")")]
    Empty,
    /// A window lacks one of its three parts.
    #[error("window \"{0}\": expected \"<days> <HH:MM>-<HH:MM> <time zone>\"")]
    Shape(String),
    /// A day name or range that is not `daily`, `Mon`…`Sun` or `<day>-<day>`.
    #[error(
        "window \"{window}\": unknown day \"{day}\" (expected daily, Mon, Tue, Wed, Thu, Fri, Sat, Sun or a range like Mon-Fri)"
    )]
    Day {
        /// The window.
        window: String,
        /// The offending day.
        day: String,
    },
    /// Times that are not `HH:MM-HH:MM` on a 24-hour clock.
    #[error(
        "window \"{window}\": invalid time range \"{times}\" (expected HH:MM-HH:MM, 24-hour clock, e.g. 09:00-17:00)"
    )]
    Times {
        /// The window.
        window: String,
        /// The offending time range.
        times: String,
    },
    /// Start and end are the same time.
    #[error("window \"{0}\": start and end are the same time (for a whole day use 00:00-24:00)")]
    Zero(String),
    /// A time zone name not in the IANA database.
    #[error(
        "window \"{window}\": unknown time zone \"{zone}\" (expected an IANA name such as Europe/Berlin or UTC)"
    )]
    Zone {
        /// The window.
        window: String,
        /// The offending zone.
        zone: String,
    },
}

/// One window: the days it starts on, its start and length, and its zone.
#[derive(Debug, Clone, PartialEq)]
struct Window {
    /// Bit `n` set: starts on the weekday `n` days after Monday.
    days: u8,
    start: Time,
    /// The end lies on the day after the start (overnight, or `24:00`).
    end_next_day: bool,
    end: Time,
    zone: TimeZone,
}

/// A parsed `rollout-window` value: one or more windows, and the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    text: String,
    windows: Vec<Window>,
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Schedule {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Self, WindowError> {
        let windows = text
            .split(';')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(parse_window)
            .collect::<Result<Vec<_>, _>>()?;
        if windows.is_empty() {
            return Err(WindowError::Empty);
        }
        // Normalised spacing, so messages and `plan` show one form.
        let text = text
            .split(';')
            .map(|w| w.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Self { text, windows })
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_index(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    DAYS.iter().position(|d| *d == lower).map(|i| i as u8)
}

fn parse_days(window: &str, days: &str) -> Result<u8, WindowError> {
    if days.eq_ignore_ascii_case("daily") {
        return Ok(0x7f);
    }
    let bad = |day: &str| WindowError::Day {
        window: window.to_owned(),
        day: day.to_owned(),
    };
    let mut set = 0u8;
    for item in days.split(',') {
        let (from, to) = match item.split_once('-') {
            Some((a, b)) => (a, b),
            None => (item, item),
        };
        let from = day_index(from).ok_or_else(|| bad(item))?;
        let to = day_index(to).ok_or_else(|| bad(item))?;
        let mut d = from;
        loop {
            set |= 1 << d;
            if d == to {
                break;
            }
            d = (d + 1) % 7;
        }
    }
    Ok(set)
}

/// `HH:MM`, two digits each; `24:00` only where `end` allows it.
fn parse_time(text: &str, end: bool) -> Option<(Time, bool)> {
    let (h, m) = text.split_once(':')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if end && h == 24 && m == 0 {
        return Some((Time::midnight(), true));
    }
    Some((Time::new(h, m, 0, 0).ok()?, false))
}

fn parse_window(window: &str) -> Result<Window, WindowError> {
    let parts: Vec<&str> = window.split_whitespace().collect();
    // Spaces inside the day list (`Mon, Wed`) are allowed: days are all but the last two.
    let [days @ .., times, zone] = parts.as_slice() else {
        return Err(WindowError::Shape(window.to_owned()));
    };
    if days.is_empty() {
        return Err(WindowError::Shape(window.to_owned()));
    }
    let days = parse_days(window, &days.concat())?;
    let bad_times = || WindowError::Times {
        window: window.to_owned(),
        times: (*times).to_owned(),
    };
    let (start, end) = times.split_once('-').ok_or_else(bad_times)?;
    let (start, _) = parse_time(start, false).ok_or_else(bad_times)?;
    let (end, end_of_day) = parse_time(end, true).ok_or_else(bad_times)?;
    if start == end && !end_of_day {
        return Err(WindowError::Zero(window.to_owned()));
    }
    let zone = jiff::tz::db().get(zone).map_err(|_| WindowError::Zone {
        window: window.to_owned(),
        zone: (*zone).to_owned(),
    })?;
    Ok(Window {
        days,
        start,
        end_next_day: end_of_day || end < start,
        end,
        zone,
    })
}

fn weekday_bit(day: Weekday) -> u8 {
    1 << day.to_monday_zero_offset()
}

impl Window {
    /// The occurrence starting on `date` (local), as instants, if the window starts that day.
    fn occurrence(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        if self.days & weekday_bit(date.weekday()) == 0 {
            return None;
        }
        let at = |date: Date, time: Time| {
            let local = date.to_datetime(time);
            let zoned = self.zone.to_ambiguous_zoned(local);
            zoned
                .disambiguate(Disambiguation::Compatible)
                .ok()
                .map(|z| z.timestamp())
        };
        let end_date = if self.end_next_day {
            date.tomorrow().ok()?
        } else {
            date
        };
        let (start, end) = (at(date, self.start)?, at(end_date, self.end)?);
        if end > start {
            return Some((start, end));
        }
        let length = end_date
            .to_datetime(self.end)
            .duration_since(date.to_datetime(self.start));
        Some((start, start.checked_add(length).ok()?))
    }

    /// Occurrences starting from the day before `now`'s local date, for `days` days.
    fn occurrences(&self, now: Timestamp, days: i64) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        let today = now.to_zoned(self.zone.clone()).date();
        (-1..days).filter_map(move |offset| {
            let date = today.checked_add(offset.days()).ok()?;
            self.occurrence(date)
        })
    }
}

/// Days looked ahead for the next opening: a week, and slack for a start moved by DST.
const LOOKAHEAD_DAYS: i64 = 9;

impl Schedule {
    /// Whether some window is open at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        (self.windows.iter())
            .flat_map(|w| w.occurrences(now, 1))
            .any(|(start, end)| start <= now && now < end)
    }

    /// `now` if a window is open, else the instant the next one opens (every valid
    /// schedule opens at least once a week).
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        if self.is_open(now) {
            return Some(now);
        }
        (self.windows.iter())
            .flat_map(|w| w.occurrences(now, LOOKAHEAD_DAYS))
            .map(|(start, _)| start)
            .filter(|start| *start > now)
            .min()
    }
}

/// A wait for people: `14h`, `3d 2h`, `25m`, `40s` (the two largest units, rounded down).
pub fn describe_wait(from: Timestamp, to: Timestamp) -> String {
    let secs = to.as_second().saturating_sub(from.as_second()).max(0);
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}

/// Validates a `rollout-window` value for admission: the warning to give, if any.
pub fn warning(annotation: &str, value: &str) -> Option<String> {
    let error = value.parse::<Schedule>().err()?;
    Some(format!(
        "confighash: annotation {annotation}: {error}; the watcher treats this workload as having no rollout window"
    ))
}

#[cfg(test)]
mod tests;
