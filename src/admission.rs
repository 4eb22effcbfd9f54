//! The admission decision, shared by the server and the offline commands (contract §5, §7).
//!
//! `prepare` and `decide` are pure; `review` adds the ConfigMap lookups between them.

pub mod kinds;
mod lean;
pub mod out_of_date;
pub mod patch;
pub mod wire;
pub mod workload;

use std::{collections::BTreeMap, time::Duration};

use kube::core::admission::AdmissionResponse;
use tokio::time::Instant;
use tracing::{Instrument, error, info, info_span, warn};

use self::{
    kinds::WorkloadKinds,
    workload::{Configured, Workload},
};
pub use self::{
    lean::MAX_SITES,
    wire::{InvalidReview, Object, Request, decode, decode_for, encode},
};
use crate::{
    annotations::{self, AnnotationKeys},
    digest::Sources,
    hash_key::HashKey,
    references::{self, References, Rejections},
    source::{Lookups, Source},
    telemetry::Untrusted,
};

/// Default for `--max-sources`.
pub const DEFAULT_MAX_SOURCES: usize = 256;

/// What to do when ConfigMaps cannot be read in time (`--on-lookup-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LookupErrorPolicy {
    /// Admit the object unchanged, with a warning.
    #[default]
    Allow,
    /// Deny the request.
    Deny,
}

/// Settings of the admission decision.
#[derive(Debug, Clone)]
pub struct Options {
    /// Annotation names.
    pub keys: AnnotationKeys,
    /// Budget for all ConfigMap reads of one admission.
    pub lookup_timeout: Duration,
    /// Allow or deny when the reads fail.
    pub on_lookup_error: LookupErrorPolicy,
    /// `--secrets`: Secret references count, digested with this HMAC key. `None`: Secrets
    /// are never read.
    pub secrets: Option<HashKey>,
    /// `--max-sources`: distinct sources one workload may reference; more are not read.
    pub max_sources: usize,
    /// The workload kinds stamped: the built-in ones and those of `--workload-kind`.
    pub kinds: WorkloadKinds,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            keys: AnnotationKeys::default(),
            lookup_timeout: Duration::from_secs(2),
            on_lookup_error: LookupErrorPolicy::Allow,
            secrets: None,
            max_sources: DEFAULT_MAX_SOURCES,
            kinds: WorkloadKinds::default(),
        }
    }
}

/// How an admission ended, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A patch was returned.
    Patched,
    /// The annotations were already right.
    Unchanged,
    /// Not ours: another kind, operation or subresource, or an object being deleted.
    Ignored,
    /// The workload opted out with the skip annotation or label.
    Skipped,
    /// ConfigMaps could not be read; allowed without a patch.
    LookupError,
    /// ConfigMaps could not be read and `--on-lookup-error=deny`.
    Denied,
    /// More distinct sources than `--max-sources`; allowed without a patch.
    TooManySources,
}

impl Outcome {
    /// Lower-case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Patched => "patched",
            Outcome::Unchanged => "unchanged",
            Outcome::Ignored => "ignored",
            Outcome::Skipped => "skipped",
            Outcome::LookupError => "lookup_error",
            Outcome::Denied => "denied",
            Outcome::TooManySources => "too_many_sources",
        }
    }
}

/// A workload that needs its ConfigMaps looked up.
#[derive(Debug, Clone)]
pub struct Target {
    /// Namespace of the workload and its ConfigMaps.
    pub namespace: String,
    /// The workload as admitted.
    pub workload: Workload,
    /// What its pod template consumes.
    pub references: References,
    /// Names left out because they are not valid; the first few get a warning each.
    pub rejected: Rejections,
    /// Its pod template holds more than [`MAX_SITES`] reference sites, so the
    /// references were not all kept.
    pub too_many_sites: bool,
}

impl Target {
    /// References of `workload` under `options`.
    pub fn new(namespace: String, workload: Workload, options: &Options) -> Self {
        // Borrowed: a workload's annotations may be large, and are read here only.
        let none = BTreeMap::new();
        let annotations = workload.metadata().annotations.as_ref().unwrap_or(&none);
        let spec = workload.template().spec.as_ref();
        let secrets = options.secrets.is_some();
        let found = references::find_checked(spec, annotations, &options.keys, secrets, options.max_sources);
        Self {
            namespace,
            workload,
            references: found.references,
            rejected: found.rejected,
            too_many_sites: false,
        }
    }

    /// Fails when the workload references more distinct sources than `--max-sources`,
    /// or its template holds more than [`MAX_SITES`] reference sites: then nothing is read
    /// and no digest is made (a partial one would be wrong).
    pub fn check_fan_out(&self, options: &Options) -> crate::Result<()> {
        // Sites past the cap were not kept, but those kept may already name too many
        // sources: that answer is then the same whatever the template's size.
        if self.references.len() > options.max_sources {
            return Err(crate::Error::TooManySources {
                max: options.max_sources,
            });
        }
        if self.too_many_sites {
            return Err(crate::Error::TooManySites { max: MAX_SITES });
        }
        Ok(())
    }

    /// One warning per rejected name (the first few), and one for the rest: a hostile
    /// list cannot swell the answer.
    pub fn name_warnings(&self) -> Vec<String> {
        let mut warnings: Vec<String> = self.rejected.kept.iter().map(ToString::to_string).collect();
        if self.rejected.more > 0 {
            let more = self.rejected.more;
            warnings.push(format!("confighash: {more} more invalid names ignored"));
        }
        warnings
    }
}

/// The digest of every source `target` references, within `--max-sources` and the lookup
/// budget: the one way the webhook, `review`, `hash` and `plan` read.
pub async fn read_sources(target: &Target, source: &Source, options: &Options) -> crate::Result<Sources> {
    target.check_fan_out(options)?;
    let read = source.digests(&target.namespace, &target.references, options.secrets.as_ref());
    tokio::time::timeout(options.lookup_timeout, read)
        .await
        .unwrap_or(Err(crate::Error::LookupTimeout(options.lookup_timeout)))
}

/// The first, pure step: either the request needs no lookups, or here is what to look up.
#[derive(Debug)]
pub enum Prepared {
    /// Decided without lookups.
    Done(Outcome),
    /// Look up the target's ConfigMaps, then [`decide`].
    Lookup(Box<Target>),
}

/// Classifies a request (contract §5: other kinds, operations and deletions pass untouched).
pub fn prepare(req: &Request, options: &Options) -> Result<Prepared, InvalidReview> {
    let (Some(kind), Some(object)) = (req.stamped_kind(&options.kinds), req.object.as_ref()) else {
        return Ok(Prepared::Done(Outcome::Ignored));
    };
    let meta = &object.metadata;
    // Without a pod template there is nothing to stamp, and a patch under a missing
    // template would not apply; validation rejects such an object after us. (An Argo
    // Rollout with `spec.workloadRef` has none of its own.)
    let Some(template) = object.template.as_ref() else {
        return Ok(Prepared::Done(Outcome::Ignored));
    };
    if meta.deletion_timestamp.is_some() {
        return Ok(Prepared::Done(Outcome::Ignored));
    }
    if options
        .keys
        .skips(meta.annotations.as_ref(), meta.labels.as_ref())
    {
        return Ok(Prepared::Done(Outcome::Skipped));
    }
    let namespace = req
        .namespace
        .clone()
        .or_else(|| meta.namespace.clone())
        .unwrap_or_default();
    // The API server sends only real namespaces; a forged one must not reach a URL. (No
    // namespace at all is left to the source, which has no request to steer then.)
    if !namespace.is_empty() {
        crate::name::check_namespace(&namespace).map_err(|e| InvalidReview(e.to_string()))?;
    }
    let workload = Workload::Configured(Box::new(Configured {
        kind,
        metadata: meta.clone(),
        template: template.clone(),
    }));
    let mut target = Target::new(namespace, workload, options);
    target.too_many_sites = object.too_many_sites;
    Ok(Prepared::Lookup(Box::new(target)))
}

/// The result of [`decide`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    /// The annotations the pod template should carry.
    pub desired: BTreeMap<String, String>,
    /// Operations that get it there (empty when already there).
    pub patch: json_patch::Patch,
    /// Warnings for the API client.
    pub warnings: Vec<String>,
}

/// The second, pure step: annotations and patch from the source digests [`read_sources`]
/// made (`None` for a source that does not exist).
pub fn decide(target: &Target, sources: &Sources, options: &Options) -> Decided {
    let keys = &options.keys;
    let desired = annotations::desired(keys, sources);
    let patch = patch::annotations_at(
        target.workload.kind().pointer(),
        target.workload.template().metadata.as_ref(),
        &desired,
        &keys.owned(),
    );
    let mut warnings = target.name_warnings();
    warnings.extend(
        target
            .references
            .iter()
            .filter(|(id, sel)| !sel.optional && matches!(sources.get(*id), Some(None)))
            .map(|((kind, name), _)| {
                format!(
                    "confighash: {} {}/{name} not found; hashed as absent",
                    kind.kind(),
                    target.namespace
                )
            })
            .chain(window_warning(target, keys)),
    );
    Decided {
        desired,
        patch,
        warnings,
    }
}

/// A warning for an invalid `rollout-window` on the workload: the watcher ignores it.
fn window_warning(target: &Target, keys: &annotations::AnnotationKeys) -> Option<String> {
    let annotations = target.workload.metadata().annotations.as_ref()?;
    let value = annotations.get(&keys.rollout_window)?;
    crate::watch::window::warning(&keys.rollout_window, value)
}

/// The per-source digests of objects already at hand (tests, benchmarks), as
/// [`Source::digests`] makes them: each referenced object under its merged key selection.
/// Secrets take the HMAC key; `find` leaves them out when there is none, so none is skipped
/// here.
pub fn source_digests(references: &References, lookups: &Lookups, secret_key: Option<&HashKey>) -> Sources {
    references
        .iter()
        .filter_map(|(id, sel)| {
            let digest = match lookups.get(id).and_then(Option::as_ref) {
                None => None,
                Some(object) => Some(object.digest(&sel.keys, secret_key)?),
            };
            Some((id.clone(), digest))
        })
        .collect()
}

/// An admission answer and how it ended.
#[derive(Debug)]
pub struct Decision {
    /// The response to send.
    pub response: AdmissionResponse,
    /// How it ended.
    pub outcome: Outcome,
    /// ConfigMaps read, and how many of them were missing.
    pub lookups: LookupCount,
}

/// ConfigMap reads of one admission, for the lookup metric.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LookupCount {
    /// Found.
    pub found: u64,
    /// Not found.
    pub absent: u64,
    /// `error` or `timeout` when the reads failed.
    pub failed: Option<&'static str>,
}

/// Answers one admission request: prepare, look up within the budget, decide.
pub async fn review(req: &Request, source: &Source, opts: &Options) -> Result<Decision, InvalidReview> {
    let started = Instant::now();
    // Every field from the request goes through `Untrusted`: a forged review, or a name the
    // API server validates only after admission, must not forge or swell log lines.
    let span = info_span!("admission", uid = %Untrusted(&req.uid), namespace = %Untrusted(req.namespace.as_deref().unwrap_or("")),
        kind = %Untrusted(&req.kind.kind), name = %Untrusted(&object_name(req)), operation = ?req.operation, dry_run = req.dry_run);
    async {
        let decision = match prepare(req, opts)? {
            Prepared::Done(outcome) => Decision {
                response: req.response(),
                outcome,
                lookups: LookupCount::default(),
            },
            Prepared::Lookup(target) => lookup_and_decide(req, &target, source, opts).await,
        };
        let duration_ms = started.elapsed().as_secs_f64() * 1e3;
        info!(
            outcome = decision.outcome.as_str(),
            duration_ms, "admission decision"
        );
        Ok(decision)
    }
    .instrument(span)
    .await
}

async fn lookup_and_decide(req: &Request, target: &Target, source: &Source, opts: &Options) -> Decision {
    let mut response = req.response();
    let sources = match read_sources(target, source, opts).await {
        Ok(sources) => sources,
        Err(err @ (crate::Error::TooManySources { .. } | crate::Error::TooManySites { .. })) => {
            // Hostile or clumsy input, not an outage: always allowed, never denied.
            warn!(error = %err, "too many sources; config-hash left unchanged");
            let mut warnings = target.name_warnings();
            warnings.push(format!("confighash: {err}; config-hash left unchanged"));
            response.warnings = Some(warnings);
            return Decision {
                response,
                outcome: Outcome::TooManySources,
                lookups: LookupCount::default(),
            };
        }
        Err(err) => {
            error!(error = %err, "lookup failed; config-hash left unchanged");
            let failed = LookupCount {
                failed: Some(err.metric_label()),
                ..Default::default()
            };
            let (response, outcome) = match opts.on_lookup_error {
                LookupErrorPolicy::Allow => {
                    let mut warnings = target.name_warnings();
                    warnings.push(format!("confighash: {err}; config-hash left unchanged"));
                    response.warnings = Some(warnings);
                    (response, Outcome::LookupError)
                }
                LookupErrorPolicy::Deny => (
                    response.deny(format!("confighash: {err} (--on-lookup-error=deny)")),
                    Outcome::Denied,
                ),
            };
            return Decision {
                response,
                outcome,
                lookups: failed,
            };
        }
    };
    let found = sources.values().filter(|digest| digest.is_some()).count() as u64;
    let count = LookupCount {
        found,
        absent: sources.len() as u64 - found,
        failed: None,
    };
    let decided = decide(target, &sources, opts);
    for warning in &decided.warnings {
        warn!("{warning}");
    }
    response.warnings = (!decided.warnings.is_empty()).then_some(decided.warnings);
    let (response, outcome) = if decided.patch.0.is_empty() {
        (response, Outcome::Unchanged)
    } else {
        // with_patch fails only if serde_json cannot write a Patch of plain strings.
        match response.clone().with_patch(decided.patch) {
            Ok(patched) => (patched, Outcome::Patched),
            Err(err) => {
                error!(error = %err, "could not serialize patch");
                (response, Outcome::Unchanged)
            }
        }
    };
    Decision {
        response,
        outcome,
        lookups: count,
    }
}

fn object_name(req: &Request) -> String {
    let meta = req.object.as_ref().map(|o| &o.metadata);
    let generate = || meta.and_then(|m| m.generate_name.clone()).unwrap_or_default();
    if req.name.is_empty() {
        generate()
    } else {
        req.name.clone()
    }
}

#[cfg(test)]
mod tests;
