"""The chart's alerts and dashboard against the real Prometheus tools.

Run by .ci/prometheus/check.sh, which provides HELM, PROMETHEUS, PROMTOOL, the release
`confighash` (WEBHOOK_BIN) and the debug `watch_fixture` example (FIXTURE_BIN).

1. Renders the chart with the PrometheusRule and the dashboard on; every alert must carry
   a summary, a description and a runbook_url whose anchor is a section of docs/runbook.md.
2. `promtool check rules` on the rule groups, `promtool test rules` with
   .ci/prometheus/alerts_test.yaml (each alert must be proven to fire in some case).
3. Starts `confighash serve --dev --configmaps-from examples/configmaps` and the watcher
   fixture (the real binary with --watch against the in-process fake API server).
4. Starts a real Prometheus on 127.0.0.1 that scrapes both and loads the rules, sends
   admission reviews for a while, runs `promtool check metrics` on both /metrics pages
   (the text format; Prometheus itself negotiates OpenMetrics), then evaluates every dashboard query (it must return
   series carrying the labels its legend names) and every alert expression (it must
   evaluate, and every metric and label it names must exist in the scraped data), and
   checks that no alert is pending or firing on the healthy processes and that every rule
   evaluates without error.
5. Proves the checks bite: a dashboard query and an alert with a misspelled metric name,
   and one with a label that does not exist, must be reported.

Every process is started here and stopped before exiting; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "confighash"
RELEASE, NAMESPACE = "prod", "webhooks"
JOB = f"{RELEASE}-confighash"
RUNBOOK = REPO / "docs" / "runbook.md"
# Seconds of scraped data before the queries run (scrape interval 1 s).
WARM_UP = 20
# The rate window dashboards get from Grafana's $__rate_interval.
RATE_INTERVAL = "15s"
# Metrics only kube-state-metrics and the API server expose; their alerts are covered by
# promtool test rules.
EXTERNAL_METRICS = {"kube_deployment_status_replicas_available", "kube_deployment_spec_replicas",
                    "apiserver_admission_webhook_request_total"}

failures: list[str] = []
processes: list[subprocess.Popen] = []


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"check.py: {name} is not set (run .ci/prometheus/check.sh)")
    return value


def fail(message: str) -> None:
    print(f"  FAIL {message}")
    failures.append(message)


def step(message: str) -> None:
    print(f"\n--> {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], **kwargs) -> subprocess.Popen:
    proc = subprocess.Popen(args, start_new_session=True, **kwargs)
    processes.append(proc)
    return proc


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    # Each process leads its own group (start_new_session), so the fixture's child
    # confighash gets the signal too.
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def stop_all() -> None:
    for proc in processes:
        signal_group(proc, signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGKILL)
            proc.wait()


def http_get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def wait_until(what: str, check, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"check.py: timed out after {seconds:.0f}s waiting for {what}")


# ---------------------------------------------------------------------------------------
# 1. Rendering
# ---------------------------------------------------------------------------------------


def render() -> tuple[dict, dict]:
    args = [env("HELM"), "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
            "--kube-version", "1.30.0", "--api-versions", "monitoring.coreos.com/v1",
            "--set", "prometheusRule.enabled=true,prometheusRule.kubeStateMetrics=true,prometheusRule.apiServerMetrics=true",
            "--set", "dashboards.enabled=true"]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"helm template failed:\n{out.stderr}")
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    config_map = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["labels"].get("grafana_dashboard") == "1")
    (key,) = [k for k in config_map["data"] if k.endswith(".json")]
    return {"groups": rule["spec"]["groups"]}, json.loads(config_map["data"][key])


def alerts_of(groups: dict) -> list[dict]:
    return [r for g in groups["groups"] for r in g["rules"] if "alert" in r]


def runbook_anchors() -> set[str]:
    # GitHub's anchors: lower case, spaces to dashes, punctuation dropped.
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def check_annotations(alerts: list[dict]) -> None:
    anchors = runbook_anchors()
    for alert in alerts:
        name, notes = alert["alert"], alert.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not notes.get(key, "").strip():
                fail(f"{name}: no {key}")
        anchor = notes.get("runbook_url", "").rpartition("#")[2]
        if anchor != name.lower() or anchor not in anchors:
            fail(f"{name}: runbook_url anchor #{anchor} is not a section of docs/runbook.md")
        if alert.get("labels", {}).get("severity") not in ("warning", "critical"):
            fail(f"{name}: severity must be warning or critical")
    print(f"  {len(alerts)} alerts carry summary, description, severity and a runbook section")


# ---------------------------------------------------------------------------------------
# 2. promtool
# ---------------------------------------------------------------------------------------


def promtool(*args: str, stdin: str | None = None) -> bool:
    out = subprocess.run([env("PROMTOOL"), *args], input=stdin, capture_output=True, text=True)
    text = (out.stdout + out.stderr).strip()
    if text:
        print("  " + text.replace("\n", "\n  "))
    return out.returncode == 0


def check_rule_tests(alerts: list[dict], work: Path) -> None:
    tests_file = work / "alerts_test.yaml"
    shutil.copy(REPO / ".ci" / "prometheus" / "alerts_test.yaml", tests_file)
    if not promtool("test", "rules", str(tests_file)):
        fail("promtool test rules")
    tests = yaml.safe_load(tests_file.read_text())["tests"]
    fired = {m for t in tests for e in t.get("promql_expr_test", [])
             for m in re.findall(r'alertname="(\w+)",alertstate="firing"', e["expr"])}
    healthy = next((t for t in tests if t["name"].startswith("healthy")), {})
    silent = {a["alertname"] for a in healthy.get("alert_rule_test", []) if a["exp_alerts"] == []}
    for alert in alerts:
        if alert["alert"] not in fired:
            fail(f"{alert['alert']}: no promtool test shows it firing")
        if alert["alert"] not in silent:
            fail(f"{alert['alert']}: the healthy promtool test does not show it silent")


# ---------------------------------------------------------------------------------------
# 3. The real binary
# ---------------------------------------------------------------------------------------


def start_webhook(work: Path) -> tuple[str, str, Path]:
    listen, ops = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    certs = work / "certs"
    start([env("WEBHOOK_BIN"), "serve", "--dev", "--dev-cert-dir", str(certs),
           "--configmaps-from", str(REPO / "examples" / "configmaps"),
           "--listen", listen, "--metrics-listen", ops, "--log-format", "json"],
          stdout=subprocess.DEVNULL, stderr=open(work / "webhook.log", "w"))
    wait_until("the webhook's /readyz", lambda: http_get(f"http://{ops}/readyz") is not None, 30)
    return listen, ops, certs / "ca.crt"


def start_fixture(work: Path, seconds: int) -> str:
    ops = f"127.0.0.1:{free_port()}"
    proc = start([env("FIXTURE_BIN"), ops, str(seconds)], stdout=subprocess.PIPE, text=True,
                 stderr=open(work / "fixture.log", "w"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == "ready":
            return ops
        if not line and proc.poll() is not None:
            break
    raise SystemExit(f"check.py: the watch fixture did not get ready:\n{(work / 'fixture.log').read_text()[-3000:]}")


def review(listen: str, ca: Path, body: bytes) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(f"https://localhost:{listen.rpartition(':')[2]}/mutate?timeout=5s",
                                     data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=5) as response:
        answer = json.loads(response.read())
    if not answer["response"]["allowed"]:
        fail("the example review was not allowed")


# ---------------------------------------------------------------------------------------
# 4. Prometheus
# ---------------------------------------------------------------------------------------


def start_prometheus(work: Path, targets: dict[str, str]) -> str:
    address = f"127.0.0.1:{free_port()}"
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(work / "rules.yaml")],
        "scrape_configs": [{
            "job_name": JOB,
            "static_configs": [{"targets": [t], "labels": {"namespace": NAMESPACE, "pod": pod}}
                               for pod, t in targets.items()],
        }],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    start([env("PROMETHEUS"), f"--config.file={work / 'prometheus.yml'}",
           f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address={address}",
           "--storage.tsdb.retention.time=1h"],
          stdout=subprocess.DEVNULL, stderr=open(work / "prometheus.log", "w"))
    wait_until("Prometheus /-/ready", lambda: "Ready" in http_get(f"http://{address}/-/ready"), 60)
    return address


class Prometheus:
    def __init__(self, address: str):
        self.base = f"http://{address}/api/v1"

    def api(self, path: str, **params) -> dict:
        url = f"{self.base}/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            body = http_get(url, timeout=10)
        except urllib.error.HTTPError as err:
            body = err.read().decode()
        return json.loads(body)

    def query(self, expr: str) -> tuple[list[dict] | None, str]:
        answer = self.api("query", query=expr)
        if answer.get("status") != "success":
            return None, answer.get("error", "no answer")
        data = answer["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}], ""
        return data["result"], data["resultType"]

    def series(self, name: str) -> list[dict]:
        return self.api("series", **{"match[]": f'{{__name__="{name}"}}'}).get("data", [])


# Selector-ish parts of PromQL: metric names with optional matchers, and grouping clauses.
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
KEYWORDS = {
    "sum", "min", "max", "avg", "count", "rate", "increase", "irate", "histogram_quantile", "absent",
    "time", "by", "without", "and", "or", "unless", "on", "ignoring", "bool", "le", "offset",
    "label_values", "vector", "scalar", "group_left", "group_right", "topk", "bottomk", "inf", "nan",
    "humanizePercentage", "humanizeDuration",
}


def metrics_in(expr: str) -> list[tuple[str, list[str]]]:
    """Each metric an expression names, with the label names of its matchers."""
    found = []
    stripped = GROUPING.sub("", re.sub(r'"[^"]*"', '""', expr))
    for match in SELECTOR.finditer(stripped):
        name, matchers = match.group(1), match.group(2) or ""
        if name in KEYWORDS or re.fullmatch(r"[0-9.e]+", name) or stripped[match.end():].lstrip().startswith("("):
            continue
        found.append((name, [m.group(1) for m in MATCHER.finditer(matchers)]))
    return found


def grouping_labels(expr: str) -> list[str]:
    return [l.strip() for g in GROUPING.findall(expr) for l in g.split(",") if l.strip()]


def shape_errors(prom: Prometheus, expr: str, want_data: bool, legend: str = "") -> list[str]:
    errors = []
    result, kind = prom.query(expr)
    if result is None:
        return [f"does not evaluate: {kind}"]
    names = metrics_in(expr)
    known_labels: set[str] = set()
    for name, labels in names:
        if name in EXTERNAL_METRICS:
            continue
        series = prom.series(name)
        if not series:
            errors.append(f"metric {name} does not exist")
            continue
        have = {k for s in series for k in s}
        known_labels |= have
        errors += [f"{name} has no label {l}" for l in labels if l not in have]
    for label in grouping_labels(expr):
        if known_labels and label not in known_labels:
            errors.append(f"grouping label {label} exists on none of its metrics")
    if want_data:
        if not result:
            errors.append("returns no data")
        for item in result:
            value = item["value"][1]
            if value in ("NaN", "+Inf", "-Inf"):
                errors.append(f"returns {value} for {item['metric']}")
            for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend):
                if label not in item["metric"]:
                    errors.append(f"legend label {label} missing from {item['metric']}")
    return errors


def panel_queries(dashboard: dict) -> list[tuple[str, str, str]]:
    out = []

    def walk(panels):
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$namespace", NAMESPACE).replace("$__rate_interval", RATE_INTERVAL)
                out.append((f"panel {panel['title']!r} {target['refId']}", expr, target.get("legendFormat", "")))

    walk(dashboard["panels"])
    return out


def check_live(prom: Prometheus, dashboard: dict, alerts: list[dict]) -> None:
    queries = panel_queries(dashboard)
    for where, expr, legend in queries:
        errors = shape_errors(prom, expr, want_data=True, legend=legend)
        for e in errors:
            fail(f"{where}: {e}\n      {expr}")
        if not errors:
            print(f"  ok {where}")
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query).groups()
        values = prom.api(f"label/{label}/values", **{"match[]": metric}).get("data", [])
        if NAMESPACE not in values:
            fail(f"variable {variable['name']}: {query} gives {values}")
        else:
            print(f"  ok variable ${variable['name']}: {values}")
    for alert in alerts:
        needs_external = any(n in EXTERNAL_METRICS for n, _ in metrics_in(alert["expr"]))
        errors = shape_errors(prom, alert["expr"], want_data=False)
        for e in errors:
            fail(f"alert {alert['alert']}: {e}\n      {alert['expr']}")
        if not errors:
            note = " (its kube-state-metrics or API server series are not scraped here)" if needs_external else ""
            print(f"  ok alert {alert['alert']}{note}")
    print(f"  {len(queries)} dashboard queries and {len(alerts)} alert expressions checked")


def check_rules_health(prom: Prometheus) -> None:
    def evaluated() -> bool:
        groups = prom.api("rules")["data"]["groups"]
        return bool(groups) and all(r.get("lastEvaluation", "").startswith("2") and not r["lastEvaluation"].startswith("0001")
                                    for g in groups for r in g["rules"])

    wait_until("every rule evaluated once", evaluated, 30)
    for group in prom.api("rules")["data"]["groups"]:
        for rule in group["rules"]:
            if rule.get("health") != "ok":
                fail(f"rule {rule['name']} health {rule.get('health')}: {rule.get('lastError')}")
            if rule.get("state") not in (None, "inactive"):
                fail(f"alert {rule['name']} is {rule['state']} on healthy processes")
    print("  every rule evaluates without error; no alert is pending or firing")


def check_misspellings_are_caught(prom: Prometheus, dashboard: dict, alerts: list[dict]) -> None:
    _, expr, legend = panel_queries(dashboard)[0]
    typo = expr.replace("confighash_", "confighash_typo_", 1)
    alert_typo = alerts[-1]["expr"].replace("confighash_", "confighsah_", 1)
    bad_label = expr.replace('namespace=~"', 'namspace=~"', 1)
    cases = [("misspelled metric in a panel", typo, True, legend),
             ("misspelled metric in an alert", alert_typo, False, ""),
             ("label that does not exist", bad_label, True, legend)]
    for what, bad, want_data, legend in cases:
        errors = shape_errors(prom, bad, want_data, legend)
        if errors:
            print(f"  ok {what} is reported: {errors[0]}")
        else:
            fail(f"{what} was not caught: {bad}")


def main() -> int:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="confighash-prometheus-"))
    try:
        step("render the chart: PrometheusRule and dashboard")
        groups, dashboard = render()
        (work / "rules.yaml").write_text(yaml.safe_dump(groups))
        alerts = alerts_of(groups)
        check_annotations(alerts)

        step("promtool check rules")
        if not promtool("check", "rules", str(work / "rules.yaml")):
            fail("promtool check rules")

        step("promtool test rules (.ci/prometheus/alerts_test.yaml)")
        check_rule_tests(alerts, work)

        step("start confighash serve --dev and the watcher fixture")
        listen, webhook_ops, ca = start_webhook(work)
        fixture_ops = start_fixture(work, seconds=WARM_UP + 60)
        print(f"  webhook {listen} (ops {webhook_ops}); watcher ops {fixture_ops}")

        step("Prometheus scraping both")
        prom_address = start_prometheus(work, {"webhook": webhook_ops, "watcher": fixture_ops})
        prom = Prometheus(prom_address)
        body = (REPO / "examples" / "review.json").read_bytes()
        until = time.monotonic() + WARM_UP
        while time.monotonic() < until:
            review(listen, ca, body)
            time.sleep(0.25)
        wait_until("both targets up", lambda: len(prom.query(f'up{{job="{JOB}"}} == 1')[0] or []) == 2, 15)

        step("promtool check metrics on the real /metrics (after the reviews, so every series has samples)")
        for what, ops in (("serve --dev", webhook_ops), ("serve --watch", fixture_ops)):
            page = http_get(f"http://{ops}/metrics")
            samples = sum(1 for line in page.splitlines() if line and not line.startswith("#"))
            if promtool("check", "metrics", stdin=page):
                print(f"  ok {what}: {samples} samples, no problems")
            else:
                fail(f"promtool check metrics ({what})")

        step("every dashboard query and alert expression on the scraped data")
        check_live(prom, dashboard, alerts)
        check_rules_health(prom)

        step("misspelled names are caught")
        check_misspellings_are_caught(prom, dashboard, alerts)
    finally:
        stop_all()
        if failures:
            for log in ("webhook.log", "fixture.log", "prometheus.log"):
                path = work / log
                if path.exists():
                    print(f"\n--- {log} (tail)\n{path.read_text()[-2000:]}")
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n.ci/prometheus/check.py: {time.monotonic() - started:.0f}s")
    if failures:
        print(f"{len(failures)} failure(s):")
        for f in failures:
            print(f"  - {f.splitlines()[0]}")
        return 1
    print("all Prometheus checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
