//! `plan --namespace NS`: the workloads whose `config-hash` is out of date and that the
//! watcher would roll, with the sources that differ, and why it holds those it does not
//! roll now (contract §11: a closed rollout window, a pause). Decided by the admission
//! core from consistent reads, exactly as the webhook would; read-only.

use std::io::Write;

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{DynamicObject, ListParams},
};

use crate::{
    Error, Result,
    admission::{self, Options, Target, kinds::WorkloadKind, out_of_date, workload::Workload},
    source::{ClusterSource, Source},
    watch::{
        changes::{self, SourceChange},
        policy::{self, Annotated, Held},
        window::Schedule,
    },
};

/// A workload that would roll.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// `Deployment`, `StatefulSet`, `DaemonSet` or a configured kind.
    pub kind: &'static str,
    /// Name.
    pub name: String,
    /// The sources whose digest differs from what the workload carries.
    pub changes: Vec<SourceChange>,
    /// Why the watcher holds it now, if it does.
    pub held: Option<Held>,
}

/// The workloads of `kind` in `namespace`; nothing, with a warning, for a configured kind
/// whose resource the API server does not serve (its CRD is not installed).
async fn list(client: &Client, namespace: &str, kind: WorkloadKind) -> Result<Vec<Workload>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &kind.api_resource());
    let items = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(s)) if s.code == 404 && !kind.is_built_in() => {
            eprintln!(
                "warning: {} {kind}: the API server does not serve {}; is its CRD installed?",
                kind.api_version(),
                kind.plural()
            );
            return Ok(Vec::new());
        }
        Err(e) => return Err(e.into()),
    };
    let mut workloads = Vec::new();
    for item in items {
        let value = serde_json::to_value(item).map_err(|e| Error::Encode(e.to_string()))?;
        let name = value
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_owned();
        match Workload::parse(kind, value) {
            Ok(Some(workload)) => workloads.push(workload),
            // A configured kind with nothing at its pointer (a Rollout with workloadRef).
            Ok(None) => {}
            Err(e) => eprintln!(
                "warning: {kind} {namespace}/{name}: not a valid {}: {e}",
                kind.api_version()
            ),
        }
    }
    Ok(workloads)
}

/// The stamped workloads of `namespace` whose annotations admission would change now, each
/// with what holds it, given the watcher's `default_window`.
pub async fn plan(
    client: Client,
    namespace: &str,
    options: &Options,
    default_window: Option<&Schedule>,
) -> Result<Vec<Planned>> {
    crate::name::check_namespace(namespace)?;
    let keys = &options.keys;
    // A person allowed into the namespace only (a namespace-scoped install) may not read
    // the Namespace object: then its annotations are left out, as the watcher does.
    let ns = match Api::<Namespace>::all(client.clone()).get_opt(namespace).await {
        Err(kube::Error::Api(status)) if status.code == 403 => {
            tracing::warn!(
                namespace,
                "cannot read the namespace: its rollout-window and rollouts annotations are not applied"
            );
            None
        }
        read => read?,
    };
    let namespace_policy = ns.map(|ns| Annotated::read(keys, ns.metadata.annotations.as_ref()));
    let now = jiff::Timestamp::now();
    let mut workloads = Vec::new();
    for kind in options.kinds.iter() {
        workloads.extend(list(&client, namespace, kind).await?);
    }
    let source = Source::Cluster(ClusterSource::new(client));
    let mut planned = Vec::new();
    for workload in workloads {
        let meta = workload.metadata();
        let template = workload
            .template()
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.clone());
        let current = template.unwrap_or_default();
        // Unstamped workloads are left to admission; skipped ones are never touched.
        if !current.contains_key(&keys.config_hash)
            || keys.skips(meta.annotations.as_ref(), meta.labels.as_ref())
        {
            continue;
        }
        let (kind, name) = (workload.kind().kind(), meta.name.clone().unwrap_or_default());
        let own = Annotated::read(keys, meta.annotations.as_ref());
        let decision = policy::decide(&own, namespace, namespace_policy.as_ref(), default_window, now);
        let target = Target::new(namespace.to_owned(), workload, options);
        let lookups = match admission::read_sources(&target, &source, options).await {
            // Admission leaves such a workload alone, and so would the watcher.
            Err(e @ Error::TooManySources { .. }) => {
                eprintln!("warning: {kind} {namespace}/{name}: {e}; it would not roll");
                continue;
            }
            read => read?,
        };
        let decided = admission::decide(&target, &lookups, options);
        for warning in target.name_warnings() {
            eprintln!("warning: {kind} {namespace}/{name}: {warning}");
        }
        if let Some(stale) = out_of_date::check(keys, decided.desired, &current) {
            let changes = stale.changes;
            planned.push(Planned {
                kind,
                name,
                changes,
                held: decision.held,
            });
        }
    }
    Ok(planned)
}

/// Writes one line per workload that would roll now or is held (with the reason), or
/// that nothing would.
pub fn write(mut out: impl Write, namespace: &str, planned: &[Planned]) -> Result<()> {
    let mut text = String::new();
    for p in planned {
        let what = changes::describe(&p.changes);
        let (kind, name) = (p.kind, &p.name);
        text.push_str(&match &p.held {
            None => format!("{kind} {namespace}/{name} would roll: {what}\n"),
            Some(held) => format!("{kind} {namespace}/{name} held, {held}: {what}\n"),
        });
    }
    if planned.is_empty() {
        text.push_str(&format!("nothing would roll in namespace {namespace}\n"));
    }
    out.write_all(text.as_bytes()).map_err(|source| Error::Io {
        context: "writing output".into(),
        source,
    })
}
