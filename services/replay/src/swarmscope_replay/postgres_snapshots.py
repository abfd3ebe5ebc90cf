"""Snapshots in the shared Postgres, in replay's own tables (a team deployment)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg  # type: ignore[import-untyped]

from swarmscope_replay.snapshots import (
    SCHEMA_STATEMENTS,
    SessionProgress,
    Snapshot,
    SnapshotRef,
    SnapshotStats,
    StoredChunk,
)


def _record_to_snapshot(row: asyncpg.Record) -> Snapshot:
    return Snapshot(
        session_id=row["session_id"],
        seq=int(row["seq"]),
        timestamp=row["timestamp"],
        events=int(row["events"]),
        state_hash=row["state_hash"],
        size=int(row["size"]),
        codec=row["codec"],
        payload=bytes(row["payload"]),
    )


class PostgresSnapshotStore:
    """SnapshotStore on Postgres (asyncpg pool)."""

    def __init__(self, url: str, *, max_connections: int = 4) -> None:
        self._url = url
        self._max = max_connections
        self._pool: asyncpg.Pool | None = None

    def _require(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("snapshot store is not open")
        return self._pool

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self._url, min_size=1, max_size=self._max)
        # Two replicas starting at once must not race on CREATE TABLE.
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('swarmscope_replay_schema'))")
            for statement in SCHEMA_STATEMENTS:
                await conn.execute(statement.format(blob="BYTEA"))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def save(
        self,
        snapshots: Sequence[Snapshot],
        progress: Sequence[SessionProgress],
        chunks: Sequence[StoredChunk] = (),
    ) -> None:
        if not snapshots and not progress and not chunks:
            return
        now = time.time()
        async with self._require().acquire() as conn, conn.transaction():
            if chunks:
                await conn.executemany(
                    "INSERT INTO replay_chunks (session_id, chunk_id, codec, size, payload, created_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id, chunk_id) DO NOTHING",
                    [(c.session_id, c.chunk_id, c.codec, c.size, c.payload, now) for c in chunks],
                )
            if snapshots:
                await conn.executemany(
                    "INSERT INTO replay_snapshots (session_id, seq, timestamp, events, state_hash, size, codec, payload, created_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (session_id, seq) DO NOTHING",
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
            if progress:
                await conn.executemany(
                    "INSERT INTO replay_sessions (session_id, applied_seq, snapshot_seq, events, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id) DO UPDATE SET "
                    "applied_seq = excluded.applied_seq, snapshot_seq = excluded.snapshot_seq, "
                    "events = excluded.events, updated_at = excluded.updated_at "
                    "WHERE excluded.applied_seq >= replay_sessions.applied_seq",
                    [(p.session_id, p.applied_seq, p.snapshot_seq, p.events, now) for p in progress],
                )

    async def nearest(self, session_id: str, seq: int) -> Snapshot | None:
        row = await self._require().fetchrow(
            "SELECT session_id, seq, timestamp, events, state_hash, size, codec, payload FROM replay_snapshots "
            "WHERE session_id = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1",
            session_id,
            seq,
        )
        return _record_to_snapshot(row) if row is not None else None

    async def nearest_ref(self, session_id: str, seq: int) -> SnapshotRef | None:
        row = await self._require().fetchrow(
            "SELECT seq, size FROM replay_snapshots WHERE session_id = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1",
            session_id,
            seq,
        )
        return SnapshotRef(session_id, int(row[0]), int(row[1])) if row is not None else None

    async def load(self, session_id: str, seq: int) -> Snapshot | None:
        row = await self._require().fetchrow(
            "SELECT session_id, seq, timestamp, events, state_hash, size, codec, payload FROM replay_snapshots "
            "WHERE session_id = $1 AND seq = $2",
            session_id,
            seq,
        )
        return _record_to_snapshot(row) if row is not None else None

    async def load_chunks(self, session_id: str, chunk_ids: Sequence[str]) -> list[StoredChunk]:
        if not chunk_ids:
            return []
        rows = await self._require().fetch(
            "SELECT chunk_id, codec, size, payload FROM replay_chunks WHERE session_id = $1 AND chunk_id = ANY($2::text[])",
            session_id,
            list(dict.fromkeys(chunk_ids)),
        )
        return [StoredChunk(session_id, r[0], r[1], int(r[2]), bytes(r[3])) for r in rows]

    async def progress(self, session_id: str) -> SessionProgress | None:
        row = await self._require().fetchrow(
            "SELECT applied_seq, snapshot_seq, events FROM replay_sessions WHERE session_id = $1",
            session_id,
        )
        if row is None:
            return None
        return SessionProgress(session_id, int(row[0]), int(row[1]), int(row[2]))

    async def recent_progress(self, since: float) -> list[SessionProgress]:
        rows = await self._require().fetch(
            "SELECT session_id, applied_seq, snapshot_seq, events FROM replay_sessions WHERE updated_at >= $1",
            since,
        )
        return [SessionProgress(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]

    async def stats(self, session_id: str | None = None) -> SnapshotStats:
        totals = "SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(sum(size), 0) FROM "
        where, args = ("", ()) if session_id is None else (" WHERE session_id = $1", (session_id,))
        row = await self._require().fetchrow(totals + "replay_snapshots" + where, *args)
        chunks = await self._require().fetchrow(totals + "replay_chunks" + where, *args)
        assert row is not None
        assert chunks is not None
        return SnapshotStats(
            int(row[0]), int(row[1]) + int(chunks[1]), int(row[2]), int(chunks[0]), int(chunks[2])
        )

    async def ping(self) -> bool:
        try:
            return bool(await self._require().fetchval("SELECT 1") == 1)
        except Exception:
            return False
