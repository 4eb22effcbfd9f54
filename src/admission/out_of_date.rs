//! "Is this workload out of date": its pod template's annotations against those admission
//! would write now. One answer for `plan` and the watcher, so they cannot disagree.

use std::collections::BTreeMap;

use crate::{
    annotations::AnnotationKeys,
    watch::changes::{self, SourceChange},
};

/// What an out-of-date workload should carry, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfDate {
    /// The annotations the pod template should carry (empty: remove ours).
    pub desired: BTreeMap<String, String>,
    /// The sources whose digest differs from what the workload carries.
    pub changes: Vec<SourceChange>,
}

/// `None` when the pod template's `current` annotations already carry `desired` (what
/// admission would write now) under our keys; otherwise what they should carry. Only our
/// own annotations count, exactly as admission's patch touches only them.
pub fn check(
    keys: &AnnotationKeys,
    desired: BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> Option<OutOfDate> {
    let owned = keys.owned();
    let carried = current.iter().filter(|(k, _)| owned.contains(&k.as_str()));
    if carried.clone().eq(desired.iter()) {
        return None;
    }
    let before = current.get(&keys.sources).map(String::as_str);
    let changes = changes::diff(before, desired.get(&keys.sources).map(String::as_str));
    Some(OutOfDate { desired, changes })
}
