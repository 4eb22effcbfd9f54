#!/usr/bin/env bash
# Generate a private CA and a serving certificate for the confighash webhook, for
# installing the chart without cert-manager.
#
# usage: certs/generate.sh SERVICE NAMESPACE OUTDIR [EXTRA_SAN...]
#
#   SERVICE    name of the webhook Service (the chart's full name, e.g. confighash)
#   NAMESPACE  namespace the chart is installed in
#   OUTDIR     directory for ca.crt, ca.key, tls.crt, tls.key (created if missing)
#   EXTRA_SAN  more names for the serving certificate: DNS names, or IPv4/IPv6
#              addresses (e.g. localhost 127.0.0.1 for a local test). The environment
#              variable EXTRA_SANS may hold more, separated by commas or spaces.
#
# Environment: CA_DAYS (default 3650) and DAYS (default 365) set the lifetimes.
#
# Stdout gets exactly one line, the base64-encoded PEM CA certificate for the chart's
# tls.caBundle value, so that CA_BUNDLE="$(certs/generate.sh ...)" works; everything else
# (what was written, the kubectl and helm commands to use) goes to stderr.
#
# If OUTDIR already holds ca.crt and ca.key, that CA is kept and only the serving
# certificate is issued again: the caBundle stays the same, so renewing is just
# replacing the Secret. Delete OUTDIR to start over with a new CA.
#
# Needs bash (no bash 4 features are used, so macOS' 3.2 will do) and OpenSSL 1.1.1 or later.
set -euo pipefail

usage() {
    sed -n '4,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[ "$#" -ge 3 ] || usage
service=$1
namespace=$2
outdir=$3
shift 3

command -v openssl >/dev/null 2>&1 || { echo "generate.sh: openssl not found" >&2; exit 1; }

# A Service name and a namespace are DNS labels.
for label in "$service" "$namespace"; do
    case $label in
        '' | -* | *- | *[!a-z0-9-]*)
            echo "generate.sh: '$label' is not a DNS label (lower-case letters, digits, '-')" >&2
            exit 2
            ;;
    esac
done

ca_days=${CA_DAYS:-3650}
days=${DAYS:-365}

# subjectAltName: the four names the API server may use for the Service, then extras.
sans="DNS:${service},DNS:${service}.${namespace},DNS:${service}.${namespace}.svc,DNS:${service}.${namespace}.svc.cluster.local"
set -f # no globbing of the split EXTRA_SANS (a wildcard name like *.example.com)
for san in $(printf '%s' "${EXTRA_SANS:-}" | tr ',' ' ') "$@"; do
    [ -n "$san" ] || continue
    case $san in
        *[!0-9.]*) is_ipv4=no ;;
        *.*.*.*) is_ipv4=yes ;;
        *) is_ipv4=no ;;
    esac
    case $san in
        *:*) sans="${sans},IP:${san}" ;; # IPv6
        *)
            if [ "$is_ipv4" = yes ]; then
                sans="${sans},IP:${san}"
            else
                sans="${sans},DNS:${san}"
            fi
            ;;
    esac
done
set +f

umask 077 # keys, and OUTDIR when created here, readable by the owner only
mkdir -p "$outdir"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[serving_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = ${sans}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# Random positive 128-bit serial numbers (RFC 5280 allows up to 20 octets).
serial() {
    printf '0x7%s' "$(openssl rand -hex 15)"
}

# ECDSA P-256 keys in PKCS#8 PEM.
new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 600 "$1"
}

if [ -s "$outdir/ca.crt" ] && [ -s "$outdir/ca.key" ]; then
    echo "Keeping the existing CA in $outdir (delete ca.crt and ca.key for a new one)." >&2
else
    new_key "$outdir/ca.key"
    openssl req -x509 -new -sha256 -config "$work/openssl.cnf" \
        -key "$outdir/ca.key" -subj "/CN=${service}.${namespace} webhook CA" \
        -days "$ca_days" -set_serial "$(serial)" -extensions ca_ext \
        -out "$outdir/ca.crt"
    echo "Wrote a new CA: $outdir/ca.crt, $outdir/ca.key" >&2
fi

new_key "$work/tls.key"
openssl req -new -sha256 -config "$work/openssl.cnf" -key "$work/tls.key" \
    -subj "/CN=${service}.${namespace}.svc" -out "$work/tls.csr"
openssl x509 -req -sha256 -in "$work/tls.csr" -CA "$outdir/ca.crt" -CAkey "$outdir/ca.key" \
    -set_serial "$(serial)" -days "$days" -extfile "$work/openssl.cnf" -extensions serving_ext \
    -out "$work/tls.crt" 2>/dev/null
openssl verify -CAfile "$outdir/ca.crt" "$work/tls.crt" >/dev/null
# Replace the pair together only once both are complete.
mv -f "$work/tls.key" "$outdir/tls.key"
mv -f "$work/tls.crt" "$outdir/tls.crt"
chmod 644 "$outdir/ca.crt" "$outdir/tls.crt"
echo "Wrote the serving certificate: $outdir/tls.crt, $outdir/tls.key" >&2
echo "  subjectAltName: $sans" >&2

ca_bundle=$(openssl base64 -A <"$outdir/ca.crt")

cat >&2 <<EOF

Create the Secret and install the chart without cert-manager:

  kubectl create namespace ${namespace} --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n ${namespace} create secret tls ${service}-tls \\
    --cert=${outdir}/tls.crt --key=${outdir}/tls.key --dry-run=client -o yaml | kubectl apply -f -
  helm upgrade --install <release> charts/confighash -n ${namespace} \\
    --set tls.certManager.enabled=false \\
    --set tls.existingSecret=${service}-tls \\
    --set tls.caBundle="\$(openssl base64 -A < ${outdir}/ca.crt)"

The Service the chart creates must be named ${service}: it is "<release>-confighash",
or the release name when that contains "confighash", or fullnameOverride.
Keep ${outdir}/ca.key secret (or delete it if you will not renew with this CA).
The caBundle, printed on stdout:
EOF

printf '%s\n' "$ca_bundle"
