"""Fixtures of the store tests: both real backends behind one parametrized fixture, canonical
events as ingest publishes them, and a nats-server of the store tests' own."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from swarmscope_dev.nats_server import NatsServer, start_nats_server
from swarmscope_schema.events import TraceEvent, canonical_event_dict
from swarmscope_schema.subjects import event_subject
from swarmscope_service.consumer import Delivery
from swarmscope_store.backend import StoreBackend
from swarmscope_store.database import open_backend
from swarmscope_store.graph import GraphBuilder
from swarmscope_store.queries import StoreQueries
from swarmscope_store.records import EventRecord, decode_event
from swarmscope_store.writer import WriteResult, write_events

BUDGET = 8 * 1024 * 1024


def canonical(event: dict[str, Any], received_at: float | None = None) -> dict[str, Any]:
    """The canonical dict ingest publishes for a wire event (validated, normalized, stamped)."""
    out = canonical_event_dict(TraceEvent.model_validate(event))
    out["received_at"] = received_at if received_at is not None else time.time() * 1000
    return out


def delivery(event: dict[str, Any], seq: int, *, num_delivered: int = 1) -> Delivery:
    body = canonical(event)
    return Delivery(
        subject=event_subject(body["session_id"], body.get("agent_id"), body["type"]),
        data=orjson.dumps(body),
        headers={},
        stream_seq=seq,
        num_delivered=num_delivered,
    )


class Log:
    """Assigns stream sequences the way TRACES would and turns events into records."""

    def __init__(self, retention_hours: float = 168.0) -> None:
        self._seq = itertools.count(1)
        self.retention_hours = retention_hours

    def records(
        self, events: Sequence[dict[str, Any]], seqs: Sequence[int] | None = None
    ) -> list[EventRecord]:
        numbers = list(seqs) if seqs is not None else [next(self._seq) for _ in events]
        return [
            decode_event(delivery(e, s), self.retention_hours) for e, s in zip(events, numbers, strict=True)
        ]


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture(params=["sqlite", "postgres"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of each backend (a fresh Postgres database per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
async def backend(backend_url: str) -> AsyncIterator[StoreBackend]:
    """A migrated, empty backend; every contract test runs once on each."""
    store = await open_backend(backend_url, pool_size=4)
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()


@pytest.fixture
def queries(backend: StoreBackend) -> StoreQueries:
    return StoreQueries(backend, lambda: BUDGET)


@pytest.fixture
def graphs(backend: StoreBackend) -> GraphBuilder:
    return GraphBuilder(backend)


@pytest.fixture
def write(backend: StoreBackend, log: Log) -> Callable[..., Any]:
    """write(events, seqs=None) stores wire events as one batch and returns the WriteResult."""

    async def run(events: Sequence[dict[str, Any]], seqs: Sequence[int] | None = None) -> WriteResult:
        return await write_events(backend, log.records(events, seqs))

    return run


@pytest.fixture(scope="module")
def store_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server for this module: no other package's backlog on TRACES reaches these tests."""
    server = start_nats_server(tmp_path_factory.mktemp("store-nats"))
    try:
        yield server
    finally:
        server.stop()
