"""The gateway's Prometheus metrics (issue 8 §1). Labels stay low-cardinality: transport, route
template, method, status, endpoint and reason; never a session, event or client id."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass
class GatewayMetrics:
    clients: Gauge
    events_delivered: Counter
    frames_delivered: Counter
    resyncs: Counter
    delivered_latency: Histogram
    live_events: Counter
    live_head_seq: Gauge
    backfill_events: Counter
    request_seconds: Histogram
    published: Counter
    rejected: Counter
    rate_limited: Counter
    auth_failures: Counter
    origin_rejections: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> GatewayMetrics:
        return cls(
            clients=Gauge(
                "swarmscope_gateway_clients",
                "Connected live clients, by transport (sse, ws)",
                ["transport"],
                registry=registry,
            ),
            events_delivered=Counter(
                "swarmscope_gateway_events_delivered_total",
                "Events written to live clients (live and resumed history), by transport",
                ["transport"],
                registry=registry,
            ),
            frames_delivered=Counter(
                "swarmscope_gateway_frames_delivered_total",
                "SSE events / WebSocket messages written to live clients, by transport",
                ["transport"],
                registry=registry,
            ),
            resyncs=Counter(
                "swarmscope_gateway_resyncs_total",
                "Clients that fell behind, lost their backlog and were told to resync, by transport",
                ["transport"],
                registry=registry,
            ),
            delivered_latency=Histogram(
                "swarmscope_gateway_delivered_latency_seconds",
                "Producer timestamp to written to a live client, per batch for its oldest event",
                ["transport"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            live_events=Counter(
                "swarmscope_gateway_live_events_total",
                "Events the gateway's live consumer received from TRACES",
                registry=registry,
            ),
            live_head_seq=Gauge(
                "swarmscope_gateway_live_head_seq",
                "Stream sequence of the newest event the live consumer received",
                registry=registry,
            ),
            backfill_events=Counter(
                "swarmscope_gateway_backfill_events_total",
                "Events sent to resuming clients from history, by source (ring, store, stream)",
                ["source"],
                registry=registry,
            ),
            request_seconds=Histogram(
                "swarmscope_gateway_request_seconds",
                "HTTP request latency by method, route template and status",
                ["method", "route", "status"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            published=Counter(
                "swarmscope_gateway_published_total",
                "Events published to TRACES_RAW, by endpoint (ingest, import, otlp)",
                ["endpoint"],
                registry=registry,
            ),
            rejected=Counter(
                "swarmscope_gateway_rejected_total",
                "Events refused before publishing, by endpoint and reason",
                ["endpoint", "reason"],
                registry=registry,
            ),
            rate_limited=Counter(
                "swarmscope_gateway_rate_limited_total",
                "Requests refused with 429, by endpoint",
                ["endpoint"],
                registry=registry,
            ),
            auth_failures=Counter(
                "swarmscope_gateway_auth_failures_total",
                "Requests refused for missing or bad credentials, by reason",
                ["reason"],
                registry=registry,
            ),
            origin_rejections=Counter(
                "swarmscope_gateway_origin_rejections_total",
                "WebSocket handshakes refused for their Origin",
                registry=registry,
            ),
        )
