//! Workload kinds (contract §10): what a kind is (group, version, kind, plural resource and
//! the JSON pointer of its pod template) and the registry of the kinds in use, the three
//! `apps/v1` ones built in and any other added with `--workload-kind`.

use std::{fmt, str::FromStr};

use json_patch::jsonptr::Pointer;

/// Where a kind keeps its pod template unless `--workload-kind` names another place.
pub const DEFAULT_POINTER: &str = "/spec/template";

/// A kind of workload whose objects carry a pod template.
///
/// The strings are `'static`: kinds are made once at start (built in, or from the flags,
/// a handful at most), and keys, metric labels and log fields then copy them for free.
/// Fields are private: a value is either built in or came through [`FromStr`], so it is
/// always valid. The derived order puts the kind's name first, so built-in workloads sort
/// by name as they always have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadKind {
    kind: &'static str,
    group: &'static str,
    version: &'static str,
    api_version: &'static str,
    plural: &'static str,
    pointer: &'static str,
    label: &'static str,
}

macro_rules! apps_v1 {
    ($kind:literal, $plural:literal, $label:literal) => {
        WorkloadKind {
            kind: $kind,
            group: "apps",
            version: "v1",
            api_version: "apps/v1",
            plural: $plural,
            pointer: DEFAULT_POINTER,
            label: $label,
        }
    };
}

impl WorkloadKind {
    /// apps/v1 Deployment.
    pub const DEPLOYMENT: Self = apps_v1!("Deployment", "deployments", "deployment");
    /// apps/v1 StatefulSet.
    pub const STATEFUL_SET: Self = apps_v1!("StatefulSet", "statefulsets", "statefulset");
    /// apps/v1 DaemonSet.
    pub const DAEMON_SET: Self = apps_v1!("DaemonSet", "daemonsets", "daemonset");
    /// The kinds that are always on.
    pub const BUILT_IN: [Self; 3] = [Self::DEPLOYMENT, Self::STATEFUL_SET, Self::DAEMON_SET];

    /// The kind's name, as in `kind` (`Deployment`, `Rollout`).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// API group (`apps`, `argoproj.io`).
    pub fn group(&self) -> &'static str {
        self.group
    }

    /// API version within the group (`v1`, `v1alpha1`).
    pub fn version(&self) -> &'static str {
        self.version
    }

    /// `GROUP/VERSION`, as in `apiVersion`.
    pub fn api_version(&self) -> &'static str {
        self.api_version
    }

    /// The plural resource name (`deployments`, `rollouts`).
    pub fn plural(&self) -> &'static str {
        self.plural
    }

    /// The JSON pointer of the pod template (`/spec/template`).
    pub fn pointer(&self) -> &'static str {
        self.pointer
    }

    /// The lower-cased kind, for metric labels.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// Whether this is one of the three `apps/v1` kinds.
    pub fn is_built_in(&self) -> bool {
        Self::BUILT_IN.contains(self)
    }

    /// The kube `ApiResource` for requests on this kind.
    pub fn api_resource(&self) -> kube::api::ApiResource {
        kube::api::ApiResource {
            group: self.group.into(),
            version: self.version.into(),
            api_version: self.api_version.into(),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }

    fn matches(&self, group: &str, version: &str, kind: &str) -> bool {
        self.group == group && self.version == version && self.kind == kind
    }
}

/// The kind's name, as log lines and messages print it.
impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind)
    }
}

/// Why a `--workload-kind` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid workload kind {value:?}: {reason} (expected GROUP/VERSION/KIND[=PLURAL][:POINTER], e.g. argoproj.io/v1alpha1/Rollout)"
)]
pub struct InvalidKind {
    value: String,
    reason: String,
}

/// Parses `GROUP/VERSION/KIND[=PLURAL][:POINTER]` (contract §10).
impl FromStr for WorkloadKind {
    type Err = InvalidKind;

    fn from_str(value: &str) -> Result<Self, InvalidKind> {
        let refuse = |reason: String| InvalidKind {
            value: value.to_owned(),
            reason,
        };
        let (rest, pointer) = match value.split_once(':') {
            Some((rest, pointer)) => (rest, pointer),
            None => (value, DEFAULT_POINTER),
        };
        let (gvk, plural) = match rest.split_once('=') {
            Some((gvk, plural)) => (gvk, Some(plural)),
            None => (rest, None),
        };
        let parts: Vec<&str> = gvk.split('/').collect();
        let [group, version, kind] = parts[..] else {
            return Err(refuse("GROUP/VERSION/KIND must have exactly three parts".into()));
        };
        if !is_group(group) {
            return Err(refuse(format!(
                "group {group:?} must be a DNS subdomain such as argoproj.io (core-group kinds carry no pod template)"
            )));
        }
        if !is_lower_alphanumeric(version) || !version.starts_with('v') {
            return Err(refuse(format!(
                "version {version:?} must look like v1 or v1alpha1"
            )));
        }
        if !kind.starts_with(|c: char| c.is_ascii_uppercase())
            || !kind.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(refuse(format!(
                "kind {kind:?} must start with an upper-case letter and hold only letters and digits"
            )));
        }
        let plural = match plural {
            Some(plural) if !is_dns_label(plural) => {
                return Err(refuse(format!(
                    "plural {plural:?} must be a lower-case DNS label"
                )));
            }
            Some(plural) => plural.to_owned(),
            None => format!("{}s", kind.to_ascii_lowercase()),
        };
        if pointer.is_empty() || Pointer::parse(pointer).is_err() {
            return Err(refuse(format!(
                "pointer {pointer:?} must be a JSON pointer such as /spec/template"
            )));
        }
        // The watcher patches with a merge patch, which addresses object fields only.
        let through_lists = pointer
            .split('/')
            .skip(1)
            .any(|t| t == "-" || (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())));
        if through_lists {
            return Err(refuse(format!(
                "pointer {pointer:?} must lead through object fields, not list elements"
            )));
        }
        if pointer.starts_with("/metadata") {
            return Err(refuse(format!(
                "pointer {pointer:?} must not point into the object's own metadata"
            )));
        }
        if WorkloadKind::BUILT_IN
            .iter()
            .any(|k| k.matches(group, version, kind))
        {
            return Err(refuse(format!("apps/v1 {kind} is built in")));
        }
        // Leaked once per flag at start: see the type's comment.
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        Ok(Self {
            kind: leak(kind.to_owned()),
            group: leak(group.to_owned()),
            version: leak(version.to_owned()),
            api_version: leak(format!("{group}/{version}")),
            plural: leak(plural),
            pointer: leak(pointer.to_owned()),
            label: leak(kind.to_ascii_lowercase()),
        })
    }
}

fn is_lower_alphanumeric(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_group(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// The kinds in use: the built-in ones, then those of `--workload-kind`, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadKinds(Vec<WorkloadKind>);

impl Default for WorkloadKinds {
    fn default() -> Self {
        Self(WorkloadKind::BUILT_IN.to_vec())
    }
}

impl WorkloadKinds {
    /// The built-in kinds and `extra`; refuses two kinds with the same group and kind, or
    /// the same group, version and plural (they would be the same resource).
    pub fn new(extra: impl IntoIterator<Item = WorkloadKind>) -> Result<Self, String> {
        let mut kinds = Self::default();
        for kind in extra {
            let clash = kinds.0.iter().find(|k| {
                k.group == kind.group
                    && (k.kind == kind.kind || (k.version == kind.version && k.plural == kind.plural))
            });
            if let Some(clash) = clash {
                return Err(format!(
                    "--workload-kind {}/{}/{} clashes with {}/{}/{}",
                    kind.api_version, kind.kind, kind.plural, clash.api_version, clash.kind, clash.plural
                ));
            }
            kinds.0.push(kind);
        }
        Ok(kinds)
    }

    /// The kind with this group, version and name, if it is in use.
    pub fn find(&self, group: &str, version: &str, kind: &str) -> Option<WorkloadKind> {
        self.0.iter().copied().find(|k| k.matches(group, version, kind))
    }

    /// The kind of a manifest's `apiVersion` and `kind`, if it is in use.
    pub fn of_manifest(&self, api_version: &str, kind: &str) -> Option<WorkloadKind> {
        self.0
            .iter()
            .copied()
            .find(|k| k.api_version == api_version && k.kind == kind)
    }

    /// Every kind in use, the built-in ones first.
    pub fn iter(&self) -> impl Iterator<Item = WorkloadKind> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[test]
    fn a_bare_kind_takes_the_default_plural_and_pointer() {
        let rollout: WorkloadKind = "argoproj.io/v1alpha1/Rollout".parse().expect("valid");
        assert_eq!(
            (
                rollout.group(),
                rollout.version(),
                rollout.kind(),
                rollout.plural(),
                rollout.pointer()
            ),
            ("argoproj.io", "v1alpha1", "Rollout", "rollouts", "/spec/template")
        );
        assert_eq!(rollout.api_version(), "argoproj.io/v1alpha1");
        assert_eq!(rollout.label(), "rollout");
    }

    #[rstest]
    #[case(
        "apps.kruise.io/v1alpha1/CloneSet=clonesets:/spec/template",
        "clonesets",
        "/spec/template"
    )]
    #[case("example.com/v1/Agent=agents", "agents", "/spec/template")]
    #[case("example.com/v1/Agent:/spec/pod/template", "agents", "/spec/pod/template")]
    #[case(
        "example.com/v1beta2/PodSet=pod-sets:/spec/a~1b/template",
        "pod-sets",
        "/spec/a~1b/template"
    )]
    fn plural_and_pointer_are_taken_as_given(
        #[case] flag: &str,
        #[case] plural: &str,
        #[case] pointer: &str,
    ) {
        let kind: WorkloadKind = flag.parse().expect("valid");
        assert_eq!((kind.plural(), kind.pointer()), (plural, pointer));
    }

    #[rstest]
    #[case("", "exactly three parts")]
    #[case("Rollout", "exactly three parts")]
    #[case("v1/Rollout", "exactly three parts")]
    #[case("argoproj.io/v1alpha1/Rollout/x", "exactly three parts")]
    #[case("/v1/Rollout", "group \"\"")]
    #[case("Argo.io/v1/Rollout", "group \"Argo.io\"")]
    #[case("argoproj.io//Rollout", "version \"\"")]
    #[case("argoproj.io/alpha/Rollout", "version \"alpha\"")]
    #[case("argoproj.io/v1/rollout", "kind \"rollout\"")]
    #[case("argoproj.io/v1/Roll-out", "kind \"Roll-out\"")]
    #[case("argoproj.io/v1/Rollout=", "plural \"\"")]
    #[case("argoproj.io/v1/Rollout=Rollouts", "plural \"Rollouts\"")]
    #[case("argoproj.io/v1/Rollout:", "pointer \"\"")]
    #[case("argoproj.io/v1/Rollout:spec/template", "pointer \"spec/template\"")]
    #[case("argoproj.io/v1/Rollout:/metadata", "own metadata")]
    #[case("argoproj.io/v1/Rollout:/spec/pods/0", "not list elements")]
    #[case("argoproj.io/v1/Rollout:/spec/pods/-", "not list elements")]
    #[case("apps/v1/Deployment", "built in")]
    fn a_malformed_flag_is_refused_with_the_reason(#[case] flag: &str, #[case] reason: &str) {
        let err = flag.parse::<WorkloadKind>().expect_err("refused").to_string();
        assert!(err.contains(reason), "{err}");
        assert!(err.contains("GROUP/VERSION/KIND[=PLURAL][:POINTER]"), "{err}");
    }

    #[test]
    fn the_registry_finds_built_in_and_added_kinds_and_refuses_clashes() {
        let rollout: WorkloadKind = "argoproj.io/v1alpha1/Rollout".parse().expect("valid");
        let kinds = WorkloadKinds::new([rollout]).expect("no clash");
        assert_eq!(
            kinds.find("apps", "v1", "Deployment"),
            Some(WorkloadKind::DEPLOYMENT)
        );
        assert_eq!(kinds.find("argoproj.io", "v1alpha1", "Rollout"), Some(rollout));
        assert_eq!(kinds.find("argoproj.io", "v1", "Rollout"), None);
        assert_eq!(
            kinds.of_manifest("argoproj.io/v1alpha1", "Rollout"),
            Some(rollout)
        );
        assert_eq!(
            WorkloadKinds::default().find("argoproj.io", "v1alpha1", "Rollout"),
            None
        );
        let again: WorkloadKind = "argoproj.io/v1alpha1/Rollout=rollouts2".parse().expect("valid");
        assert!(WorkloadKinds::new([rollout, again]).is_err());
        let same_resource: WorkloadKind = "argoproj.io/v1alpha1/Other=rollouts".parse().expect("valid");
        assert!(WorkloadKinds::new([rollout, same_resource]).is_err());
    }
}
