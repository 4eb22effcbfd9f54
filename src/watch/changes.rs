//! What changed between two `sources` annotations, for the Event, the log line and
//! `plan`: `configmap/app-config e86586d07e4c → 1c614cd19f19`.

use std::{collections::BTreeMap, fmt};

/// One source whose short digest differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceChange {
    /// `<kind>/<name>`.
    pub source: String,
    /// The short digest before, `absent`, or `none` when the source was not listed.
    pub from: String,
    /// The short digest after, `absent`, or `none`.
    pub to: String,
}

impl fmt::Display for SourceChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → {}", self.source, self.from, self.to)
    }
}

/// `<kind>/<name>` → short digest or `absent`, from a `sources` annotation value.
fn parse(value: Option<&str>) -> BTreeMap<&str, &str> {
    let parts = value.into_iter().flat_map(|v| v.split(','));
    parts.filter_map(|part| part.trim().rsplit_once('@')).collect()
}

/// The sources that differ between two `sources` annotation values, in source order.
pub fn diff(before: Option<&str>, after: Option<&str>) -> Vec<SourceChange> {
    let (before, after) = (parse(before), parse(after));
    let mut names: Vec<&str> = before.keys().chain(after.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter(|name| before.get(name) != after.get(name))
        .map(|name| SourceChange {
            source: name.to_owned(),
            from: before.get(name).copied().unwrap_or("none").to_owned(),
            to: after.get(name).copied().unwrap_or("none").to_owned(),
        })
        .collect()
}

/// The changes joined for one line: `configmap/a 111 → 222, configmap/b absent → 333`.
pub fn describe(changes: &[SourceChange]) -> String {
    let parts: Vec<String> = changes.iter().map(SourceChange::to_string).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_source_that_differs() {
        let before = "configmap/app-config@e86586d07e4c,configmap/flags@absent,configmap/same@111111111111";
        let after = "configmap/app-config@1c614cd19f19,configmap/flags@222222222222,configmap/same@111111111111,configmap/new@absent";
        let changes = diff(Some(before), Some(after));
        assert_eq!(
            describe(&changes),
            "configmap/app-config e86586d07e4c → 1c614cd19f19, configmap/flags absent → 222222222222, configmap/new none → absent"
        );
    }

    #[test]
    fn a_workload_never_stamped_lists_every_source_as_new() {
        let changes = diff(None, Some("configmap/a@aaaaaaaaaaaa"));
        assert_eq!(describe(&changes), "configmap/a none → aaaaaaaaaaaa");
        assert!(diff(Some("configmap/a@x"), Some("configmap/a@x")).is_empty());
    }
}
