"""The `replay` durable's handler: interleaved sessions, snapshots, redelivery, eviction, crash
recovery from the store, and bad messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope_dev.replay import (
    Engine,
    MemoryEventSource,
    deliveries,
    make_engine,
    snapshot_state,
    stored,
    synthetic_session,
)
from swarmscope_dev.story import story_session
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.snapshot_database import open_snapshot_store
from swarmscope_replay.snapshots import SnapshotStore
from swarmscope_service.consumer import Delivery, RetryableError, Verdict


def interleaved(*sessions: list[dict[str, object]]) -> list[dict[str, object]]:
    """Round-robin merge of sessions' stored events, renumbered as one global log."""
    merged = []
    queues = [list(s) for s in sessions]
    while any(queues):
        for queue in queues:
            if queue:
                merged.append(queue.pop(0))
    return [{**e, "seq": i + 1} for i, e in enumerate(merged)]


def truth(events: list[dict[str, object]], session_id: str, seq: int) -> dict[str, object]:
    return fold(
        initial_state(session_id),
        [e for e in events if e["session_id"] == session_id and int(e["seq"]) <= seq],
    )  # type: ignore[call-overload]


async def test_interleaved_sessions_each_get_exact_state_and_snapshots_every_n(engine: Engine) -> None:
    log = interleaved(stored(story_session("A")), stored(synthetic_session("B", 120, seed=1)))
    await engine.consume(log, batch=37)
    for session_id in ("A", "B"):
        last = max(int(e["seq"]) for e in log if e["session_id"] == session_id)
        cursor = engine.tracker.current(session_id)
        assert cursor is not None
        assert cursor.state == truth(log, session_id, last)
        assert cursor.applied_seq == last
        # Snapshots every 10 events of the session, and one at session_end.
        count = sum(1 for e in log if e["session_id"] == session_id)
        stats = await engine.store.stats(session_id)
        assert stats.snapshots == count // 10 + (1 if count % 10 else 0)
    snapshot = await engine.store.nearest("A", 10**9)
    assert snapshot is not None
    assert await snapshot_state(engine.store, snapshot) == truth(log, "A", 10**9)
    assert (await snapshot_state(engine.store, snapshot))["session"]["status"] == "completed"


async def test_redelivery_changes_nothing(engine: Engine) -> None:
    log = stored(story_session("A"))
    await engine.consume(log, batch=20)
    before = engine.tracker.current("A")
    stats = await engine.store.stats()
    decisions = await engine.tracker.handle(deliveries(log[5:40], redelivered=True))
    assert all(d.verdict is Verdict.ACK for d in decisions)
    assert engine.tracker.current("A") == before
    assert await engine.store.stats() == stats


async def test_restart_reloads_from_snapshot_and_catches_up_from_the_store(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics
) -> None:
    log = stored(synthetic_session("A", 95, seed=3))
    first = make_engine(sqlite_store, metrics, every=20)
    await first.consume(log[:73], batch=10)
    # A new process: nothing in memory; the last snapshot is at the 60th event, 73 were applied.
    second = make_engine(sqlite_store, metrics, source=first.source, position=first.position, every=20)
    progress = await sqlite_store.progress("A")
    assert progress is not None
    assert (progress.applied_seq, progress.snapshot_seq) == (73, 60)
    # The durable redelivers the unacked tail from 70 on: 70..73 are skipped, the rest applied.
    await second.consume(log[69:], batch=10)
    cursor = second.tracker.current("A")
    assert cursor is not None
    assert cursor.state == truth(log, "A", 95)
    assert cursor.events == 95


async def test_a_cold_session_waits_for_the_store_to_hold_what_was_applied(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics
) -> None:
    log = stored(synthetic_session("A", 30, seed=4))
    first = make_engine(sqlite_store, metrics, every=100)
    await first.consume(log[:25])
    lagging = MemoryEventSource(log[:10])
    lagging.covered_seq = 10
    second = make_engine(sqlite_store, metrics, source=lagging, position=first.position, every=100)
    with pytest.raises(RetryableError, match="waiting for the store"):
        await second.tracker.handle(deliveries(log[25:]))
    assert second.tracker.current("A") is None
    lagging.add(log)
    lagging.covered_seq = None
    await second.tracker.handle(deliveries(log[25:]))
    cursor = second.tracker.current("A")
    assert cursor is not None
    assert cursor.state == truth(log, "A", 30)


async def test_evicted_sessions_are_snapshotted_and_reload_exactly(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics
) -> None:
    s = [stored(synthetic_session(f"S{i}", 24, seed=i)) for i in range(4)]
    # S0 and S1 run, then S2 and S3 push them out of memory, then S0 and S1 go on.
    phases = [interleaved(s[0][:12], s[1][:12]), interleaved(s[2], s[3]), interleaved(s[0][12:], s[1][12:])]
    log = [{**e, "seq": i + 1} for i, e in enumerate(e for phase in phases for e in phase)]
    engine = make_engine(sqlite_store, metrics, every=1000, capacity=2)
    await engine.consume(log, batch=8)
    assert engine.tracker.sessions_in_memory == 2
    assert metrics.snapshots.labels("eviction")._value.get() == 2  # S0 and S1; S2 and S3 had ended
    for i in range(4):
        snapshot = await sqlite_store.nearest(f"S{i}", 10**9)
        cursor = engine.tracker.current(f"S{i}")
        state = cursor.state if cursor is not None else await snapshot_state(engine.store, snapshot)  # type: ignore[arg-type]
        assert state == truth(log, f"S{i}", 10**9)


async def test_flush_snapshots_every_session_ahead_of_its_snapshot(engine: Engine) -> None:
    log = stored(synthetic_session("A", 15, seed=5))
    await engine.consume(log)
    assert (await engine.store.stats("A")).snapshots == 2  # at 10 and at session_end
    log2 = stored(synthetic_session("B", 7, seed=6)[:-1], start=100)
    await engine.consume(log2)
    await engine.tracker.flush()
    snapshot = await engine.store.nearest("B", 10**9)
    assert snapshot is not None
    assert snapshot.seq == log2[-1]["seq"]
    assert await snapshot_state(engine.store, snapshot) == truth(log2, "B", 10**9)


async def test_messages_that_are_not_events_are_dead_lettered_and_the_rest_applied(engine: Engine) -> None:
    log = stored(story_session("A"))[:3]
    engine.source.add(log)  # the store holds them first, as in production
    good = deliveries(log)
    bad = [
        Delivery(subject="traces.events.A._.x", data=b"{not json", headers={}, stream_seq=4, num_delivered=1),
        Delivery(subject="traces.events.A._.x", data=b"[1, 2]", headers={}, stream_seq=5, num_delivered=1),
        Delivery(
            subject="traces.events.A._.x", data=b'{"type": "x"}', headers={}, stream_seq=6, num_delivered=1
        ),
    ]
    decisions = await engine.tracker.handle([*good, *bad])
    assert [d.verdict for d in decisions] == [Verdict.ACK] * 3 + [Verdict.DEAD] * 3
    cursor = engine.tracker.current("A")
    assert cursor is not None
    assert cursor.applied_seq == 3


async def test_a_failing_snapshot_store_leaves_memory_unchanged_and_retries(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics
) -> None:
    log = stored(synthetic_session("A", 30, seed=8))
    engine = make_engine(sqlite_store, metrics, every=10)
    engine.source.add(log)
    await engine.tracker.handle(deliveries(log[:12]))
    before = engine.tracker.current("A")
    await sqlite_store.close()
    with pytest.raises(RetryableError):
        await engine.tracker.handle(deliveries(log[12:]))
    assert engine.tracker.current("A") == before


async def test_events_are_applied_in_log_order_whatever_the_delivery_order(engine: Engine) -> None:
    log = interleaved(stored(synthetic_session("A", 60, seed=9)), stored(synthetic_session("B", 40, seed=10)))
    engine.source.add(log)
    first, second, third = log[:30], log[30:70], log[70:]
    # The first batch was nak'd (e.g. the store was behind) and comes back after the second: the
    # gap is read from the stream, so the second batch is applied at once, in order.
    decisions = await engine.tracker.handle(deliveries(second))
    assert {d.verdict for d in decisions} == {Verdict.ACK}
    for batch in (third, first, second):
        decisions = await engine.tracker.handle(deliveries(batch))
        assert {d.verdict for d in decisions} == {Verdict.ACK}
    for session_id in ("A", "B"):
        cursor = engine.tracker.current(session_id)
        assert cursor is not None
        assert cursor.state == truth(log, session_id, 10**9)


async def test_deliveries_beyond_a_gap_too_long_to_read_at_once_wait(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = stored(synthetic_session("A", 40, seed=14))
    engine.source.add(log)
    monkeypatch.setattr("swarmscope_replay.tracker.MAX_GAP_READS", 3)
    decisions = await engine.tracker.handle(deliveries([*log[:10], *log[15:20]]))
    assert [d.verdict for d in decisions] == [Verdict.ACK] * 10 + [Verdict.NAK] * 5
    cursor = engine.tracker.current("A")
    assert cursor is not None
    assert cursor.applied_seq == 13  # 10 delivered, 3 read from the stream
    for batch in (log[15:20], log[20:]):
        await engine.tracker.handle(deliveries(batch))
    cursor = engine.tracker.current("A")
    assert cursor is not None
    assert cursor.state == truth(log, "A", 10**9)


async def test_holes_the_stream_no_longer_holds_are_skipped(engine: Engine) -> None:
    log = stored(synthetic_session("A", 30, seed=12), start=5, step=3)  # seqs 5, 8, 11, ...
    await engine.consume(log, batch=7)
    cursor = engine.tracker.current("A")
    assert cursor is not None
    assert cursor.state == truth(log, "A", 10**9)


async def test_a_fresh_replay_database_catches_sessions_up_from_the_store(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics, tmp_path: Path
) -> None:
    log = stored(synthetic_session("A", 80, seed=13))
    first = make_engine(sqlite_store, metrics, every=1000)
    await first.consume(log[:50])
    fresh = open_snapshot_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    await fresh.open()
    try:
        second = make_engine(fresh, metrics, source=first.source, position=first.position, every=1000)
        await second.consume(log[50:])
        cursor = second.tracker.current("A")
        assert cursor is not None
        assert cursor.state == truth(log, "A", 10**9)
    finally:
        await fresh.close()


async def test_a_state_costs_one_store_request_on_top_of_its_snapshot(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics
) -> None:
    log = stored(synthetic_session("A", 1200, seed=15))
    engine = make_engine(sqlite_store, metrics, every=500, use_tracker_state=False)
    await engine.consume(log)
    for seq in (1, 499, 500, 501, 777, 1199):
        before = engine.source.requests
        state = await engine.states.at_seq("A", seq)
        assert state == truth(log, "A", seq)
        assert engine.source.requests - before == (0 if seq == 500 else 1), seq
