"""Wiring of the store service: the only place its parts are put together."""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from swarmscope_schema.redaction import Redactor
from swarmscope_schema.subjects import (
    DURABLE_STORE,
    DURABLE_STORE_DLQ,
    STORE_REQUEST_PREFIX,
    STREAM_DLQ,
    STREAM_EVENTS,
)
from swarmscope_service.consumer import BatchConsumer, ConsumerMetrics
from swarmscope_service.health import HttpServer, health_app
from swarmscope_service.lag import LagPoller
from swarmscope_service.monitor import MonitorSources, performance_monitor
from swarmscope_service.request_reply import RequestServer
from swarmscope_service.runtime import ServiceParts, connect_and_provision, nats_ready, serve
from swarmscope_service.settings import load_settings
from swarmscope_store.backend import StoreBackend
from swarmscope_store.config import StoreSettings
from swarmscope_store.database import open_until_ready
from swarmscope_store.graph import GraphBuilder
from swarmscope_store.handlers import DeadLetterHandler, EventsHandler
from swarmscope_store.metrics import StoreMetrics
from swarmscope_store.migrations import pending_migrations
from swarmscope_store.operations import store_operations
from swarmscope_store.progress import CommittedProgress
from swarmscope_store.queries import StoreQueries
from swarmscope_store.retention import RetentionJob

log = logging.getLogger(__name__)

SERVICE_NAME = "swarmscope-store"


async def main(
    stop: asyncio.Event,
    settings: StoreSettings | None = None,
    nc: NatsClient | None = None,
    backend: StoreBackend | None = None,
) -> None:
    """Runs the store until `stop` is set. A passed backend or NATS connection is used as is."""
    settings = settings or load_settings(StoreSettings)
    owns_backend = backend is None
    if backend is None:
        backend = await open_until_ready(
            settings.database_url,
            stop,
            pool_size=settings.store_pool_size,
            migrate=settings.store_migrate_on_start,
        )
        if backend is None:
            return
    elif settings.store_migrate_on_start:
        await backend.migrate()
    nc, js = await connect_and_provision(settings, SERVICE_NAME, nc)
    registry = CollectorRegistry()
    consumer_metrics = ConsumerMetrics.create(registry)
    metrics = StoreMetrics.create(registry)
    connection = nc

    def budget() -> int:
        return int(connection.max_payload)

    redactor = Redactor(settings.redact_keys, values=settings.redact_values)
    queries = StoreQueries(backend, budget, redactor)
    graphs = GraphBuilder(backend)
    events = BatchConsumer(
        js=js,
        stream=STREAM_EVENTS,
        durable=DURABLE_STORE,
        handler=EventsHandler(
            backend, metrics, retention_hours=settings.retention_hours, durable=DURABLE_STORE
        ),
        metrics=consumer_metrics,
        batch_size=settings.store_batch_size,
        ack_wait=settings.ack_wait_seconds,
        fetch_wait=settings.fetch_wait_seconds,
        max_attempts=settings.max_attempts,
        dead_letter_redactor=None if settings.dlq_keep_original else redactor,
        # The next batch comes in while this one's transaction commits (issue 16).
        prefetch=True,
    )
    dead_letters = BatchConsumer(
        js=js,
        stream=STREAM_DLQ,
        durable=DURABLE_STORE_DLQ,
        handler=DeadLetterHandler(backend, metrics, durable=DURABLE_STORE_DLQ),
        metrics=consumer_metrics,
        batch_size=min(settings.batch_size, 100),
        ack_wait=settings.ack_wait_seconds,
        fetch_wait=settings.fetch_wait_seconds,
        max_attempts=settings.max_attempts,
    )
    retention = RetentionJob(
        backend,
        metrics,
        retention_hours=settings.retention_hours,
        interval=settings.retention_interval_seconds,
    )
    lag = LagPoller.for_registry(
        js,
        [(STREAM_EVENTS, DURABLE_STORE), (STREAM_DLQ, DURABLE_STORE_DLQ)],
        registry,
        interval=settings.store_lag_interval_seconds,
    )
    store_backend = backend

    async def schema_ready() -> bool:
        return not await pending_migrations(store_backend)

    http = HttpServer(
        health_app(registry, {"nats": nats_ready(nc), "database": backend.ping, "schema": schema_ready}),
        settings.http_host,
        settings.store_port,
    )
    closers = [backend.close] if owns_backend else []
    monitor = performance_monitor(
        js,
        registry,
        "store",
        MonitorSources(
            latency_histogram="swarmscope_store_stored_latency_seconds",
            write_counter="swarmscope_store_rows_committed_total",
            write_labels={"table": "events"},
            backlog_durable="store",
        ),
    )
    parts = ServiceParts(
        nc=nc,
        http=http,
        consumers=[events, dead_letters],
        request_servers=[
            RequestServer(
                nc,
                STORE_REQUEST_PREFIX,
                store_operations(queries, graphs, CommittedProgress(js)),
                registry,
                queue="store",
            )
        ],
        background=[retention.run, lag.run, *([monitor.run] if monitor else [])],
        closers=closers,
    )
    log.info(
        "store starting",
        extra={"backend": backend.name, "port": settings.store_port, "nats": settings.nats_url},
    )
    await serve(parts, stop, grace_seconds=settings.shutdown_grace_seconds)
