"""The snapshot store contract, run against SQLite and Postgres."""

from __future__ import annotations

import dataclasses

import pytest

from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.snapshots import SessionProgress, SnapshotCorrupt, SnapshotStore, make_snapshot
from swarmscope_replay.testing import claude_flow_session, stored


def states_at(*seqs: int) -> list[dict[str, object]]:
    events = stored(claude_flow_session("s"))
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
    events = stored(claude_flow_session("s"))
    short = fold(initial_state("s"), events)
    noise = [
        {**events[-1], "id": f"n{i}", "seq": 1000 + i, "type": "custom.tick", "data": {}, "phase": "complete"}
        for i in range(2000)
    ]
    long = fold(short, noise)
    a = make_snapshot(short, events=len(events), compress=False)
    b = make_snapshot(long, events=len(events) + 2000, compress=False)
    assert abs(a.size - b.size) < 64
