"""Chart checks for the platforms the chart meets in real clusters: IPv6 and dual-stack,
GKE private control planes, port changes mid-rollout, node drains with crash-looping pods,
required anti-affinity, CA renewal, meshes, fail-closed opt-out, system-critical priority
classes, and the value combinations that must fail at render time.

Run by .ci/chart/check.sh with the rest of .ci/chart/.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from test_chart import (
    CHART,
    HELM,
    NAMESPACE,
    OLDEST_K8S,
    container,
    helm_template,
    one,
    render,
    server_help,
    values_of,
)


@functools.lru_cache(maxsize=None)
def render_with(*args: str) -> tuple[dict, ...]:
    """The chart rendered with default values plus `args` (e.g. "--set", "k=v")."""
    result = helm_template(["--kube-version", OLDEST_K8S, *args])
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def kind_of(docs: tuple[dict, ...], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def deployment_of(docs: tuple[dict, ...]) -> dict:
    (deployment,) = kind_of(docs, "Deployment")
    return deployment


def args_of(docs: tuple[dict, ...]) -> list[str]:
    return deployment_of(docs)["spec"]["template"]["spec"]["containers"][0]["args"]


def last_flag(args: list[str], name: str) -> str:
    """The value the server takes for --name: the last occurrence wins."""
    values = [a.split("=", 1)[1] for a in args if a.startswith(f"{name}=")]
    assert values, f"{name} not passed"
    return values[-1]


def render_notes(args: tuple[str, ...]) -> str:
    """NOTES.txt rendered with these values: `helm template` skips NOTES.txt, so a copy of
    the chart includes its text into a ConfigMap."""
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "confighash"
        shutil.copytree(CHART, chart)
        text = (chart / "templates" / "NOTES.txt").read_text()
        (chart / "templates" / "_notes.tpl").write_text('{{- define "test.notes" -}}\n' + text + "\n{{- end }}\n")
        (chart / "templates" / "notes-as-configmap.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
            'data:\n  notes: {{ include "test.notes" . | toJson }}\n'
        )
        result = subprocess.run(
            [HELM, "template", "prod", str(chart), "--namespace", NAMESPACE,
             "--kube-version", OLDEST_K8S, "--show-only", "templates/notes-as-configmap.yaml", *args],
            capture_output=True, text=True,
        )
        assert result.returncode == 0, result.stderr
        return yaml.safe_load(result.stdout)["data"]["notes"]


# ---------------------------------------------------------------------------------------
# IPv6 and dual-stack; flags given again in server.extraArgs
# ---------------------------------------------------------------------------------------


def test_listeners_default_to_dual_stack():
    args = args_of(render("default"))
    assert last_flag(args, "--listen") == "[::]:10250"
    assert last_flag(args, "--metrics-listen") == "[::]:9090"


def test_listen_address_value_chooses_the_address():
    args = args_of(render_with("--set", "server.listenAddress=0.0.0.0"))
    assert last_flag(args, "--listen") == "0.0.0.0:10250"
    assert last_flag(args, "--metrics-listen") == "0.0.0.0:9090"
    args = args_of(render_with("--set", "server.listenAddress=fd00::1"))
    assert last_flag(args, "--listen") == "[fd00::1]:10250"


def test_binary_defaults_are_dual_stack():
    blocks = server_help()
    if blocks is None:
        pytest.skip("CONFIGHASH_BIN not set: the binary's defaults are checked by src/cli.rs")
    assert "[default: [::]:8443]" in blocks["--listen"]
    assert "[default: [::]:9090]" in blocks["--metrics-listen"]


def test_extra_args_come_last_and_the_binary_takes_the_last_value(tmp_path):
    args = args_of(render_with("--set", "server.extraArgs={--listen=0.0.0.0:10250}"))
    assert args[-1] == "--listen=0.0.0.0:10250"
    assert last_flag(args, "--listen") == "0.0.0.0:10250"
    binary = os.environ.get("CONFIGHASH_BIN")
    if not binary:
        pytest.skip("CONFIGHASH_BIN not set: the override is checked by src/cli.rs")
    # The rendered arguments, extra flag included, must parse: `serve` with a bad
    # certificate path fails after parsing, with a message about the file, not the flag.
    result = subprocess.run([binary, "serve", *args], capture_output=True, text=True, timeout=30)
    assert "cannot be used multiple times" not in result.stderr, result.stderr
    assert "error: unexpected argument" not in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------
# GKE private clusters; Service targetPort by name
# ---------------------------------------------------------------------------------------


def test_pod_network_webhook_port_is_open_on_gke_private_clusters():
    ports = {p["name"]: p["containerPort"] for p in container("default")["ports"]}
    assert ports["https-webhook"] == 10250, "GKE private control planes reach only 443 and 10250"
    assert (CHART.parents[1] / "docs" / "install.md").read_text().count("### GKE private clusters") == 1


@pytest.mark.parametrize("mode", ["default", "host-network", "everything"])
def test_service_targets_named_container_ports(mode):
    service = one(mode, "Service")
    names = {p["name"] for p in container(mode)["ports"]}
    for port in service["spec"]["ports"]:
        assert isinstance(port["targetPort"], str), f"{port['name']} targets a number"
        assert port["targetPort"] in names


def test_target_port_stays_the_same_when_the_port_changes():
    before = one("default", "Service")["spec"]["ports"]
    after = kind_of(render_with("--set", "containerPorts.webhook=8443"), "Service")[0]["spec"]["ports"]
    assert before == after


# ---------------------------------------------------------------------------------------
# Drains, rollouts, CA renewal, meshes
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["default", "everything"])
def test_pdb_lets_unhealthy_pods_be_evicted(mode):
    assert one(mode, "PodDisruptionBudget")["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


REPLACE_FIRST = {"maxSurge": 0, "maxUnavailable": 1}


def test_required_anti_affinity_replaces_first():
    docs = render_with("--set", "podAntiAffinity=required")
    assert deployment_of(docs)["spec"]["strategy"]["rollingUpdate"] == REPLACE_FIRST
    explicit = render_with(
        "--set", "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey=kubernetes.io/hostname",
        "--set", "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels.app=x",
    )
    assert deployment_of(explicit)["spec"]["strategy"]["rollingUpdate"] == REPLACE_FIRST
    preferred = deployment_of(render("default"))["spec"]["strategy"]["rollingUpdate"]
    assert preferred == {"maxSurge": 1, "maxUnavailable": 0}


def test_ca_key_is_kept_on_renewal():
    certificates = {c["metadata"]["name"]: c for c in kind_of(render("default"), "Certificate")}
    ca = next(c for c in certificates.values() if c["spec"].get("isCA"))
    assert ca["spec"]["privateKey"]["rotationPolicy"] == "Never"


def test_pods_opt_out_of_sidecar_injection():
    labels = deployment_of(render("default"))["spec"]["template"]["metadata"]["labels"]
    assert labels["sidecar.istio.io/inject"] == "false"
    selector = deployment_of(render("default"))["spec"]["selector"]["matchLabels"]
    assert "sidecar.istio.io/inject" not in selector, "selector labels are immutable"
    overridden = render_with("--set-string", "podLabels.sidecar\\.istio\\.io/inject=true")
    labels = deployment_of(overridden)["spec"]["template"]["metadata"]["labels"]
    assert labels["sidecar.istio.io/inject"] == "true"


# ---------------------------------------------------------------------------------------
# Fail-closed opt-out; system-critical priority
# ---------------------------------------------------------------------------------------

FAIL_CLOSED_OPT_OUT = ("--set", "webhook.namespaceSelector.mode=optOut", "--set", "webhook.failurePolicy=Fail")


def excluded_namespaces(docs: tuple[dict, ...]) -> set[str]:
    (config,) = kind_of(docs, "MutatingWebhookConfiguration")
    expressions = config["webhooks"][0]["namespaceSelector"]["matchExpressions"]
    return set(next(e for e in expressions if e["key"] == "kubernetes.io/metadata.name")["values"])


def test_fail_closed_opt_out_leaves_out_cert_manager_meshes_and_cnis():
    excluded = excluded_namespaces(render_with(*FAIL_CLOSED_OPT_OUT))
    assert {"cert-manager", "istio-system", "linkerd", "calico-system", "kube-flannel"} <= excluded
    watcher = last_flag(args_of(render_with(*FAIL_CLOSED_OPT_OUT)), "--namespace-selector")
    assert "cert-manager" in watcher and "istio-system" in watcher
    # Fail-open or opt-in: nothing extra is left out.
    assert "cert-manager" not in excluded_namespaces(render_with("--set", "webhook.namespaceSelector.mode=optOut"))
    assert "cert-manager" not in excluded_namespaces(render("default"))
    # And it can be turned off.
    off = render_with(*FAIL_CLOSED_OPT_OUT, "--set", "webhook.namespaceSelector.failClosedExcludeNamespaces=null")
    assert "cert-manager" not in excluded_namespaces(off)


def test_notes_warn_about_fail_closed_opt_out():
    text = render_notes(FAIL_CLOSED_OPT_OUT)
    assert "WARNING: failurePolicy is Fail with namespaceSelector.mode optOut" in text
    assert "cert-manager" in text
    assert "optOut" not in render_notes(("--set", "webhook.failurePolicy=Fail"))


@pytest.mark.parametrize("priority", ["system-cluster-critical", "system-node-critical"])
def test_system_critical_priority_gets_a_resource_quota(priority):
    docs = render_with("--set", f"priorityClassName={priority}")
    (quota,) = kind_of(docs, "ResourceQuota")
    assert quota["metadata"]["namespace"] == NAMESPACE
    assert quota["spec"]["scopeSelector"]["matchExpressions"] == [
        {"scopeName": "PriorityClass", "operator": "In", "values": [priority]}]
    assert int(quota["spec"]["hard"]["pods"]) > values_of("default")["replicaCount"]


def test_no_resource_quota_in_kube_system_or_for_other_classes():
    result = subprocess.run(
        [HELM, "template", "prod", str(CHART), "--namespace", "kube-system", "--kube-version",
         OLDEST_K8S, "--set", "priorityClassName=system-cluster-critical"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "kind: ResourceQuota" not in result.stdout
    assert not kind_of(render_with("--set", "priorityClassName=high"), "ResourceQuota")
    assert not kind_of(render("default"), "ResourceQuota")


def test_docs_state_helm_version_and_kube_version():
    install = (CHART.parents[1] / "docs" / "install.md").read_text()
    assert "Helm 3.6 or later" in install and "--kube-version" in install
    for platform in ("### GKE private clusters", "### EKS with a custom CNI", "### IPv6", "### Istio"):
        assert platform in install, platform
    chart_readme = (CHART / "README.md").read_text()
    assert "Helm 3.6 or later" in chart_readme and "--kube-version" in chart_readme


# ---------------------------------------------------------------------------------------
# Values that render a broken install
# ---------------------------------------------------------------------------------------

BROKEN = {
    "timeout-30": (["--set", "webhook.timeoutSeconds=30"], "webhook.timeoutSeconds must be between 1 and 29"),
    "lookup-not-below-timeout": (["--set", "webhook.timeoutSeconds=2"], "server.lookupTimeout (2s) must be shorter than webhook.timeoutSeconds"),
    "no-replicas": (["--set", "replicaCount=0"], "replicaCount must be at least 1"),
    "listen-address-with-port": (["--set", "server.listenAddress=[::]:80"], "server.listenAddress must be an IP address"),
    "listen-address-name": (["--set", "server.listenAddress=localhost"], "server.listenAddress must be an IP address"),
    "port-out-of-range": (["--set", "containerPorts.webhook=70000"], "containerPorts.webhook: Must be less than or equal to 65535"),  # values.schema.json
    "same-container-ports": (["--set", "containerPorts.metrics=10250"], "containerPorts.webhook and containerPorts.metrics must differ"),
    "same-service-ports": (["--set", "service.metricsPort=443"], "service.port and service.metricsPort must differ"),
    "same-host-ports": (["--set", "hostNetwork.enabled=true", "--set", "hostNetwork.metricsPort=10443"],
                        "hostNetwork.webhookPort and hostNetwork.metricsPort must differ"),
    "privileged-host-port": (["--set", "hostNetwork.enabled=true", "--set", "hostNetwork.webhookPort=443"],
                             "hostNetwork.webhookPort (443) must be 1024 or above"),
    "kubelet-host-port": (["--set", "hostNetwork.enabled=true", "--set", "hostNetwork.webhookPort=10250"],
                          "hostNetwork.webhookPort (10250) is taken on the node"),
    "required-anti-affinity-surge-only": (
        ["--set", "podAntiAffinity=required", "--set", "updateStrategy.type=RollingUpdate",
         "--set", "updateStrategy.rollingUpdate.maxSurge=1", "--set", "updateStrategy.rollingUpdate.maxUnavailable=0"],
        "updateStrategy must allow an unavailable pod"),
    "lease-too-short": (["--set", "watch.leaseDuration=2s"], "watch.leaseDuration must be at least 3s"),
    "debounce-two-units": (["--set", "watch.debounce=1m30s"], "watch.debounce must be a whole number and one unit"),
    "no-rollouts": (["--set", "watch.maxRolloutsPerSecond=0"], "watch.maxRolloutsPerSecond: Must be greater than 0"),  # values.schema.json
    "renew-before-not-below-duration": (["--set", "tls.certManager.renewBefore=2160h"],
                                        "tls.certManager.renewBefore (2160h) must be shorter than tls.certManager.duration"),
    "leaf-outlives-ca": (["--set", "tls.certManager.caDuration=1000h"], "must not exceed tls.certManager.caDuration"),
    "dev-in-extra-args": (["--set", "server.extraArgs={--dev}"], "server.extraArgs must not pass --dev"),
    "configmaps-from-in-extra-args": (["--set", "server.extraArgs={--configmaps-from=/x}"],
                                      "server.extraArgs must not pass --configmaps-from=/x"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_values_fail_rendering_naming_the_value(case):
    args, message = BROKEN[case]
    result = helm_template(["--kube-version", OLDEST_K8S, *args])
    assert result.returncode != 0, f"{case} rendered"
    assert message in result.stderr, result.stderr


def test_the_edges_of_each_check_still_render():
    for args in (
        ["--set", "webhook.timeoutSeconds=29"],
        ["--set", "webhook.timeoutSeconds=3"],
        ["--set", "replicaCount=1"],
        ["--set", "hostNetwork.enabled=true", "--set", "hostNetwork.webhookPort=1024"],
        ["--set", "watch.leaseDuration=3s"],
        ["--set", "podAntiAffinity=required", "--set", "updateStrategy.rollingUpdate.maxUnavailable=1"],
        ["--set", "tls.certManager.renewBefore=2159h"],
        ["--set", "server.extraArgs={--listen=[::]:10250}"],
    ):
        result = helm_template(["--kube-version", OLDEST_K8S, *args])
        assert result.returncode == 0, f"{args}: {result.stderr}"
