//! `review` and `hash`: the admission decision without a server (contract §7), through the
//! same `admission` functions the webhook uses.

use std::io::{Read, Write};

use crate::{
    Error, Result,
    admission::{self, Options, Target, workload::Workload},
    source::{Source, dir::documents},
};

/// Reads an AdmissionReview from `input` and writes the response review to `output`.
pub async fn review(
    input: impl Read,
    mut output: impl Write,
    source: &Source,
    options: &Options,
) -> Result<()> {
    let body = read_all(input)?;
    let request = admission::decode(&body).map_err(|e| Error::Config(e.to_string()))?;
    let decision = admission::review(&request, source, options)
        .await
        .map_err(|e| Error::Config(e.to_string()))?;
    let json = admission::encode(decision.response).map_err(|e| Error::Config(e.to_string()))?;
    output
        .write_all(&json)
        .and_then(|()| output.write_all(b"\n"))
        .map_err(stdout_error)
}

/// Writes, for every workload in `file`, the annotations its pod template would get.
pub async fn hash(
    file: &std::path::Path,
    default_namespace: &str,
    mut output: impl Write,
    source: &Source,
    options: &Options,
) -> Result<()> {
    let mut found = false;
    for doc in documents(file)? {
        let parsed = Workload::from_manifest(doc).map_err(|e| Error::Manifest {
            path: file.to_owned(),
            message: format!("invalid workload: {e}"),
        })?;
        let Some(workload) = parsed else { continue };
        found = true;
        let namespace = workload
            .metadata()
            .namespace
            .clone()
            .unwrap_or_else(|| default_namespace.to_owned());
        let name = workload.metadata().name.clone().unwrap_or_default();
        let kind = workload.kind();
        let target = Target::new(namespace, workload, options);
        let ids = target.references.keys();
        let lookups = tokio::time::timeout(options.lookup_timeout, source.get_all(&target.namespace, ids))
            .await
            .unwrap_or(Err(Error::LookupTimeout(options.lookup_timeout)))?;
        let decided = admission::decide(&target, &lookups, options);
        for warning in &decided.warnings {
            eprintln!("warning: {warning}");
        }
        let mut text = format!("# {kind} {}/{name}\n", target.namespace);
        if decided.desired.is_empty() {
            text.push_str("# no ConfigMap or Secret references\n");
        }
        for (key, value) in &decided.desired {
            text.push_str(&format!("{key}: {value}\n"));
        }
        output.write_all(text.as_bytes()).map_err(stdout_error)?;
    }
    if !found {
        return Err(Error::Manifest {
            path: file.to_owned(),
            message: "no apps/v1 Deployment, StatefulSet or DaemonSet in the file".into(),
        });
    }
    Ok(())
}

fn read_all(mut input: impl Read) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    input.read_to_end(&mut body).map_err(|source| Error::Read {
        path: "<stdin>".into(),
        source,
    })?;
    Ok(body)
}

fn stdout_error(source: std::io::Error) -> Error {
    Error::Io {
        context: "writing output".into(),
        source,
    }
}
