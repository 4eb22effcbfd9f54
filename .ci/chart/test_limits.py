"""Chart checks of the limits against hostile or clumsy clients: the chart passes each
limit flag, with the server's own defaults, and the memory budget fits the memory limit."""

from __future__ import annotations

import re

import pytest
import yaml

from test_chart import CHART, MODES, flags, helm_template, server_help

# flag -> (value under server.limits, the server's default)
LIMITS = {
    "--request-read-timeout": ("requestReadTimeout", "10s"),
    "--idle-timeout": ("idleTimeout", "120s"),
    "--max-connections": ("maxConnections", "256"),
    "--ops-max-connections": ("opsMaxConnections", "32"),
    "--memory-budget-bytes": ("memoryBudgetBytes", "67108864"),
}

# Baseline RSS, connection buffers at the caps and allocator slack, measured with
# examples/hostile_load.rs: what the process holds beyond the memory budget.
OVERHEAD_MIB = 48


def server_default(flag: str) -> str:
    blocks = server_help()
    if blocks is None:
        return LIMITS[flag][1]
    assert flag in blocks, f"`confighash serve --help` has no {flag}"
    match = re.search(r"\[default: ([^\]]+)\]", blocks[flag])
    assert match, f"`confighash serve --help` shows no default for {flag}"
    return match.group(1).strip()


@pytest.mark.parametrize("mode", MODES)
def test_every_limit_is_passed(mode):
    args = flags(mode)
    for flag in LIMITS:
        assert flag in args, f"mode {mode}: {flag} not passed"


def test_default_limits_are_the_server_defaults():
    args = flags("default")
    for flag in LIMITS:
        assert args[flag] == server_default(flag), f"{flag}: chart {args[flag]!r}"


def test_limit_values_pass_through():
    sets = {
        "requestReadTimeout": "5s",
        "idleTimeout": "150s",
        "maxConnections": "64",
        "opsMaxConnections": "8",
        "memoryBudgetBytes": "33554432",
    }
    args = MODES["default"].args()
    for key, value in sets.items():
        args += ["--set", f"server.limits.{key}={value}"]
    result = helm_template(args)
    assert result.returncode == 0, result.stderr
    deployment = next(
        d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "Deployment"
    )
    passed = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    for flag, (key, _) in LIMITS.items():
        assert f"{flag}={sets[key]}" in passed, f"{flag} not {sets[key]}: {passed}"


def test_memory_budget_fits_the_memory_limit():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    limit = values["resources"]["limits"]["memory"]
    assert limit.endswith("Mi"), limit
    budget_mib = values["server"]["limits"]["memoryBudgetBytes"] / (1 << 20)
    assert budget_mib + OVERHEAD_MIB <= int(limit[:-2])


def test_idle_timeout_outlasts_the_api_servers_keep_alive():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert int(values["server"]["limits"]["idleTimeout"].removesuffix("s")) > 90
