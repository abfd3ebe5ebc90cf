"""Snapshots in chunks: a state as its small core plus its growing collections cut into chunks.

A whole-state snapshot every N events costs O(state) each time, so a session with 50k messages
would write its messages again with every snapshot: gigabytes for one session. Here a snapshot is
a *manifest* (the core of the state: everything but the collections of swarmscope_schema.state,
and for each collection its list of chunk ids) and the chunks it names. Consecutive snapshots share
every chunk the events between them did not touch, so a snapshot writes only its new chunks and
storage grows with what changed, not with the size of the state.

Chunks: a list collection is cut by position (items only ever append or change in place); a map
collection keeps each key in the chunk it first went to, new items and keys going to new chunks at
the end, where small chunks merge as they accumulate (see _Builder). A chunk's id is the BLAKE2b of its JSON,
checked on load, so a damaged chunk is never trusted and identical chunks are stored once.

`Layout` is how the last snapshot of a session was cut; `Layout.next(state)` cuts the next one. It
compares by identity: the reducer copies what it changes (structural sharing), so an unchanged
item is the same object, and an unchanged chunk is found without encoding anything. A Layout is
never changed in place: the tracker installs the next one only once its snapshot is written.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import is_
from typing import Any

import orjson

from swarmscope_schema.state import STATE_COLLECTIONS, StateCollection

MANIFEST_FORMAT = 1
MAP_CHUNK_ITEMS = 32
LIST_CHUNK_ITEMS = 128
CHUNK_BYTES = 256 * 1024
# What a collection item costs in memory beyond the objects it shares with other states.
RESIDENT_BYTES_PER_ITEM = 100

State = dict[str, Any]
_MISSING = object()


class ChunkCorrupt(Exception):
    """A chunk or manifest that does not match its id or cannot be decoded."""


def chunk_id(raw: bytes) -> str:
    """The id of a chunk: the BLAKE2b-128 of its JSON, in hex."""
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of a collection: its items (keys for a map), each item's JSON when known."""

    id: str
    keys: tuple[str, ...] | None
    values: tuple[Any, ...]
    encoded: tuple[bytes | None, ...]
    size: int

    @property
    def count(self) -> int:
        return len(self.values)


@dataclass(frozen=True, slots=True)
class NewChunk:
    """A chunk to be written: its id and its JSON."""

    id: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class CollectionLayout:
    chunks: tuple[Chunk, ...]
    # The collection object the chunks were cut from: the same object next time means no change.
    source: Any


@dataclass(frozen=True, slots=True)
class Cut:
    """What `Layout.next` produced: the next layout, the manifest's JSON and the chunks to write."""

    layout: Layout
    manifest: bytes
    new_chunks: list[NewChunk]
    state_bytes: int
    resident_bytes: int


def collection_value(state: Mapping[str, Any], collection: StateCollection) -> Any:
    """The collection's value in a state, or None when the state has none of the right type."""
    node: Any = state
    for key in collection.path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    expected = dict if collection.kind == "map" else list
    return node if isinstance(node, expected) else None


def split(state: Mapping[str, Any]) -> tuple[State, dict[str, Any]]:
    """The state's core (without its collections) and its collections by name."""
    collections: dict[str, Any] = {}
    for collection in STATE_COLLECTIONS.values():
        value = collection_value(state, collection)
        if value is not None:
            collections[collection.name] = value
    core = dict(state)
    session = dict(core["session"]) if isinstance(core.get("session"), dict) else None
    for name in collections:
        path = STATE_COLLECTIONS[name].path
        if len(path) == 1:
            core.pop(path[0], None)
        elif session is not None:
            session.pop(path[1], None)
    if session is not None:
        core["session"] = session
    return core, collections


def assemble(core: Mapping[str, Any], collections: Mapping[str, Any]) -> State:
    """The inverse of `split`."""
    state = dict(core)
    if any(len(STATE_COLLECTIONS[name].path) > 1 for name in collections):
        state["session"] = dict(state.get("session") or {})
    for name, value in collections.items():
        path = STATE_COLLECTIONS[name].path
        if len(path) == 1:
            state[path[0]] = value
        else:
            state[path[0]][path[1]] = value
    return state


def _encode_list_item(value: Any) -> bytes:
    return orjson.dumps(value)


def _encode_map_item(key: str, value: Any) -> bytes:
    return orjson.dumps([key, value])


def _make_chunk(
    keys: Sequence[str] | None, values: Sequence[Any], encoded: Sequence[bytes]
) -> tuple[Chunk, bytes]:
    raw = b"[" + b",".join(encoded) + b"]"
    chunk = Chunk(
        id=chunk_id(raw),
        keys=tuple(keys) if keys is not None else None,
        values=tuple(values),
        encoded=tuple(encoded),
        size=len(raw),
    )
    return chunk, raw


@dataclass(slots=True)
class _Draft:
    """A chunk being cut: its items and their JSON."""

    keys: list[str] | None
    values: list[Any]
    encoded: list[bytes]
    size: int

    @property
    def count(self) -> int:
        return len(self.values)


class _Builder:
    """Collects a collection's chunks: kept ones, changed ones cut again, new items at the end.

    New items form new chunks at the tail, which then merges like a binary counter (the last two
    join while the older is no bigger than the newer and both fit one chunk): a collection that
    grows by a few items a snapshot rewrites each item O(log chunk) times, not O(chunk).
    """

    def __init__(self, is_map: bool, previous_ids: frozenset[str]) -> None:
        self.is_map = is_map
        self.max_items = MAP_CHUNK_ITEMS if is_map else LIST_CHUNK_ITEMS
        self._parts: list[Chunk | _Draft] = []
        self._previous_ids = previous_ids
        self.new: list[NewChunk] = []

    def keep(self, chunk: Chunk) -> None:
        self._parts.append(chunk)

    def rebuild(self, keys: list[str] | None, values: list[Any], encoded: list[bytes]) -> None:
        """A changed chunk, cut again with the same items (minus removed keys)."""
        if values:
            self._parts.append(_Draft(keys, values, encoded, 1 + sum(len(e) + 1 for e in encoded)))

    def append(self, items: list[tuple[str | None, Any]]) -> None:
        """New items, in chunks of at most max_items and about CHUNK_BYTES."""
        draft: _Draft | None = None
        for key, value in items:
            encoded = self._encode(key, value)
            if draft is None or draft.count >= self.max_items or draft.size + len(encoded) + 1 > CHUNK_BYTES:
                draft = _Draft([] if self.is_map else None, [], [], 1)
                self._parts.append(draft)
            if draft.keys is not None and key is not None:
                draft.keys.append(key)
            draft.values.append(value)
            draft.encoded.append(encoded)
            draft.size += len(encoded) + 1

    def finish(self) -> tuple[Chunk, ...]:
        """The chunks, the tail merged; the ones not written before are in `new`."""
        parts = self._parts
        while len(parts) >= 2:
            older, newer = parts[-2], parts[-1]
            if not (
                older.count <= newer.count
                and older.count + newer.count <= self.max_items
                and older.size + newer.size <= CHUNK_BYTES
            ):
                break
            parts[-2:] = [self._merge(older, newer)]
        out: list[Chunk] = []
        for part in parts:
            if isinstance(part, Chunk):
                out.append(part)
                continue
            chunk, raw = _make_chunk(part.keys, part.values, part.encoded)
            out.append(chunk)
            if chunk.id not in self._previous_ids:
                self.new.append(NewChunk(chunk.id, raw))
        return tuple(out)

    def _merge(self, older: Chunk | _Draft, newer: Chunk | _Draft) -> _Draft:
        keys: list[str] | None = None
        if self.is_map:
            keys = [*(older.keys or ()), *(newer.keys or ())]
        return _Draft(
            keys,
            [*older.values, *newer.values],
            [*self._encodings(older), *self._encodings(newer)],
            older.size + newer.size - 1,
        )

    def _encodings(self, part: Chunk | _Draft) -> list[bytes]:
        if isinstance(part, _Draft):
            return part.encoded
        keys: tuple[str | None, ...] = part.keys if part.keys is not None else (None,) * part.count
        return [
            e if e is not None else self._encode(k, v)
            for k, v, e in zip(keys, part.values, part.encoded, strict=True)
        ]

    def _encode(self, key: str | None, value: Any) -> bytes:
        return _encode_map_item(key, value) if self.is_map and key is not None else _encode_list_item(value)


def _reuse(old_value: Any, old_encoded: bytes | None, value: Any) -> bytes | None:
    return old_encoded if old_encoded is not None and value is old_value else None


def _cut_list(
    previous: CollectionLayout | None, items: list[Any], ids: frozenset[str]
) -> tuple[CollectionLayout, list[NewChunk]]:
    if previous is not None and previous.source is items:
        return previous, []
    chunks = previous.chunks if previous is not None else ()
    if sum(c.count for c in chunks) > len(items):
        chunks = ()  # not a list that only grew: cut it anew
    builder = _Builder(False, ids)
    position = 0
    for chunk in chunks:
        window = items[position : position + chunk.count]
        position += chunk.count
        if all(map(is_, chunk.values, window)):
            builder.keep(chunk)
            continue
        encoded = [
            _reuse(old, enc, value) or _encode_list_item(value)
            for old, enc, value in zip(chunk.values, chunk.encoded, window, strict=True)
        ]
        builder.rebuild(None, window, encoded)
    builder.append([(None, value) for value in items[position:]])
    chunks_now = builder.finish()
    return CollectionLayout(chunks_now, items), builder.new


def _cut_map(
    previous: CollectionLayout | None, mapping: dict[str, Any], ids: frozenset[str]
) -> tuple[CollectionLayout, list[NewChunk]]:
    if previous is not None and previous.source is mapping:
        return previous, []
    chunks = previous.chunks if previous is not None else ()
    builder = _Builder(True, ids)
    seen: set[str] = set()
    get = mapping.get
    for chunk in chunks:
        keys = chunk.keys or ()
        seen.update(keys)
        now = [get(k, _MISSING) for k in keys]
        if all(map(is_, chunk.values, now)):
            builder.keep(chunk)
            continue
        kept_keys: list[str] = []
        kept_values: list[Any] = []
        encoded: list[bytes] = []
        for key, value, old, enc in zip(keys, now, chunk.values, chunk.encoded, strict=True):
            if value is _MISSING:
                continue
            kept_keys.append(key)
            kept_values.append(value)
            encoded.append(_reuse(old, enc, value) or _encode_map_item(key, value))
        builder.rebuild(kept_keys, kept_values, encoded)
    builder.append([(key, value) for key, value in mapping.items() if key not in seen])
    chunks_now = builder.finish()
    return CollectionLayout(chunks_now, mapping), builder.new


@dataclass(frozen=True)
class Layout:
    """How a session's last snapshot cut its collections (empty: nothing written yet)."""

    collections: Mapping[str, CollectionLayout] = field(default_factory=dict)

    def chunk_ids(self) -> frozenset[str]:
        return frozenset(c.id for layout in self.collections.values() for c in layout.chunks)

    def resident_items(self) -> int:
        return sum(c.count for layout in self.collections.values() for c in layout.chunks)

    def next(self, state: Mapping[str, Any]) -> Cut:
        """The snapshot of `state`: its manifest, the chunks it needs that this layout has not
        written, and the layout to cut the snapshot after it from."""
        core, collections = split(state)
        known = self.chunk_ids()
        layouts: dict[str, CollectionLayout] = {}
        new: list[NewChunk] = []
        for name, value in collections.items():
            previous = self.collections.get(name)
            if STATE_COLLECTIONS[name].kind == "map":
                layout, fresh = _cut_map(previous, value, known)
            else:
                layout, fresh = _cut_list(previous, value, known)
            layouts[name] = layout
            new.extend(fresh)
        manifest = encode_manifest(core, layouts)
        items = sum(c.count for layout in layouts.values() for c in layout.chunks)
        chunk_bytes = sum(c.size for layout in layouts.values() for c in layout.chunks)
        # Two new chunks can be equal (two empty-then-filled maps): write each id once.
        unique = list({c.id: c for c in new}.values())
        return Cut(
            layout=Layout(layouts),
            manifest=manifest,
            new_chunks=unique,
            state_bytes=len(manifest) + chunk_bytes,
            resident_bytes=len(manifest) + items * RESIDENT_BYTES_PER_ITEM,
        )


EMPTY_LAYOUT = Layout()


def encode_manifest(core: Mapping[str, Any], layouts: Mapping[str, CollectionLayout]) -> bytes:
    return orjson.dumps(
        {
            "format": MANIFEST_FORMAT,
            "core": core,
            "collections": {
                name: [[c.id, c.count, c.size] for c in layout.chunks] for name, layout in layouts.items()
            },
        }
    )


@dataclass(frozen=True, slots=True)
class Manifest:
    core: State
    collections: dict[str, list[tuple[str, int, int]]]

    def chunk_refs(self) -> list[tuple[bool, str]]:
        """(is a map chunk, id) of every chunk it names, once each."""
        return list(
            dict.fromkeys(
                (STATE_COLLECTIONS[name].kind == "map", ref[0])
                for name, refs in self.collections.items()
                for ref in refs
            )
        )

    @property
    def items(self) -> int:
        return sum(ref[1] for refs in self.collections.values() for ref in refs)


def decode_manifest(raw: bytes) -> Manifest:
    """Parses a manifest; raises ChunkCorrupt when it is not one."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ChunkCorrupt(f"manifest is not JSON: {exc}") from exc
    if not isinstance(value, dict) or value.get("format") != MANIFEST_FORMAT:
        raise ChunkCorrupt("not a manifest of a known format")
    core, collections = value.get("core"), value.get("collections")
    if not isinstance(core, dict) or not isinstance(collections, dict):
        raise ChunkCorrupt("manifest without core or collections")
    refs: dict[str, list[tuple[str, int, int]]] = {}
    for name, chunks in collections.items():
        if name not in STATE_COLLECTIONS or not isinstance(chunks, list):
            raise ChunkCorrupt(f"manifest names an unknown collection {name!r}")
        refs[name] = [(str(c[0]), int(c[1]), int(c[2])) for c in chunks]
    return Manifest(core, refs)


def decode_chunk(
    expected_id: str, raw: bytes, *, is_map: bool
) -> tuple[tuple[str, ...] | None, tuple[Any, ...]]:
    """A chunk's keys (maps) and values, checked against its id."""
    if chunk_id(raw) != expected_id:
        raise ChunkCorrupt(f"chunk {expected_id}: content does not match its id")
    items = orjson.loads(raw)
    if not isinstance(items, list):
        raise ChunkCorrupt(f"chunk {expected_id}: not a list")
    if not is_map:
        return None, tuple(items)
    if not all(isinstance(i, list) and len(i) == 2 and isinstance(i[0], str) for i in items):
        raise ChunkCorrupt(f"chunk {expected_id}: not a list of [key, value]")
    return tuple(i[0] for i in items), tuple(i[1] for i in items)


@dataclass(frozen=True, slots=True)
class DecodedChunk:
    keys: tuple[str, ...] | None
    values: tuple[Any, ...]
    size: int


def materialize(manifest: Manifest, chunks: Mapping[tuple[bool, str], DecodedChunk]) -> tuple[State, Layout]:
    """The state a manifest describes, and the layout to cut the next snapshot from; `chunks` by
    (is a map chunk, id).

    The state's items are the chunks' own objects (shared, never to be changed in place).
    """
    collections: dict[str, Any] = {}
    layouts: dict[str, CollectionLayout] = {}
    for name, refs in manifest.collections.items():
        is_map = STATE_COLLECTIONS[name].kind == "map"
        parts: list[Chunk] = []
        for ref_id, count, size in refs:
            decoded = chunks[(is_map, ref_id)]
            if len(decoded.values) != count:
                raise ChunkCorrupt(
                    f"chunk {ref_id}: {len(decoded.values)} items where the manifest says {count}"
                )
            parts.append(Chunk(ref_id, decoded.keys, decoded.values, (None,) * count, size))
        value: Any
        if is_map:
            value = dict(zip(_keys(parts), chain.from_iterable(c.values for c in parts), strict=True))
        else:
            value = list(chain.from_iterable(c.values for c in parts))
        collections[name] = value
        layouts[name] = CollectionLayout(tuple(parts), value)
    return assemble(manifest.core, collections), Layout(layouts)


def _keys(parts: Iterable[Chunk]) -> Iterable[str]:
    return chain.from_iterable(c.keys or () for c in parts)


def compress(raw: bytes) -> bytes:
    return zlib.compress(raw, 1)


def decompress(payload: bytes) -> bytes:
    try:
        return zlib.decompress(payload)
    except zlib.error as exc:
        raise ChunkCorrupt(f"not zlib data: {exc}") from exc
