//! `plan --namespace NS`: the workloads whose `config-hash` is out of date and that the
//! watcher would roll, with the sources that differ. Decided by the admission core from
//! consistent reads, exactly as the webhook would; read-only.

use std::io::Write;

use kube::{Api, Client, api::ListParams};
use serde::de::DeserializeOwned;

use crate::{
    Error, Result,
    admission::{self, Options, Target, workload::Workload},
    source::{ClusterSource, Source},
    watch::changes::{self, SourceChange},
};

/// A workload that would roll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: &'static str,
    /// Name.
    pub name: String,
    /// The sources whose digest differs from what the workload carries.
    pub changes: Vec<SourceChange>,
}

async fn list<K>(client: &Client, namespace: &str, wrap: fn(K) -> Workload) -> Result<Vec<Workload>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let items = api.list(&ListParams::default()).await?.items;
    Ok(items.into_iter().map(wrap).collect())
}

/// The stamped workloads of `namespace` whose annotations admission would change now.
pub async fn plan(client: Client, namespace: &str, options: &Options) -> Result<Vec<Planned>> {
    crate::name::check_namespace(namespace)?;
    let mut workloads = list(&client, namespace, Workload::Deployment).await?;
    workloads.extend(list(&client, namespace, Workload::StatefulSet).await?);
    workloads.extend(list(&client, namespace, Workload::DaemonSet).await?);
    let source = Source::Cluster(ClusterSource::new(client));
    let keys = &options.keys;
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
        let (kind, name) = (workload.kind(), meta.name.clone().unwrap_or_default());
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
        if !decided.patch.0.is_empty() {
            let before = current.get(&keys.sources).map(String::as_str);
            let after = decided.desired.get(&keys.sources).map(String::as_str);
            let changes = changes::diff(before, after);
            planned.push(Planned { kind, name, changes });
        }
    }
    Ok(planned)
}

/// Writes one line per workload that would roll, or that nothing would.
pub fn write(mut out: impl Write, namespace: &str, planned: &[Planned]) -> Result<()> {
    let mut text = String::new();
    for p in planned {
        let what = changes::describe(&p.changes);
        text.push_str(&format!("{} {namespace}/{} would roll: {what}\n", p.kind, p.name));
    }
    if planned.is_empty() {
        text.push_str(&format!("nothing would roll in namespace {namespace}\n"));
    }
    out.write_all(text.as_bytes()).map_err(|source| Error::Io {
        context: "writing output".into(),
        source,
    })
}
