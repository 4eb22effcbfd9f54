#!/usr/bin/env bash
# Reruns every measurement in BENCHMARKS.md and prints the medians:
#   core     criterion micro-benchmarks of the pure admission core and the digest
#   load     `serve --configmaps-from` over keep-alive TLS: 500 reviews/s open loop (own
#            client) and saturation (wrk and own client), CPU and peak RSS; nginx-light
#            answering a static 200 over the same certificate, with the same wrk settings
#   cluster  the cluster source against the fake API server
#   profile  where the server's CPU goes: user/system split at 500/s, perf at saturation
#   ratio    saturation against nginx in one run: each round runs nginx answering a static 200,
#            then every --bin in turn, on the same certificate, connections and bodies (the
#            13 KB UPDATE, and the UPDATE that mounts one key of the 100 KiB ConfigMap
#            through `items`); reports requests/s, the ratio to that round's nginx, server
#            and client CPU per request, peak RSS, and whether every binary answered the same bytes
#   fuzz     each cargo-fuzz target for SECONDS (only with --fuzz SECONDS)
#
# usage: scripts/bench.sh [--runs N] [--duration SECONDS] [--fuzz SECONDS] [core|load|cluster|profile|fuzz ...]
#        scripts/bench.sh ratio --bin NAME=PATH [--bin NAME=PATH ...] [--rounds N] [--duration SECONDS] [--fixtures DIR]
# --bin picks the server binaries of `ratio` (default: current=target/release/confighash, built
# first) and of `profile` (the first one). --rounds is --runs. --no-wait measures at once
# instead of waiting for other builds to finish (the load average is recorded either way).
# --fixtures DIR makes `ratio` reuse the certificate and ConfigMaps of an earlier run (written
# by `cargo bench --bench load -- fixtures DIR`) instead of building the load generator.
# Results go to target/bench-results/ (override with BENCH_OUT). Only 127.0.0.1 is used;
# every server started here is stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

RUNS=3 DURATION=20 FUZZ=0 CONNECTIONS=16 PORT=18443 NGINX_PORT=18444 OPS_PORT=19090 WARMUP=2 WAIT=1 FIXTURES=
STEPS=() BINS=()
usage() {
    echo "usage: $0 [--runs|--rounds N] [--duration S] [--fuzz S] [--bin NAME=PATH ...] [--no-wait] [--fixtures DIR]" \
        "[core|load|cluster|profile|ratio|fuzz ...]" >&2
    exit 2
}
while (($#)); do
    case $1 in
        --runs | --rounds) RUNS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --fuzz) FUZZ=$2; shift 2 ;;
        --bin) [[ ${2:-} == [a-zA-Z0-9]*=?* && $2 != nginx=* ]] || usage; BINS+=("$2"); shift 2 ;;
        --no-wait) WAIT=0; shift ;;
        --fixtures) FIXTURES=$(realpath "$2"); shift 2 ;;
        core | load | cluster | profile | ratio | fuzz) STEPS+=("$1"); shift ;;
        *) usage ;;
    esac
done
((${#STEPS[@]})) || STEPS=(core load cluster profile fuzz)
OUT=${BENCH_OUT:-$ROOT/target/bench-results}
mkdir -p "$OUT"
export CARGO_TERM_COLOR=never

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

log() { printf '\n==> %s\n' "$*" >&2; }

# Two other builds may share the machine: wait (up to 10 minutes) until no rustc runs,
# and record the load average next to every measurement.
wait_idle() {
    local waited=0
    while ((WAIT)) && pgrep -x rustc >/dev/null && ((waited < 600)); do sleep 10; waited=$((waited + 10)); done
    ((waited < 600)) || echo "$(date -u +%FT%TZ) $1: gave up waiting for rustc after 600 s" >>"$OUT/uptime.log"
    echo "$(date -u +%FT%TZ) $1: $(uptime)" >>"$OUT/uptime.log"
}

ensure_tools() {
    command -v wrk >/dev/null && command -v nginx >/dev/null && return
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
}

# utime + stime of a process and its children (nginx's workers), in clock ticks.
cpu_ticks() {
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
    done
    echo "$total"
}
peak_rss() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# A server already listening on one of our ports would be measured in place of ours.
ensure_free() {
    local port
    for port in "$@"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "port $port is already in use on 127.0.0.1: stop what listens there first" >&2
            exit 1
        fi
    done
}
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 did not open" >&2; exit 1; }

loadgen() { cargo bench --quiet --locked --bench load -- "$@"; }

step_core() {
    cargo bench --locked --bench core --no-run
    for run in $(seq "$RUNS"); do
        wait_idle "core run $run"
        log "criterion, run $run of $RUNS"
        cargo bench --locked --bench core -- --warm-up-time 2 --measurement-time 5 | tee "$OUT/core-$run.txt"
    done
}

# Starts BINARY (default: this checkout's release build), logging to LOG.
start_server() {
    ensure_free "$PORT" "$OPS_PORT"
    "${1:-$ROOT/target/release/confighash}" serve --listen "127.0.0.1:$PORT" --metrics-listen "127.0.0.1:$OPS_PORT" \
        --tls-cert "$FIXTURES/certs/tls.crt" --tls-key "$FIXTURES/certs/tls.key" \
        --configmaps-from "$FIXTURES/configmaps" 2>"${2:-$OUT/server.log}" &
    SERVER=$!
    PIDS+=("$SERVER")
    wait_port "$PORT"
}

# Stops a server started here and forgets its pid, so cleanup never signals a reused pid.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local kept=() pid
    for pid in "${PIDS[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
    PIDS=("${kept[@]}")
}

start_nginx() {
    local dir=$OUT/nginx
    mkdir -p "$dir/body"
    sed -e "s|@DIR@|$dir|g" -e "s|@CERTS@|$FIXTURES/certs|g" -e "s|@PORT@|$NGINX_PORT|g" \
        "$ROOT/scripts/bench/nginx.conf.in" >"$dir/nginx.conf"
    ensure_free "$NGINX_PORT"
    nginx -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;' &
    NGINX=$!
    PIDS+=("$NGINX")
    wait_port "$NGINX_PORT"
}

# wrk, one thread, $CONNECTIONS keep-alive connections; prints its WRK line plus server CPU.
wrk_run() {
    local label=$1 port=$2 pid=$3 before after
    before=$(cpu_ticks "$pid")
    BODY=$ROOT/benches/data/update-review.json wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" \
        -s "$ROOT/scripts/bench/post.lua" "https://127.0.0.1:$port/mutate?timeout=10s" >"$OUT/wrk.tmp"
    after=$(cpu_ticks "$pid")
    echo "$(grep '^WRK' "$OUT/wrk.tmp") target=$label cpu_ticks=$((after - before)) clk_tck=$(getconf CLK_TCK)"
}

step_load() {
    ensure_tools
    cargo build --release --locked
    cargo bench --locked --bench load --no-run
    FIXTURES=$OUT/fixtures
    loadgen fixtures "$FIXTURES"
    local ca=$FIXTURES/certs/ca.crt
    : >"$OUT/load.txt"
    for run in $(seq "$RUNS"); do
        wait_idle "load run $run"
        log "load, run $run of $RUNS"
        start_server
        for body in update create; do
            loadgen rate --addr "127.0.0.1:$PORT" --ca "$ca" --body "benches/data/$body-review.json" \
                --rate 500 --duration "${DURATION}s" --connections "$CONNECTIONS" --pid "$SERVER" --core \
                | sed "s/\$/ body=$body/" | tee -a "$OUT/load.txt"
        done
        loadgen rate --addr "127.0.0.1:$PORT" --ca "$ca" --rate 0 --duration "${DURATION}s" \
            --connections "$CONNECTIONS" --pid "$SERVER" | tee -a "$OUT/load.txt"
        # The ratio to nginx: alternate the two under the same wrk settings within this run.
        wrk_run confighash "$PORT" "$SERVER" | tee -a "$OUT/load.txt"
        echo "RSS target=confighash peak_rss_kib=$(peak_rss "$SERVER")" | tee -a "$OUT/load.txt"
        stop "$SERVER"
        start_nginx
        wrk_run nginx "$NGINX_PORT" "$NGINX" | tee -a "$OUT/load.txt"
        stop "$NGINX"
    done
}

step_cluster() {
    cargo bench --locked --bench load --no-run
    : >"$OUT/cluster.txt"
    for run in $(seq "$RUNS"); do
        wait_idle "cluster run $run"
        log "cluster source, run $run of $RUNS"
        loadgen cluster --rate 500 --duration "${DURATION}s" --connections "$CONNECTIONS" | tee -a "$OUT/cluster.txt"
    done
}

# User and system CPU of the server at 500/s, then a perf profile at saturation (wrk).
step_profile() {
    command -v perf >/dev/null || { log "profile skipped: perf is not installed"; return; }
    ensure_tools
    local bin=$ROOT/target/release/confighash
    ((${#BINS[@]})) && bin=$(realpath -m "${BINS[0]#*=}")
    if [[ $bin == "$ROOT/target/release/confighash" ]]; then cargo build --release --locked; fi
    [[ -x $bin ]] || { echo "--bin ${BINS[0]}: no executable at $bin" >&2; exit 1; }
    cargo bench --locked --bench load --no-run
    FIXTURES=$OUT/fixtures
    loadgen fixtures "$FIXTURES"
    wait_idle "profile"
    echo "PROFILE binary: $bin" | tee "$OUT/profile.txt"
    start_server "$bin"
    local before after
    before=$(awk '{ sub(/.*\) /, ""); print $12, $13 }' "/proc/$SERVER/stat")
    loadgen rate --addr "127.0.0.1:$PORT" --ca "$FIXTURES/certs/ca.crt" --rate 500 --duration "${DURATION}s" \
        --connections "$CONNECTIONS" >/dev/null
    after=$(awk '{ sub(/.*\) /, ""); print $12, $13 }' "/proc/$SERVER/stat")
    echo "$before $after" | awk '{ printf "PROFILE at 500/s: user %d ticks, system %d ticks (%.0f%% system)\n",
        $3 - $1, $4 - $2, 100 * ($4 - $2) / ($3 - $1 + $4 - $2) }' | tee -a "$OUT/profile.txt"
    BODY=$ROOT/benches/data/update-review.json wrk -t1 -c"$CONNECTIONS" -d"$((DURATION + 8))s" \
        -s "$ROOT/scripts/bench/post.lua" "https://127.0.0.1:$PORT/mutate?timeout=10s" >/dev/null &
    local wrk=$!
    sleep 1
    perf record -q -F 1999 -p "$SERVER" -o "$OUT/perf.data" -- sleep "$DURATION" 2>/dev/null
    # Then 5 s with call graphs (DWARF unwinding: the release build has no frame pointers), to
    # tell which stage of an admission the allocator and memcpy time belongs to.
    perf record -q -F 499 --call-graph dwarf,8192 -p "$SERVER" -o "$OUT/perf-graph.data" -- sleep 5 2>/dev/null
    wait "$wrk"
    perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null >"$OUT/perf-report.txt"
    python3 "$ROOT/scripts/bench/perf_groups.py" <"$OUT/perf-report.txt" | tee -a "$OUT/profile.txt"
    # The heaviest symbols themselves, for what the groups hide.
    awk '/^ +[0-9.]+%/ && n++ < 25' "$OUT/perf-report.txt" | sed -E 's/^ +/TOP /; s/[ -]+$//' | tee -a "$OUT/profile.txt"
    perf script -i "$OUT/perf-graph.data" 2>/dev/null | python3 "$ROOT/scripts/bench/perf_stages.py" | tee -a "$OUT/profile.txt"
    stop "$SERVER"
}

# The bodies of the ratio step, NAME:PATH. `fixtures` generates the second one as well and
# checks that the checked-in copy is what it generates.
RATIO_BODIES=(update:benches/data/update-review.json items:benches/data/update-items-review.json)

# One wrk run of BODY against a server, after an unmeasured warm-up; prints its WRK line with
# the server's CPU (pid and children) and wrk's own CPU over the measured run.
wrk_measure() {
    local label=$1 port=$2 pid=$3 body=$4 round=$5 before after client
    local url="https://127.0.0.1:$port/mutate?timeout=10s"
    BODY=$ROOT/${body#*:} wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$ROOT/scripts/bench/post.lua" "$url" >/dev/null
    before=$(cpu_ticks "$pid")
    # `times` in the subshell reports the CPU of its only child, wrk.
    client=$( (BODY=$ROOT/${body#*:} wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$ROOT/scripts/bench/post.lua" \
        "$url" >"$OUT/wrk.tmp"; times) \
        | awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
    after=$(cpu_ticks "$pid")
    echo "$(grep '^WRK' "$OUT/wrk.tmp") target=$label body=${body%%:*} round=$round" \
        "cpu_ticks=$((after - before)) clk_tck=$(getconf CLK_TCK) client_cpu_s=$client"
}

# A server's exact answer to BODY, as its length and digest: every binary must give the same.
answer() {
    local label=$1 port=$2 body=$3 round=$4 status
    status=$(curl -sS --cacert "$FIXTURES/certs/ca.crt" --resolve "localhost:$port:127.0.0.1" \
        -H 'Content-Type: application/json' --data-binary "@$ROOT/${body#*:}" -o "$OUT/answer.tmp" \
        -w '%{http_code}' "https://localhost:$port/mutate?timeout=10s")
    echo "ANSWER target=$label body=${body%%:*} round=$round status=$status bytes=$(wc -c <"$OUT/answer.tmp")" \
        "sha256=$(sha256sum "$OUT/answer.tmp" | cut -c1-16)"
}

# Saturation against nginx: per round nginx, then every --bin in the order given, each on
# every body, so each ratio divides by the nginx run of the same round and body.
step_ratio() {
    ensure_tools
    ((${#BINS[@]})) || BINS=("current=$ROOT/target/release/confighash")
    local spec name path body round
    for spec in "${BINS[@]}"; do
        path=$(realpath -m "${spec#*=}")
        if [[ $path == "$ROOT/target/release/confighash" ]]; then cargo build --release --locked; fi
        [[ -x $path ]] || { echo "--bin $spec: no executable at $path" >&2; exit 1; }
    done
    if [[ -n $FIXTURES ]]; then
        [[ -f $FIXTURES/certs/tls.crt && -d $FIXTURES/configmaps ]] || { echo "--fixtures $FIXTURES: no certs/ or configmaps/" >&2; exit 1; }
    else
        cargo bench --locked --bench load --no-run
        FIXTURES=$OUT/fixtures
        loadgen fixtures "$FIXTURES"
    fi
    : >"$OUT/ratio.txt"
    echo "FIXTURES dir=$FIXTURES" | tee -a "$OUT/ratio.txt"
    for spec in "${BINS[@]}"; do
        path=$(realpath "${spec#*=}")
        echo "BIN name=${spec%%=*} path=$path sha256=$(sha256sum "$path" | cut -c1-16)" | tee -a "$OUT/ratio.txt"
    done
    for round in $(seq "$RUNS"); do
        wait_idle "ratio round $round"
        log "ratio, round $round of $RUNS"
        echo "ROUND round=$round load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" | tee -a "$OUT/ratio.txt"
        start_nginx
        for body in "${RATIO_BODIES[@]}"; do
            wrk_measure nginx "$NGINX_PORT" "$NGINX" "$body" "$round" | tee -a "$OUT/ratio.txt"
        done
        stop "$NGINX"
        for spec in "${BINS[@]}"; do
            name=${spec%%=*}
            start_server "$(realpath "${spec#*=}")" "$OUT/server-$name.log"
            for body in "${RATIO_BODIES[@]}"; do
                answer "$name" "$PORT" "$body" "$round" | tee -a "$OUT/ratio.txt"
                wrk_measure "$name" "$PORT" "$SERVER" "$body" "$round" | tee -a "$OUT/ratio.txt"
            done
            echo "RSS target=$name round=$round peak_rss_kib=$(peak_rss "$SERVER")" | tee -a "$OUT/ratio.txt"
            stop "$SERVER"
        done
    done
}

step_fuzz() {
    ((FUZZ > 0)) || { log "fuzz skipped (pass --fuzz SECONDS)"; return; }
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    : >"$OUT/fuzz.txt"
    for target in $(cd fuzz && cargo +nightly fuzz list); do
        wait_idle "fuzz $target"
        log "fuzz $target for $FUZZ s"
        local dict=()
        [[ -f fuzz/$target.dict ]] && dict=(-dict="$target.dict")
        (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$FUZZ" -print_final_stats=1 "${dict[@]}") \
            2>&1 | tee "$OUT/fuzz-$target.log" | grep -E '^(stat::|Done|==|SUMMARY)' || true
        echo "FUZZ target=$target $(grep -E '^stat::number_of_executed_units' "$OUT/fuzz-$target.log" | tr -d ' ')" \
            "$(grep -cE '^(==[0-9]+==|thread .* panicked)' "$OUT/fuzz-$target.log" || true) crash reports" \
            | tee -a "$OUT/fuzz.txt"
    done
}

echo "$(date -u +%FT%TZ) $(uname -srm); $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" >>"$OUT/uptime.log"
for step in "${STEPS[@]}"; do "step_$step"; done
python3 "$ROOT/scripts/bench/summarize.py" "$OUT"
