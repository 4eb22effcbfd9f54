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

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const HASH: &str = "confighash.io/config-hash";
    const SOURCES: &str = "confighash.io/sources";

    #[rstest]
    #[case::carried(&[(HASH, "h1"), (SOURCES, "configmap/a@1")], &[(HASH, "h1"), (SOURCES, "configmap/a@1"), ("other", "x")], None)]
    #[case::changed(&[(HASH, "h2"), (SOURCES, "configmap/a@2")], &[(HASH, "h1"), (SOURCES, "configmap/a@1")], Some(1))]
    #[case::unstamped(&[(HASH, "h1"), (SOURCES, "configmap/a@1")], &[("other", "x")], Some(1))]
    #[case::nothing_referenced_any_more(&[], &[(HASH, "h1"), (SOURCES, "configmap/a@1")], Some(1))]
    #[case::nothing_either_way(&[], &[("other", "x")], None)]
    fn only_our_annotations_count(
        #[case] desired: &[(&str, &str)],
        #[case] current: &[(&str, &str)],
        #[case] changes: Option<usize>,
    ) {
        let keys = AnnotationKeys::default();
        let got = check(&keys, map(desired), &map(current));
        assert_eq!(got.as_ref().map(|o| o.changes.len()), changes, "{got:?}");
        if let Some(out) = got {
            assert_eq!(out.desired, map(desired));
        }
    }
}
