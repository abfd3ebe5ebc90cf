"""Scale-out by session: partition leases in a real JetStream KV bucket, and a tracker that folds
only what it holds and catches a gained partition's sessions up exactly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient

from swarmscope_dev.replay import make_engine, snapshot_state, stored, synthetic_session
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.ownership import (
    LeaseOwnership,
    OrdinalLost,
    partition_of,
    replica_durable,
    session_of_subject,
)
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.snapshots import SnapshotStore
from swarmscope_schema.subjects import event_subject
from swarmscope_service.consumer import RetryableError


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.close()


def leases(nc: NatsClient, bucket: str, replica: str, lease: float = 1.5) -> LeaseOwnership:
    return LeaseOwnership(nc.jetstream(), replica, 8, lease_seconds=lease, bucket=bucket)


async def until(condition: Any, *owners: LeaseOwnership, rounds: int = 100) -> None:
    """Ticks every owner until `condition()` holds (a bounded number of rounds)."""
    for _ in range(rounds):
        if condition():
            return
        for owner in owners:
            await owner.tick()
        await asyncio.sleep(0.1)
    raise AssertionError("the leases did not settle")


def test_partitions_and_durables_are_stable_names() -> None:
    assert partition_of("swarm-demo-01", 32) == partition_of("swarm-demo-01", 32)
    assert {partition_of(f"s{i}", 8) for i in range(200)} == set(range(8))
    assert replica_durable(0) == "replay"
    assert replica_durable(3) == "replay-3"
    assert session_of_subject(event_subject("s-1", "a", "task_start")) == "s-1"
    assert session_of_subject("traces.events.s-1") is None


async def test_two_replicas_share_the_partitions_and_one_takes_over_a_dead_one(nc: NatsClient) -> None:
    bucket = f"test-leases-{uuid.uuid4().hex[:8]}"
    a = leases(nc, bucket, "a")
    await a.start()
    assert a.held() == frozenset(range(8))  # alone: everything
    b = leases(nc, bucket, "b")
    await b.start()
    await until(lambda: len(a.held()) == 4 and len(b.held()) == 4, a, b)
    assert a.held() | b.held() == frozenset(range(8))
    assert not a.held() & b.held()
    # a dies: it renews nothing any more. Once its leases expire, b holds everything.
    await until(lambda: b.held() == frozenset(range(8)), b)
    assert a.held() == frozenset()  # stale locally too: a would fold nothing


async def test_a_graceful_release_hands_over_at_once(nc: NatsClient) -> None:
    bucket = f"test-leases-{uuid.uuid4().hex[:8]}"
    a, b = leases(nc, bucket, "a", lease=30), leases(nc, bucket, "b", lease=30)
    await a.start()
    await b.start()
    await until(lambda: len(a.held()) == 4 and len(b.held()) == 4, a, b)
    await a.release()
    assert a.held() == frozenset()
    await until(lambda: b.held() == frozenset(range(8)), b, rounds=5)


async def test_replicas_lease_the_lowest_free_ordinals_and_one_that_loses_its_own_stops(
    nc: NatsClient,
) -> None:
    bucket = f"test-leases-{uuid.uuid4().hex[:8]}"
    a, b = leases(nc, bucket, "a"), leases(nc, bucket, "b")
    assert (await a.claim_ordinal(), await b.claim_ordinal()) == (0, 1)
    await a.release()
    c = leases(nc, bucket, "c")
    assert await c.claim_ordinal() == 0  # a left: its ordinal (and durable) is free again
    kv = await nc.jetstream().key_value(bucket)
    await kv.delete("o.1")  # b's lease is gone (expired while it stalled, say)
    with pytest.raises(OrdinalLost):
        await b.tick()


class Holding:
    """An Ownership holding a fixed, changeable set of partitions (the tracker's view of leases)."""

    def __init__(self, partitions: int, held: set[int]) -> None:
        self.partitions = partitions
        self.now = frozenset(held)

    def held(self) -> frozenset[int]:
        return self.now

    def partition_of(self, session_id: str) -> int:
        return partition_of(session_id, self.partitions)


def truth(events: list[dict[str, Any]], session_id: str) -> dict[str, Any]:
    return fold(initial_state(session_id), [e for e in events if e["session_id"] == session_id])


async def test_a_tracker_folds_only_what_it_holds_and_catches_up_what_it_gains(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics
) -> None:
    ids = [f"own-{i}" for i in range(12)]
    mine = {sid for sid in ids if partition_of(sid, 4) in (0, 1)}
    assert mine
    assert len(mine) < len(ids)
    sessions = [stored(synthetic_session(sid, 120, seed=i)) for i, sid in enumerate(ids)]
    merged = [e for batch in zip(*sessions, strict=True) for e in batch]
    log = [{**e, "seq": i + 1} for i, e in enumerate(merged)]
    holding = Holding(4, {0, 1})
    engine = make_engine(sqlite_store, metrics, every=25, ownership=holding)
    third = len(log) // 3
    await engine.consume(log[:third], batch=50)
    for sid in ids:
        cursor = engine.tracker.current(sid)
        assert (cursor is not None) == (sid in mine)
    # The partitions change hands: this replica passes over the events of the sessions it
    # folded so far, and then gets every partition back (the other holder died). The store has
    # everything it passed over.
    holding.now = frozenset({2, 3})
    await engine.consume(log[third : 2 * third], batch=50)
    assert all(engine.tracker.current(sid) is None for sid in mine)
    holding.now = frozenset(range(4))
    await engine.consume(log[2 * third :], batch=50)
    for sid in ids:
        cursor = engine.tracker.current(sid)
        assert cursor is not None
        assert cursor.state == truth(log, sid)
        snapshot = await sqlite_store.nearest(sid, 10**9)
        assert snapshot is not None
        assert await snapshot_state(sqlite_store, snapshot) == fold(
            initial_state(sid), [e for e in log if e["session_id"] == sid and e["seq"] <= snapshot.seq]
        )
    # Losing partitions drops their sessions from memory (their new holder rebuilds them).
    holding.now = frozenset({0})
    await engine.tracker.handle([])
    left = {sid for sid in ids if engine.tracker.current(sid) is not None}
    assert left == {sid for sid in ids if partition_of(sid, 4) == 0}


async def test_a_gained_partition_is_caught_up_without_waiting_for_new_events(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics
) -> None:
    ids = [f"idle-{i}" for i in range(8)]
    sessions = [stored(synthetic_session(sid, 90, seed=40 + i)) for i, sid in enumerate(ids)]
    log = [
        {**e, "seq": i + 1} for i, e in enumerate(e for batch in zip(*sessions, strict=True) for e in batch)
    ]
    holding = Holding(2, {0, 1})
    engine = make_engine(sqlite_store, metrics, every=1000, ownership=holding)
    half = len(log) // 2
    await engine.consume(log[:half], batch=40)
    holding.now = frozenset()  # another replica holds everything for the second half
    await engine.consume(log[half:], batch=40)
    assert all(engine.tracker.current(sid) is None for sid in ids)
    # That replica dies after the last event: nothing more comes, yet every session is brought up,
    # once the store has everything (until then the takeover is tried again with every batch).
    holding.now = frozenset({0, 1})
    covers = engine.source.covers

    async def behind(seq: int) -> bool:
        return False

    engine.source.covers = behind  # type: ignore[method-assign]
    with pytest.raises(RetryableError):
        await engine.tracker.handle([])
    assert all(engine.tracker.current(sid) is None for sid in ids)
    engine.source.covers = covers  # type: ignore[method-assign]
    await engine.tracker.handle([])
    for sid in ids:
        cursor = engine.tracker.current(sid)
        assert cursor is not None
        assert cursor.state == truth(log, sid)
        snapshot = await sqlite_store.nearest(sid, 10**9)
        assert snapshot is not None
        assert snapshot.seq == max(e["seq"] for e in log if e["session_id"] == sid)
        assert await snapshot_state(sqlite_store, snapshot) == truth(log, sid)
    assert metrics.snapshots.labels("takeover")._value.get() == len(ids)
