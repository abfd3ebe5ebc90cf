"""The consumer handlers: what is acked, dead-lettered or retried, on real databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import pytest
from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry, Histogram

from swarmscope_schema.requests import ErrorCode, SessionRef
from swarmscope_schema.subjects import DlqReason
from swarmscope_schema.testing import make_event
from swarmscope_service.consumer import Delivery, RetryableError, Verdict
from swarmscope_service.request_reply import ServiceError
from swarmscope_store.backend import DataRejected, StoreBackend, Tx
from swarmscope_store.database import open_backend
from swarmscope_store.graph import GraphBuilder
from swarmscope_store.handlers import DeadLetterHandler, EventsHandler
from swarmscope_store.metrics import LATENCY_BUCKETS, StoreMetrics, observe_many
from swarmscope_store.operations import store_operations
from swarmscope_store.progress import CommittedProgress
from swarmscope_store.queries import StoreQueries
from swarmscope_store.records import EventRecord
from swarmscope_store.retention import RetentionJob

from .conftest import delivery


def handler(backend: StoreBackend) -> tuple[EventsHandler, StoreMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = StoreMetrics.create(registry)
    return EventsHandler(backend, metrics, retention_hours=168, durable="store"), metrics, registry


async def test_undecodable_events_are_dead_lettered_and_the_rest_stored(tmp_path: Path) -> None:
    backend = await open_backend(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await backend.migrate()
        events, _, registry = handler(backend)
        good = [delivery(make_event("tool_call", session_id="h"), seq) for seq in (1, 2)]
        bad = [
            Delivery("traces.events.h._.x", b"{not json", {}, 3, 1),
            Delivery("traces.events.h._.x", b"[1, 2]", {}, 4, 1),
            Delivery("traces.events.h._.x", b'{"id": "x", "session_id": "h", "type": "t"}', {}, 5, 1),
            Delivery("traces.events.h._.x", b"\xff\xfe", {}, 6, 1),
        ]
        decisions = await events([good[0], *bad, good[1]])
        assert [d.verdict for d in decisions] == [Verdict.ACK] + [Verdict.DEAD] * 4 + [Verdict.ACK]
        assert {d.reason for d in decisions[1:5]} == {DlqReason.UNPROCESSABLE}
        assert "timestamp" in decisions[3].detail
        assert registry.get_sample_value("swarmscope_store_rows_committed_total", {"table": "events"}) == 2
        # a redelivery is acked again and counted as duplicates, never stored twice
        again = await events([delivery(make_event("tool_call", session_id="h", event_id="z"), 1)])
        assert [d.verdict for d in again] == [Verdict.ACK]
        assert (
            registry.get_sample_value("swarmscope_store_duplicates_skipped_total", {"table": "events"}) == 1
        )
        assert registry.get_sample_value("swarmscope_store_stored_latency_seconds_count") == 2
    finally:
        await backend.close()


class _Refusing:
    """A real backend that refuses (as a database would) any batch holding a poisoned seq."""

    def __init__(self, inner: StoreBackend, poison: set[int]) -> None:
        self._inner = inner
        self._poison = poison
        self.name = inner.name
        self.dialect = inner.dialect

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def insert_events(self, tx: Tx, records: Sequence[EventRecord]) -> list[int]:
        if any(r.seq in self._poison for r in records):
            raise DataRejected("value out of range")
        return await self._inner.insert_events(tx, records)


async def test_a_refused_event_is_isolated_and_dead_lettered(tmp_path: Path) -> None:
    inner = await open_backend(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await inner.migrate()
        events, _, registry = handler(_Refusing(inner, {3}))
        batch = [delivery(make_event("tool_call", session_id="iso"), seq) for seq in range(1, 6)]
        decisions = await events(batch)
        assert [d.verdict for d in decisions] == [
            Verdict.ACK,
            Verdict.ACK,
            Verdict.DEAD,
            Verdict.ACK,
            Verdict.ACK,
        ]
        assert decisions[2].reason is DlqReason.UNPROCESSABLE
        assert registry.get_sample_value("swarmscope_store_rows_committed_total", {"table": "events"}) == 4
        assert registry.get_sample_value("swarmscope_store_events_dead_lettered_total") == 1
    finally:
        await inner.close()


async def _set_connections(admin_url: str, database: str, allow: bool) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
            )
    finally:
        await conn.close()


async def test_database_outage_raises_retryable_and_writing_resumes(
    fresh_postgres_url: str, postgres_admin_url: str
) -> None:
    database = urlsplit(fresh_postgres_url).path.lstrip("/")
    backend = await open_backend(fresh_postgres_url, pool_size=2)
    try:
        await backend.migrate()
        events, _, registry = handler(backend)
        dlq = DeadLetterHandler(backend, StoreMetrics.create(CollectorRegistry()), durable="store-dlq")
        await _set_connections(postgres_admin_url, database, allow=False)
        batch = [delivery(make_event("tool_call", session_id="out"), seq) for seq in (1, 2)]
        with pytest.raises(RetryableError):
            await events(batch)
        with pytest.raises(RetryableError):
            await dlq([Delivery("traces.dlq.invalid_json", b"x", {}, 1, 1)])
        assert not await backend.ping()
        ops = store_operations(
            StoreQueries(backend, lambda: 1 << 20),
            GraphBuilder(backend),
            # Never asked here: `progress` reads NATS, not the database.
            CommittedProgress(NatsClient().jetstream()),
        )
        with pytest.raises(ServiceError) as info:
            await ops["session"].handle(SessionRef(session_id="out"))
        assert info.value.code is ErrorCode.UNAVAILABLE
        assert (
            registry.get_sample_value(
                "swarmscope_store_write_failures_total", {"table": "events", "kind": "unavailable"}
            )
            == 1
        )
        await _set_connections(postgres_admin_url, database, allow=True)
        for _ in range(50):
            if await backend.ping():
                break
            await asyncio.sleep(0.1)
        decisions = await events(batch)
        assert [d.verdict for d in decisions] == [Verdict.ACK, Verdict.ACK]
        assert registry.get_sample_value("swarmscope_store_rows_committed_total", {"table": "events"}) == 2
    finally:
        await _set_connections(postgres_admin_url, database, allow=True)
        await backend.close()


def test_observe_many_matches_observe() -> None:
    registry = CollectorRegistry()
    one = Histogram("one_seconds", "x", buckets=LATENCY_BUCKETS, registry=registry)
    many = Histogram("many_seconds", "x", buckets=LATENCY_BUCKETS, registry=registry)
    values = [0.0, 0.005, 0.0051, 0.3, 59.9, 60.0, 1e6, 2.5] * 3
    for value in values:
        one.observe(value)
    observe_many(many, values)
    for bound in [*LATENCY_BUCKETS, float("inf")]:
        label = {"le": str(float(bound)) if bound != float("inf") else "+Inf"}
        assert registry.get_sample_value("one_seconds_bucket", label) == registry.get_sample_value(
            "many_seconds_bucket", label
        )
    assert registry.get_sample_value("many_seconds_count") == len(values)
    assert registry.get_sample_value("many_seconds_sum") == pytest.approx(sum(values))


async def test_retention_job_counts_what_it_removed(tmp_path: Path) -> None:
    backend = await open_backend(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await backend.migrate()
        registry = CollectorRegistry()
        metrics = StoreMetrics.create(registry)
        events, _, _ = handler(backend)
        expiring = make_event("tool_call", session_id="ret", metadata={"retention": 0.5})
        await events([delivery(expiring, 1)])
        now = time.time()
        job = RetentionJob(backend, metrics, retention_hours=1.0, interval=3600, clock=lambda: now)
        assert (await job.run_once()).events == 0
        later = RetentionJob(backend, metrics, retention_hours=1.0, interval=3600, clock=lambda: now + 3600)
        result = await later.run_once()
        assert (result.events, result.sessions) == (1, 1)
        assert registry.get_sample_value("swarmscope_store_retention_deleted_total", {"kind": "events"}) == 1
        assert (
            registry.get_sample_value("swarmscope_store_retention_deleted_total", {"kind": "sessions"}) == 1
        )
    finally:
        await backend.close()
