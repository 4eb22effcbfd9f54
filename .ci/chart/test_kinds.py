"""Chart checks of the workload kinds (workloads.argoRollouts, workloads.extraKinds): the
webhook rules, the watcher's RBAC and the --workload-kind flags come from one list and
agree; the built-in apps/v1 rule and RBAC are unchanged; invalid entries fail rendering
with a message naming them; the flags the chart renders are accepted by the binary.

Run by .ci/chart/check.sh with the other chart checks.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest
import yaml

from test_chart import MODES, helm_template

BUILT_IN_RULE = {
    "apiGroups": ["apps"],
    "apiVersions": ["v1"],
    "resources": ["deployments", "statefulsets", "daemonsets"],
    "operations": ["CREATE", "UPDATE"],
    "scope": "Namespaced",
}
BUILT_IN_RBAC = {
    "apiGroups": ["apps"],
    "resources": ["deployments", "statefulsets", "daemonsets"],
    "verbs": ["get", "list", "watch", "patch"],
}

ARGO = ["workloads.argoRollouts.enabled=true"]
KRUISE = [
    "workloads.extraKinds[0].group=apps.kruise.io",
    "workloads.extraKinds[0].version=v1alpha1",
    "workloads.extraKinds[0].kind=CloneSet",
    "workloads.extraKinds[1].group=apps.kruise.io",
    "workloads.extraKinds[1].version=v1beta1",
    "workloads.extraKinds[1].kind=StatefulSet",
    "workloads.extraKinds[2].group=example.com",
    "workloads.extraKinds[2].version=v1",
    "workloads.extraKinds[2].kind=Agent",
    "workloads.extraKinds[2].plural=agent-sets",
    "workloads.extraKinds[2].templatePointer=/spec/pod/template",
]


def rendered(*sets: str, mode: str = "default") -> list[dict]:
    args = MODES[mode].args()
    for value in sets:
        args += ["--set", value]
    result = helm_template(args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one(docs: list[dict], kind: str) -> dict:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kind_flags(docs: list[dict]) -> list[str]:
    args = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    return [a.split("=", 1)[1] for a in args if a.startswith("--workload-kind")]


def webhook_rules(docs: list[dict]) -> list[dict]:
    webhooks = one(docs, "MutatingWebhookConfiguration")["webhooks"]
    assert len(webhooks) == 1
    return webhooks[0]["rules"]


def workload_rbac(docs: list[dict]) -> list[dict]:
    rules = one(docs, "ClusterRole")["rules"]
    return [r for r in rules if "patch" in r["verbs"] and r["apiGroups"] != ["events.k8s.io"]]


def parse_flag(value: str) -> tuple[str, str, str, str, str]:
    gvk, _, pointer = value.partition(":")
    gvk, _, plural = gvk.partition("=")
    group, version, kind = gvk.split("/")
    return group, version, kind, plural, pointer


def test_no_extra_kinds_by_default():
    docs = rendered()
    assert kind_flags(docs) == []
    assert webhook_rules(docs) == [BUILT_IN_RULE]
    assert workload_rbac(docs) == [BUILT_IN_RBAC]


def test_argo_rollouts_adds_the_rule_the_rbac_and_the_flag():
    docs = rendered(*ARGO)
    assert kind_flags(docs) == ["argoproj.io/v1alpha1/Rollout=rollouts:/spec/template"]
    assert webhook_rules(docs) == [
        BUILT_IN_RULE,
        {**BUILT_IN_RULE, "apiGroups": ["argoproj.io"], "apiVersions": ["v1alpha1"], "resources": ["rollouts"]},
    ]
    assert workload_rbac(docs) == [
        BUILT_IN_RBAC,
        {**BUILT_IN_RBAC, "apiGroups": ["argoproj.io"], "resources": ["rollouts"]},
    ]


def test_extra_kinds_get_defaults_and_the_three_renderings_agree():
    docs = rendered(*ARGO, *KRUISE)
    flags = [parse_flag(f) for f in kind_flags(docs)]
    assert flags == [
        ("argoproj.io", "v1alpha1", "Rollout", "rollouts", "/spec/template"),
        ("apps.kruise.io", "v1alpha1", "CloneSet", "clonesets", "/spec/template"),
        ("apps.kruise.io", "v1beta1", "StatefulSet", "statefulsets", "/spec/template"),
        ("example.com", "v1", "Agent", "agent-sets", "/spec/pod/template"),
    ]
    # Webhook: one rule per group and version, exactly the flags' resources.
    rules = webhook_rules(docs)
    assert rules[0] == BUILT_IN_RULE
    for rule in rules:
        assert (rule["operations"], rule["scope"]) == (["CREATE", "UPDATE"], "Namespaced")
        assert len(rule["apiGroups"]) == len(rule["apiVersions"]) == 1
    by_rule = {(r["apiGroups"][0], r["apiVersions"][0], res) for r in rules[1:] for res in r["resources"]}
    assert by_rule == {(g, v, p) for g, v, _, p, _ in flags}
    assert len({(r["apiGroups"][0], r["apiVersions"][0]) for r in rules}) == len(rules)
    # RBAC: one rule per group, get/list/watch/patch on exactly those resources.
    rbac = workload_rbac(docs)
    assert rbac[0] == BUILT_IN_RBAC
    assert all(r["verbs"] == ["get", "list", "watch", "patch"] for r in rbac)
    by_group = {(r["apiGroups"][0], res) for r in rbac[1:] for res in r["resources"]}
    assert by_group == {(g, p) for g, _, _, p, _ in flags}
    assert len({r["apiGroups"][0] for r in rbac}) == len(rbac)


def test_without_the_watcher_kinds_are_admitted_but_get_no_rbac():
    docs = rendered(*ARGO, mode="no-watch")
    assert kind_flags(docs) == ["argoproj.io/v1alpha1/Rollout=rollouts:/spec/template"]
    assert len(webhook_rules(docs)) == 2
    assert workload_rbac(docs) == []


@pytest.mark.parametrize(
    "sets, message",
    [
        (["workloads.extraKinds[0].version=v1", "workloads.extraKinds[0].kind=Agent"], "group"),
        (["workloads.extraKinds[0].group=example.com", "workloads.extraKinds[0].kind=Agent"], "version"),
        (["workloads.extraKinds[0].group=example.com", "workloads.extraKinds[0].version=v1"], "kind"),
        (["workloads.extraKinds[0].group=Example_Com", "workloads.extraKinds[0].version=v1",
          "workloads.extraKinds[0].kind=Agent"], "workloads.extraKinds[0].group"),
        (["workloads.extraKinds[0].group=example.com", "workloads.extraKinds[0].version=one",
          "workloads.extraKinds[0].kind=Agent"], "workloads.extraKinds[0].version"),
        (["workloads.extraKinds[0].group=example.com", "workloads.extraKinds[0].version=v1",
          "workloads.extraKinds[0].kind=agent"], "workloads.extraKinds[0].kind"),
        (["workloads.extraKinds[0].group=example.com", "workloads.extraKinds[0].version=v1",
          "workloads.extraKinds[0].kind=Agent", "workloads.extraKinds[0].plural=Agents"],
         "workloads.extraKinds[0].plural"),
        (["workloads.extraKinds[0].group=example.com", "workloads.extraKinds[0].version=v1",
          "workloads.extraKinds[0].kind=Agent", "workloads.extraKinds[0].templatePointer=spec.template"],
         "workloads.extraKinds[0].templatePointer"),
        (["workloads.extraKinds[0].group=apps", "workloads.extraKinds[0].version=v1",
          "workloads.extraKinds[0].kind=Deployment"], "built in"),
    ],
)
@pytest.mark.parametrize("argo", [False, True])
def test_an_invalid_extra_kind_fails_rendering_naming_it(sets, message, argo):
    args = MODES["default"].args()
    for value in sets + (ARGO if argo else []):
        args += ["--set", value]
    result = helm_template(args)
    assert result.returncode != 0, "rendered"
    assert message in result.stderr, result.stderr


def test_the_binary_accepts_the_rendered_flags():
    binary = os.environ.get("CONFIGHASH_BIN")
    if not binary:
        pytest.skip("CONFIGHASH_BIN not set")
    flags = [f"--workload-kind={f}" for f in kind_flags(rendered(*ARGO, *KRUISE))]
    with tempfile.TemporaryDirectory() as empty:
        result = subprocess.run(
            [binary, "hash", *flags, "--configmaps-from", empty, "-f", "-"],
            input="", capture_output=True, text=True,
        )
    # Past the flags: the (empty) manifest is what is refused, naming every kind.
    assert "invalid workload kind" not in result.stderr, result.stderr
    assert "no apps/v1 Deployment, StatefulSet or DaemonSet or argoproj.io/v1alpha1 Rollout" in result.stderr
    assert "example.com/v1 Agent in the file" in result.stderr, result.stderr
