"""Rollout policy: watch.defaultRolloutWindow becomes --default-rollout-window only when
set, and the binary refuses an invalid window at start-up, naming the flag."""

import os
import subprocess

import pytest
from test_chart import server_help
from test_lease import container_args

WINDOW = "Mon-Fri 09:00-17:00 Europe/Berlin; Sat 10:00-12:00 UTC"


def test_default_window_is_passed_only_when_set():
    assert not any(a.startswith("--default-rollout-window") for a in container_args())
    args = container_args(f"watch.defaultRolloutWindow={WINDOW}")
    assert f"--default-rollout-window={WINDOW}" in args


def test_binary_refuses_an_invalid_default_window():
    blocks = server_help()
    if blocks is None:
        pytest.skip("CONFIGHASH_BIN not set")
    assert "--default-rollout-window" in blocks
    result = subprocess.run(
        [os.environ["CONFIGHASH_BIN"], "serve", "--dev", "--watch",
         "--default-rollout-window=Mon-Fry 09:00-17:00 UTC"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "--default-rollout-window" in result.stderr
    assert 'unknown day "Mon-Fry"' in result.stderr
