"""Chart checks of the annotation prefix and the fan-out limit: an annotation prefix the
API server would refuse, or a --max-sources the server would refuse, fails rendering with a
message naming the value; valid ones reach the server's flags.

Run by .ci/chart/check.sh with the other chart checks.
"""

from __future__ import annotations

import pytest

from test_chart import MODES, flags, helm_template


def render_with(*sets: str):
    args = MODES["default"].args()
    for value in sets:
        args += ["--set-string" if value.startswith("server.annotationPrefix=") else "--set", value]
    return helm_template(args)


@pytest.mark.parametrize(
    "prefix",
    ["example_corp", "a..b", "my corp", "-team.example.com", "a" * 254, "Example.com", "a/b"],
)
def test_an_invalid_annotation_prefix_fails_rendering_naming_it(prefix):
    result = render_with(f"server.annotationPrefix={prefix}")
    assert result.returncode != 0, f"{prefix!r} rendered"
    assert "server.annotationPrefix" in result.stderr, result.stderr
    assert "DNS-1123" in result.stderr, result.stderr
    assert prefix[:40] in result.stderr, result.stderr


@pytest.mark.parametrize("prefix", ["team.example.com", "a" * 253, "x1-y.z"])
def test_a_valid_annotation_prefix_reaches_the_server(prefix):
    result = render_with(f"server.annotationPrefix={prefix}")
    assert result.returncode == 0, result.stderr
    assert f"--annotation-prefix={prefix}" in result.stdout


def test_max_sources_is_passed_with_the_server_default():
    assert flags("default")["--max-sources"] == "256"
    result = render_with("server.maxSources=40")
    assert result.returncode == 0, result.stderr
    assert "--max-sources=40" in result.stdout


@pytest.mark.parametrize("value", ["0", "-1", "many", "1.5"])
def test_an_invalid_max_sources_fails_rendering_naming_it(value):
    result = render_with(f"server.maxSources={value}")
    assert result.returncode != 0, f"{value!r} rendered"
    assert "server.maxSources" in result.stderr, result.stderr

