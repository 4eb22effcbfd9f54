#!/usr/bin/env python3
"""Groups `perf report --no-children --sort dso,symbol --stdio` self time by component."""
import collections
import re
import sys

RULES = [
    ("SHA-256", r"sha2|sha256"),
    ("allocator (malloc/free)", r"malloc|_int_free|cfree|unlink_chunk|realloc|consolidate|tcache|__libc_free|\b_?mi_|mimalloc"),
    ("memcpy/memmove/memcmp", r"memmove|memcpy|memcmp|memset"),
    ("BTreeMap", r"btree"),
    ("serde / serde_json", r"serde|from_utf8|itoa|ryu"),
    ("TLS (rustls, ring)", r"ring|rustls|aes|gcm|chacha|poly"),
    ("tracing (logs)", r"tracing|fmt|Write|nu_ansi|sharded"),
    ("hyper, axum, tokio", r"hyper|axum|tokio|http|tower|mio|futures"),
    ("kernel", r"\[k\]"),
    ("base64, hex", r"base64|hex"),
    ("json_patch", r"json_patch|jsonptr"),
    ("k8s-openapi, kube", r"k8s_openapi|kube"),
]

shares = collections.Counter()
for line in sys.stdin:
    m = re.match(r"\s+([0-9.]+)%\s+(\S+)\s+(\[.\])\s+(.*)", line)
    if not m:
        continue
    # The symbol and its [k]/[.] mark only: the binary's own file name says nothing about the code.
    text = " ".join(m.group(3, 4))
    name = next((n for n, rx in RULES if re.search(rx, text, re.I)), f"other ({m.group(2)})")
    shares[name] += float(m.group(1))
for name, share in shares.most_common():
    if share >= 0.5:
        print(f"PERF {share:5.1f}%  {name}")
