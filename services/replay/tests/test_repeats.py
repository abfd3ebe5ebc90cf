"""Replay folds each event once by (session_id, id), also when a repeat reaches TRACES after its
duplicate window (with a new seq); it waits for the store only when an earlier copy could still be
uncommitted."""

from __future__ import annotations

import pytest

from swarmscope_dev.replay import MemoryEventSource, deliveries, make_engine, stored
from swarmscope_dev.story import story_session
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.repeats import NS, RepeatFilter
from swarmscope_replay.snapshots import SnapshotStore
from swarmscope_service.consumer import Delivery, RetryableError


def _timed(events: list[dict[str, object]], start_ns: int, step_ns: int) -> list[Delivery]:
    """Deliveries with TRACES timestamps `step_ns` apart."""
    out = []
    for i, delivery in enumerate(deliveries(events)):
        out.append(
            Delivery(
                subject=delivery.subject,
                data=delivery.data,
                headers={},
                stream_seq=delivery.stream_seq,
                num_delivered=1,
                timestamp_ns=start_ns + i * step_ns,
            )
        )
    return out


async def test_a_repeat_after_the_window_is_not_folded_again(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics
) -> None:
    log = stored(story_session("A"))
    # The same id again, much later in the log and with other content (a task_create once more):
    # the store keeps the first copy, so the state must not see the second.
    original = next(e for e in log if e["type"] == "task_create")
    repeat = {**original, "seq": len(log) + 1, "data": {**original["data"], "description": "again"}}
    engine = make_engine(sqlite_store, metrics, every=1000)
    await engine.consume([*log, repeat])
    assert len(await engine.source.events("A")) == len(log)  # what the store holds
    cursor = engine.tracker.current("A")
    assert cursor is not None
    assert cursor.state == fold(initial_state("A"), log)
    assert cursor.events == len(log)


async def test_an_id_reused_in_another_session_is_folded_in_both(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics
) -> None:
    a = stored(story_session("A"))
    b = [{**e, "session_id": "B", "seq": e["seq"] + len(a)} for e in a]
    engine = make_engine(sqlite_store, metrics, every=1000)
    await engine.consume([*a, *b])
    for session, events in (("A", a), ("B", b)):
        cursor = engine.tracker.current(session)
        assert cursor is not None
        assert cursor.events == len(events)


async def test_an_event_the_store_holds_elsewhere_is_skipped_whatever_the_order() -> None:
    # With several store replicas the stored copy may be the later one: replay follows the store.
    source = MemoryEventSource()
    source.add([{"id": "x", "session_id": "S", "type": "tool_call", "seq": 9}])
    repeats = RepeatFilter(source, 120.0, wait=0.1)
    early = {"id": "x", "session_id": "S", "type": "tool_call", "seq": 4}
    late = {"id": "x", "session_id": "S", "type": "tool_call", "seq": 9}
    assert await repeats.keep({"S": [early]}, {}) == {}
    assert await repeats.keep({"S": [late]}, {}) == {"S": [late]}


async def test_a_new_event_needs_the_store_only_up_to_one_window_back() -> None:
    source = MemoryEventSource()
    repeats = RepeatFilter(source, 120.0, wait=0.1)
    events = [{"id": f"e{seq}", "session_id": "S", "type": "tool_call", "seq": seq} for seq in range(1, 401)]
    # One event per second of TRACES time from t = 1000 s, seen in batches of 50 (checkpoints at
    # seqs 1, 51, 101, … 351).
    timed = _timed(events, 1_000 * NS, NS)
    for start in range(0, len(timed), 50):
        repeats.observe(timed[start : start + 50])
    newest = timed[-1]  # seq 400 at t = 1399 s: an earlier copy is from before t = 1284 s (+ skew)
    assert repeats.horizon(newest.stream_seq, newest.timestamp_ns) == 300
    middle = timed[199]  # seq 200 at t = 1199 s
    assert repeats.horizon(middle.stream_seq, middle.timestamp_ns) == 100
    at = {d.stream_seq: d.timestamp_ns for d in timed}
    # The store has committed up to the horizon, not up to the event: the event is new, kept.
    source.covered_seq = 300
    assert await repeats.keep({"S": [events[-1]]}, at) == {"S": [events[-1]]}
    # Not yet up to the horizon: an earlier copy could still be uncommitted; wait, then retry.
    source.covered_seq = 299
    with pytest.raises(RetryableError, match="waiting for the store"):
        await repeats.keep({"S": [events[-1]]}, at)


async def test_without_timestamps_a_new_event_waits_for_the_store_to_catch_up() -> None:
    source = MemoryEventSource()
    source.add([{"id": "a", "session_id": "S", "type": "tool_call", "seq": 1}])
    source.covered_seq = 1
    repeats = RepeatFilter(source, 120.0, wait=0.1)
    assert await repeats.keep({"S": [{"id": "b", "session_id": "S", "type": "x", "seq": 2}]}, {}) != {}
    with pytest.raises(RetryableError):
        await repeats.keep({"S": [{"id": "c", "session_id": "S", "type": "x", "seq": 5}]}, {})
