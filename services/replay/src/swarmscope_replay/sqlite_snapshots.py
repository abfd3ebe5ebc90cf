"""Snapshots in replay's own SQLite file (the embedded default).

sqlite3 is synchronous, so every call runs on one dedicated thread that owns the connection: the
event loop never blocks on disk, and the connection is never shared between threads. WAL with
synchronous=FULL: a committed batch survives a crash of the process and of the machine, which the
consumer relies on before it acks.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from swarmscope_replay.snapshots import (
    SCHEMA_STATEMENTS,
    SessionProgress,
    Snapshot,
    SnapshotRef,
    SnapshotStats,
    StoredChunk,
)

# SQLite's default limit on parameters of one statement is 999.
CHUNK_READ_BATCH = 500

T = TypeVar("T")


def _row_to_snapshot(row: tuple[object, ...]) -> Snapshot:
    session_id, seq, timestamp, events, state_hash, size, codec, payload = row
    return Snapshot(
        session_id=str(session_id),
        seq=int(seq),  # type: ignore[call-overload]
        timestamp=float(timestamp) if timestamp is not None else None,  # type: ignore[arg-type]
        events=int(events),  # type: ignore[call-overload]
        state_hash=str(state_hash),
        size=int(size),  # type: ignore[call-overload]
        codec=str(codec),
        payload=bytes(payload),  # type: ignore[call-overload]
    )


class SqliteSnapshotStore:
    """SnapshotStore on a SQLite file."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._conn is None:
                raise RuntimeError("snapshot store is not open")
            return fn(self._conn)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        def connect() -> None:
            if self._path != ":memory:":
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=5000")
            for statement in SCHEMA_STATEMENTS:
                conn.execute(statement.format(blob="BLOB"))
            self._conn = conn

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, close)
        finally:
            self._executor.shutdown(wait=True)

    async def save(
        self,
        snapshots: Sequence[Snapshot],
        progress: Sequence[SessionProgress],
        chunks: Sequence[StoredChunk] = (),
    ) -> None:
        if not snapshots and not progress and not chunks:
            return
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO replay_chunks (session_id, chunk_id, codec, size, payload, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, chunk_id) DO NOTHING",
                    [(c.session_id, c.chunk_id, c.codec, c.size, c.payload, now) for c in chunks],
                )
                conn.executemany(
                    "INSERT INTO replay_snapshots (session_id, seq, timestamp, events, state_hash, size, codec, payload, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, seq) DO NOTHING",
                    [
                        (
                            s.session_id,
                            s.seq,
                            s.timestamp,
                            s.events,
                            s.state_hash,
                            s.size,
                            s.codec,
                            s.payload,
                            now,
                        )
                        for s in snapshots
                    ],
                )
                conn.executemany(
                    "INSERT INTO replay_sessions (session_id, applied_seq, snapshot_seq, events, updated_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET "
                    "applied_seq = excluded.applied_seq, snapshot_seq = excluded.snapshot_seq, "
                    "events = excluded.events, updated_at = excluded.updated_at "
                    "WHERE excluded.applied_seq >= replay_sessions.applied_seq",
                    [(p.session_id, p.applied_seq, p.snapshot_seq, p.events, now) for p in progress],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._run(write)

    async def nearest(self, session_id: str, seq: int) -> Snapshot | None:
        def read(conn: sqlite3.Connection) -> Snapshot | None:
            row = conn.execute(
                "SELECT session_id, seq, timestamp, events, state_hash, size, codec, payload FROM replay_snapshots "
                "WHERE session_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                (session_id, seq),
            ).fetchone()
            return _row_to_snapshot(row) if row else None

        return await self._run(read)

    async def nearest_ref(self, session_id: str, seq: int) -> SnapshotRef | None:
        def read(conn: sqlite3.Connection) -> SnapshotRef | None:
            row = conn.execute(
                "SELECT seq, size FROM replay_snapshots WHERE session_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                (session_id, seq),
            ).fetchone()
            return SnapshotRef(session_id, int(row[0]), int(row[1])) if row else None

        return await self._run(read)

    async def load(self, session_id: str, seq: int) -> Snapshot | None:
        def read(conn: sqlite3.Connection) -> Snapshot | None:
            row = conn.execute(
                "SELECT session_id, seq, timestamp, events, state_hash, size, codec, payload FROM replay_snapshots "
                "WHERE session_id = ? AND seq = ?",
                (session_id, seq),
            ).fetchone()
            return _row_to_snapshot(row) if row else None

        return await self._run(read)

    async def load_chunks(self, session_id: str, chunk_ids: Sequence[str]) -> list[StoredChunk]:
        ids = list(dict.fromkeys(chunk_ids))

        def read(conn: sqlite3.Connection) -> list[StoredChunk]:
            out: list[StoredChunk] = []
            for start in range(0, len(ids), CHUNK_READ_BATCH):
                batch = ids[start : start + CHUNK_READ_BATCH]
                marks = ",".join("?" * len(batch))
                rows = conn.execute(
                    f"SELECT chunk_id, codec, size, payload FROM replay_chunks WHERE session_id = ? AND chunk_id IN ({marks})",  # noqa: S608
                    (session_id, *batch),
                ).fetchall()
                out.extend(
                    StoredChunk(session_id, str(r[0]), str(r[1]), int(r[2]), bytes(r[3])) for r in rows
                )
            return out

        return await self._run(read) if ids else []

    async def progress(self, session_id: str) -> SessionProgress | None:
        def read(conn: sqlite3.Connection) -> SessionProgress | None:
            row = conn.execute(
                "SELECT applied_seq, snapshot_seq, events FROM replay_sessions WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                return None
            return SessionProgress(session_id, int(row[0]), int(row[1]), int(row[2]))

        return await self._run(read)

    async def recent_progress(self, since: float) -> list[SessionProgress]:
        def read(conn: sqlite3.Connection) -> list[SessionProgress]:
            rows = conn.execute(
                "SELECT session_id, applied_seq, snapshot_seq, events FROM replay_sessions WHERE updated_at >= ?",
                (since,),
            ).fetchall()
            return [SessionProgress(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

        return await self._run(read)

    async def stats(self, session_id: str | None = None) -> SnapshotStats:
        def read(conn: sqlite3.Connection) -> SnapshotStats:
            totals = "SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(sum(size), 0) FROM "
            where, args = ("", ()) if session_id is None else (" WHERE session_id = ?", (session_id,))
            row = conn.execute(totals + "replay_snapshots" + where, args).fetchone()
            chunks = conn.execute(totals + "replay_chunks" + where, args).fetchone()
            return SnapshotStats(
                int(row[0]), int(row[1]) + int(chunks[1]), int(row[2]), int(chunks[0]), int(chunks[2])
            )

        return await self._run(read)

    async def ping(self) -> bool:
        def check(conn: sqlite3.Connection) -> bool:
            return bool(conn.execute("SELECT 1").fetchone() == (1,))

        try:
            return await self._run(check)
        except Exception:
            return False
