"""The watcher's Lease timing: the chart passes --lease-renew-deadline only when set, and
the binary refuses a renew deadline that leaves no margin under the lease duration."""

import os
import subprocess

import yaml
from test_chart import CHART, MODES, helm_template, server_help
import pytest


def container_args(*set_args: str) -> list[str]:
    args = MODES["default"].args()
    for value in set_args:
        args += ["--set", value]
    result = helm_template(args)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_renew_deadline_is_the_server_default_unless_set():
    assert not any(a.startswith("--lease-renew-deadline") for a in container_args())
    args = container_args("watch.leaseDuration=30s", "watch.leaseRenewDeadline=20s")
    assert "--lease-duration=30s" in args
    assert "--lease-renew-deadline=20s" in args
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["watch"]["leaseRenewDeadline"] == ""


def test_binary_has_the_flag_and_refuses_a_deadline_without_margin():
    blocks = server_help()
    if blocks is None:
        pytest.skip("CONFIGHASH_BIN not set")
    assert "--lease-renew-deadline" in blocks
    result = subprocess.run(
        [os.environ["CONFIGHASH_BIN"], "serve", "--dev", "--watch",
         "--lease-duration=15s", "--lease-renew-deadline=15s"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "--lease-renew-deadline" in result.stderr
