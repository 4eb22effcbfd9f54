//! Peak RSS of reading the name lists of one workload's `extra-`/`exclude-` annotations
//! (not a test): an 8 MiB `extra-configmaps` value of about a million valid names, of
//! invalid names, and the same valid list also excluded, with the default `--max-sources`;
//! `unlimited` reads the valid list without a limit, as every name was read before the
//! list stopped at the limit.
//!
//! `cargo run --release --example names_memory -- valid|invalid|excluded|unlimited` (one
//! scenario per process, so each VmHWM is its own).

use std::collections::BTreeMap;

use confighash::{admission::DEFAULT_MAX_SOURCES, annotations::AnnotationKeys, references};

/// VmHWM of this process in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or_default();
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_else(|| "valid".into());
    let mut list = String::new();
    let mut count = 0u64;
    while list.len() < 8 << 20 {
        let name = if scenario == "invalid" {
            format!("Bad_{count},")
        } else {
            format!("n{count},")
        };
        list.push_str(&name);
        count += 1;
    }
    let keys = AnnotationKeys::default();
    let mut annotations = BTreeMap::from([(keys.extra_configmaps.clone(), list.clone())]);
    if scenario == "excluded" {
        annotations.insert(keys.exclude_configmaps.clone(), list);
    }
    let before = peak_kib();
    let limit = if scenario == "unlimited" {
        usize::MAX
    } else {
        DEFAULT_MAX_SOURCES
    };
    let found = references::find_checked(None, &annotations, &keys, false, limit);
    let after = peak_kib();
    println!(
        "{scenario}: {count} names; {} references, {} rejected names kept, {} more; VmHWM {before} KiB -> {after} KiB (+{} KiB)",
        found.references.len(),
        found.rejected.kept.len(),
        found.rejected.more,
        after - before
    );
}
