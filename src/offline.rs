//! `review` and `hash`: the admission decision without a server (contract §7), through the
//! same `admission` functions the webhook uses.

use std::{
    io::{Read, Write},
    path::Path,
};

use crate::{
    Error, Result,
    admission::{self, Options, Target, kinds::WorkloadKinds, workload::Workload},
    source::{
        Source,
        dir::{documents, objects, parse_documents},
    },
};

/// Reads an AdmissionReview from `input` and writes the response review to `output`.
pub async fn review(
    input: impl Read,
    mut output: impl Write,
    source: &Source,
    options: &Options,
) -> Result<()> {
    let body = read_all(input)?;
    let request = admission::decode_for(&body, options).map_err(|e| Error::InvalidReview(e.to_string()))?;
    let decision = admission::review(&request, source, options)
        .await
        .map_err(|e| Error::InvalidReview(e.to_string()))?;
    let json = admission::encode(decision.response).map_err(|e| Error::Encode(e.to_string()))?;
    output
        .write_all(&json)
        .and_then(|()| output.write_all(b"\n"))
        .map_err(stdout_error)
}

/// Writes, for every workload in `file` (`-` for stdin), the annotations its pod template
/// would get. The file holds one or more YAML or JSON documents, each a workload or a list
/// of them (`kubectl get -o yaml` prints `kind: List`).
pub async fn hash(
    file: &Path,
    default_namespace: &str,
    mut output: impl Write,
    source: &Source,
    options: &Options,
) -> Result<()> {
    let mut found = false;
    for doc in manifests(file)?.into_iter().flat_map(objects) {
        let parsed = Workload::from_manifest_in(doc, &options.kinds).map_err(|e| Error::Manifest {
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
        crate::name::check_namespace(&namespace).map_err(|e| Error::Manifest {
            path: file.to_owned(),
            message: e.to_string(),
        })?;
        let name = workload.metadata().name.clone().unwrap_or_default();
        let kind = workload.kind();
        let target = Target::new(namespace, workload, options);
        let mut text = format!("# {kind} {}/{name}\n", target.namespace);
        match admission::read_sources(&target, source, options).await {
            Ok(lookups) => {
                let decided = admission::decide(&target, &lookups, options);
                for warning in &decided.warnings {
                    eprintln!("warning: {warning}");
                }
                if decided.desired.is_empty() {
                    text.push_str("# no ConfigMap or Secret references\n");
                }
                for (key, value) in &decided.desired {
                    text.push_str(&format!("{key}: {value}\n"));
                }
            }
            // As admission answers: left unchanged, with a warning; the other workloads go on.
            Err(e @ Error::TooManySources { .. }) => {
                for warning in target.name_warnings() {
                    eprintln!("warning: {warning}");
                }
                eprintln!("warning: confighash: {e}; config-hash left unchanged");
                text.push_str("# left unchanged: too many sources\n");
            }
            Err(e) => return Err(e),
        }
        output.write_all(text.as_bytes()).map_err(stdout_error)?;
    }
    if !found {
        return Err(Error::Manifest {
            path: file.to_owned(),
            message: no_workload_message(&options.kinds),
        });
    }
    Ok(())
}

/// What a file without any workload lacks: the built-in kinds, as always, then any
/// configured one.
fn no_workload_message(kinds: &WorkloadKinds) -> String {
    let mut message = String::from("no apps/v1 Deployment, StatefulSet or DaemonSet");
    for kind in kinds.iter().filter(|k| !k.is_built_in()) {
        message.push_str(&format!(" or {} {kind}", kind.api_version()));
    }
    message + " in the file"
}

/// The documents of `file`, or of stdin for `-`.
fn manifests(file: &Path) -> Result<Vec<serde_json::Value>> {
    if file != Path::new("-") {
        return documents(file);
    }
    let body = read_all(std::io::stdin().lock())?;
    let text = String::from_utf8(body).map_err(|_| Error::Manifest {
        path: file.to_owned(),
        message: "stdin is not UTF-8".into(),
    })?;
    parse_documents(&text, Path::new("<stdin>"))
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
