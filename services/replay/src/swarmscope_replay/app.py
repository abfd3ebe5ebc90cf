"""Wiring of the replay service: the only place its parts are put together."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from swarmscope_replay.breakpoints import Breakpoints
from swarmscope_replay.cache import ChunkCache, LruStateCache, RedisStateCache, SnapshotCache, StateCache
from swarmscope_replay.compare import Comparer
from swarmscope_replay.config import ReplaySettings
from swarmscope_replay.event_source import EventSource
from swarmscope_replay.expressions import ExpressionError, ExpressionPool
from swarmscope_replay.heap import HeapKeeper
from swarmscope_replay.log_position import JetStreamPosition
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.navigation import Navigator
from swarmscope_replay.operations import ReplayOperations
from swarmscope_replay.ownership import LeaseOwnership, replica_durable
from swarmscope_replay.repeats import RepeatFilter
from swarmscope_replay.republish import Republisher
from swarmscope_replay.snapshot_database import open_snapshot_store
from swarmscope_replay.snapshots import SnapshotStore
from swarmscope_replay.states import StateResolver
from swarmscope_replay.store_source import StoreEventSource
from swarmscope_replay.tracker import SessionTracker
from swarmscope_schema.redaction import Redactor
from swarmscope_schema.subjects import REPLAY_REQUEST_PREFIX, STREAM_EVENTS
from swarmscope_service.consumer import BatchConsumer, ConsumerMetrics
from swarmscope_service.health import HttpServer, health_app
from swarmscope_service.lag import LagPoller
from swarmscope_service.lifecycle import retry_until_ready
from swarmscope_service.monitor import MonitorSources, performance_monitor
from swarmscope_service.nats_setup import ensure_replica_durable
from swarmscope_service.request_reply import RequestClient, RequestServer
from swarmscope_service.runtime import ServiceParts, connect_and_provision, nats_ready, serve
from swarmscope_service.settings import load_settings

log = logging.getLogger(__name__)

SERVICE_NAME = "swarmscope-replay"


async def open_store_until_ready(url: str, stop: asyncio.Event) -> SnapshotStore | None:
    """Opens the snapshot store, retrying with backoff while its database is down; None if
    stopped first."""

    async def attempt() -> SnapshotStore:
        store = open_snapshot_store(url)
        try:
            await store.open()
        except Exception:
            with contextlib.suppress(Exception):
                await store.close()
            raise
        return store

    return await retry_until_ready(attempt, stop, what="snapshot database", max_delay=10.0)


async def main(
    stop: asyncio.Event,
    settings: ReplaySettings | None = None,
    nc: NatsClient | None = None,
    source: EventSource | None = None,
    http_port: int | None = None,
) -> None:
    """Runs replay until `stop` is set. A passed NATS connection or event source is used as is."""
    settings = settings or load_settings(ReplaySettings)
    store = await open_store_until_ready(settings.snapshot_database_url(), stop)
    if store is None:
        return
    try:
        await _run(stop, settings, store, nc, source, http_port)
    except BaseException:
        # serve() closes the store on its way out; this covers a failure before it ran.
        with contextlib.suppress(Exception):
            await store.close()
        raise


async def _run(
    stop: asyncio.Event,
    settings: ReplaySettings,
    store: SnapshotStore,
    nc: NatsClient | None,
    source: EventSource | None,
    http_port: int | None,
) -> None:
    nc, js = await connect_and_provision(settings, SERVICE_NAME, nc)
    registry = CollectorRegistry()
    metrics = ReplayMetrics.create(registry)
    cache: StateCache = (
        RedisStateCache(
            settings.redis_url, settings.replay_redis_prefix, settings.replay_cache_ttl_seconds, metrics
        )
        if settings.redis_url
        else LruStateCache(
            settings.replay_cache_states, metrics, max_bytes=settings.replay_cache_mb * 1024 * 1024
        )
    )
    if source is None:
        source = StoreEventSource(
            RequestClient(nc, timeout=settings.replay_store_timeout_seconds),
            timeout=settings.replay_store_timeout_seconds,
        )
    snapshot_cache = SnapshotCache(settings.replay_snapshot_cache_mb * 1024 * 1024, metrics)
    # The window provisioning just gave TRACES: repeats older than it reach the stream.
    window = (await js.stream_info(STREAM_EVENTS)).config.duplicate_window or settings.dedup_window_seconds
    chunk_cache = ChunkCache(settings.replay_chunk_cache_mb * 1024 * 1024, metrics)
    ownership = (
        LeaseOwnership(
            js,
            settings.replay_replica_id,
            settings.replay_partitions,
            lease_seconds=settings.replay_lease_seconds,
        )
        if settings.replay_partitions
        else None
    )
    ordinal = settings.replay_ordinal
    if ordinal is None:
        ordinal = await ownership.claim_ordinal() if ownership is not None else 0
    durable = replica_durable(ordinal)
    if ordinal:
        await ensure_replica_durable(
            js,
            STREAM_EVENTS,
            durable,
            idle_seconds=settings.replay_durable_idle_hours * 3600,
            ack_wait=settings.ack_wait_seconds,
        )
    if ownership is not None:
        # Partitions before the first batch: the consumer does not pass over what it could fold.
        await ownership.start()
    tracker = SessionTracker(
        store,
        source,
        metrics,
        JetStreamPosition(js, durable=durable),
        snapshot_every=settings.replay_snapshot_every,
        capacity=settings.replay_active_sessions,
        compress=settings.replay_snapshot_compression,
        snapshot_cache=snapshot_cache,
        repeats=RepeatFilter(source, float(window)),
        chunk_cache=chunk_cache,
        ownership=ownership,
        takeover_window=settings.replay_takeover_window_hours * 3600,
    )
    states = StateResolver(store, source, cache, snapshot_cache, metrics, tracker, chunk_cache)
    pool = ExpressionPool(
        settings.replay_expression_workers,
        timeout=settings.replay_expression_timeout_seconds,
        memory_mb=settings.replay_expression_memory_mb,
        metrics=metrics,
    )
    republisher = Republisher(js, source, metrics, max_concurrent=settings.replay_max_concurrent_replays)
    operations = ReplayOperations(
        states=states,
        navigator=Navigator(source, states),
        breakpoints=Breakpoints(source, states, pool, scan_timeout=settings.replay_scan_timeout_seconds),
        comparer=Comparer(source, states, max_events=settings.replay_compare_max_events),
        republisher=republisher,
        tracker=tracker,
        ownership=ownership,
    )
    consumer = BatchConsumer(
        js=js,
        stream=STREAM_EVENTS,
        durable=durable,
        handler=tracker.handle,
        metrics=ConsumerMetrics.create(registry),
        batch_size=settings.batch_size,
        fetch_wait=settings.fetch_wait_seconds,
        max_attempts=settings.max_attempts,
        ack_wait=settings.ack_wait_seconds,
        dead_letter_redactor=(
            None
            if settings.dlq_keep_original
            else Redactor(settings.redact_keys, values=settings.redact_values)
        ),
    )
    lag = LagPoller.for_registry(js, [(STREAM_EVENTS, durable)], registry)

    async def warm_sandbox() -> None:
        # The first breakpoint should not pay for starting a worker; failing here is not fatal.
        try:
            await pool.warm()
        except ExpressionError as exc:
            log.warning("expression sandbox not started", extra={"error": str(exc)})
        # A background task that returns would stop the service: wait to be cancelled.
        await asyncio.Event().wait()

    http = HttpServer(
        health_app(registry, {"nats": nats_ready(nc), "snapshots": store.ping, "cache": cache.ping}),
        settings.http_host,
        settings.replay_port if http_port is None else http_port,
    )
    # Replay's queries are its latency figure: the time to answer a state is what a user waits for.
    monitor = performance_monitor(
        js, registry, "replay", MonitorSources(query_histogram="swarmscope_request_seconds")
    )
    parts = ServiceParts(
        nc=nc,
        http=http,
        consumers=[consumer],
        request_servers=[
            RequestServer(nc, REPLAY_REQUEST_PREFIX, operations.table(), registry, queue="replay")
        ],
        background=[
            warm_sandbox,
            lag.run,
            HeapKeeper(interval=settings.replay_gc_freeze_seconds).run,
            *([monitor.run] if monitor else []),
            *([ownership.run] if ownership else []),
            *(
                [functools.partial(tracker.run_takeovers, settings.replay_lease_seconds / 2)]
                if ownership
                else []
            ),
        ],
        # In this order: no replay publishes into a closing connection, states reach their
        # snapshot before the database closes, and only then go the partitions to other replicas.
        closers=[
            republisher.close,
            tracker.flush,
            *([ownership.release] if ownership else []),
            pool.close,
            cache.close,
            store.close,
        ],
    )
    log.info(
        "replay starting",
        extra={
            "port": settings.replay_port if http_port is None else http_port,
            "snapshots": "postgres" if settings.snapshot_database_url().startswith("postgres") else "sqlite",
            "cache": "redis" if settings.redis_url else "memory",
            "durable": durable,
            "partitions": settings.replay_partitions,
        },
    )
    await serve(parts, stop, grace_seconds=settings.shutdown_grace_seconds)
