"""scope: namespaces — an install with no cluster-wide permission: Roles and RoleBindings
in each listed namespace, a webhook that selects exactly those namespaces by name, and a
watcher that watches each of them on its own (--watch-namespaces)."""

import os
import subprocess

import pytest
import yaml
from test_chart import MODES, helm_template, server_help

SCOPED = ("scope=namespaces", "namespaces={shop,payments}")


def render(*set_args: str) -> list[dict]:
    args = MODES["default"].args()
    for value in set_args:
        args += ["--set", value]
    result = helm_template(args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def failure(*set_args: str) -> str:
    args = MODES["default"].args()
    for value in set_args:
        args += ["--set", value]
    result = helm_template(args)
    assert result.returncode != 0
    return result.stderr


def args_of(docs: list[dict]) -> list[str]:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]["args"]


@pytest.mark.parametrize("secrets", [False, True])
def test_namespace_scope_renders_no_cluster_wide_permission(secrets):
    docs = render(*SCOPED, f"secrets.enabled={str(secrets).lower()}")
    kinds = {d["kind"] for d in docs}
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs if d["kind"] == "Role"}
    for ns in ["shop", "payments"]:
        role = roles[(ns, "prod-confighash")]
        rules = [(r["apiGroups"], r["resources"], r["verbs"]) for r in role["rules"]]
        assert ([""], ["configmaps"], ["get"]) in rules
        listed = ["configmaps", "secrets"] if secrets else ["configmaps"]
        assert ([""], listed, ["list", "watch"]) in rules
        assert (["apps"], ["deployments", "statefulsets", "daemonsets"], ["get", "list", "watch", "patch"]) in rules
        assert all("namespaces" not in r["resources"] for r in role["rules"])
        binding = next(
            d for d in docs
            if d["kind"] == "RoleBinding" and d["metadata"]["namespace"] == ns
            and d["roleRef"]["name"] == "prod-confighash"
        )
        assert binding["roleRef"]["kind"] == "Role"
    # The Lease Role stays in the release namespace.
    assert any(ns == "webhooks" for ns, _ in roles)


def test_namespace_scope_selects_the_listed_namespaces_and_watches_them():
    docs = render(*SCOPED)
    webhook = next(d for d in docs if d["kind"] == "MutatingWebhookConfiguration")
    expressions = webhook["webhooks"][0]["namespaceSelector"]["matchExpressions"]
    assert {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop", "payments"]} in expressions
    assert all(e["key"] != "confighash.io/inject" for e in expressions)
    args = args_of(docs)
    assert "--watch-namespaces=shop,payments" in args
    assert not any(a.startswith("--namespace-selector") for a in args)


def test_cluster_scope_is_the_default_and_unchanged():
    docs = render()
    kinds = [d["kind"] for d in docs]
    assert "ClusterRole" in kinds and "ClusterRoleBinding" in kinds
    cluster_role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert any("namespaces" in r["resources"] for r in cluster_role["rules"])
    assert not any(a.startswith("--watch-namespaces") for a in args_of(docs))


@pytest.mark.parametrize(
    "values, message",
    [
        (("scope=namespaces",), "scope: namespaces needs the namespaces"),
        ((*SCOPED, "watch.namespaceSelector=team=a"), "watch.namespaceSelector cannot be used with scope: namespaces"),
        (("namespaces={shop}",), "namespaces is used only with scope: namespaces"),
    ],
)
def test_inconsistent_scope_values_are_refused(values, message):
    assert message in failure(*values)


def test_binary_refuses_an_invalid_namespace_name():
    blocks = server_help()
    if blocks is None:
        pytest.skip("CONFIGHASH_BIN not set")
    assert "--watch-namespaces" in blocks
    result = subprocess.run(
        [os.environ["CONFIGHASH_BIN"], "serve", "--dev", "--watch", "--watch-namespaces=shop,Not_A_Name"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "--watch-namespaces" in result.stderr and "Not_A_Name" in result.stderr
