"""Wiring of the ingest service: the only place its parts are put together."""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from swarmscope_ingest.config import IngestSettings
from swarmscope_ingest.handler import IngestHandler
from swarmscope_ingest.metrics import IngestMetrics
from swarmscope_schema.redaction import Redactor
from swarmscope_schema.subjects import DURABLE_INGEST, STREAM_RAW
from swarmscope_service.consumer import BatchConsumer, ConsumerMetrics
from swarmscope_service.health import HttpServer, health_app
from swarmscope_service.lag import LagPoller
from swarmscope_service.monitor import MonitorSources, performance_monitor
from swarmscope_service.publishing import BatchPublisher
from swarmscope_service.runtime import ServiceParts, connect_and_provision, nats_ready, serve
from swarmscope_service.settings import load_settings

log = logging.getLogger(__name__)

SERVICE_NAME = "swarmscope-ingest"


async def main(
    stop: asyncio.Event, settings: IngestSettings | None = None, nc: NatsClient | None = None
) -> None:
    """Runs ingest until `stop` is set: durable `ingest` on TRACES_RAW → canonical events on TRACES."""
    settings = settings or load_settings(IngestSettings)
    nc, js = await connect_and_provision(settings, SERVICE_NAME, nc)
    registry = CollectorRegistry()
    publisher = BatchPublisher(nc, timeout=settings.publish_timeout_seconds)
    redactor = Redactor(settings.redact_keys, values=settings.redact_values)
    handler = IngestHandler(publisher, redactor, IngestMetrics.create(registry))
    consumer_metrics = ConsumerMetrics.create(registry)
    # More than one loop overlaps one batch's waits (fetch, acknowledgements) with another's work.
    consumers = [
        BatchConsumer(
            js=js,
            stream=STREAM_RAW,
            durable=DURABLE_INGEST,
            handler=handler,
            metrics=consumer_metrics,
            batch_size=settings.batch_size,
            fetch_wait=settings.fetch_wait_seconds,
            max_attempts=settings.max_attempts,
            publisher=publisher,
            fetch_bytes=settings.ingest_fetch_bytes,
            ack_wait=settings.ack_wait_seconds,
            dead_letter_redactor=None if settings.dlq_keep_original else redactor,
        )
        for _ in range(settings.ingest_concurrency)
    ]
    # Backlog and unacked counts read from JetStream: what KEDA and the lag alerts watch.
    lag = LagPoller.for_registry(
        js, [(STREAM_RAW, DURABLE_INGEST)], registry, interval=settings.ingest_lag_interval_seconds
    )
    http = HttpServer(
        health_app(registry, {"nats": nats_ready(nc)}), settings.http_host, settings.ingest_port
    )
    log.info(
        "ingest starting",
        extra={
            "nats": settings.nats_servers(),
            "port": settings.ingest_port,
            "batch_size": settings.batch_size,
            "concurrency": settings.ingest_concurrency,
            "redact_keys": list(settings.redact_keys),
            "redact_values": settings.redact_values,
            "dlq_keep_original": settings.dlq_keep_original,
        },
    )
    monitor = performance_monitor(
        js,
        registry,
        "ingest",
        MonitorSources(latency_histogram="swarmscope_ingest_latency_seconds", query_histogram=None),
    )
    background = [lag.run, *([monitor.run] if monitor else [])]
    await serve(
        ServiceParts(nc=nc, http=http, consumers=consumers, background=background, closers=[publisher.close]),
        stop,
        grace_seconds=settings.shutdown_grace_seconds,
    )
    log.info("ingest stopped")
