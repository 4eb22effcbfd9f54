"""Offline checks of the fleet-operations parts of the chart and docs/fleet.md.

The PrometheusRule, Grafana dashboard ConfigMap, PodMonitor and NetworkPolicy render only
when enabled, each in the shape its consumer needs; values.schema.json rejects wrong
values with a message naming them; the Argo CD ApplicationSet and Flux HelmRelease of
docs/fleet.md use only fields those kinds have, and their chart values render.

The alerts themselves are tested with promtool and a real Prometheus by
.ci/prometheus/check.sh.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from test_chart import (
    CHART,
    DURATION_PROM,
    FULLNAME,
    LABEL_SELECTOR,
    MAP,
    METADATA,
    NAMESPACE,
    NEWEST_K8S,
    OLDEST_K8S,
    REPO,
    check_fields,
    helm_template,
    validate_k8s,
)

MONITORING = "monitoring.coreos.com/v1"
RUNBOOK = REPO / "docs" / "runbook.md"
FLEET = REPO / "docs" / "fleet.md"

ALL_ON = [
    "--set", "prometheusRule.enabled=true,prometheusRule.kubeStateMetrics=true,prometheusRule.apiServerMetrics=true",
    "--set", "dashboards.enabled=true,metrics.podMonitor.enabled=true,networkPolicy.enabled=true",
]

# The alerts the chart must ship, by concern.
ALERTS = {
    "ConfighashWebhookDown", "ConfighashWebhookTargetDown", "ConfighashWebhookNotReady",
    "ConfighashAdmissionErrors", "ConfighashLookupsFailing", "ConfighashAdmissionLatencyHigh",
    "ConfighashWebhookCallsFailing",
    "ConfighashCertificateExpiresSoon", "ConfighashCertificateExpired", "ConfighashTLSReloadFailing",
    "ConfighashWatcherNoLeader", "ConfighashWatcherNotSynced", "ConfighashRolloutsFailing",
    "ConfighashWorkloadsStale",
}
WATCHER_ALERTS = {"ConfighashWatcherNoLeader", "ConfighashWatcherNotSynced",
                  "ConfighashRolloutsFailing", "ConfighashWorkloadsStale"}

# Panels the dashboard must have, each with a metric it must query.
PANELS = {
    "Admission rate by outcome": "confighash_admission_requests_total",
    "Admission latency percentiles": "confighash_admission_duration_seconds_bucket",
    "ConfigMap lookups by result": "confighash_configmap_lookups_total",
    "Certificate expiry": "confighash_tls_certificate_expiry_timestamp_seconds",
    "Leader and sync": "confighash_watch_synced",
    "Rollouts": "confighash_watch_rollouts_total",
    "Pending by reason": "confighash_watch_pending",
    "Workloads by state": "confighash_workloads",
}

RULE = {"alert": str, "record": str, "expr": str, "for": DURATION_PROM,
        "labels": MAP, "annotations": MAP}
PROMETHEUS_RULE = {
    "apiVersion": str, "kind": str, "metadata": METADATA,
    "spec": {"groups": [{"name": str, "interval": DURATION_PROM, "rules": [RULE]}]},
}
POD_MONITOR = {
    "apiVersion": str, "kind": str, "metadata": METADATA,
    "spec": {
        "selector": LABEL_SELECTOR,
        "namespaceSelector": {"any": bool, "matchNames": [str]},
        "jobLabel": str,
        "podMetricsEndpoints": [{
            "port": str, "path": str, "scheme": ("http", "https"),
            "interval": DURATION_PROM, "scrapeTimeout": DURATION_PROM, "honorLabels": bool,
        }],
    },
}


def render(args: list[str], kube_version: str = NEWEST_K8S) -> list[dict]:
    result = helm_template(["--kube-version", kube_version, "--api-versions", MONITORING, *args])
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def kinds(docs: list[dict]) -> set[str]:
    return {d["kind"] for d in docs}


def find(docs: list[dict], kind: str) -> dict:
    found = [d for d in docs if d["kind"] == kind]
    if kind == "ConfigMap":
        found = [d for d in found if d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def alerts(docs: list[dict]) -> dict[str, dict]:
    rule = find(docs, "PrometheusRule")
    return {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}


def test_nothing_renders_when_off():
    docs = render([])
    assert not kinds(docs) & {"PrometheusRule", "PodMonitor", "NetworkPolicy"}
    assert not [d for d in docs if d["metadata"].get("labels", {}).get("grafana_dashboard")]


@pytest.mark.parametrize("kube_version", [OLDEST_K8S, NEWEST_K8S])
def test_everything_renders_when_on_and_matches_the_schemas(kube_version):
    docs = render(ALL_ON, kube_version)
    assert {"PrometheusRule", "PodMonitor", "NetworkPolicy"} <= kinds(docs)
    errors = check_fields(find(docs, "PrometheusRule"), PROMETHEUS_RULE, "PrometheusRule")
    errors += check_fields(find(docs, "PodMonitor"), POD_MONITOR, "PodMonitor")
    for kind in ("NetworkPolicy", "ConfigMap"):
        error = validate_k8s(yaml.safe_dump(find(docs, kind)), kube_version)
        errors += [f"{kind}: {error}"] if error else []
    assert not errors, "\n".join(errors)


def test_every_alert_is_shipped_with_a_summary_a_description_and_its_runbook_section():
    shipped = alerts(render(ALL_ON))
    assert set(shipped) == ALERTS
    runbook = RUNBOOK.read_text()
    sections = {line[3:].strip() for line in runbook.splitlines() if line.startswith("## ")}
    for name, rule in shipped.items():
        notes = rule["annotations"]
        assert notes["summary"] and len(notes["description"]) > 80, name
        assert notes["runbook_url"].endswith(f"docs/runbook.md#{name.lower()}"), name
        assert name in sections, f"docs/runbook.md has no section {name}"
        assert rule["labels"]["severity"] in ("warning", "critical"), name
    # The default selector picks the ServiceMonitor's job and the PodMonitor's.
    selector = f'namespace="{NAMESPACE}",job=~"({NAMESPACE}/)?{FULLNAME}"'
    assert selector in shipped["ConfighashWatcherNoLeader"]["expr"]


def test_alert_thresholds_follow_the_values():
    shipped = alerts(render(ALL_ON + [
        "--set", "webhook.timeoutSeconds=10,prometheusRule.staleFor=3h",
        "--set", "prometheusRule.selector=cluster=\"a\"",
        "--set", "prometheusRule.runbookBaseURL=https://wiki.example/confighash",
    ]))
    assert shipped["ConfighashAdmissionLatencyHigh"]["expr"].rstrip().endswith("> 0.8 * 10")
    assert shipped["ConfighashWorkloadsStale"]["for"] == "3h"
    assert 'confighash_leader{cluster="a"}' in shipped["ConfighashWatcherNoLeader"]["expr"]
    assert shipped["ConfighashWebhookDown"]["annotations"]["runbook_url"] == \
        "https://wiki.example/confighash#confighashwebhookdown"


def test_without_the_watcher_there_are_no_watcher_alerts_and_no_optional_ones_by_default():
    shipped = alerts(render(["--set", "prometheusRule.enabled=true,watch.enabled=false"]))
    assert not set(shipped) & WATCHER_ALERTS
    optional = {"ConfighashWebhookNotReady", "ConfighashWebhookCallsFailing"}
    assert set(shipped) == ALERTS - WATCHER_ALERTS - optional


def test_dashboard_config_map_is_discoverable_and_has_every_panel():
    cm = find(render(ALL_ON + ["--set", "dashboards.namespace=grafana"]), "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "grafana"
    (key,) = cm["data"]
    assert key.endswith(".json")
    dashboard = json.loads(cm["data"][key])
    assert dashboard["uid"] == "confighash"
    panels = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in dashboard["panels"]}
    for title, metric in PANELS.items():
        assert title in panels, f"no panel {title!r}"
        assert any(metric in e for e in panels[title]), f"{title!r} does not query {metric}"
    for title, exprs in panels.items():
        for expr in exprs:
            assert 'namespace=~"$namespace"' in expr, f"{title!r} ignores the namespace variable"


def test_pod_monitor_scrapes_the_metrics_port_of_the_pods():
    docs = render(ALL_ON + ["--set", "metrics.podMonitor.interval=15s,metrics.podMonitor.labels.release=kps"])
    pm = find(docs, "PodMonitor")
    deployment = find(docs, "Deployment")
    assert pm["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    (endpoint,) = pm["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics" and endpoint["interval"] == "15s"
    assert pm["metadata"]["labels"]["release"] == "kps"


def test_network_policy_admits_the_webhook_from_anywhere_and_metrics_from_monitoring():
    docs = render(ALL_ON)
    policy = find(docs, "NetworkPolicy")
    deployment = find(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"], "egress to the API server stays open"
    ports = {p["name"]: p["containerPort"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    webhook, metrics = policy["spec"]["ingress"]
    assert webhook["ports"] == [{"protocol": "TCP", "port": ports["https-webhook"]}]
    assert "from" not in webhook, "the API server may come from anywhere"
    assert metrics["ports"] == [{"protocol": "TCP", "port": ports["http-metrics"]}]
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]

    narrowed = find(render(ALL_ON + [
        "--set", "networkPolicy.webhook.from[0].ipBlock.cidr=10.0.0.0/16",
        "--set", "networkPolicy.metrics.namespaceSelector.matchLabels.team=obs",
        "--set", "networkPolicy.metrics.podSelector.matchLabels.app=prometheus",
    ]), "NetworkPolicy")
    webhook, metrics = narrowed["spec"]["ingress"]
    assert webhook["from"] == [{"ipBlock": {"cidr": "10.0.0.0/16"}}]
    assert metrics["from"][0]["podSelector"] == {"matchLabels": {"app": "prometheus"}}
    assert metrics["from"][0]["namespaceSelector"]["matchLabels"]["team"] == "obs"


BAD_VALUES = {
    "network-policy-with-host-network": (
        ["--set", "networkPolicy.enabled=true,hostNetwork.enabled=true"],
        "networkPolicy.enabled has no effect on pods with hostNetwork.enabled"),
    "flag-as-string": (["--set", "prometheusRule.enabled=yes"],
                       "prometheusRule.enabled: Invalid type. Expected: boolean, given: string"),
    "unknown-key-in-a-new-block": (["--set", "dashboards.enable=true"],
                                   "dashboards: Additional property enable is not allowed"),
    "ratio-above-one": (["--set", "prometheusRule.admissionErrorRatio=5"],
                        "prometheusRule.admissionErrorRatio: Must be less than or equal to 1"),
    "stale-for-not-a-duration": (["--set", "prometheusRule.staleFor=1hour"],
                                 "prometheusRule.staleFor: Does not match pattern"),
    "selector-with-braces": (["--set", "prometheusRule.selector={job=\"x\"}"],
                             "prometheusRule.selector"),
    "replicas-not-a-number": (["--set", "replicaCount=two"],
                              "replicaCount: Invalid type. Expected: integer, given: string"),
    "port-out-of-range": (["--set", "containerPorts.webhook=70000"],
                          "containerPorts.webhook: Must be less than or equal to 65535"),
    "network-policy-without-metrics-selector": (
        ["--set", "networkPolicy.metrics.namespaceSelector=null"],
        "namespaceSelector"),
    "annotation-not-a-string": (["--set", "podAnnotations.x=1"],
                                "podAnnotations.x: Invalid type. Expected: string, given: integer"),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_wrong_values_fail_with_a_message_naming_them(case):
    args, message = BAD_VALUES[case]
    result = helm_template(["--kube-version", NEWEST_K8S, *args])
    assert result.returncode != 0, f"{case} rendered"
    assert message in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------
# docs/fleet.md
# ---------------------------------------------------------------------------------------

HELM_SOURCE = {"releaseName": str, "valuesObject": object, "values": str, "valueFiles": [str],
               "parameters": [{"name": str, "value": str, "forceString": bool}],
               "skipCrds": bool, "passCredentials": bool, "version": str, "namespace": str}
APPLICATION_SPEC = {
    "project": str,
    "source": {"repoURL": str, "targetRevision": str, "path": str, "chart": str, "helm": HELM_SOURCE},
    "destination": {"server": str, "name": str, "namespace": str},
    "syncPolicy": {
        "automated": {"prune": bool, "selfHeal": bool, "allowEmpty": bool},
        "syncOptions": [str],
        "retry": {"limit": int, "backoff": {"duration": str, "factor": int, "maxDuration": str}},
    },
    "ignoreDifferences": [{"group": str, "kind": str, "name": str, "namespace": str,
                           "jsonPointers": [str], "jqPathExpressions": [str],
                           "managedFieldsManagers": [str]}],
    "revisionHistoryLimit": int,
}
APPLICATION_SET = {
    "apiVersion": ("argoproj.io/v1alpha1",), "kind": ("ApplicationSet",), "metadata": METADATA,
    "spec": {
        "goTemplate": bool,
        "goTemplateOptions": [str],
        "generators": [{"clusters": {"selector": LABEL_SELECTOR, "values": MAP}}],
        "syncPolicy": {"preserveResourcesOnDeletion": bool},
        "template": {"metadata": {"name": str, "labels": MAP, "annotations": MAP}, "spec": APPLICATION_SPEC},
    },
}
GIT_REPOSITORY = {
    "apiVersion": ("source.toolkit.fluxcd.io/v1",), "kind": ("GitRepository",), "metadata": METADATA,
    "spec": {"interval": DURATION_PROM, "url": str, "timeout": DURATION_PROM, "ignore": str,
             "ref": {"tag": str, "branch": str, "semver": str, "commit": str, "name": str},
             "secretRef": {"name": str}},
}
HELM_RELEASE = {
    "apiVersion": ("helm.toolkit.fluxcd.io/v2",), "kind": ("HelmRelease",), "metadata": METADATA,
    "spec": {
        "interval": DURATION_PROM,
        "releaseName": str,
        "targetNamespace": str,
        "chart": {"spec": {"chart": str, "version": str, "reconcileStrategy": ("ChartVersion", "Revision"),
                           "interval": DURATION_PROM,
                           "sourceRef": {"kind": ("GitRepository", "HelmRepository", "Bucket"),
                                         "name": str, "namespace": str}}},
        "install": {"createNamespace": bool, "crds": ("Skip", "Create", "CreateReplace"),
                    "remediation": {"retries": int}},
        "upgrade": {"crds": ("Skip", "Create", "CreateReplace"),
                    "remediation": {"retries": int, "remediateLastFailure": bool,
                                    "strategy": ("rollback", "uninstall")}},
        "driftDetection": {"mode": ("enabled", "warn", "disabled"),
                           "ignore": [{"paths": [str], "target": {"kind": str, "name": str, "group": str}}]},
        "dependsOn": [{"name": str, "namespace": str}],
        "values": object,
    },
}
# `object`: any value; the chart values inside are checked by rendering them.
FLEET_SCHEMAS = {"ApplicationSet": APPLICATION_SET, "GitRepository": GIT_REPOSITORY, "HelmRelease": HELM_RELEASE}


def fleet_documents() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", FLEET.read_text(), re.S)
    return [d for block in blocks for d in yaml.safe_load_all(block) if d]


def chart_values(doc: dict) -> dict:
    if doc["kind"] == "ApplicationSet":
        return doc["spec"]["template"]["spec"]["source"]["helm"]["valuesObject"]
    return doc["spec"]["values"]


def test_fleet_docs_hold_an_application_set_and_a_helm_release_with_known_fields():
    docs = fleet_documents()
    assert {"ApplicationSet", "GitRepository", "HelmRelease"} <= {d["kind"] for d in docs}
    errors = [e for d in docs for e in check_fields(d, FLEET_SCHEMAS[d["kind"]], d["kind"])]
    assert not errors, "\n".join(errors)
    appset = next(d for d in docs if d["kind"] == "ApplicationSet")
    assert "clusters" in appset["spec"]["generators"][0], "the cluster generator"
    assert appset["spec"]["template"]["spec"]["source"]["path"] == "charts/confighash"
    release = next(d for d in docs if d["kind"] == "HelmRelease")
    repo = next(d for d in docs if d["kind"] == "GitRepository")
    assert release["spec"]["chart"]["spec"]["chart"] == "./charts/confighash"
    assert release["spec"]["chart"]["spec"]["sourceRef"]["name"] == repo["metadata"]["name"]


@pytest.mark.parametrize("kind", ["ApplicationSet", "HelmRelease"])
def test_fleet_values_render_the_chart(kind, tmp_path):
    doc = next(d for d in fleet_documents() if d["kind"] == kind)
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(chart_values(doc)))
    docs = render(["-f", str(values)])
    assert {"PrometheusRule", "NetworkPolicy", "ServiceMonitor"} <= kinds(docs)


def test_fleet_revision_is_the_chart_version():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    docs = fleet_documents()
    appset = next(d for d in docs if d["kind"] == "ApplicationSet")
    repo = next(d for d in docs if d["kind"] == "GitRepository")
    assert appset["spec"]["template"]["spec"]["source"]["targetRevision"] == f"v{chart['appVersion']}"
    assert repo["spec"]["ref"]["tag"] == f"v{chart['appVersion']}"
