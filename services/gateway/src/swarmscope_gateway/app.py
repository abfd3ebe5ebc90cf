"""Wiring of the gateway: settings → NATS, RPC clients of store and replay, live hub, handlers, HTTP app → serve."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from swarmscope_gateway.auth import Authenticator
from swarmscope_gateway.config import GatewaySettings
from swarmscope_gateway.edges import edge_handlers
from swarmscope_gateway.history import History
from swarmscope_gateway.http_app import build_http_app, metrics_app, token_handler
from swarmscope_gateway.hub import LiveConfig, LiveHub
from swarmscope_gateway.metrics import GatewayMetrics
from swarmscope_gateway.openapi import render
from swarmscope_gateway.otlp import OtlpMetrics, otlp_handlers
from swarmscope_gateway.ratelimit import build_rate_limiter
from swarmscope_gateway.rest import rest_handlers
from swarmscope_gateway.rpc import RpcClients
from swarmscope_gateway.sse import sse_handlers
from swarmscope_gateway.ws import WebSocketEndpoint
from swarmscope_gateway.ws_deflate import CheapDeflateProtocol
from swarmscope_schema.redaction import Redactor
from swarmscope_service.health import HttpServer
from swarmscope_service.monitor import MonitorSources, performance_monitor
from swarmscope_service.publishing import BatchPublisher
from swarmscope_service.runtime import ServiceParts, connect_and_provision, nats_ready, serve

log = logging.getLogger(__name__)

SERVICE_NAME = "swarmscope-gateway"


def uvicorn_options(settings: GatewaySettings) -> dict[str, object]:
    """WebSocket options: the sans-I/O `websockets` protocol (the legacy one is deprecated), with
    permessage-deflate at a cheap level, a bound on client messages and protocol-level pings."""
    return {
        "ws": CheapDeflateProtocol,
        "ws_per_message_deflate": True,
        "ws_max_size": settings.gateway_max_ws_message_bytes,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "timeout_graceful_shutdown": 5,
    }


async def main(
    stop: asyncio.Event,
    settings: GatewaySettings | None = None,
    nc: NatsClient | None = None,
    *,
    built: Callable[[Starlette], None] | None = None,
) -> None:
    """Runs the gateway until `stop` is set. `built` is handed the HTTP app before it serves (tests
    walk its real route table)."""
    settings = settings or GatewaySettings()
    nc, js = await connect_and_provision(settings, SERVICE_NAME, nc)
    registry = CollectorRegistry()
    metrics = GatewayMetrics.create(registry)
    rpc = RpcClients(
        nc,
        timeout=settings.gateway_request_timeout_seconds,
        slow_timeout=settings.gateway_slow_request_timeout_seconds,
    )
    authenticator = Authenticator(
        settings.parsed_api_keys(),
        secret=settings.gateway_token_secret,
        ttl_seconds=settings.gateway_token_ttl_seconds,
    )
    if not authenticator.enabled:
        log.warning(
            "SWARMSCOPE_API_KEYS is empty: the API is open to anyone who can reach it (development only)"
        )
    limiter = build_rate_limiter(
        settings.redis_url, settings.gateway_rate_limit_per_second, settings.gateway_rate_limit_burst
    )
    hub = LiveHub(
        js,
        History(js, rpc),
        metrics,
        LiveConfig(
            batch_size=settings.gateway_batch_size,
            batch_ms=settings.gateway_batch_ms,
            ring_events=settings.gateway_ring_events,
            ring_bytes=settings.gateway_ring_bytes,
            queue_frames=settings.gateway_client_queue_frames,
            queue_bytes=settings.gateway_client_queue_bytes,
            join_buffer_events=settings.gateway_join_buffer_events,
        ),
    )
    await hub.start()

    async def live_ready() -> bool:
        return hub.running

    # One publisher (one reply subscription) for every edge that writes events.
    publisher = BatchPublisher(nc, timeout=settings.gateway_publish_timeout_seconds)
    handlers = {
        **rest_handlers(rpc),
        **edge_handlers(
            publisher,
            rpc,
            metrics,
            max_body_bytes=settings.gateway_max_body_bytes,
            max_import_bytes=settings.gateway_max_import_bytes,
            redactor=Redactor(settings.redact_keys, values=settings.redact_values),
        ),
        **otlp_handlers(
            publisher,
            js,
            OtlpMetrics.create(registry),
            metrics.published.labels("otlp"),
            max_body_bytes=settings.gateway_max_otlp_bytes,
            publish_timeout=settings.gateway_publish_timeout_seconds,
        ),
        **sse_handlers(hub, heartbeat_seconds=settings.gateway_heartbeat_seconds),
        "create_token": token_handler(authenticator),
    }
    frontend = settings.frontend_dir()
    app = build_http_app(
        handlers=handlers,
        websocket=WebSocketEndpoint(
            hub,
            rpc,
            metrics,
            allowed_origins=settings.allowed_origins,
            history_max_events=settings.gateway_history_max_events,
        ).handle,
        authenticator=authenticator,
        limiter=limiter,
        metrics=metrics,
        registry=registry,
        readiness={
            "nats": nats_ready(nc),
            "store": rpc.ping_store,
            "replay": rpc.ping_replay,
            "live": live_ready,
        },
        openapi_document=render(),
        cors_origins=settings.cors_origins,
        frontend_dir=frontend,
        serve_metrics=settings.gateway_metrics_port is None,
    )
    if built is not None:
        built(app)
    http = HttpServer(app, settings.http_host, settings.gateway_port, extra_config=uvicorn_options(settings))
    log.info(
        "gateway starting",
        extra={
            "port": settings.gateway_port,
            "auth": authenticator.enabled,
            "metrics_port": settings.gateway_metrics_port,
            "ui": str(frontend) if frontend else None,
            "rate_limit": "redis" if settings.redis_url else "local",
        },
    )
    monitor = performance_monitor(
        js,
        registry,
        "gateway",
        MonitorSources(
            latency_histogram="swarmscope_gateway_delivered_latency_seconds",
            query_histogram="swarmscope_gateway_request_seconds",
        ),
    )
    closers = [hub.stop, limiter.close]
    if settings.gateway_metrics_port is not None:
        metrics_http = HttpServer(metrics_app(registry), settings.http_host, settings.gateway_metrics_port)
        await metrics_http.start()
        closers.append(metrics_http.stop)
    parts = ServiceParts(nc=nc, http=http, background=[monitor.run] if monitor else [], closers=closers)
    await serve(parts, stop, grace_seconds=settings.shutdown_grace_seconds)
