"""Dashboards and alerts: the rules load, every query parses, and every metric and label they use is
one some swarmscope service actually registers (read from the code, so a rename breaks this test,
not a dashboard in production)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import swarmscope_deploy_generate as generate
import yaml
from swarmscope_deploy_support import DEPLOY, ROOT, debian_tool, render_overlay

ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "swarmscope.json"
SEVERITIES = {"critical", "warning", "info"}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}


# -- what the code registers -------------------------------------------------------------------


@dataclass
class Metric:
    kind: str
    labels: set[str] = field(default_factory=set)


def _literal_strings(node: ast.expr | None) -> list[str] | None:
    if isinstance(node, (ast.List, ast.Tuple)) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return None


def registered_metrics() -> dict[str, Metric]:
    """Sample name → metric, for every prometheus_client metric created in libs/ and services/."""
    families: dict[str, Metric] = {}
    sources = [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    uses_process_collector = False
    for path in sources:
        text = path.read_text()
        if "ProcessCollector" in text or "PerformanceMonitor" in text:
            uses_process_collector = uses_process_collector or "services/" in str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name not in ("Counter", "Gauge", "Histogram", "Summary"):
                continue
            if (
                not node.args
                or not isinstance(node.args[0], ast.Constant)
                or not isinstance(node.args[0].value, str)
            ):
                continue
            labels = _literal_strings(node.args[2]) if len(node.args) > 2 else None
            for keyword in node.keywords:
                if keyword.arg == "labelnames":
                    labels = _literal_strings(keyword.value)
            families[node.args[0].value] = Metric(name, set(labels or []))
    samples: dict[str, Metric] = {}
    for family, metric in families.items():
        if metric.kind == "Counter":
            base = family.removesuffix("_total")
            samples[base + "_total"] = metric
        elif metric.kind == "Gauge":
            samples[family] = metric
        elif metric.kind == "Histogram":
            samples[family + "_bucket"] = Metric(metric.kind, metric.labels | {"le"})
            samples[family + "_sum"] = metric
            samples[family + "_count"] = metric
        else:
            samples[family + "_sum"] = metric
            samples[family + "_count"] = metric
    samples["up"] = Metric("Gauge")
    # The kubelet's cAdvisor series (scraped by kube-prometheus-stack), for the Kubernetes-only row.
    cadvisor = {
        "namespace",
        "pod",
        "container",
        "image",
        "name",
        "id",
        "node",
        "service",
        "endpoint",
        "metrics_path",
    }
    samples["container_memory_working_set_bytes"] = Metric("Gauge", cadvisor)
    samples["container_cpu_usage_seconds_total"] = Metric("Counter", cadvisor | {"cpu"})
    if uses_process_collector:
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
            samples[name] = Metric("Gauge")
    return samples


METRICS = registered_metrics()


# -- what a query uses ---------------------------------------------------------------------------


def _matchers(selector: Any) -> list[tuple[str, str]]:
    return [(m.name, m.value) for m in selector.matchers.matchers]


class QueryChecker:
    """Walks a PromQL expression; records unknown metrics and labels; returns the output labels."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []
        self.metrics: set[str] = set()

    def labels(self, expr: Any) -> set[str]:
        kind = type(expr).__name__
        if kind == "VectorSelector":
            return self._selector(expr)
        if kind == "MatrixSelector":
            return self._selector(expr.vector_selector)
        if kind in ("ParenExpr", "SubqueryExpr", "UnaryExpr"):
            return self.labels(expr.expr)
        if kind in ("NumberLiteral", "StringLiteral"):
            return set()
        if kind == "Call":
            return self._call(expr)
        if kind == "AggregateExpr":
            inner = self.labels(expr.expr)
            if expr.param is not None:
                self.labels(expr.param)
            modifier = expr.modifier
            op = str(expr.op)
            if modifier is None or not str(modifier):
                return inner if op in ("topk", "bottomk") else set()
            grouping = set(modifier.labels)
            if "By" in str(modifier.type):
                missing = grouping - inner
                if missing:
                    self.problems.append(
                        f"{self.where}: `{expr}` groups by {sorted(missing)}, which its input lacks"
                    )
                return grouping if op not in ("topk", "bottomk") else inner
            return inner - grouping
        if kind == "BinaryExpr":
            left, right = self.labels(expr.lhs), self.labels(expr.rhs)
            modifier = expr.modifier
            matching = getattr(modifier, "matching", None) if modifier is not None else None
            if matching is not None and "Include" in str(matching.type):
                for side, labels in (("left", left), ("right", right)):
                    if labels and not set(matching.labels) <= labels:
                        self.problems.append(
                            f"{self.where}: on({', '.join(matching.labels)}) but the {side} side has {sorted(labels)}"
                        )
            if str(expr.op) == "or":
                return left | right
            return left if left else right
        self.problems.append(f"{self.where}: cannot analyse {kind}")
        return set()

    def _selector(self, selector: Any) -> set[str]:
        name = selector.name or dict(_matchers(selector)).get("__name__")
        if name is None:
            self.problems.append(f"{self.where}: a selector without a metric name")
            return set()
        self.metrics.add(name)
        metric = METRICS.get(name)
        if metric is None:
            self.problems.append(f"{self.where}: {name} is not registered by any service")
            return set()
        available = metric.labels | TARGET_LABELS
        for label, _ in _matchers(selector):
            if label != "__name__" and label not in available:
                self.problems.append(
                    f"{self.where}: {name} has no label {label!r} (it has {sorted(metric.labels)})"
                )
        return available

    def _call(self, call: Any) -> set[str]:
        name = call.func.name
        results = [self.labels(arg) for arg in call.args]
        if name == "absent":
            return {label for label, _ in _matchers(call.args[0]) if label != "__name__"}
        if name == "histogram_quantile":
            if "le" not in results[1]:
                self.problems.append(f"{self.where}: histogram_quantile over data without le")
            return results[1] - {"le"}
        if name in ("vector", "time", "scalar"):
            return set()
        vectors = [r for r in results if r]
        return vectors[0] if vectors else set()


def check_query(expr: str, where: str) -> QueryChecker:
    checker = QueryChecker(where)
    try:
        parsed = promql_parser.parse(expr)
    except ValueError as exc:
        checker.problems.append(f"{where}: does not parse: {exc}")
        return checker
    checker.labels(parsed)
    return checker


# -- alert rules ---------------------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alert_rules_have_the_prometheus_shape() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    names = set()
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}, group.keys()
        assert group["name"] not in names, f"duplicate group {group['name']}"
        names.add(group["name"])
        assert group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, (
                rule.keys()
            )
            assert re.fullmatch(r"Swarmscope[A-Za-z0-9]+", rule["alert"]), rule["alert"]
            assert isinstance(rule["expr"], str)
            assert rule["expr"].strip()
            if "for" in rule:
                assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule["for"]
            assert rule["labels"]["severity"] in SEVERITIES
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
    alerts = {rule["alert"] for rule in _rules()}
    # The four the brief names: consumer lag growing, DLQ rate, latency p99 over target, service down.
    assert {
        "SwarmscopeConsumerLagGrowing",
        "SwarmscopeDeadLetterRate",
        "SwarmscopeLiveLatencyP99OverTarget",
        "SwarmscopeServiceDown",
    } <= alerts
    assert len(alerts) == len(_rules()), "alert names are unique"


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r["alert"])
def test_alert_expression_parses_and_uses_registered_metrics(rule: dict[str, Any]) -> None:
    checker = check_query(rule["expr"], rule["alert"])
    assert not checker.problems, "\n".join(checker.problems)
    # Annotations may only use labels the expression's result has.
    result_labels = checker.labels(promql_parser.parse(rule["expr"])) | set(rule["labels"])
    for text in rule["annotations"].values():
        for label in re.findall(r"\$labels\.([a-z_]+)", text):
            assert label in result_labels, f"{rule['alert']}: annotation uses $labels.{label}"


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = debian_tool("prometheus", "/usr/bin/promtool")
    if promtool is None:
        pytest.skip("promtool unavailable (Debian package prometheus): shape and PromQL checked above")
    check = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tests = DEPLOY / "prometheus" / "tests" / "alerts_test.yml"
    run = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_rule_unit_tests_reference_real_alerts_and_metrics() -> None:
    spec = yaml.safe_load((DEPLOY / "prometheus" / "tests" / "alerts_test.yml").read_text())
    alerts = {rule["alert"] for rule in _rules()}
    for case in spec["tests"]:
        for series in case["input_series"]:
            name = series["series"].split("{", 1)[0]
            assert name in METRICS, f"test series {name} is not a registered metric"
        for expectation in case["alert_rule_test"]:
            assert expectation["alertname"] in alerts


def test_generated_files_are_up_to_date() -> None:
    assert generate.main(["--check"]) == 0, "run `uv run python deploy/generate.py`"
    [rule] = [o for o in render_overlay("prod") if o["kind"] == "PrometheusRule"]
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]
    [dashboard_map] = [
        o
        for o in render_overlay("prod")
        if o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"].get("labels", {})
    ]
    assert json.loads(dashboard_map["data"]["swarmscope.json"]) == json.loads(DASHBOARD.read_text())


# -- the dashboard -------------------------------------------------------------------------------


def _panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_dashboard_layout_and_conventions() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "swarmscope-overview"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    occupied: set[tuple[int, int]] = set()
    ids = set()
    for panel in dashboard["panels"]:
        assert panel["id"] not in ids
        ids.add(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        cells = {(pos["x"] + dx, pos["y"] + dy) for dx in range(pos["w"]) for dy in range(pos["h"])}
        assert not cells & occupied, f"panel {panel['title']} overlaps another"
        occupied |= cells
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["description"], panel["title"]
            assert panel["targets"]


def test_dashboard_covers_what_an_operator_must_see() -> None:
    used: set[str] = set()
    for panel in _panels():
        for target in panel["targets"]:
            used |= check_query(target["expr"].replace("$__rate_interval", "5m"), panel["title"]).metrics
    wanted = {
        "throughput": {"swarmscope_ingest_events_accepted_total", "swarmscope_store_rows_committed_total"},
        "lag": {"swarmscope_consumer_pending_messages", "swarmscope_consumer_ack_pending_messages"},
        "latency": {
            "swarmscope_ingest_latency_seconds_bucket",
            "swarmscope_store_stored_latency_seconds_bucket",
            "swarmscope_gateway_delivered_latency_seconds_bucket",
        },
        "errors and dead letters": {
            "swarmscope_consumer_dead_letters_total",
            "swarmscope_consumer_retryable_failures_total",
        },
        "clients": {"swarmscope_gateway_clients", "swarmscope_gateway_resyncs_total"},
        "replay cache": {"swarmscope_replay_cache_hits_total", "swarmscope_replay_cache_misses_total"},
    }
    for area, metrics in wanted.items():
        assert metrics <= used, f"the dashboard does not show {area}: {sorted(metrics - used)}"


@pytest.mark.parametrize("panel", _panels(), ids=lambda p: p["title"])
def test_dashboard_queries_parse_and_use_registered_metrics(panel: dict[str, Any]) -> None:
    problems = []
    for target in panel["targets"]:
        expr = target["expr"].replace("$__rate_interval", "5m")
        problems += check_query(expr, panel["title"]).problems
        for label in re.findall(r"\{\{(\w+)\}\}", target.get("legendFormat", "")):
            labels = QueryChecker(panel["title"]).labels(promql_parser.parse(expr))
            if label not in labels:
                problems.append(
                    f"{panel['title']}: legend uses {{{{{label}}}}}, the query has {sorted(labels)}"
                )
    assert not problems, "\n".join(problems)


def test_the_checker_catches_unknown_metrics_and_labels() -> None:
    assert check_query("rate(swarmscope_no_such_metric_total[5m])", "t").problems
    assert check_query("sum by (route) (rate(swarmscope_consumer_messages_total[5m]))", "t").problems
    assert check_query('swarmscope_consumer_pending_messages{reason="x"}', "t").problems
    assert not check_query("max by (durable) (swarmscope_consumer_pending_messages)", "t").problems


def test_job_names_agree_between_compose_kubernetes_and_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    compose_jobs = {job["job_name"] for job in config["scrape_configs"]} - {"prometheus"}
    [monitor] = [o for o in render_overlay("prod") if o["kind"] == "ServiceMonitor"]
    for endpoint in monitor["spec"]["endpoints"]:
        [relabel] = [r for r in endpoint["relabelings"] if r.get("targetLabel") == "job"]
        assert relabel["replacement"] == "swarmscope-$1"
    # The gateway is scraped on its metrics port (SWARMSCOPE_GATEWAY_METRICS_PORT), as in compose.
    ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    assert ports == {"http", "metrics"}
    [gateway] = [
        o
        for o in render_overlay("prod")
        if o["kind"] == "Service" and o["metadata"]["name"] == "swarmscope-gateway"
    ]
    metrics_port = next(p["port"] for p in gateway["spec"]["ports"] if p["name"] == "metrics")
    assert f"gateway:{metrics_port}" in {
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    }
    metric_services = {
        o["metadata"]["labels"]["app.kubernetes.io/name"]
        for o in render_overlay("prod")
        if o["kind"] == "Service" and o["metadata"]["labels"].get("swarmscope.io/metrics") == "true"
    }
    assert {f"swarmscope-{s}" for s in metric_services} == compose_jobs
    assert Path(ROOT / "deploy" / "grafana" / "kustomization.yaml").exists()
