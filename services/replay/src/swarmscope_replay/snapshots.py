"""Snapshots: a session's state persisted every N of its events, keyed by (session, seq).

A snapshot is written in chunks (codec `chunked+…`, see chunked.py): its payload is a manifest, the
state's small core and the ids of its collections' chunks, stored once per session in
`replay_chunks` and shared by every snapshot that did not change them. Older snapshots hold the
canonical JSON of the whole state (codecs `json`, `zlib+json`) and are still read. Either way the
payload's SHA-256 is checked on every load (and each chunk's id), so a damaged row is never trusted.

Beside the snapshots, a progress row per session records how far the consumer has applied that
session (`applied_seq`) and where its last snapshot is. It is written in the same transaction as
the snapshots, before the batch is acked, so after a crash the consumer knows exactly which of
the session's events it must fetch again (those after the snapshot, up to `applied_seq`).

Replay owns this storage: tables `replay_snapshots` and `replay_sessions` on the shared Postgres,
or its own SQLite file (see `snapshot_database.open_snapshot_store`).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

CODEC_JSON = "json"
CODEC_ZLIB = "zlib+json"
CODEC_CHUNKED_JSON = "chunked+json"
CODEC_CHUNKED_ZLIB = "chunked+zlib"
CHUNKED_CODECS = frozenset({CODEC_CHUNKED_JSON, CODEC_CHUNKED_ZLIB})


class SnapshotCorrupt(Exception):
    """A snapshot whose bytes do not match its hash or cannot be decoded."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One persisted state. `events` is how many of the session's events it has folded."""

    session_id: str
    seq: int
    timestamp: float | None
    events: int
    state_hash: str
    size: int
    codec: str
    payload: bytes

    @property
    def chunked(self) -> bool:
        """True when the payload is a manifest (the state is read with its chunks)."""
        return self.codec in CHUNKED_CODECS

    def raw(self) -> bytes:
        """The payload decompressed and checked; raises SnapshotCorrupt when it does not match
        its hash."""
        try:
            compressed = self.codec in (CODEC_ZLIB, CODEC_CHUNKED_ZLIB)
            raw = zlib.decompress(self.payload) if compressed else self.payload
        except zlib.error as exc:
            raise SnapshotCorrupt(f"snapshot {self.session_id}@{self.seq}: {exc}") from exc
        if hashlib.sha256(raw).hexdigest() != self.state_hash:
            raise SnapshotCorrupt(f"snapshot {self.session_id}@{self.seq}: hash mismatch")
        return raw

    def state(self) -> dict[str, Any]:
        """Decodes and checks a whole-state snapshot (a chunked one is read by SnapshotReader)."""
        if self.chunked:
            raise SnapshotCorrupt(
                f"snapshot {self.session_id}@{self.seq} is chunked: read it with its chunks"
            )
        state = orjson.loads(self.raw())
        if not isinstance(state, dict):
            raise SnapshotCorrupt(f"snapshot {self.session_id}@{self.seq}: not an object")
        return state


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk of a session's snapshots as stored: `size` is its JSON size."""

    session_id: str
    chunk_id: str
    codec: str
    size: int
    payload: bytes

    def raw(self) -> bytes:
        try:
            return zlib.decompress(self.payload) if self.codec == CODEC_ZLIB else self.payload
        except zlib.error as exc:
            raise SnapshotCorrupt(f"chunk {self.session_id}/{self.chunk_id}: {exc}") from exc


def make_chunk(session_id: str, chunk_id: str, raw: bytes, *, compress: bool) -> StoredChunk:
    return StoredChunk(
        session_id=session_id,
        chunk_id=chunk_id,
        codec=CODEC_ZLIB if compress else CODEC_JSON,
        size=len(raw),
        payload=zlib.compress(raw, 1) if compress else raw,
    )


def make_chunked_snapshot(
    session_id: str,
    seq: int,
    timestamp: Any,
    manifest: bytes,
    *,
    events: int,
    state_bytes: int,
    compress: bool,
) -> Snapshot:
    """A snapshot whose payload is a manifest (see chunked.py)."""
    return Snapshot(
        session_id=session_id,
        seq=seq,
        timestamp=float(timestamp) if isinstance(timestamp, (int, float)) else None,
        events=events,
        state_hash=hashlib.sha256(manifest).hexdigest(),
        size=state_bytes,
        codec=CODEC_CHUNKED_ZLIB if compress else CODEC_CHUNKED_JSON,
        payload=zlib.compress(manifest, 1) if compress else manifest,
    )


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    """A snapshot's key and size, without its bytes."""

    session_id: str
    seq: int
    size: int


@dataclass(frozen=True, slots=True)
class SessionProgress:
    """How far the consumer has applied a session, and where its last snapshot is."""

    session_id: str
    applied_seq: int
    snapshot_seq: int
    events: int


def encode_state(state: dict[str, Any]) -> tuple[bytes, str]:
    """The canonical JSON of a state (sorted keys) and its SHA-256."""
    raw = orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
    return raw, hashlib.sha256(raw).hexdigest()


def make_snapshot(state: dict[str, Any], *, events: int, compress: bool) -> Snapshot:
    """A snapshot of `state` (its session id, seq and timestamp are taken from the state)."""
    raw, digest = encode_state(state)
    payload = zlib.compress(raw, 1) if compress else raw
    timestamp = state.get("timestamp")
    return Snapshot(
        session_id=str(state["session_id"]),
        seq=int(state["seq"]),
        timestamp=float(timestamp) if isinstance(timestamp, (int, float)) else None,
        events=events,
        state_hash=digest,
        size=len(raw),
        codec=CODEC_ZLIB if compress else CODEC_JSON,
        payload=payload,
    )


@dataclass(frozen=True, slots=True)
class SnapshotStats:
    snapshots: int
    stored_bytes: int
    state_bytes: int
    chunks: int = 0
    chunk_bytes: int = 0


class SnapshotStore(Protocol):
    """Where snapshots and progress rows live. Every write is idempotent."""

    async def open(self) -> None:
        """Connects and creates the tables if missing."""

    async def close(self) -> None: ...

    async def save(
        self,
        snapshots: Sequence[Snapshot],
        progress: Sequence[SessionProgress],
        chunks: Sequence[StoredChunk] = (),
    ) -> None:
        """Writes chunks and snapshots (an existing (session, seq) or chunk is kept) and progress
        rows (never moved backwards) in one transaction."""

    async def nearest(self, session_id: str, seq: int) -> Snapshot | None:
        """The snapshot with the greatest seq ≤ `seq`."""

    async def nearest_ref(self, session_id: str, seq: int) -> SnapshotRef | None:
        """Which snapshot `nearest` would return, without its bytes (to check a cache first)."""

    async def load(self, session_id: str, seq: int) -> Snapshot | None:
        """The snapshot at exactly (session, seq)."""

    async def load_chunks(self, session_id: str, chunk_ids: Sequence[str]) -> list[StoredChunk]:
        """The session's chunks among `chunk_ids` (those it has)."""

    async def progress(self, session_id: str) -> SessionProgress | None: ...

    async def recent_progress(self, since: float) -> list[SessionProgress]:
        """Progress rows written at or after `since` (epoch seconds): the sessions active lately."""

    async def stats(self, session_id: str | None = None) -> SnapshotStats: ...

    async def ping(self) -> bool: ...


SCHEMA_STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS replay_snapshots (
        session_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        timestamp DOUBLE PRECISION,
        events BIGINT NOT NULL,
        state_hash TEXT NOT NULL,
        size BIGINT NOT NULL,
        codec TEXT NOT NULL,
        payload {blob} NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (session_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS replay_chunks (
        session_id TEXT NOT NULL,
        chunk_id TEXT NOT NULL,
        codec TEXT NOT NULL,
        size BIGINT NOT NULL,
        payload {blob} NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (session_id, chunk_id)
    )""",
    """CREATE TABLE IF NOT EXISTS replay_sessions (
        session_id TEXT PRIMARY KEY,
        applied_seq BIGINT NOT NULL,
        snapshot_seq BIGINT NOT NULL,
        events BIGINT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
)
