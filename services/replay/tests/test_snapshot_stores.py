"""The snapshot store contract, run against SQLite and Postgres."""

from __future__ import annotations

import dataclasses
import time

import pytest
from prometheus_client import CollectorRegistry

from swarmscope_dev.replay import make_engine, stored, synthetic_session
from swarmscope_dev.story import story_session
from swarmscope_replay.cache import LruStateCache, SnapshotCache
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.snapshots import (
    SessionProgress,
    SnapshotCorrupt,
    SnapshotStore,
    make_chunk,
    make_snapshot,
)
from swarmscope_replay.states import StateResolver


def states_at(*seqs: int) -> list[dict[str, object]]:
    events = stored(story_session("s"))
    return [fold(initial_state("s"), [e for e in events if e["seq"] <= seq]) for seq in seqs]


@pytest.mark.parametrize("compress", [True, False])
async def test_snapshots_round_trip_and_nearest_finds_the_greatest_seq_at_or_below(
    any_store: SnapshotStore, compress: bool
) -> None:
    s10, s20, s30 = states_at(10, 20, 30)
    snaps = [make_snapshot(s, events=i * 10, compress=compress) for i, s in enumerate((s10, s20, s30), 1)]
    await any_store.save(snaps, [SessionProgress("s", 30, 30, 30)])
    assert await any_store.nearest("s", 9) is None
    for seq, expected in ((10, s10), (19, s10), (20, s20), (29, s20), (30, s30), (10**12, s30)):
        snapshot = await any_store.nearest("s", seq)
        assert snapshot is not None
        assert snapshot.state() == expected
    assert await any_store.nearest("other", 100) is None
    found = await any_store.nearest("s", 25)
    assert found is not None
    assert (found.seq, found.events, found.timestamp) == (20, 20, s20["timestamp"])
    ref = await any_store.nearest_ref("s", 25)
    assert ref is not None
    assert (ref.seq, ref.size) == (20, found.size)
    assert await any_store.nearest_ref("s", 9) is None
    loaded = await any_store.load("s", 20)
    assert loaded == found
    assert await any_store.load("s", 21) is None
    stats = await any_store.stats("s")
    assert stats.snapshots == 3
    assert stats.state_bytes == sum(s.size for s in snaps)
    assert await any_store.ping()


async def test_saves_are_idempotent_and_progress_never_moves_back(any_store: SnapshotStore) -> None:
    (s10,) = states_at(10)
    snapshot = make_snapshot(s10, events=10, compress=True)
    await any_store.save([snapshot], [SessionProgress("s", 12, 10, 12)])
    # A redelivered batch writes the same snapshot and an older progress row again.
    await any_store.save([snapshot], [SessionProgress("s", 11, 10, 11)])
    assert (await any_store.stats("s")).snapshots == 1
    assert await any_store.progress("s") == SessionProgress("s", 12, 10, 12)
    await any_store.save([], [SessionProgress("s", 15, 10, 15)])
    assert await any_store.progress("s") == SessionProgress("s", 15, 10, 15)
    assert await any_store.progress("nobody") is None
    assert [p.session_id for p in await any_store.recent_progress(time.time() - 60)] == ["s"]
    assert await any_store.recent_progress(time.time() + 60) == []


async def test_a_snapshot_whose_bytes_do_not_match_its_hash_is_refused(any_store: SnapshotStore) -> None:
    (s10,) = states_at(10)
    good = make_snapshot(s10, events=10, compress=False)
    bad = dataclasses.replace(good, payload=good.payload.replace(b'"active"', b'"hacked"'))
    with pytest.raises(SnapshotCorrupt):
        bad.state()
    await any_store.save([bad], [])
    loaded = await any_store.nearest("s", 10)
    assert loaded is not None
    with pytest.raises(SnapshotCorrupt):
        loaded.state()


def test_snapshot_size_is_linear_in_the_state_not_in_the_history() -> None:
    # The same small state after a long and after a short history has the same size.
    events = stored(story_session("s"))
    short = fold(initial_state("s"), events)
    noise = [
        {**events[-1], "id": f"n{i}", "seq": 1000 + i, "type": "custom.tick", "data": {}, "phase": "complete"}
        for i in range(2000)
    ]
    long = fold(short, noise)
    a = make_snapshot(short, events=len(events), compress=False)
    b = make_snapshot(long, events=len(events) + 2000, compress=False)
    assert abs(a.size - b.size) < 64


@pytest.mark.parametrize("compress", [True, False])
async def test_chunks_round_trip_once_each_and_in_batches(any_store: SnapshotStore, compress: bool) -> None:
    chunks = [make_chunk("s", f"c{i:04}", b"[%d]" % i, compress=compress) for i in range(700)]
    await any_store.save([], [], chunks)
    await any_store.save([], [], chunks[:10])  # written again: kept once
    wanted = [f"c{i:04}" for i in range(0, 700, 1)] + ["missing"]
    loaded = {c.chunk_id: c for c in await any_store.load_chunks("s", wanted)}
    assert set(loaded) == {f"c{i:04}" for i in range(700)}
    assert loaded["c0123"].raw() == b"[123]"
    assert await any_store.load_chunks("other", ["c0001"]) == []
    stats = await any_store.stats("s")
    assert (stats.chunks, stats.chunk_bytes) == (700, sum(c.size for c in chunks))


def fresh_resolver(
    engine_store: SnapshotStore, source: object, metrics: ReplayMetrics | None = None
) -> StateResolver:
    """A resolver as a replica that never saw the session would have: empty caches, no tracker."""
    metrics = metrics or ReplayMetrics.create(CollectorRegistry())
    return StateResolver(engine_store, source, LruStateCache(0, metrics), SnapshotCache(0, metrics), metrics)  # type: ignore[arg-type]


async def test_states_read_from_chunked_snapshots_alone_are_exact(any_store: SnapshotStore) -> None:
    metrics = ReplayMetrics.create(CollectorRegistry())
    engine = make_engine(any_store, metrics, every=50)
    events = stored(synthetic_session("big", 1500, seed=4))
    await engine.consume(events, batch=100)
    stats = await any_store.stats("big")
    assert stats.snapshots >= 29
    assert stats.chunks > 0
    resolver = fresh_resolver(any_store, engine.source)
    for event in events[::97]:
        truth = fold(initial_state("big"), [e for e in events if e["seq"] <= event["seq"]])
        assert await resolver.at_seq("big", event["seq"]) == truth


async def test_a_damaged_chunk_falls_back_to_an_older_snapshot(any_store: SnapshotStore) -> None:
    metrics = ReplayMetrics.create(CollectorRegistry())
    engine = make_engine(any_store, metrics, every=50)
    events = stored(synthetic_session("hurt", 400, seed=8))
    await engine.consume(events, batch=100)
    last = await any_store.nearest("hurt", 10**9)
    older = await any_store.nearest("hurt", last.seq - 1) if last else None
    assert last is not None
    assert older is not None
    # Damage a chunk only the newest snapshot has: its content no longer matches its id.
    from swarmscope_replay.chunked import decode_manifest

    newest = set(decode_manifest(last.raw()).chunk_refs())
    before = set(decode_manifest(older.raw()).chunk_refs())
    only_newest = sorted(chunk_id for _, chunk_id in newest - before)
    assert only_newest
    await _overwrite_chunk(any_store, make_chunk("hurt", only_newest[0], b"[1]", compress=False))
    reading = ReplayMetrics.create(CollectorRegistry())
    resolver = fresh_resolver(any_store, engine.source, reading)
    assert await resolver.at_seq("hurt", events[-1]["seq"]) == fold(initial_state("hurt"), events)
    assert reading.snapshot_corrupt._value.get() == 1


async def _overwrite_chunk(store: SnapshotStore, chunk: object) -> None:
    from swarmscope_replay.postgres_snapshots import PostgresSnapshotStore
    from swarmscope_replay.sqlite_snapshots import SqliteSnapshotStore

    c = chunk  # a StoredChunk
    sql = "UPDATE replay_chunks SET payload = {p}, codec = {p}, size = {p} WHERE session_id = {p} AND chunk_id = {p}"
    args = (c.payload, c.codec, c.size, c.session_id, c.chunk_id)  # type: ignore[attr-defined]
    if isinstance(store, SqliteSnapshotStore):
        await store._run(lambda conn: conn.execute(sql.format(p="?"), args))
    else:
        assert isinstance(store, PostgresSnapshotStore)
        await store._require().execute(
            "UPDATE replay_chunks SET payload = $1, codec = $2, size = $3 WHERE session_id = $4 AND chunk_id = $5",
            *args,
        )


async def test_whole_state_snapshots_of_earlier_releases_still_serve_states(any_store: SnapshotStore) -> None:
    events = stored(story_session("old"))
    middle = events[len(events) // 2]["seq"]
    old = make_snapshot(
        fold(initial_state("old"), [e for e in events if e["seq"] <= middle]),
        events=len(events) // 2 + 1,
        compress=True,
    )
    await any_store.save([old], [])
    metrics = ReplayMetrics.create(CollectorRegistry())
    engine = make_engine(any_store, metrics, every=10_000)
    engine.source.add(events)
    resolver = fresh_resolver(any_store, engine.source)
    assert await resolver.at_seq("old", events[-1]["seq"]) == fold(initial_state("old"), events)
    assert (await resolver.base("old", events[-1]["seq"])).origin == "snapshot"
