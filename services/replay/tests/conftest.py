"""Fixtures of the replay tests: real snapshot stores (SQLite, Postgres), the in-memory event
source, a resolver wired like the service, and a replay engine that folds a log into snapshots."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from swarmscope_dev.replay import Engine, make_engine
from swarmscope_dev.stack import LocalStack
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.snapshot_database import open_snapshot_store
from swarmscope_replay.snapshots import SnapshotStore


@pytest.fixture
def metrics() -> ReplayMetrics:
    return ReplayMetrics.create(CollectorRegistry())


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SnapshotStore]:
    store = open_snapshot_store(f"sqlite:///{tmp_path / 'replay.db'}")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A snapshot database of each kind; contract tests run once on each."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'replay.db'}"
    # The run's database (creating one per test costs a second); any_store empties replay's tables.
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def any_store(store_url: str) -> AsyncIterator[SnapshotStore]:
    store = open_snapshot_store(store_url)
    await store.open()
    if store_url.startswith("postgresql"):
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(store_url)
        try:
            await conn.execute("TRUNCATE replay_snapshots, replay_sessions, replay_chunks")
        finally:
            await conn.close()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def engine(sqlite_store: SnapshotStore, metrics: ReplayMetrics) -> Engine:
    return make_engine(sqlite_store, metrics, every=10)


@pytest.fixture(scope="session")
def store_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A nats-server of the replay tests' own and the real store service (subprocess, SQLite)."""
    stack = LocalStack(
        data_dir=tmp_path_factory.mktemp("replay-stack"),
        services=("store",),
        env={"SWARMSCOPE_LOG_LEVEL": "WARNING"},
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
async def stack_nc(store_stack: LocalStack) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(str(store_stack.nats_url))
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture
def session_prefix() -> str:
    """A prefix for session ids, unique per test (the stack is shared by the run)."""
    return f"t{uuid.uuid4().hex[:10]}"
