//! Benchmark fixtures: a CREATE and an UPDATE review shaped like the API server's, and the
//! three ConfigMaps they consume, of 1 KiB, 10 KiB and 100 KiB, built deterministically.
#![allow(dead_code)]

use std::{alloc::System, collections::BTreeMap, path::Path};

use confighash::{
    admission::{self, Decided, Options, Prepared, Request, Target},
    digest::{self, SourceKind},
    name::Name,
    source::{Lookups, Object},
};
use k8s_openapi::{api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use stats_alloc::{Region, StatsAlloc};

/// CREATE of a Deployment with a sidecar, compact JSON (about 6 KB).
pub const CREATE: &[u8] = include_bytes!("../data/create-review.json");
/// UPDATE of the same Deployment with oldObject and managedFields (about 13 KB).
pub const UPDATE: &[u8] = include_bytes!("../data/update-review.json");

/// Namespace of the reviews.
pub const NAMESPACE: &str = "demo";

/// The ConfigMaps the reviews reference, with their size in bytes of keys and values:
/// `feature-flags` (env key and envFrom), `web-env` (envFrom), `web-config` (volume).
/// The optional `web-overrides` is referenced too and does not exist.
pub const CONFIGMAPS: [(&str, usize); 3] = [
    ("feature-flags", 1 << 10),
    ("web-env", 10 << 10),
    ("web-config", 100 << 10),
];

/// A ConfigMap named `name` whose keys and values add up to `size` bytes, in entries of
/// at most 1 KiB of printable text (so a 100 KiB ConfigMap has about 100 keys).
pub fn configmap(name: &str, size: usize) -> ConfigMap {
    let mut data = BTreeMap::new();
    let mut left = size;
    let mut i = 0;
    while left > 0 {
        let key = if i == 0 && name == "feature-flags" {
            "checkout-v2".to_owned()
        } else {
            format!("{name}-{i:04}")
        };
        let len = left.saturating_sub(key.len()).min(1024 - key.len());
        let value: String = (0..len)
            .map(|j| char::from(b'a' + ((i * 7 + j) % 26) as u8))
            .collect();
        left -= key.len() + value.len();
        left = if value.is_empty() { 0 } else { left };
        data.insert(key, value);
        i += 1;
    }
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NAMESPACE.to_owned()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// What the lookups of either review return.
pub fn lookups() -> Lookups {
    let id = |name: &str| (SourceKind::ConfigMap, Name::new(name).expect("valid name"));
    let mut lookups: Lookups = CONFIGMAPS
        .iter()
        .map(|(name, size)| (id(name), Some(Object::ConfigMap(configmap(name, *size)))))
        .collect();
    lookups.insert(id("web-overrides"), None);
    lookups
}

/// Writes the ConfigMaps as one JSON manifest each into `dir`, for `--configmaps-from`.
pub fn write_configmaps(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, size) in CONFIGMAPS {
        let mut value = serde_json::to_value(configmap(name, size)).map_err(std::io::Error::other)?;
        value["apiVersion"] = "v1".into();
        value["kind"] = "ConfigMap".into();
        let json = serde_json::to_vec(&value).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(format!("{name}.json")), json)?;
    }
    Ok(())
}

/// The target of a review that needs lookups.
pub fn target(req: &Request, opts: &Options) -> Target {
    match admission::prepare(req, opts).expect("valid review") {
        Prepared::Lookup(target) => *target,
        Prepared::Done(outcome) => panic!("fixture is not admitted: {outcome:?}"),
    }
}

/// The response body the server writes: the decision's patch, base64, in an AdmissionReview.
pub fn respond(req: &Request, decided: Decided) -> Vec<u8> {
    let response = req
        .response()
        .with_patch(decided.patch)
        .expect("patch serializes");
    admission::encode(response).expect("response encodes")
}

/// Everything `admission::review` does except the lookups: decode, prepare, decide, encode.
pub fn whole_core(body: &[u8], lookups: &Lookups, opts: &Options) -> Vec<u8> {
    let req = admission::decode(body).expect("decodes");
    let target = target(&req, opts);
    let sources = admission::source_digests(&target.references, lookups, opts.secrets.as_ref());
    let decided = admission::decide(&target, &sources, opts);
    respond(&req, decided)
}

/// The core as the server runs it on a digest-cache hit (a digest is fixed by the object's
/// uid, resourceVersion and key selection): the sources' digests are in hand, so decode →
/// prepare → decide → encode hashes nothing.
pub fn core_on_cache_hit(body: &[u8], sources: &digest::Sources, opts: &Options) -> Vec<u8> {
    let req = admission::decode(body).expect("decodes");
    let target = target(&req, opts);
    let decided = admission::decide(&target, sources, opts);
    respond(&req, decided)
}

/// Heap use of one call: allocator calls (fresh allocations plus reallocations) and the bytes
/// they requested (reallocations count by how much they grew).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocations {
    /// `alloc` and `realloc` calls.
    pub calls: usize,
    /// Bytes requested.
    pub bytes: isize,
}

/// What `f` allocates through `global`, the counting global allocator of the bench binary.
/// Counts are exact but include whatever other threads allocate meanwhile: call it while the
/// bench is idle. The first call is made once untimed, so lazily built statics do not count.
pub fn allocations<R>(global: &StatsAlloc<System>, mut f: impl FnMut() -> R) -> Allocations {
    drop(f());
    let region = Region::new(global);
    let result = f();
    let change = region.change();
    drop(result);
    Allocations {
        calls: change.allocations + change.reallocations,
        bytes: change.bytes_allocated as isize + change.bytes_reallocated,
    }
}
