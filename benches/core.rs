//! The pure admission core on realistic reviews, split into its stages, and the digest alone.
//! Lookups are excluded: the ConfigMaps are built once, as the sources would return them.
//!
//! Before the timings it prints the heap allocations of one review, for the decode alone and
//! for the whole core, counted by a wrapper around the system allocator.
//!
//! `cargo bench --bench core -- --measurement-time 5`

#[path = "support/mod.rs"]
mod support;

use std::{alloc::System, hint::black_box};

use confighash::{
    admission::{self, Decided, Options, patch},
    annotations, digest,
    hash_key::HashKey,
    references::{self, Keys},
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use support::{allocations, core_on_cache_hit, respond, target, whole_core};

// Counts every allocation of this binary, for the per-review report; the atomics cost a few
// nanoseconds per allocation in the timings too, the same before and after.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Prints allocator calls and bytes of one review, decode alone and the whole core.
fn allocation_report(_: &mut Criterion) {
    let opts = Options::default();
    let lookups = support::lookups();
    for (name, body) in [("create", support::CREATE), ("update", support::UPDATE)] {
        let decode = allocations(GLOBAL, || admission::decode(body).expect("decodes"));
        let total = allocations(GLOBAL, || whole_core(body, &lookups, &opts));
        let target = target(&admission::decode(body).expect("decodes"), &opts);
        let sources = admission::source_digests(&target.references, &lookups, None);
        let hit = allocations(GLOBAL, || core_on_cache_hit(body, &sources, &opts));
        println!(
            "allocations/{name}: decode {} calls, {} bytes; total {} calls, {} bytes; on a cache hit {} calls, {} bytes",
            decode.calls, decode.bytes, total.calls, total.bytes, hit.calls, hit.bytes
        );
    }
}

fn stages(c: &mut Criterion) {
    let opts = Options::default();
    let lookups = support::lookups();
    for (name, body) in [("create", support::CREATE), ("update", support::UPDATE)] {
        let req = admission::decode(body).expect("decodes");
        let target = target(&req, &opts);
        let decided = admission::decide(
            &target,
            &admission::source_digests(&target.references, &lookups, None),
            &opts,
        );
        assert!(!decided.patch.0.is_empty(), "{name} needs a patch");
        let template = target.workload.template();
        let workload_annotations = target.workload.metadata().annotations.clone().unwrap_or_default();

        let mut group = c.benchmark_group(format!("core/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("decode", |b| b.iter(|| admission::decode(black_box(body))));
        group.bench_function("prepare", |b| {
            b.iter(|| admission::prepare(black_box(&req), &opts))
        });
        group.bench_function("references", |b| {
            b.iter(|| references::find(template.spec.as_ref(), &workload_annotations, &opts.keys, false))
        });
        group.bench_function("digest", |b| {
            b.iter(|| {
                let sources = admission::source_digests(black_box(&target.references), &lookups, None);
                annotations::desired(&opts.keys, &sources)
            })
        });
        group.bench_function("patch", |b| {
            b.iter(|| {
                let ops = patch::annotations(
                    template.metadata.as_ref(),
                    black_box(&decided.desired),
                    &opts.keys.owned(),
                );
                respond(
                    &req,
                    Decided {
                        patch: ops,
                        ..decided.clone()
                    },
                )
            })
        });
        group.bench_function("total", |b| {
            b.iter(|| whole_core(black_box(body), &lookups, &opts))
        });
        let sources = admission::source_digests(&target.references, &lookups, None);
        group.bench_function("total on a cache hit", |b| {
            b.iter(|| core_on_cache_hit(black_box(body), &sources, &opts))
        });
        group.finish();
    }
}

fn digest_sizes(c: &mut Criterion) {
    let mut group = c.benchmark_group("digest/configmap");
    for (label, size) in [("1KiB", 1 << 10), ("100KiB", 100 << 10), ("1MiB", 1 << 20)] {
        let cm = support::configmap("sized", size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &cm, |b, cm| {
            b.iter(|| digest::configmap(black_box(cm), &Keys::All))
        });
    }
    group.finish();
}

/// A Secret's digest is an HMAC-SHA256 over the same encoding (contract §4.4).
fn secret_digest(c: &mut Criterion) {
    let key = HashKey::from_bytes(&[7; 32]).expect("key");
    let cm = support::configmap("sized", 100 << 10);
    let data = cm.data.unwrap_or_default().into_iter();
    let secret = Secret {
        data: Some(data.map(|(k, v)| (k, ByteString(v.into_bytes()))).collect()),
        ..Default::default()
    };
    let mut group = c.benchmark_group("digest/secret");
    group.throughput(Throughput::Bytes(100 << 10));
    group.bench_function("100KiB", |b| {
        b.iter(|| digest::secret(black_box(&secret), &Keys::All, &key))
    });
    group.finish();
}

criterion_group!(benches, allocation_report, stages, digest_sizes, secret_digest);
criterion_main!(benches);
