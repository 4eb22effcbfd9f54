#!/usr/bin/env python3
"""Medians of the runs in a scripts/bench.sh results directory, as Markdown."""
import glob
import json
import os
import re
import statistics
import sys

out = sys.argv[1]
median = statistics.median


def fmt(xs, unit="", digits=3):
    if not xs:
        return "-"
    spread = f" ({min(xs):.{digits}g}–{max(xs):.{digits}g})" if len(xs) > 1 else ""
    return f"{median(xs):.{digits}g}{unit}{spread}"


def fmt_int(xs):
    spread = f" ({min(xs):,.0f}–{max(xs):,.0f})" if len(xs) > 1 else ""
    return f"{median(xs):,.0f}{spread}"


def kv(line):
    return dict(p.split("=", 1) for p in line.split() if "=" in p)


def core():
    units = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
    runs = {}
    for path in sorted(glob.glob(os.path.join(out, "core-*.txt"))):
        name = None
        for line in open(path, encoding="utf-8"):
            m = re.match(r"^(\S+/\S+)", line)
            if m:
                name = m.group(1)
            t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
            if t and name:
                runs.setdefault(name, []).append(float(t.group(1)) * units[t.group(2)])
    if runs:
        print(f"## Criterion (median of {max(len(v) for v in runs.values())} runs, µs; range in brackets)\n")
        print("| benchmark | µs |\n|---|---|")
        for name, xs in runs.items():
            print(f"| {name} | {fmt(xs)} |")
        print()


def load():
    path = os.path.join(out, "load.txt")
    if not os.path.exists(path):
        return
    results, wrk, rss = [], {}, []
    for line in open(path, encoding="utf-8"):
        if line.startswith("RESULT "):
            body = line[7 : line.rindex("}") + 1]
            extra = kv(line[line.rindex("}") + 1 :])
            results.append({**json.loads(body), **extra})
        elif line.startswith("WRK "):
            r = kv(line)
            wrk.setdefault(r["target"], []).append(r)
        elif line.startswith("RSS "):
            rss.append(float(kv(line)["peak_rss_kib"]) / 1024)
    print("## Load (median of runs; range in brackets)\n")
    print("| run | reviews/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU µs/review | core µs | server/core |")
    print("|---|---|---|---|---|---|---|---|---|")
    groups = {}
    for r in results:
        groups.setdefault((r["mode"], r.get("body", "update")), []).append(r)
    for (mode, body), rs in groups.items():
        col = lambda k: [r[k] for r in rs if k in r]
        print(f"| own client, {mode}, {body} | {fmt(col('throughput'), digits=4)} | {fmt(col('p50_ms'))} | "
              f"{fmt(col('p99_ms'))} | {fmt(col('p99_9_ms'))} | {sum(col('errors'))} | "
              f"{fmt(col('server_cpu_us_per_review'))} | {fmt(col('core_us_per_review'))} | {fmt(col('server_over_core'))} |")
    for target, rs in wrk.items():
        col = lambda k: [float(r[k]) for r in rs]
        cpu = [float(r["cpu_ticks"]) / float(r["clk_tck"]) * 1e6 / float(r["requests"]) for r in rs]
        print(f"| wrk saturation, {target} | {fmt(col('throughput'), digits=4)} | {fmt(col('p50_ms'))} | "
              f"{fmt(col('p99_ms'))} | {fmt(col('p99_9_ms'))} | {int(sum(col('errors')) + sum(col('non2xx')))} | "
              f"{fmt(cpu)} | | |")
    if "nginx" in wrk and "confighash" in wrk:
        ratios = [float(a["throughput"]) / float(b["throughput"]) for a, b in zip(wrk["confighash"], wrk["nginx"])]
        print(f"\nconfighash / nginx saturation throughput, per run: {', '.join(f'{x:.3f}' for x in ratios)}; "
              f"median {median(ratios):.3f}")
    if rss:
        print(f"\nconfighash peak RSS (VmHWM) after all runs: {fmt(rss, ' MiB')}")
    print()


def ratio():
    path = os.path.join(out, "ratio.txt")
    if not os.path.exists(path):
        return
    bins, rounds, wrk, rss, answers = [], [], [], {}, {}
    for line in open(path, encoding="utf-8"):
        r = kv(line)
        if line.startswith("BIN "):
            bins.append(r)
        elif line.startswith("ROUND "):
            rounds.append(r)
        elif line.startswith("WRK "):
            wrk.append(r)
        elif line.startswith("RSS "):
            rss.setdefault(r["target"], []).append(float(r["peak_rss_kib"]) / 1024)
        elif line.startswith("ANSWER "):
            answers.setdefault(r["body"], {}).setdefault((r["status"], r["bytes"], r["sha256"]), set()).add(r["target"])
    print(f"## Saturation against nginx (wrk, {len(rounds)} rounds; median, range in brackets)\n")
    for b in bins:
        print(f"- `{b['name']}`: {b['path']} (sha256 {b['sha256']}…)")
    print(f"- 1-minute/5/15 load average at each round's start: {', '.join(r['load'] for r in rounds)}\n")
    nginx = {(r["body"], r["round"]): float(r["throughput"]) for r in wrk if r["target"] == "nginx"}
    print("| body | server | requests/s | ratio to nginx | ratio per round | p50 ms | p99 ms | "
          "server CPU µs/req | wrk CPU µs/req | errors | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    targets = ["nginx"] + [b["name"] for b in bins]
    for body in dict.fromkeys(r["body"] for r in wrk):
        for target in targets:
            rs = [r for r in wrk if r["body"] == body and r["target"] == target]
            if not rs:
                continue
            col = lambda k: [float(r[k]) for r in rs]
            per_req = lambda secs: [s * 1e6 / float(r["requests"]) for s, r in zip(secs, rs)]
            cpu = per_req([float(r["cpu_ticks"]) / float(r["clk_tck"]) for r in rs])
            client = per_req(col("client_cpu_s"))
            ratios = [float(r["throughput"]) / nginx[(body, r["round"])] for r in rs if (body, r["round"]) in nginx]
            errors = int(sum(col("errors")) + sum(col("non2xx")))
            ratio_cols = ("-", "-") if target == "nginx" else (
                f"**{median(ratios):.3f}**", ", ".join(f"{x:.3f}" for x in ratios))
            print(f"| {body} | {target} | {fmt_int(col('throughput'))} | {ratio_cols[0]} | {ratio_cols[1]} | "
                  f"{fmt(col('p50_ms'))} | {fmt(col('p99_ms'))} | {fmt(cpu)} | {fmt(client)} | {errors} | "
                  f"{fmt(rss.get(target, []))} |")
    print()
    for body, groups in answers.items():
        if len(groups) == 1:
            (status, size, digest), who = next(iter(groups.items()))
            print(f"- answers to `{body}`: identical from every binary (HTTP {status}, {size} bytes, sha256 {digest}…)")
        else:
            print(f"- answers to `{body}` DIFFER: " + "; ".join(
                f"{', '.join(sorted(who))}: HTTP {st}, {n} bytes, sha256 {d}…" for (st, n, d), who in groups.items()))
    print()


def cluster():
    path = os.path.join(out, "cluster.txt")
    if not os.path.exists(path):
        return
    rs = [json.loads(l[7:]) for l in open(path, encoding="utf-8") if l.startswith("RESULT ")]
    print("## Cluster source vs directory source at 500 reviews/s (median of runs, ms)\n")
    print("| | p50 | p99 | p99.9 |\n|---|---|---|---|")
    for label in ["directory", "cluster", "fake_api_reads"]:
        print(f"| {label} | " + " | ".join(fmt([r[label][q] for r in rs]) for q in ["p50_ms", "p99_ms", "p99_9_ms"]) + " |")
    print("| added (cluster − directory) | " + " | ".join(fmt([r[f"added_{q}"] for r in rs]) for q in ["p50_ms", "p99_ms", "p99_9_ms"]) + " |")
    print()


def profile():
    path = os.path.join(out, "profile.txt")
    if os.path.exists(path):
        print("## Profile of the server\n")
        for line in open(path, encoding="utf-8"):
            print(f"    {line.rstrip()}")
        print()


def fuzz():
    path = os.path.join(out, "fuzz.txt")
    if os.path.exists(path):
        print("## Fuzzing\n")
        for line in open(path, encoding="utf-8"):
            print(f"- {line.strip()}")
        print()


core()
load()
ratio()
cluster()
profile()
fuzz()
