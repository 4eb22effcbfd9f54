#!/usr/bin/env python3
"""Groups `perf script` samples recorded with `--call-graph dwarf` by the stage of an admission
they belong to: the first frame from the leaf up that names a stage decides. Inclusive time,
so it says who calls the allocator and memmove, which the flat profile cannot."""
import collections
import re
import sys

STAGES = [
    ("directory source (ConfigMap copies and drops)", r"source::Object|source::dir|DirSource"),
    ("digest (SHA-256 and entry framing)", r"confighash::digest|sha2"),
    ("decode", r"admission::lean|wire::decode|admission::decode"),
    ("prepare (typing, references)", r"admission::prepare|Workload|references::|admission::Target"),
    ("patch and response encoding", r"json_patch|admission::encode|wire::encode|with_patch|AdmissionResponse"),
    ("tracing (logs)", r"tracing"),
    ("TLS (rustls, ring)", r"rustls|ring_core|\bring::"),
    ("the route's own code (inlined calls, drops)", r"routes::mutate"),
    ("hyper, axum, tokio (and their syscalls)", r"hyper|axum|tokio|mio"),
]


def leaf_kind(symbol):
    if re.search(r"malloc|_int_free|free\b|__libc_free|unlink_chunk|consolidate|realloc|\b_?mi_", symbol):
        return "allocator"
    if re.search(r"memmove|memcpy", symbol):
        return "memcpy"
    return "rest"


samples, current = [], None
for line in sys.stdin:
    if not line.strip():
        if current:
            samples.append(current)
        current = None
    elif not line[0].isspace():
        current = []
    elif current is not None:
        m = re.match(r"\s+[0-9a-f]+ (.*?)(?:\+0x[0-9a-f]+)? \((.*)\)$", line.rstrip())
        if m:
            current.append(m.group(1))
if current:
    samples.append(current)

total = len(samples) or 1
by_stage, by_kind = collections.Counter(), collections.Counter()
for frames in samples:
    stage = next((name for f in frames for name, rx in STAGES if re.search(rx, f)),
                 "unattributed (kernel without a user stack, truncated stacks)")
    by_stage[stage] += 1
    by_kind[stage, leaf_kind(frames[0] if frames else "")] += 1
print(f"STAGES {len(samples)} samples")
for stage, n in by_stage.most_common():
    print(f"STAGE {100 * n / total:5.1f}%  {stage} (allocator {100 * by_kind[stage, 'allocator'] / total:.1f}%, "
          f"memcpy {100 * by_kind[stage, 'memcpy'] / total:.1f}%)")
