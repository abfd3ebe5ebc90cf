"""Chunked snapshots: a state cut into a manifest and chunks comes back exactly, consecutive
snapshots share what did not change, and damaged chunks are refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from swarmscope_dev.replay import stored, synthetic_session
from swarmscope_replay.chunked import (
    EMPTY_LAYOUT,
    ChunkCorrupt,
    DecodedChunk,
    Layout,
    NewChunk,
    decode_chunk,
    decode_manifest,
    materialize,
)
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_schema.state import STATE_COLLECTIONS


class ChunkShelf:
    """Chunks by id, as the snapshot store keeps them, and a reader of manifests over them."""

    def __init__(self) -> None:
        self.raw: dict[str, bytes] = {}
        self.written = 0

    def add(self, chunks: list[NewChunk]) -> None:
        for chunk in chunks:
            assert chunk.id not in self.raw, "a chunk the layout had already written came again"
            self.raw[chunk.id] = chunk.raw
            self.written += len(chunk.raw)

    def read(self, manifest_raw: bytes) -> tuple[dict[str, Any], Layout]:
        manifest = decode_manifest(manifest_raw)
        decoded: dict[tuple[bool, str], DecodedChunk] = {}
        for is_map, chunk_id in manifest.chunk_refs():
            keys, values = decode_chunk(chunk_id, self.raw[chunk_id], is_map=is_map)
            decoded[(is_map, chunk_id)] = DecodedChunk(keys, values, len(self.raw[chunk_id]))
        return materialize(manifest, decoded)


def busy_session(session_id: str, count: int) -> list[dict[str, Any]]:
    """A synthetic run with deletions, decisions and received messages mixed in."""
    events = stored(synthetic_session(session_id, count, seed=11))
    extra: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        extra.append(event)
        if index % 50 == 7:
            extra.append(
                {
                    **event,
                    "id": f"{event['id']}-del",
                    "type": "memory_delete",
                    "data": {"namespace": "swarm", "key": f"k{index % 200}"},
                }
            )
        if index % 40 == 3:
            extra.append(
                {
                    **event,
                    "id": f"{event['id']}-dec",
                    "type": "decision",
                    "data": {"kind": "route", "chosen": index, "options": list(range(3))},
                }
            )
        if event["type"] == "communication" and index % 3 == 0:
            message = event["data"]["message"]
            extra.append(
                {
                    **event,
                    "id": f"{event['id']}-rcv",
                    "agent_id": message["to"][0],
                    "data": {"message": message, "direction": "received"},
                }
            )
    return [{**e, "seq": i + 1} for i, e in enumerate(extra)]


def test_every_snapshot_of_a_long_run_reads_back_exactly_and_shares_its_chunks() -> None:
    events = busy_session("chunky", 6000)
    shelf = ChunkShelf()
    layout = EMPTY_LAYOUT
    state = initial_state("chunky")
    cuts = 0
    whole_snapshots = 0
    for start in range(0, len(events), 150):
        state = fold(state, events[start : start + 150])
        whole_snapshots += len(orjson.dumps(state))
        cut = layout.next(state)
        shelf.add(cut.new_chunks)
        back, _ = shelf.read(cut.manifest)
        assert back == state, f"the snapshot after {start + 150} events differs"
        layout = cut.layout
        cuts += 1
    # Whole-state snapshots write the state again every time; chunks share what did not change.
    assert cuts > 30
    assert shelf.written < whole_snapshots / 3, (shelf.written, whole_snapshots)
    # A snapshot of an unchanged state writes nothing new.
    assert layout.next(state).new_chunks == []


def test_a_layout_read_back_cuts_the_next_snapshot_like_the_one_that_wrote_it() -> None:
    events = busy_session("restart", 3000)
    shelf = ChunkShelf()
    first = EMPTY_LAYOUT.next(fold(initial_state("restart"), events[:2000]))
    shelf.add(first.new_chunks)
    state, layout = shelf.read(first.manifest)  # a new process: the layout comes from the store
    later = fold(state, events[2000:])
    after_restart = layout.next(later)
    without_restart = first.layout.next(fold(fold(initial_state("restart"), events[:2000]), events[2000:]))
    assert after_restart.manifest == without_restart.manifest
    assert {c.id for c in after_restart.new_chunks} == {c.id for c in without_restart.new_chunks}
    shelf.add(after_restart.new_chunks)
    assert shelf.read(after_restart.manifest)[0] == later


def test_deleted_and_re_added_keys_and_emptied_chunks() -> None:
    shelf = ChunkShelf()
    state = initial_state("d")
    writes = [
        {
            "id": f"w{i}",
            "seq": i + 1,
            "session_id": "d",
            "type": "memory_write",
            "timestamp": 1.0 + i,
            "agent_id": "a",
            "data": {"key": f"k{i}", "value": i},
        }
        for i in range(100)
    ]
    state = fold(state, writes)
    cut = EMPTY_LAYOUT.next(state)
    shelf.add(cut.new_chunks)
    deletes = [
        {
            "id": f"d{i}",
            "seq": 200 + i,
            "session_id": "d",
            "type": "memory_delete",
            "timestamp": 300.0,
            "agent_id": "a",
            "data": {"key": f"k{i}"},
        }
        for i in range(40)
    ]
    again = {
        "id": "again",
        "seq": 300,
        "session_id": "d",
        "type": "memory_write",
        "timestamp": 301.0,
        "agent_id": "a",
        "data": {"key": "k3", "value": "back"},
    }
    state = fold(state, [*deletes, again])
    second = cut.layout.next(state)
    shelf.add(second.new_chunks)
    back, _ = shelf.read(second.manifest)
    assert back == state
    assert set(back["memory"]) == {f"k{i}" for i in range(40, 100)} | {"k3"}
    # Every chunk the manifest names holds at least one item.
    manifest = decode_manifest(second.manifest)
    assert all(count > 0 for refs in manifest.collections.values() for _, count, _ in refs)


def test_collections_are_cut_and_the_core_stays_small() -> None:
    events = busy_session("core", 2000)
    state = fold(initial_state("core"), events)
    cut = EMPTY_LAYOUT.next(state)
    manifest = decode_manifest(cut.manifest)
    present = {name for name, c in STATE_COLLECTIONS.items() if name in manifest.collections}
    assert {"tasks", "memory", "communications", "agents", "decisions"} <= present
    assert "tasks" not in manifest.core
    assert "communications" not in manifest.core
    assert "decisions" not in manifest.core["session"]
    assert len(orjson.dumps(manifest.core)) < 4096


def test_a_chunk_that_does_not_match_its_id_is_refused() -> None:
    cut = EMPTY_LAYOUT.next(fold(initial_state("x"), busy_session("x", 300)))
    chunk = cut.new_chunks[0]
    with pytest.raises(ChunkCorrupt):
        decode_chunk(chunk.id, chunk.raw.replace(b"1", b"2", 1), is_map=False)
    with pytest.raises(ChunkCorrupt):
        decode_manifest(b'{"format": 99}')
