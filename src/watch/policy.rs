//! Rollout policy (contract §11): whether the watcher may roll a workload now, from the
//! `rollout-window` and `rollouts` annotations of the workload and its namespace and the
//! default window. Pure: the wall-clock time is passed in. Shared by the watcher and `plan`.

use std::{collections::BTreeMap, fmt};

use jiff::{SignedDuration, Timestamp};

use super::window::{Schedule, WindowError, describe_wait};
use crate::annotations::AnnotationKeys;

/// The value of `<prefix>/rollouts` that pauses the watcher's rollouts.
pub const PAUSED: &str = "paused";

/// The policy annotations of one workload or namespace, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotated {
    /// `<prefix>/rollout-window`, unparsed.
    pub window: Option<String>,
    /// `<prefix>/rollouts: paused`.
    pub paused: bool,
}

impl Annotated {
    /// Reads the two annotations from an object's annotations.
    pub fn read(keys: &AnnotationKeys, annotations: Option<&BTreeMap<String, String>>) -> Self {
        let get = |key: &str| annotations.and_then(|a| a.get(key));
        Self {
            window: get(&keys.rollout_window).cloned(),
            paused: get(&keys.rollouts).is_some_and(|v| v.trim().eq_ignore_ascii_case(PAUSED)),
        }
    }
}

/// Where a pause or a window was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// On the workload itself.
    Workload,
    /// On its namespace, named.
    Namespace(String),
    /// The watcher's `--default-rollout-window`.
    Default,
}

/// Why the watcher does not roll a workload now.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    /// `rollouts: paused` on the workload or its namespace.
    Paused(Origin),
    /// Outside every window of `schedule`; it opens at `opens`.
    Window {
        /// The effective schedule.
        schedule: Schedule,
        /// Its next opening.
        opens: Timestamp,
        /// When this was decided, for "opens in ...".
        now: Timestamp,
    },
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Held::Paused(Origin::Namespace(ns)) => write!(f, "paused by namespace {ns}"),
            Held::Paused(_) => f.write_str("paused by its annotation"),
            Held::Window { schedule, opens, now } => {
                let wait = describe_wait(*now, *opens);
                write!(f, "waiting for window {schedule}, opens in {wait}")
            }
        }
    }
}

/// An invalid `rollout-window` value met while deciding: it counts as no window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Where it was set.
    pub origin: Origin,
    /// The value.
    pub value: String,
    /// What is wrong with it.
    pub error: WindowError,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match &self.origin {
            Origin::Workload => "on the workload".to_owned(),
            Origin::Namespace(ns) => format!("on namespace {ns}"),
            Origin::Default => "as the default".to_owned(),
        };
        write!(
            f,
            "invalid rollout window {place} ignored (rolls as if none): {}",
            self.error
        )
    }
}

/// What the policy says about one workload now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// Why it may not roll now; `None`: it may.
    pub held: Option<Held>,
    /// An invalid window that was ignored.
    pub invalid: Option<Invalid>,
}

/// Decides for a workload with `workload` annotations in namespace `namespace` (with
/// `namespace_policy`), given the default window, at wall-clock time `now`. A pause wins
/// over a window; the workload's window wins over the namespace's, which wins over the
/// default. An invalid window counts as no window, never as a closed one.
pub fn decide(
    workload: &Annotated,
    namespace: &str,
    namespace_policy: Option<&Annotated>,
    default: Option<&Schedule>,
    now: Timestamp,
) -> Decision {
    if workload.paused {
        return Decision {
            held: Some(Held::Paused(Origin::Workload)),
            invalid: None,
        };
    }
    if namespace_policy.is_some_and(|p| p.paused) {
        return Decision {
            held: Some(Held::Paused(Origin::Namespace(namespace.to_owned()))),
            invalid: None,
        };
    }
    let set = (workload.window.as_ref().map(|w| (Origin::Workload, w))).or_else(|| {
        (namespace_policy?.window.as_ref()).map(|w| (Origin::Namespace(namespace.to_owned()), w))
    });
    let (schedule, invalid) = match set {
        Some((origin, value)) => match value.parse::<Schedule>() {
            Ok(schedule) => (Some(schedule), None),
            Err(error) => (
                None,
                Some(Invalid {
                    origin,
                    value: value.clone(),
                    error,
                }),
            ),
        },
        None => (default.cloned(), None),
    };
    let held = schedule.and_then(|schedule| {
        let opens = schedule.next_opening(now)?;
        (opens > now).then_some(Held::Window { schedule, opens, now })
    });
    Decision { held, invalid }
}

/// The wall clock the watcher reads windows against: the system clock, shifted by a fixed
/// offset only in tests (windows have minute resolution; a test cannot wait for a minute
/// to turn).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WallClock {
    offset: SignedDuration,
}

impl WallClock {
    /// The system clock, shifted by `offset`.
    pub fn shifted(offset: SignedDuration) -> Self {
        Self { offset }
    }

    /// The time now.
    pub fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        now.checked_add(self.offset).unwrap_or(now)
    }
}

/// The watcher's rollout policy settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// `--default-rollout-window`: applies where neither workload nor namespace sets one.
    pub default_window: Option<Schedule>,
    /// The wall clock.
    pub clock: WallClock,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> AnnotationKeys {
        AnnotationKeys::new("confighash.io")
    }

    fn annotated(pairs: &[(&str, &str)]) -> Annotated {
        let map = pairs
            .iter()
            .map(|(k, v)| (format!("confighash.io/{k}"), (*v).to_owned()))
            .collect();
        Annotated::read(&keys(), Some(&map))
    }

    // Sunday 2026-06-14 17:00 UTC.
    fn sunday() -> Timestamp {
        "2026-06-14T17:00:00Z".parse().expect("timestamp")
    }

    const BERLIN: &str = "Mon-Fri 09:00-17:00 Europe/Berlin";

    #[test]
    fn the_workload_wins_over_the_namespace_which_wins_over_the_default() {
        let default: Schedule = "daily 00:00-24:00 UTC".parse().expect("valid");
        let ns = annotated(&[("rollout-window", BERLIN)]);
        let open_workload = annotated(&[("rollout-window", "Sun 16:00-18:00 UTC")]);
        let held = decide(&Annotated::default(), "shop", Some(&ns), Some(&default), sunday()).held;
        assert_eq!(
            held.expect("held").to_string(),
            "waiting for window Mon-Fri 09:00-17:00 Europe/Berlin, opens in 14h"
        );
        assert_eq!(
            decide(&open_workload, "shop", Some(&ns), None, sunday()).held,
            None
        );
        let closed_default: Schedule = BERLIN.parse().expect("valid");
        let none = Annotated::default();
        assert!(
            decide(&none, "shop", None, Some(&closed_default), sunday())
                .held
                .is_some()
        );
        assert_eq!(decide(&none, "shop", None, None, sunday()), Decision::default());
    }

    #[test]
    fn a_pause_wins_and_names_where_it_was_set() {
        let ns = annotated(&[("rollouts", "paused")]);
        let held = decide(&Annotated::default(), "shop", Some(&ns), None, sunday()).held;
        assert_eq!(held.expect("held").to_string(), "paused by namespace shop");
        let workload = annotated(&[
            ("rollouts", "Paused"),
            ("rollout-window", "daily 00:00-24:00 UTC"),
        ]);
        let held = decide(&workload, "shop", None, None, sunday()).held;
        assert_eq!(held, Some(Held::Paused(Origin::Workload)));
        let other = annotated(&[("rollouts", "enabled")]);
        assert_eq!(decide(&other, "shop", None, None, sunday()).held, None);
    }

    #[test]
    fn an_invalid_window_counts_as_none_and_is_reported() {
        let closed: Schedule = BERLIN.parse().expect("valid");
        let workload = annotated(&[("rollout-window", "Mon-Fry 09:00-17:00 UTC")]);
        let decision = decide(&workload, "shop", None, Some(&closed), sunday());
        assert_eq!(decision.held, None, "never held by an invalid window");
        let invalid = decision.invalid.expect("reported");
        assert_eq!(invalid.origin, Origin::Workload);
        assert!(
            invalid.to_string().contains("unknown day \"Mon-Fry\""),
            "{invalid}"
        );
    }
}
