"""Reading snapshots back: a whole-state one decoded, a chunked one put together from its chunks.

Chunks come from the ChunkCache first; the ones it lacks are read from the store in one request.
Anything that does not check out (hash, chunk id, a chunk the manifest names but the store lacks)
is SnapshotCorrupt: the caller falls back to an older snapshot, never trusts a damaged one.
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmscope_replay.cache import ChunkCache, State
from swarmscope_replay.chunked import (
    RESIDENT_BYTES_PER_ITEM,
    ChunkCorrupt,
    DecodedChunk,
    Layout,
    decode_chunk,
    decode_manifest,
    materialize,
)
from swarmscope_replay.snapshots import Snapshot, SnapshotCorrupt, SnapshotStore


@dataclass(frozen=True, slots=True)
class ReadSnapshot:
    """A snapshot read back: its state, the layout it was cut with, what it costs in memory beyond
    the chunks it shares (SnapshotCache's measure)."""

    state: State
    layout: Layout
    resident_bytes: int


class SnapshotReader:
    """Turns a stored snapshot into its state and the layout to cut the next snapshot from."""

    def __init__(self, store: SnapshotStore, chunks: ChunkCache) -> None:
        self._store = store
        self._chunks = chunks

    async def read(self, snapshot: Snapshot) -> ReadSnapshot:
        if not snapshot.chunked:
            return ReadSnapshot(snapshot.state(), Layout(), snapshot.size)
        where = f"snapshot {snapshot.session_id}@{snapshot.seq}"
        try:
            manifest = decode_manifest(snapshot.raw())
            found: dict[tuple[bool, str], DecodedChunk] = {}
            missing: list[tuple[bool, str]] = []
            for ref in manifest.chunk_refs():
                cached = self._chunks.get(snapshot.session_id, *ref)
                if cached is None:
                    missing.append(ref)
                else:
                    found[ref] = cached
            if missing:
                rows = {
                    row.chunk_id: row
                    for row in await self._store.load_chunks(snapshot.session_id, [ref[1] for ref in missing])
                }
                for is_map, chunk_id in missing:
                    row = rows.get(chunk_id)
                    if row is None:
                        raise ChunkCorrupt(f"chunk {chunk_id} is not stored")
                    raw = row.raw()
                    keys, values = decode_chunk(chunk_id, raw, is_map=is_map)
                    decoded = DecodedChunk(keys, values, len(raw))
                    self._chunks.put(snapshot.session_id, is_map, chunk_id, decoded)
                    found[(is_map, chunk_id)] = decoded
            state, layout = materialize(manifest, found)
            return ReadSnapshot(
                state, layout, len(snapshot.payload) + layout.resident_items() * RESIDENT_BYTES_PER_ITEM
            )
        except ChunkCorrupt as exc:
            raise SnapshotCorrupt(f"{where}: {exc}") from exc
