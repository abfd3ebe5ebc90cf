"""Writes the generated deployment files: the Grafana dashboard and the Kubernetes PrometheusRule.

    uv run python deploy/generate.py          # rewrite deploy/grafana/swarmscope.json and
                                              # deploy/k8s/components/monitoring/prometheusrule.yaml
    uv run python deploy/generate.py --check  # exit 1 if either is stale (tests/deploy runs this)

The dashboard is written as code so every panel follows the same conventions (one data source
variable, rates over `$__rate_interval`, durables aggregated with max because every replica exports
the same JetStream figures). The PrometheusRule carries exactly the groups of
deploy/prometheus/alerts.yml, the file docker compose's Prometheus loads.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent
DASHBOARD_PATH = DEPLOY / "grafana" / "swarmscope.json"
ALERTS_PATH = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS_RULE_PATH = DEPLOY / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"

DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
JOBS = 'job=~"swarmscope-(ingest|store|replay|gateway)"'

Panel = dict[str, Any]


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new line."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.line_height = 0
        self.next_id = 1

    def place(self, panel: Panel, w: int, h: int) -> Panel:
        if self.x + w > 24:
            self.x, self.y, self.line_height = 0, self.y + self.line_height, 0
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.line_height = max(self.line_height, h)
        return panel

    def row(self, title: str) -> Panel:
        if self.x:
            self.x, self.y, self.line_height = 0, self.y + self.line_height, 0
        panel = {"type": "row", "title": title, "collapsed": False, "panels": []}
        panel["gridPos"] = {"x": 0, "y": self.y, "w": 24, "h": 1}
        panel["id"] = self.next_id
        self.next_id += 1
        self.y += 1
        return panel


def target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def timeseries(title: str, description: str, queries: list[tuple[str, str]], unit: str) -> Panel:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(e, legend, chr(ord("A") + i)) for i, (e, legend) in enumerate(queries)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": {"lineWidth": 1, "fillOpacity": 10, "showPoints": "never"},
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str, description: str, expr: str, unit: str, thresholds: Sequence[tuple[float | None, str]]
) -> Panel:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [{**target(expr, "", "A"), "instant": True, "range": False}],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"value": value, "color": color} for value, color in thresholds],
                },
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "area",
            "textMode": "value",
        },
    }


def quantiles(metric: str, by: str, legend_prefix: str, matchers: str = "") -> list[tuple[str, str]]:
    sel = f"{{{matchers}}}" if matchers else ""
    group = f"le, {by}" if by else "le"
    return [
        (
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{sel}[{RATE}])))",
            f"{legend_prefix} p{int(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


GREEN_RED = [(None, "green"), (1, "red")]


def build_dashboard() -> dict[str, Any]:
    """The swarmscope dashboard: can it keep up, and where does it hurt?"""
    lay = Layout()
    panels: list[Panel] = []
    add = panels.append

    add(lay.row("Overview: does swarmscope keep up?"))
    add(
        lay.place(
            stat(
                "Events accepted / s",
                "Canonical events ingest published to TRACES (new ones, duplicates excluded).",
                "sum(rate(swarmscope_ingest_events_accepted_total[5m]))",
                "ops",
                [(None, "blue")],
            ),
            4,
            4,
        )
    )
    add(
        lay.place(
            stat(
                "Events stored / s",
                "Event rows the store committed to the database.",
                'sum(rate(swarmscope_store_rows_committed_total{table="events"}[5m]))',
                "ops",
                [(None, "blue")],
            ),
            4,
            4,
        )
    )
    add(
        lay.place(
            stat(
                "Largest backlog",
                "The most messages any durable has waiting (JetStream num_pending). Growing = falling behind.",
                "max(swarmscope_consumer_pending_messages)",
                "short",
                [(None, "green"), (10000, "orange"), (100000, "red")],
            ),
            4,
            4,
        )
    )
    add(
        lay.place(
            stat(
                "Dead letters / s",
                "Messages dead-lettered by every durable (bad producers); details at GET /api/v1/dlq.",
                "sum(rate(swarmscope_consumer_dead_letters_total[5m]))",
                "ops",
                [(None, "green"), (0.1, "orange"), (1, "red")],
            ),
            4,
            4,
        )
    )
    add(
        lay.place(
            stat(
                "Live latency p99",
                "Producer timestamp to written to a live client (target 50 ms).",
                f"histogram_quantile(0.99, sum by (le) (rate(swarmscope_gateway_delivered_latency_seconds_bucket[{RATE}])))",
                "s",
                [(None, "green"), (0.05, "orange"), (0.25, "red")],
            ),
            4,
            4,
        )
    )
    add(
        lay.place(
            stat(
                "Services down",
                "Scrape targets of the four services that do not answer.",
                f"count(up{{{JOBS}}} == 0) or vector(0)",
                "short",
                GREEN_RED,
            ),
            4,
            4,
        )
    )

    add(lay.row("Throughput"))
    add(
        lay.place(
            timeseries(
                "Pipeline throughput",
                "Raw events in (TRACES_RAW write rate), canonical events out of ingest, event rows committed by the store.",
                [
                    (
                        f'max(deriv(swarmscope_stream_last_sequence{{stream="TRACES_RAW"}}[{RATE}]))',
                        "raw published",
                    ),
                    (f"sum(rate(swarmscope_ingest_events_accepted_total[{RATE}]))", "ingest accepted"),
                    (f"sum(rate(swarmscope_ingest_duplicates_dropped_total[{RATE}]))", "ingest duplicates"),
                    (
                        f'sum(rate(swarmscope_store_rows_committed_total{{table="events"}}[{RATE}]))',
                        "store committed",
                    ),
                ],
                "ops",
            ),
            12,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Messages settled by durable",
                "What each durable did with what it fetched: ack, nak (retry later) or dead (DLQ).",
                [
                    (
                        f"sum by (durable, outcome) (rate(swarmscope_consumer_messages_total[{RATE}]))",
                        "{{durable}} {{outcome}}",
                    )
                ],
                "ops",
            ),
            12,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Gateway traffic",
                "Events published through the HTTP edges, and events written to live clients.",
                [
                    (
                        f"sum by (endpoint) (rate(swarmscope_gateway_published_total[{RATE}]))",
                        "published via {{endpoint}}",
                    ),
                    (
                        f"sum by (transport) (rate(swarmscope_gateway_events_delivered_total[{RATE}]))",
                        "delivered over {{transport}}",
                    ),
                ],
                "ops",
            ),
            12,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Batch size",
                "Median messages per fetched batch, by durable: near the batch size means the durable is saturated.",
                [
                    (
                        f"histogram_quantile(0.5, sum by (le, durable) (rate(swarmscope_consumer_batch_size_bucket[{RATE}])))",
                        "{{durable}} p50",
                    )
                ],
                "short",
            ),
            12,
            8,
        )
    )

    add(lay.row("Lag (JetStream durables; every replica reports the same figure, so max)"))
    add(
        lay.place(
            timeseries(
                "Pending messages",
                "Messages in the stream not yet delivered to the durable. KEDA scales ingest and store on this.",
                [("max by (durable) (swarmscope_consumer_pending_messages)", "{{durable}}")],
                "short",
            ),
            8,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Ack pending and redelivered",
                "Delivered but not yet acknowledged, and outstanding messages delivered more than once.",
                [
                    (
                        "max by (durable) (swarmscope_consumer_ack_pending_messages)",
                        "{{durable}} ack pending",
                    ),
                    (
                        "max by (durable) (swarmscope_consumer_redelivered_messages)",
                        "{{durable}} redelivered",
                    ),
                ],
                "short",
            ),
            8,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Time to drain the backlog",
                "Pending messages divided by the rate the durable settles them: how far behind, in seconds.",
                [
                    (
                        "max by (durable) (swarmscope_consumer_pending_messages) / on (durable) "
                        f"(sum by (durable) (rate(swarmscope_consumer_messages_total[{RATE}])) > 0)",
                        "{{durable}}",
                    )
                ],
                "s",
            ),
            8,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Replicas",
                "Instances answering, by service (KEDA / HPA scaling shows here).",
                [(f"count by (job) (up{{{JOBS}}} == 1)", "{{job}}")],
                "short",
            ),
            12,
            7,
        )
    )
    add(
        lay.place(
            timeseries(
                "Stream size",
                "Messages and bytes kept by each JetStream stream (retention: SWARMSCOPE_STREAM_MAX_AGE_HOURS).",
                [("max by (stream) (swarmscope_stream_bytes)", "{{stream}} bytes")],
                "bytes",
            ),
            12,
            7,
        )
    )

    add(lay.row("Latency percentiles"))
    add(
        lay.place(
            timeseries(
                "Producer → ingested / stored / delivered",
                "End-to-end pipeline latency from the producer's timestamp (includes producer clock skew).",
                [
                    *quantiles("swarmscope_ingest_latency_seconds", "", "ingested")[1:],
                    *quantiles("swarmscope_store_stored_latency_seconds", "", "stored")[1:],
                    *quantiles("swarmscope_gateway_delivered_latency_seconds", "", "delivered")[1:],
                ],
                "s",
            ),
            12,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Batch handling time by durable (p99)",
                "Time to handle and settle one fetched batch; the store's includes its database commit.",
                [
                    (
                        f"histogram_quantile(0.99, sum by (le, durable) (rate(swarmscope_consumer_batch_seconds_bucket[{RATE}])))",
                        "{{durable}}",
                    ),
                    (
                        f"histogram_quantile(0.99, sum by (le, table) (rate(swarmscope_store_commit_seconds_bucket[{RATE}])))",
                        "store commit ({{table}})",
                    ),
                ],
                "s",
            ),
            12,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Queries: store and replay (p95 by operation)",
                "Request-reply operations answered by store and replay (targets: events page 20 ms, state 30 ms).",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, job, op) "
                        f'(rate(swarmscope_request_seconds_bucket{{op!="ping"}}[{RATE}])))',
                        "{{job}} {{op}}",
                    )
                ],
                "s",
            ),
            12,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Gateway HTTP latency (p95, slowest routes)",
                "Request latency by route template (streams excluded: they last as long as the client stays).",
                [
                    (
                        "topk(8, histogram_quantile(0.95, sum by (le, route) "
                        f"(rate(swarmscope_gateway_request_seconds_bucket[{RATE}]))))",
                        "{{route}}",
                    )
                ],
                "s",
            ),
            12,
            8,
        )
    )

    add(lay.row("Errors and dead letters"))
    add(
        lay.place(
            timeseries(
                "Dead letters by reason",
                "invalid_json, invalid_utf8, schema_violation, too_large, invalid_subject: producers to fix; unprocessable: a swarmscope bug.",
                [
                    (
                        f"sum by (durable, reason) (rate(swarmscope_consumer_dead_letters_total[{RATE}]))",
                        "{{durable}} {{reason}}",
                    )
                ],
                "ops",
            ),
            8,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Retries",
                "Batches failing with a retryable error (a dependency down) and messages nak'd for redelivery.",
                [
                    (
                        f"sum by (durable) (rate(swarmscope_consumer_retryable_failures_total[{RATE}]))",
                        "{{durable}} failed batches",
                    ),
                    (f"sum by (durable) (rate(swarmscope_consumer_naks_total[{RATE}]))", "{{durable}} naks"),
                    (
                        f"sum by (table, kind) (rate(swarmscope_store_write_failures_total[{RATE}]))",
                        "store {{table}} {{kind}}",
                    ),
                ],
                "ops",
            ),
            8,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Failed requests",
                "Gateway 5xx by route, refused publishes by reason, store/replay operations not ok.",
                [
                    (
                        f'sum by (route) (rate(swarmscope_gateway_request_seconds_count{{status=~"5.."}}[{RATE}]))',
                        "5xx {{route}}",
                    ),
                    (
                        f"sum by (endpoint, reason) (rate(swarmscope_gateway_rejected_total[{RATE}]))",
                        "rejected {{endpoint}} {{reason}}",
                    ),
                    (
                        f'sum by (job, op, outcome) (rate(swarmscope_request_seconds_count{{outcome!="ok"}}[{RATE}]))',
                        "{{job}} {{op}} {{outcome}}",
                    ),
                ],
                "ops",
            ),
            8,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Performance monitor",
                "Threshold crossings the services' performance monitors reported (performance_alert events in session _system).",
                [
                    (
                        f"sum by (job, metric) (increase(swarmscope_performance_alerts_total[{RATE}]))",
                        "{{job}} {{metric}}",
                    )
                ],
                "short",
            ),
            12,
            7,
        )
    )
    add(
        lay.place(
            timeseries(
                "Dead letter queue size",
                "Messages kept in TRACES_DLQ.",
                [('max(swarmscope_stream_messages{stream="TRACES_DLQ"})', "TRACES_DLQ")],
                "short",
            ),
            12,
            7,
        )
    )
    add(
        lay.place(
            timeseries(
                "Events agents could not send (SDK drop reports)",
                "From the SDK's custom.sdk_drops reports: buffer_full, too_large, closed… are losses at the agent; "
                "sampled, rate_limited, level, pressure are selective tracing choosing not to send.",
                [
                    (
                        f"sum by (reason, priority) (rate(swarmscope_sdk_dropped_events_total[{RATE}]))",
                        "{{reason}} {{priority}}",
                    )
                ],
                "ops",
            ),
            24,
            7,
        )
    )

    add(lay.row("Clients"))
    add(
        lay.place(
            timeseries(
                "Connected live clients",
                "SSE and WebSocket clients connected to all gateway replicas.",
                [("sum by (transport) (swarmscope_gateway_clients)", "{{transport}}")],
                "short",
            ),
            8,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Resyncs and refusals",
                "Clients too slow for their feed (resync), requests refused by rate limits, auth or origin.",
                [
                    (
                        f"sum by (transport) (rate(swarmscope_gateway_resyncs_total[{RATE}]))",
                        "resync {{transport}}",
                    ),
                    (
                        f"sum by (endpoint) (rate(swarmscope_gateway_rate_limited_total[{RATE}]))",
                        "429 {{endpoint}}",
                    ),
                    (
                        f"sum by (reason) (rate(swarmscope_gateway_auth_failures_total[{RATE}]))",
                        "auth {{reason}}",
                    ),
                    (f"sum(rate(swarmscope_gateway_origin_rejections_total[{RATE}]))", "origin rejected"),
                ],
                "ops",
            ),
            8,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Resumed history by source",
                "Events sent to reconnecting clients from the gateway's memory, the store or the stream.",
                [
                    (
                        f"sum by (source) (rate(swarmscope_gateway_backfill_events_total[{RATE}]))",
                        "{{source}}",
                    )
                ],
                "ops",
            ),
            8,
            8,
        )
    )

    add(lay.row("Replay (time travel)"))
    add(
        lay.place(
            timeseries(
                "Cache hit ratio",
                "Share of state and snapshot lookups answered from the cache (Redis or in-process).",
                [
                    (
                        f"sum by (cache) (rate(swarmscope_replay_cache_hits_total[{RATE}])) / "
                        f"(sum by (cache) (rate(swarmscope_replay_cache_hits_total[{RATE}])) + "
                        f"sum by (cache) (rate(swarmscope_replay_cache_misses_total[{RATE}])))",
                        "{{cache}}",
                    )
                ],
                "percentunit",
            ),
            8,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "State at a seq (p50/p95/p99)",
                "Time to answer state at a seq or timestamp: nearest snapshot plus the fold after it.",
                quantiles("swarmscope_replay_state_seconds", "", "state"),
                "s",
            ),
            8,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "Snapshots",
                "Snapshots written per second and their bytes per second; sessions whose state is held in memory.",
                [
                    (f"sum(rate(swarmscope_replay_snapshots_total[{RATE}]))", "snapshots/s"),
                    (f"sum(rate(swarmscope_replay_snapshot_bytes_total[{RATE}]))", "snapshot bytes/s"),
                    ("sum(swarmscope_replay_sessions_in_memory)", "sessions in memory"),
                ],
                "short",
            ),
            8,
            8,
        )
    )

    add(lay.row("Resources (Kubernetes: the kubelet's container metrics)"))
    containers = 'container=~"ingest|store|replay|gateway|frontend"'
    add(
        lay.place(
            timeseries(
                "Memory by pod",
                "Working set of each swarmscope container (gateway target: 100 MB with 10k live events and "
                "50 clients). From cAdvisor, which kube-prometheus-stack scrapes; empty under docker compose.",
                [(f"sum by (pod) (container_memory_working_set_bytes{{{containers}}})", "{{pod}}")],
                "bytes",
            ),
            12,
            8,
        )
    )
    add(
        lay.place(
            timeseries(
                "CPU by pod (cores)",
                "CPU used per pod; one Python process tops out near one core, so a pod near 1 is saturated "
                "and its autoscaler should be adding replicas. Empty under docker compose.",
                [
                    (
                        f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{containers}}}[{RATE}]))",
                        "{{pod}}",
                    )
                ],
                "short",
            ),
            12,
            8,
        )
    )

    return {
        "title": "swarmscope",
        "uid": "swarmscope-overview",
        "description": "Does swarmscope keep up, and where does it hurt: throughput, lag, latency, errors, clients.",
        "tags": ["swarmscope"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                    "options": [],
                }
            ]
        },
        "panels": panels,
    }


def build_prometheus_rule() -> dict[str, Any]:
    """The PrometheusRule object with the groups of deploy/prometheus/alerts.yml."""
    groups = yaml.safe_load(ALERTS_PATH.read_text())["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "swarmscope",
            "labels": {"app.kubernetes.io/part-of": "swarmscope", "release": "kube-prometheus-stack"},
        },
        "spec": {"groups": groups},
    }


def render() -> dict[Path, str]:
    """The generated files and their content."""
    rule_header = (
        "# Generated from deploy/prometheus/alerts.yml by `uv run python deploy/generate.py`: edit that\n"
        "# file, not this one. prometheus-operator loads it (label release: kube-prometheus-stack).\n"
    )
    return {
        DASHBOARD_PATH: json.dumps(build_dashboard(), indent=2, ensure_ascii=False) + "\n",
        PROMETHEUS_RULE_PATH: rule_header
        + yaml.safe_dump(build_prometheus_rule(), sort_keys=False, width=100, allow_unicode=True),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report whether the files are up to date")
    args = parser.parse_args(argv)
    stale = [path for path, text in render().items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(DEPLOY.parent)} is stale: run `uv run python deploy/generate.py`")
        return 1 if stale else 0
    for path, text in render().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(DEPLOY.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
