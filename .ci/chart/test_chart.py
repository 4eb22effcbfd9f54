"""Offline checks of the confighash Helm chart, the Dockerfile and certs/generate.sh.

Run by .ci/chart/check.sh (which installs Helm, pytest, PyYAML and kubernetes-validate and
sets HELM); by hand: HELM=/path/to/helm python3 -m pytest .ci/chart/test_chart.py

The chart is rendered with `helm template` in every mode (.ci/chart/values/*.yaml), every
object is validated against the Kubernetes OpenAPI schemas (kubernetes-validate, strict)
or, for the cert-manager and Prometheus Operator kinds those schemas lack, against an
allow-list of their fields, and then the things the server depends on are checked: ports,
probes, TLS mount, timeouts, RBAC, the Secret hash key mount, webhook registration and the
cert-manager chain.

The server's defaults come from `$CONFIGHASH_BIN serve --help` when CONFIGHASH_BIN points
at a built binary, otherwise from SERVER_DEFAULTS below (the product contract's values).
"""

from __future__ import annotations

import base64
import functools
import os
import re
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CHART = REPO / "charts" / "confighash"
VALUES_DIR = HERE / "values"
HELM = os.environ.get("HELM", "helm")

# A release name without "confighash" in it, so that resource names are "<release>-confighash".
RELEASE = "prod"
NAMESPACE = "webhooks"
FULLNAME = f"{RELEASE}-confighash"

# Defaults of `confighash serve` from the product contract (docs: contract section 6 and the
# flag list). Used when CONFIGHASH_BIN is not set; otherwise read from the binary.
SERVER_DEFAULTS = {
    "--listen": "[::]:8443",
    "--metrics-listen": "[::]:9090",
    "--lookup-timeout": "2s",
    "--drain-timeout": "20s",
    "--annotation-prefix": "confighash.io",
    "--max-sources": "256",
    "--on-lookup-error": "allow",
    "--debounce": "5s",
    "--min-rollout-interval": "30s",
    "--max-rollouts-per-second": "2",
    "--lease-duration": "15s",
}

# Flags the chart passes through server.extraArgs in .ci/chart/values/everything.yaml; they
# exist only to exercise the value and are not real server flags.
TEST_ONLY_FLAGS = {"--example-flag"}

# Flags that take no value; every other flag the chart passes is --flag=value.
BOOLEAN_FLAGS = {"--secrets"}

# Flags of `confighash serve` the chart relies on, checked against `serve --help` when
# CONFIGHASH_BIN is set (besides those of SERVER_DEFAULTS and those a mode renders).
EXPECTED_FLAGS = (
    "--tls-cert",
    "--tls-key",
    "--log-format",
    "--secrets",
    "--secret-hash-key-file",
    "--secret-hash-key-secret",
)

# Where the chart mounts the Secret hash key (secrets.enabled).
HASH_KEY_DIR = "/etc/confighash/hash-key"

CONTROL_PLANE_NAMESPACES = {"kube-system", "kube-node-lease", "kube-public"}

SCHEMA_VERSIONS = sorted(
    (v for v in all_versions() if tuple(map(int, v.split(".")[:2])) >= (1, 27)),
    key=lambda v: tuple(map(int, v.split("."))),
)
OLDEST_K8S, NEWEST_K8S = SCHEMA_VERSIONS[0], SCHEMA_VERSIONS[-1]


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def ca_dir() -> Path:
    """A CA and serving certificate from certs/generate.sh, for the no-cert-manager mode.

    check.sh generates them once and passes the directory in CONFIGHASH_TEST_CERTS_DIR;
    otherwise they are generated here.
    """
    given = os.environ.get("CONFIGHASH_TEST_CERTS_DIR")
    if given:
        return Path(given)
    out = Path(tempfile.mkdtemp(prefix="confighash-certs-")) / "out"
    subprocess.run(
        ["bash", str(REPO / "certs" / "generate.sh"), FULLNAME, NAMESPACE, str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def ca_bundle() -> str:
    return subprocess.run(
        ["openssl", "base64", "-A"],
        input=(ca_dir() / "ca.crt").read_bytes(),
        check=True,
        capture_output=True,
    ).stdout.decode()


@dataclass(frozen=True)
class Mode:
    values: tuple[str, ...] = ()
    kube_version: str = OLDEST_K8S
    api_versions: tuple[str, ...] = ()
    needs_ca_bundle: bool = False

    def args(self) -> list[str]:
        args = ["--kube-version", self.kube_version]
        for name in self.values:
            args += ["-f", str(VALUES_DIR / name)]
        for api in self.api_versions:
            args += ["--api-versions", api]
        if self.needs_ca_bundle:
            args += ["--set", f"tls.caBundle={ca_bundle()}"]
        return args


MODES = {
    "default": Mode(),
    "default-newest-k8s": Mode(kube_version=NEWEST_K8S),
    "no-watch": Mode(values=("nowatch.yaml",)),
    "opt-out": Mode(values=("optout.yaml",)),
    "no-cert-manager": Mode(values=("manual-tls.yaml",), needs_ca_bundle=True),
    "host-network": Mode(values=("hostnetwork.yaml",)),
    "match-conditions-1.30": Mode(values=("matchconditions.yaml",), kube_version="1.30.0"),
    "match-conditions-1.29": Mode(values=("matchconditions.yaml",), kube_version="1.29.0"),
    "service-monitor": Mode(
        values=("servicemonitor.yaml",), api_versions=("monitoring.coreos.com/v1",)
    ),
    "secrets": Mode(values=("secrets.yaml",)),
    "everything": Mode(
        values=(
            "everything.yaml",
            "optout.yaml",
            "manual-tls.yaml",
            "hostnetwork.yaml",
            "matchconditions.yaml",
            "servicemonitor.yaml",
            "secrets.yaml",
        ),
        kube_version=NEWEST_K8S,
        api_versions=("monitoring.coreos.com/v1",),
        needs_ca_bundle=True,
    ),
}


def helm_template(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELM, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
    )


@functools.lru_cache(maxsize=None)
def render(mode: str) -> tuple[dict, ...]:
    result = helm_template(MODES[mode].args())
    assert result.returncode == 0, f"helm template failed in mode {mode}:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def values_of(mode: str) -> dict:
    """The chart's values for a mode, merged the way Helm merges -f files."""

    def merge(base: dict, over: dict) -> dict:
        out = dict(base)
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for name in MODES[mode].values:
        values = merge(values, yaml.safe_load((VALUES_DIR / name).read_text()))
    return values


def objects(mode: str, kind: str) -> list[dict]:
    return [o for o in render(mode) if o["kind"] == kind]


def one(mode: str, kind: str) -> dict:
    found = objects(mode, kind)
    assert len(found) == 1, f"expected one {kind} in mode {mode}, found {len(found)}"
    return found[0]


def container(mode: str) -> dict:
    containers = one(mode, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def flags(mode: str) -> dict[str, str]:
    """The container's arguments as a dict: --flag=value (the chart always uses '='), or a
    bare flag of BOOLEAN_FLAGS, whose value is ""."""
    out = {}
    for arg in container(mode)["args"]:
        if arg in BOOLEAN_FLAGS:
            name, value = arg, ""
        else:
            assert arg.startswith("--") and "=" in arg, f"argument {arg!r} is not --flag=value"
            name, value = arg.split("=", 1)
            assert name not in BOOLEAN_FLAGS, f"{name} takes no value"
        assert name not in out, f"{name} passed twice"
        out[name] = value
    return out


def secrets_enabled(mode: str) -> bool:
    return values_of(mode)["secrets"]["enabled"] is True


def hash_key_secret_name(mode: str) -> str:
    """The key Secret's name in a mode: secrets.hashKey.secretName or <fullname>-hash-key."""
    fullname = one(mode, "Deployment")["metadata"]["name"]
    return values_of(mode)["secrets"]["hashKey"]["secretName"] or f"{fullname}-hash-key"


def webhook(mode: str) -> dict:
    config = one(mode, "MutatingWebhookConfiguration")
    assert len(config["webhooks"]) == 1
    return config["webhooks"][0]


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def duration_ms(text: str) -> int:
    """A humantime-style duration ("2s", "1500ms", "1m30s") in milliseconds."""
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
    parts = re.findall(r"(\d+)\s*(ms|s|m|h)", text)
    assert parts and re.fullmatch(r"(\s*\d+\s*(ms|s|m|h))+\s*", text), f"bad duration {text!r}"
    return sum(int(n) * units[u] for n, u in parts)


# ---------------------------------------------------------------------------------------
# The server's interface
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def server_help() -> dict[str, str] | None:
    """`serve --help` of $CONFIGHASH_BIN split into one text block per flag, or None."""
    binary = os.environ.get("CONFIGHASH_BIN")
    if not binary:
        return None
    assert Path(binary).is_file(), f"CONFIGHASH_BIN={binary} does not exist"
    text = subprocess.run(
        [binary, "serve", "--help"], check=True, capture_output=True, text=True
    ).stdout
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^\s*(?:-\w,\s+)?(--[a-z0-9][a-z0-9-]*)", line)
        if match:
            current = match.group(1)
            blocks[current] = ""
        if current:
            blocks[current] += line + "\n"
    return blocks


@functools.lru_cache(maxsize=None)
def server_defaults() -> dict[str, str]:
    blocks = server_help()
    if blocks is None:
        return dict(SERVER_DEFAULTS)
    defaults = {}
    for flag in SERVER_DEFAULTS:
        assert flag in blocks, f"`confighash serve --help` has no {flag}"
        match = re.search(r"\[default: (.*)\]", blocks[flag])  # "[::]:8443" holds brackets
        assert match, f"`confighash serve --help` shows no default for {flag}"
        defaults[flag] = match.group(1).strip()
    return defaults


def test_server_defaults_source():
    """Says where the server defaults came from (shown by pytest -rs when skipped)."""
    if server_help() is None:
        pytest.skip(
            "CONFIGHASH_BIN not set: server defaults taken from the contract constants "
            f"{SERVER_DEFAULTS}, flag names not checked against a binary"
        )
    assert server_defaults()


@pytest.mark.parametrize("mode", MODES)
def test_chart_flags_exist_in_binary(mode):
    blocks = server_help()
    if blocks is None:
        pytest.skip("CONFIGHASH_BIN not set")
    for name, value in flags(mode).items():
        if name in TEST_ONLY_FLAGS:
            continue
        assert name in blocks, f"the chart passes {name}, which `confighash serve` lacks"
        if name in ("--log-format", "--on-lookup-error"):
            assert re.search(rf"\b{re.escape(value)}\b", blocks[name]), (
                f"{name}={value} is not among the values `serve --help` lists"
            )


def test_expected_flags_exist_in_binary():
    """The flags the chart relies on exist, whatever mode renders them; --secrets is a switch."""
    blocks = server_help()
    if blocks is None:
        pytest.skip("CONFIGHASH_BIN not set")
    missing = [f for f in (*SERVER_DEFAULTS, *EXPECTED_FLAGS) if f not in blocks]
    assert not missing, f"`confighash serve --help` lacks {missing}"
    for name in BOOLEAN_FLAGS:
        first_line = blocks[name].splitlines()[0]
        assert "<" not in first_line, f"{name} takes a value in `serve --help`: {first_line.strip()}"
    for name in ("--secret-hash-key-file", "--secret-hash-key-secret"):
        first_line = blocks[name].splitlines()[0]
        assert "<" in first_line, f"{name} takes no value in `serve --help`: {first_line.strip()}"


@pytest.mark.parametrize("mode", MODES)
def test_chart_never_passes_local_only_flags(mode):
    for local_only in ("--dev", "--configmaps-from"):
        assert local_only not in flags(mode), f"the chart must never pass {local_only}"


# ---------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------

# Kinds the Kubernetes schemas do not include: checked against these allow-lists of their
# documented fields (cert-manager.io/v1, monitoring.coreos.com/v1). A dict lists the keys
# allowed in an object, [x] a list of x, a tuple the allowed values, a type the type.
MAP = dict  # a free map of strings
DURATION_GO = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
DURATION_PROM = re.compile(
    r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"
)
METADATA = {"name": str, "namespace": str, "labels": MAP, "annotations": MAP}
LABEL_SELECTOR = {
    "matchLabels": MAP,
    "matchExpressions": [
        {"key": str, "operator": ("In", "NotIn", "Exists", "DoesNotExist"), "values": [str]}
    ],
}
ISSUER_REF = {"name": str, "kind": ("Issuer", "ClusterIssuer"), "group": ("cert-manager.io",)}
CRD_SCHEMAS = {
    ("cert-manager.io/v1", "Issuer"): {
        "apiVersion": str,
        "kind": str,
        "metadata": METADATA,
        "spec": {
            "selfSigned": {"crlDistributionPoints": [str]},
            "ca": {"secretName": str, "crlDistributionPoints": [str], "ocspServers": [str],
                   "issuingCertificateURLs": [str]},
        },
    },
    ("cert-manager.io/v1", "Certificate"): {
        "apiVersion": str,
        "kind": str,
        "metadata": METADATA,
        "spec": {
            "secretName": str,
            "commonName": str,
            "dnsNames": [str],
            "ipAddresses": [str],
            "duration": DURATION_GO,
            "renewBefore": DURATION_GO,
            "isCA": bool,
            "usages": [("digital signature", "key encipherment", "server auth", "client auth",
                        "cert sign", "crl sign")],
            "privateKey": {
                "algorithm": ("RSA", "ECDSA", "Ed25519"),
                "encoding": ("PKCS1", "PKCS8"),
                "size": int,
                "rotationPolicy": ("Never", "Always"),
            },
            "issuerRef": ISSUER_REF,
            "secretTemplate": {"labels": MAP, "annotations": MAP},
            "revisionHistoryLimit": int,
        },
    },
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "apiVersion": str,
        "kind": str,
        "metadata": METADATA,
        "spec": {
            "selector": LABEL_SELECTOR,
            "namespaceSelector": {"any": bool, "matchNames": [str]},
            "jobLabel": str,
            "endpoints": [{
                "port": str,
                "path": str,
                "scheme": ("http", "https"),
                "interval": DURATION_PROM,
                "scrapeTimeout": DURATION_PROM,
                "honorLabels": bool,
            }],
        },
    },
}
CRD_REQUIRED = {
    "Issuer": [("metadata", "name"), ("spec",)],
    "Certificate": [("metadata", "name"), ("spec", "secretName"), ("spec", "issuerRef", "name")],
    "ServiceMonitor": [("metadata", "name"), ("spec", "selector"), ("spec", "endpoints")],
}


def check_fields(value, schema, path: str) -> list[str]:
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        errors = []
        for key, item in value.items():
            if key not in schema:
                errors.append(f"{path}.{key}: unknown field")
            else:
                errors += check_fields(item, schema[key], f"{path}.{key}")
        return errors
    if schema is MAP:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        return [] if ok else [f"{path}: expected a map of strings"]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [e for i, item in enumerate(value) for e in check_fields(item, schema[0], f"{path}[{i}]")]
    if isinstance(schema, tuple):
        return [] if value in schema else [f"{path}: {value!r} not one of {schema}"]
    if isinstance(schema, re.Pattern):
        ok = isinstance(value, str) and schema.match(value)
        return [] if ok else [f"{path}: {value!r} is not a valid duration"]
    if schema is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected an integer"]
    return [] if isinstance(value, schema) else [f"{path}: expected {schema.__name__}"]


@functools.lru_cache(maxsize=None)
def validate_k8s(doc_yaml: str, version: str) -> str | None:
    """Strict validation of one object; cached because most objects repeat across modes."""
    try:
        kubernetes_validate.validate(yaml.safe_load(doc_yaml), version, strict=True)
    except kubernetes_validate.ValidationError as err:
        path = ".".join(str(p) for p in err.path)
        return f"{path}: {err.message}"
    return None


@pytest.mark.parametrize("mode", MODES)
def test_objects_match_schemas(mode):
    versions = sorted({MODES[mode].kube_version, NEWEST_K8S})
    errors = []
    for doc in render(mode):
        key = (doc["apiVersion"], doc["kind"])
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if key in CRD_SCHEMAS:
            errors += [f"{name}: {e}" for e in check_fields(doc, CRD_SCHEMAS[key], "")]
            for required in CRD_REQUIRED[doc["kind"]]:
                node = doc
                for part in required:
                    node = node.get(part) if isinstance(node, dict) else None
                if node in (None, "", [], {}) and required != ("spec",):
                    errors.append(f"{name}: {'.'.join(required)} is required")
            continue
        for version in versions:
            try:
                error = validate_k8s(yaml.safe_dump(doc), version)
            except kubernetes_validate.SchemaNotFoundError:
                error = f"no schema for {key} in Kubernetes {version}"
            if error:
                errors.append(f"{name} (Kubernetes {version}): {error}")
    assert not errors, "\n".join(errors)


def test_schema_versions():
    assert OLDEST_K8S.startswith("1.27."), f"kubernetes-validate lacks 1.27 schemas: {SCHEMA_VERSIONS}"


@pytest.mark.parametrize("mode", MODES)
def test_expected_objects(mode):
    values = values_of(mode)
    kinds = sorted(o["kind"] for o in render(mode))
    expected = ["ClusterRole", "ClusterRoleBinding", "Deployment", "MutatingWebhookConfiguration",
                "PodDisruptionBudget", "Service", "ServiceAccount"]
    if values["tls"]["certManager"]["enabled"]:
        expected += ["Certificate", "Certificate", "Issuer", "Issuer"]
    if values["metrics"]["serviceMonitor"]["enabled"]:
        expected += ["ServiceMonitor"]
    if values["secrets"]["enabled"]:
        expected += ["Role", "RoleBinding"]
    if values["watch"]["enabled"]:
        expected += ["Role", "RoleBinding"]
    if values["priorityClassName"] in ("system-cluster-critical", "system-node-critical"):
        expected += ["ResourceQuota"]
    assert kinds == sorted(expected)
    for obj in render(mode):
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration"):
            assert obj["metadata"]["namespace"] == NAMESPACE, f"{obj['kind']} outside the release namespace"


# ---------------------------------------------------------------------------------------
# Ports, probes, TLS mount, timeouts
# ---------------------------------------------------------------------------------------


def expected_ports(mode: str) -> tuple[int, int]:
    values = values_of(mode)
    if values["hostNetwork"]["enabled"]:
        return values["hostNetwork"]["webhookPort"], values["hostNetwork"]["metricsPort"]
    return values["containerPorts"]["webhook"], values["containerPorts"]["metrics"]


@pytest.mark.parametrize("mode", MODES)
def test_ports_agree(mode):
    webhook_port, metrics_port = expected_ports(mode)
    args = flags(mode)
    assert port_of(args["--listen"]) == webhook_port
    assert port_of(args["--metrics-listen"]) == metrics_port

    ports = {p["name"]: p["containerPort"] for p in container(mode)["ports"]}
    assert ports == {"https-webhook": webhook_port, "http-metrics": metrics_port}

    service = one(mode, "Service")
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert service_ports["https-webhook"]["targetPort"] == "https-webhook"
    assert service_ports["http-metrics"]["targetPort"] == "http-metrics"
    assert service_ports["https-webhook"]["port"] == 443

    client = webhook(mode)["clientConfig"]["service"]
    assert client == {"name": service["metadata"]["name"], "namespace": NAMESPACE,
                      "path": "/mutate", "port": service_ports["https-webhook"]["port"]}

    pod_labels = one(mode, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("mode", MODES)
def test_probes_hit_ops_port(mode):
    c = container(mode)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    metrics_port = port_of(flags(mode)["--metrics-listen"])
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c[probe]["httpGet"]
        assert get["path"] == path
        port = ports.get(get["port"], get["port"])
        assert port == metrics_port, f"{probe} is not on the ops port"
        assert get.get("scheme", "HTTP") == "HTTP"


@pytest.mark.parametrize("mode", MODES)
def test_tls_secret_mounted_as_directory(mode):
    deployment = one(mode, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    args = flags(mode)
    cert_dir, cert_file = args["--tls-cert"].rsplit("/", 1)
    key_dir, key_file = args["--tls-key"].rsplit("/", 1)
    assert (cert_file, key_file) == ("tls.crt", "tls.key")  # the keys of a kubernetes.io/tls Secret
    assert cert_dir == key_dir == "/etc/confighash/tls"

    for c in pod["containers"]:
        for mount in c.get("volumeMounts", []):
            assert "subPath" not in mount and "subPathExpr" not in mount, "subPath mounts never update"
    mounts = [m for m in container(mode)["volumeMounts"] if m["mountPath"] == cert_dir]
    assert len(mounts) == 1 and mounts[0]["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[0]["name"])
    assert "items" not in volume["secret"], "all keys, so that tls.crt and tls.key keep their names"

    values = values_of(mode)
    if values["tls"]["certManager"]["enabled"]:
        serving = serving_certificate(mode)
        assert volume["secret"]["secretName"] == serving["spec"]["secretName"]
    else:
        assert volume["secret"]["secretName"] == values["tls"]["existingSecret"]


@pytest.mark.parametrize("mode", MODES)
def test_timeouts_nest(mode):
    args = flags(mode)
    lookup = duration_ms(args.get("--lookup-timeout", server_defaults()["--lookup-timeout"]))
    drain = duration_ms(args.get("--drain-timeout", server_defaults()["--drain-timeout"]))
    assert webhook(mode)["timeoutSeconds"] * 1000 > lookup
    grace = one(mode, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace * 1000 > drain


def test_default_flags_match_server_defaults():
    """With default values the chart passes the server's own defaults (log format aside)."""
    args = flags("default")
    defaults = server_defaults()
    for flag, value in defaults.items():
        if flag in ("--listen", "--metrics-listen"):
            # Same address; the chart's webhook port is its own (containerPorts.webhook).
            assert args[flag].rsplit(":", 1)[0] == value.rsplit(":", 1)[0]
        else:
            assert args[flag] == value, f"{flag}: chart {args[flag]!r}, server {value!r}"
    assert args["--log-format"] == "json"


# ---------------------------------------------------------------------------------------
# Pod hardening and availability
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_pod_hardening(mode):
    pod = one(mode, "Deployment")["spec"]["template"]["spec"]
    c = container(mode)
    for ctx in (pod["securityContext"], c["securityContext"]):
        assert ctx["runAsNonRoot"] is True
        assert ctx["runAsUser"] == 65532 and isinstance(ctx["runAsUser"], int)
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == one(mode, "ServiceAccount")["metadata"]["name"]


def test_default_availability():
    deployment = one("default", "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pdb = one("default", "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector
    spread = pod["topologySpreadConstraints"]
    assert spread[0]["labelSelector"]["matchLabels"] == selector
    assert "hostNetwork" not in pod and "priorityClassName" not in pod


def test_host_network_mode():
    pod = one("host-network", "Deployment")["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    strategy = one("host-network", "Deployment")["spec"]["strategy"]["rollingUpdate"]
    assert strategy == {"maxSurge": 0, "maxUnavailable": 1}, "a surge pod could find no free host port"


def test_everything_mode_passes_values_through():
    pod = one("everything", "Deployment")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in pod["affinity"]["podAntiAffinity"]
    spread = pod["topologySpreadConstraints"]
    assert spread[1]["labelSelector"] == {"matchLabels": {"app.kubernetes.io/name": "hashing"}}
    assert container("everything")["image"].endswith(":0.1.0-rc.1")
    assert flags("everything")["--on-lookup-error"] == "deny"


# ---------------------------------------------------------------------------------------
# RBAC
# ---------------------------------------------------------------------------------------


GET_CONFIGMAPS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
GET_SECRETS = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}


def service_account_subject(mode: str) -> list[dict]:
    return [{"kind": "ServiceAccount", "namespace": NAMESPACE,
             "name": one(mode, "ServiceAccount")["metadata"]["name"]}]


def watch_enabled(mode: str) -> bool:
    return values_of(mode)["watch"]["enabled"] is True


def expected_cluster_rules(mode: str) -> list[dict]:
    """Exactly what the enabled features need, and nothing else."""
    rules = [GET_CONFIGMAPS] + ([GET_SECRETS] if secrets_enabled(mode) else [])
    if watch_enabled(mode):
        listed = ["configmaps", "namespaces"] + (["secrets"] if secrets_enabled(mode) else [])
        rules += [
            {"apiGroups": [""], "resources": listed, "verbs": ["list", "watch"]},
            {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets"],
             "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        ]
    return rules


def roles_for(mode: str, api_group: str) -> list[dict]:
    """The Roles whose rules are about one API group ("" for the key Secret,
    coordination.k8s.io for the watcher's Lease)."""
    return [r for r in objects(mode, "Role") if r["rules"][0]["apiGroups"] == [api_group]]


def binding_of(mode: str, role: dict) -> dict:
    found = [b for b in objects(mode, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("mode", MODES)
def test_cluster_role_per_mode(mode):
    """get on configmaps; get on secrets only with secrets.enabled; the watcher's list/watch,
    workload patch and Event rules only with watch.enabled; nothing else."""
    role = one(mode, "ClusterRole")
    assert role["rules"] == expected_cluster_rules(mode)
    assert "aggregationRule" not in role
    binding = one(mode, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == service_account_subject(mode)


@pytest.mark.parametrize("mode", [m for m in MODES if not secrets_enabled(m)])
def test_rbac_without_secrets_is_get_configmaps_only(mode):
    """Secrets off: nothing anywhere about Secrets; with the watcher off too, exactly the
    ConfigMap-only RBAC."""
    assert not roles_for(mode, "")
    rules = one(mode, "ClusterRole")["rules"]
    assert not [r for r in rules if "secrets" in r["resources"]]
    if not watch_enabled(mode):
        assert not objects(mode, "Role") and not objects(mode, "RoleBinding")
        assert rules == [GET_CONFIGMAPS]


@pytest.mark.parametrize("mode", [m for m in MODES if secrets_enabled(m)])
def test_rbac_with_secrets_role_for_the_key(mode):
    """Secrets on: a Role in the release namespace with create on secrets (create cannot be
    limited by name) and get on the key Secret only, bound to the chart's ServiceAccount."""
    (role,) = roles_for(mode, "")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [hash_key_secret_name(mode)],
         "verbs": ["get"]},
    ]
    binding = binding_of(mode, role)
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == service_account_subject(mode)


# ---------------------------------------------------------------------------------------
# Secrets: the HMAC key
# ---------------------------------------------------------------------------------------


def hash_key_volumes(mode: str) -> list[dict]:
    pod = one(mode, "Deployment")["spec"]["template"]["spec"]
    return [v for v in pod["volumes"] if "secret" in v
            and v["secret"]["secretName"] == hash_key_secret_name(mode)]


@pytest.mark.parametrize("mode", MODES)
def test_secret_flags_per_mode(mode):
    """With secrets.enabled: --secrets, the key file inside the mounted directory, and the key
    Secret in the release namespace. Without: none of them, and no key volume."""
    args = flags(mode)
    names = {"--secrets", "--secret-hash-key-file", "--secret-hash-key-secret"}
    if not secrets_enabled(mode):
        assert not names & args.keys(), f"secrets off, but the chart passes {names & args.keys()}"
        assert not hash_key_volumes(mode)
        assert HASH_KEY_DIR not in {m["mountPath"] for m in container(mode)["volumeMounts"]}
        return
    assert args["--secrets"] == ""
    assert args["--secret-hash-key-file"] == f"{HASH_KEY_DIR}/key"
    assert args["--secret-hash-key-secret"] == f"{NAMESPACE}/{hash_key_secret_name(mode)}"


@pytest.mark.parametrize("mode", [m for m in MODES if secrets_enabled(m)])
def test_hash_key_mounted_as_optional_directory(mode):
    """The key Secret is mounted whole, read-only, as an optional directory (the server
    creates the Secret after the pod has started; subPath mounts would never see it)."""
    key_dir, key_file = flags(mode)["--secret-hash-key-file"].rsplit("/", 1)
    assert key_file == "key"  # the Secret's data key
    mounts = [m for m in container(mode)["volumeMounts"] if m["mountPath"] == key_dir]
    assert len(mounts) == 1
    mount = mounts[0]
    assert mount["readOnly"] is True
    assert "subPath" not in mount and "subPathExpr" not in mount
    volumes = [v for v in one(mode, "Deployment")["spec"]["template"]["spec"]["volumes"]
               if v["name"] == mount["name"]]
    assert len(volumes) == 1 and volumes == hash_key_volumes(mode)
    assert volumes[0]["secret"] == {"secretName": hash_key_secret_name(mode), "optional": True}


@pytest.mark.parametrize("mode", MODES)
def test_key_secret_not_rendered(mode):
    """The chart renders no Secret at all: a templated key would change on every
    `helm template` render (Argo CD) and roll every workload that consumes a Secret."""
    assert not objects(mode, "Secret")
    if secrets_enabled(mode):
        # Only the Role and RoleBinding may share the default key Secret's name.
        kinds = {o["kind"] for o in render(mode) if o["metadata"]["name"] == hash_key_secret_name(mode)}
        assert kinds <= {"Role", "RoleBinding"}, kinds


def test_secrets_render_is_deterministic():
    """Two renders are byte-identical: no random key material at render time."""
    first, second = (helm_template(MODES["secrets"].args()) for _ in range(2))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout


# ---------------------------------------------------------------------------------------
# The watcher
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_watcher_lease_role_per_mode(mode):
    """watch.enabled: a Role in the release namespace with create on leases (create cannot
    be limited by name) and get/update on the watcher's Lease only. Off: no Lease Role and
    none of the watcher's flags."""
    lease_roles = roles_for(mode, "coordination.k8s.io")
    if not watch_enabled(mode):
        assert not lease_roles
        assert not any(f.startswith(("--watch", "--lease-", "--debounce", "--min-rollout",
                                     "--max-rollouts", "--namespace-selector")) for f in flags(mode))
        return
    (role,) = lease_roles
    assert role["metadata"]["namespace"] == NAMESPACE
    lease = flags(mode)["--lease-name"]
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [lease],
         "verbs": ["get", "update"]},
    ]
    binding = binding_of(mode, role)
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["subjects"] == service_account_subject(mode)


@pytest.mark.parametrize("mode", [m for m in MODES if watch_enabled(m)])
def test_watcher_follows_the_namespaces_the_webhook_selects(mode):
    values = values_of(mode)
    args = flags(mode)
    assert args["--watch"] == "true"
    inject, names = args["--namespace-selector"].split(",", 1)
    if values["webhook"]["namespaceSelector"]["mode"] == "optIn":
        assert inject == "confighash.io/inject=enabled"
    else:
        assert inject == "confighash.io/inject!=disabled"
    match = re.fullmatch(r"kubernetes\.io/metadata\.name notin \((.*)\)", names)
    assert match, names
    webhook_names = {e["key"]: e for e in webhook(mode)["namespaceSelector"]["matchExpressions"]}
    assert set(match.group(1).split(",")) == set(webhook_names["kubernetes.io/metadata.name"]["values"])
    env = {e["name"]: e for e in container(mode)["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


# ---------------------------------------------------------------------------------------
# Webhook registration
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_webhook_registration(mode):
    values = values_of(mode)
    hook = webhook(mode)
    assert hook["clientConfig"]["service"]["path"] == "/mutate"
    assert hook["rules"] == [{
        "apiGroups": ["apps"], "apiVersions": ["v1"],
        "resources": ["deployments", "statefulsets", "daemonsets"],
        "operations": ["CREATE", "UPDATE"], "scope": "Namespaced",
    }]
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["matchPolicy"] == "Equivalent"
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert hook["failurePolicy"] == values["webhook"]["failurePolicy"]
    assert hook["timeoutSeconds"] == values["webhook"]["timeoutSeconds"]
    assert hook["objectSelector"] == {"matchExpressions": [
        {"key": "confighash.io/skip", "operator": "NotIn", "values": ["true"]}]}


def test_webhook_defaults():
    hook = webhook("default")
    assert hook["failurePolicy"] == "Ignore"
    assert hook["timeoutSeconds"] == 5
    assert "matchConditions" not in hook


@pytest.mark.parametrize("mode", MODES)
def test_namespace_selector(mode):
    values = values_of(mode)
    expressions = webhook(mode)["namespaceSelector"]["matchExpressions"]
    assert "matchLabels" not in webhook(mode)["namespaceSelector"]
    by_key = {e["key"]: e for e in expressions}
    assert len(by_key) == len(expressions) == 2
    inject = by_key["confighash.io/inject"]
    if values["webhook"]["namespaceSelector"]["mode"] == "optIn":
        assert (inject["operator"], inject["values"]) == ("In", ["enabled"])
    else:
        assert (inject["operator"], inject["values"]) == ("NotIn", ["disabled"])
    names = by_key["kubernetes.io/metadata.name"]
    assert names["operator"] == "NotIn"
    extra = set(values["webhook"]["namespaceSelector"]["excludeNamespaces"])
    if (values["webhook"]["namespaceSelector"]["mode"], values["webhook"]["failurePolicy"]) == ("optOut", "Fail"):
        extra |= set(values["webhook"]["namespaceSelector"]["failClosedExcludeNamespaces"])
    excluded = CONTROL_PLANE_NAMESPACES | {NAMESPACE} | extra
    assert set(names["values"]) == excluded and len(names["values"]) == len(excluded)


def test_match_conditions_only_from_1_30():
    wanted = yaml.safe_load((VALUES_DIR / "matchconditions.yaml").read_text())["webhook"]["matchConditions"]
    assert webhook("match-conditions-1.30")["matchConditions"] == wanted
    assert webhook("everything")["matchConditions"] == wanted
    assert "matchConditions" not in webhook("match-conditions-1.29")


# ---------------------------------------------------------------------------------------
# TLS: cert-manager chain, or an existing Secret and caBundle
# ---------------------------------------------------------------------------------------


def by_name(mode: str, kind: str, name: str) -> dict:
    found = [o for o in objects(mode, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"no {kind} named {name}"
    return found[0]


def serving_certificate(mode: str) -> dict:
    serving = [c for c in objects(mode, "Certificate") if not c["spec"].get("isCA")]
    assert len(serving) == 1
    return serving[0]


@pytest.mark.parametrize("mode", [m for m in MODES if values_of(m)["tls"]["certManager"]["enabled"]])
def test_cert_manager_chain(mode):
    config = one(mode, "MutatingWebhookConfiguration")
    serving = serving_certificate(mode)
    inject = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    assert inject == f"{NAMESPACE}/{serving['metadata']['name']}"
    assert "caBundle" not in webhook(mode)["clientConfig"], "cainjector owns caBundle"

    # serving Certificate <- CA Issuer <- CA Certificate <- self-signed Issuer
    ref = serving["spec"]["issuerRef"]
    assert ref["kind"] == "Issuer" and ref.get("group", "cert-manager.io") == "cert-manager.io"
    ca_issuer = by_name(mode, "Issuer", ref["name"])
    assert list(ca_issuer["spec"]) == ["ca"], "the serving certificate must come from the CA Issuer"
    ca_secret = ca_issuer["spec"]["ca"]["secretName"]
    ca_cert = [c for c in objects(mode, "Certificate") if c["spec"]["secretName"] == ca_secret]
    assert len(ca_cert) == 1 and ca_cert[0]["spec"]["isCA"] is True
    root = by_name(mode, "Issuer", ca_cert[0]["spec"]["issuerRef"]["name"])
    assert list(root["spec"]) == ["selfSigned"]
    assert ca_cert[0]["spec"]["secretName"] != serving["spec"]["secretName"]

    svc = one(mode, "Service")["metadata"]["name"]
    assert serving["spec"]["dnsNames"] == [
        svc, f"{svc}.{NAMESPACE}", f"{svc}.{NAMESPACE}.svc", f"{svc}.{NAMESPACE}.svc.cluster.local"]
    assert "server auth" in serving["spec"]["usages"]


@pytest.mark.parametrize("mode", [m for m in MODES if not values_of(m)["tls"]["certManager"]["enabled"]])
def test_existing_secret_and_ca_bundle(mode):
    config = one(mode, "MutatingWebhookConfiguration")
    assert "cert-manager.io/inject-ca-from" not in config["metadata"].get("annotations", {})
    assert webhook(mode)["clientConfig"]["caBundle"] == ca_bundle()
    assert not objects(mode, "Certificate") and not objects(mode, "Issuer")


def test_generated_certificate_fits_the_service():
    """certs/generate.sh output: verifies against its CA and names the Service."""
    certs = ca_dir()
    subprocess.run(["openssl", "verify", "-CAfile", str(certs / "ca.crt"), str(certs / "tls.crt")],
                   check=True, capture_output=True)
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(certs / "tls.crt")],
                          check=True, capture_output=True, text=True).stdout
    svc = FULLNAME
    for name in (svc, f"{svc}.{NAMESPACE}", f"{svc}.{NAMESPACE}.svc", f"{svc}.{NAMESPACE}.svc.cluster.local"):
        assert re.search(rf"DNS:{re.escape(name)}(,|$)", text, re.M), f"SAN {name} missing"
    assert "TLS Web Server Authentication" in text
    assert oct((certs / "tls.key").stat().st_mode & 0o777) == "0o600"


# ---------------------------------------------------------------------------------------
# Values that must not render
# ---------------------------------------------------------------------------------------

# Passes the chart's caBundle shape check without being a certificate.
PEM_LOOKALIKE = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()

BAD_VALUES = {
    "no-cert-manager-without-secret": (
        ["--set", "tls.certManager.enabled=false", "--set", f"tls.caBundle={PEM_LOOKALIKE}"],
        "tls.existingSecret is required"),
    "no-cert-manager-without-ca-bundle": (
        ["--set", "tls.certManager.enabled=false", "--set", "tls.existingSecret=s"],
        "tls.caBundle is required"),
    "ca-bundle-not-pem": (
        ["--set", "tls.certManager.enabled=false", "--set", "tls.existingSecret=s",
         "--set", "tls.caBundle=bm90IGEgY2VydA=="],
        "tls.caBundle must be the base64 encoding of a PEM"),
    "lookup-timeout-not-below-webhook-timeout": (
        ["--set", "server.lookupTimeout=5s"], "must be shorter than webhook.timeoutSeconds"),
    "grace-period-not-above-drain": (
        ["--set", "server.drainTimeout=30s"], "must be longer than server.drainTimeout"),
    "duration-with-two-units": (
        ["--set", "server.lookupTimeout=1s500ms"],
        "server.lookupTimeout must be a whole number and one unit"),
    "timeout-above-29": (["--set", "webhook.timeoutSeconds=30"], "between 1 and 29"),
    "unknown-namespace-mode": (
        ["--set", "webhook.namespaceSelector.mode=all"], "mode must be optIn or optOut"),
    "unknown-lookup-error-policy": (
        ["--set", "server.onLookupError=retry"], "server.onLookupError must be allow or deny"),
    "kubernetes-too-old": (["--kube-version", "1.26.9"], "incompatible with Kubernetes"),
    "hash-key-secret-name-invalid": (
        ["--set", "secrets.enabled=true", "--set", "secrets.hashKey.secretName=Hash_Key"],
        "secrets.hashKey.secretName must be a valid Secret name"),
    "hash-key-secret-is-the-tls-secret": (
        ["--set", "secrets.enabled=true", "--set", "secrets.hashKey.secretName=prod-confighash-tls"],
        "must differ from the TLS Secret's name"),
    "secrets-flag-in-extra-args": (
        ["--set", "server.extraArgs={--secrets}"],
        "server.extraArgs must not pass --secrets: set secrets.enabled"),
    "hash-key-file-in-extra-args": (
        ["--set", "secrets.enabled=true", "--set", "server.extraArgs={--secret-hash-key-file=/k}"],
        "server.extraArgs must not pass --secret-hash-key-file=/k"),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_bad_values_fail_rendering(case):
    args, message = BAD_VALUES[case]
    if "--kube-version" not in args:
        args = ["--kube-version", OLDEST_K8S, *args]
    result = helm_template(args)
    assert result.returncode != 0, f"{case} rendered"
    assert message in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------
# Chart metadata and documentation
# ---------------------------------------------------------------------------------------


def test_every_values_file_is_rendered():
    """check.sh lints every file in .ci/chart/values; each must also be rendered by a mode here."""
    used = {name for mode in MODES.values() for name in mode.values}
    present = {p.name for p in VALUES_DIR.glob("*.yaml")}
    assert present <= used, f"values files no mode renders: {sorted(present - used)}"
    assert used <= present, f"modes name missing values files: {sorted(used - present)}"


def test_chart_metadata():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["kubeVersion"] == ">=1.27.0-0"
    version = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]
    assert chart["appVersion"] == version, "Chart appVersion (the default image tag) != Cargo.toml version"
    assert container("default")["image"].endswith(":" + chart["appVersion"])


def leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        # Kubernetes objects passed through whole are documented as one value.
        opaque = key.endswith(("resources", "SecurityContext", "securityContext"))
        if isinstance(value, dict) and value and not opaque:
            keys += leaf_keys(value, path + ".")
        else:
            keys.append(path)
    return keys


def test_every_value_is_documented():
    readme = (CHART / "README.md").read_text()
    missing = [k for k in leaf_keys(yaml.safe_load((CHART / "values.yaml").read_text()))
               if f"`{k}`" not in readme]
    assert not missing, f"values missing from charts/confighash/README.md: {missing}"


# ---------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile():
    instructions = dockerfile_instructions()
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert froms == ["rust:1.95-bookworm AS builder", "gcr.io/distroless/cc-debian12:nonroot"]
    runs = " && ".join(rest for word, rest in instructions if word == "RUN")
    builds = re.findall(r"cargo\s+build[^&;]*", runs)
    assert [b.strip() for b in builds] == ["cargo build --release --locked"], (
        f"the image must be built with exactly the command CI runs; found {builds}")
    final = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM"):]
    assert ("USER", "65532:65532") in final
    exposed = sorted(int(p) for w, rest in final if w == "EXPOSE" for p in rest.split())
    assert exposed == sorted(port_of(server_defaults()[f]) for f in ("--listen", "--metrics-listen"))
    assert ("ENTRYPOINT", '["/confighash", "serve"]') in final


def test_dockerfile_copies_what_the_build_reads():
    """The builder copies Cargo.toml, Cargo.lock and src/ only; fail early if the crate grows
    a build script or includes files from elsewhere, which the image build would miss."""
    copied = [rest for word, rest in dockerfile_instructions() if word == "COPY" and "--from" not in rest]
    assert copied == ["Cargo.toml Cargo.lock ./", "src ./src"]
    assert not (REPO / "build.rs").exists(), "build.rs exists: add it to the Dockerfile's COPY lines"
    for source in (REPO / "src").rglob("*.rs"):
        for path in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"', source.read_text()):
            target = (source.parent / path).resolve()
            assert target.is_relative_to(REPO / "src"), (
                f"{source.relative_to(REPO)} includes {path}, outside src/: add it to the Dockerfile")
