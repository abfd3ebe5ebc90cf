"""The Postgres backend: an asyncpg pool; a batch is COPYed into a staging table and inserted from
there, all in one transaction.

Events are partitioned by day of expiry (see migrations/postgres/0001_init.sql): `prepare` creates
the partitions a batch needs before its transaction, and `purge_events` drops whole partitions
once their last day has passed. Several store replicas may write at once: each batch takes
transaction-scoped advisory locks on its sessions (in a fixed order, so two batches never
deadlock) because projections read state before they write it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from swarmscope_store.backend import DatabaseUnavailable, DataRejected, Dialect, Row, Tx
from swarmscope_store.migrations import SCHEMA_MIGRATIONS_DDL, migrations_for
from swarmscope_store.records import STAGE_COLUMNS, EventRecord

DAY_MS = 86_400_000
MIGRATION_LOCK = 7_337_001  # pg_advisory_lock key of `migrate`
_PARTITION = re.compile(r"^events_p(\d{8})$")

STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_events ("
    "seq bigint, session_id text, event_id text, agent_id text, type text, phase text, span_id text, "
    "ts double precision, expires_at bigint, body bytea, parent_id text, causation_id text, "
    "message_id text, reply_to text, parent_agent_id text) ON COMMIT DELETE ROWS"
)
_EVENT_COLUMNS = "seq, session_id, event_id, agent_id, type, phase, span_id, ts, expires_at, body"
_INSERT_EVENTS = (
    "WITH keys AS ("  # noqa: S608
    "INSERT INTO event_keys (session_id, event_id, seq, span_id, expires_at) "
    "SELECT session_id, event_id, seq, span_id, expires_at FROM stage_events ORDER BY seq "
    "ON CONFLICT DO NOTHING RETURNING seq) "
    f"INSERT INTO events ({_EVENT_COLUMNS}) "
    f"SELECT {', '.join('s.' + c.strip() for c in _EVENT_COLUMNS.split(','))} "
    "FROM stage_events s JOIN keys k ON k.seq = s.seq RETURNING seq"
)
_LOCK_SESSIONS = (
    "SELECT pg_advisory_xact_lock(k) FROM ("
    "SELECT DISTINCT hashtext(session_id) AS k FROM stage_events ORDER BY 1) locks"
)


def _classify(exc: BaseException) -> Exception:
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(exc, asyncpg.PostgresError) and sqlstate and sqlstate[:2] in ("22", "23", "54"):
        return DataRejected(f"postgres {sqlstate}: {exc}")
    return DatabaseUnavailable(f"postgres: {exc!r}")


_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def partition_name(day: int) -> str:
    """The partition holding rows that expire on a UTC day (days since the epoch)."""
    date = dt.datetime.fromtimestamp(day * 86_400, tz=dt.UTC)
    return f"events_p{date:%Y%m%d}"


def partition_day(name: str) -> int | None:
    match = _PARTITION.match(name)
    if match is None:
        return None
    date = dt.datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=dt.UTC)
    return int(date.timestamp()) // 86_400


class _PgTx:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self.conn.execute(sql, *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self.conn.fetch(sql, *args))


class PostgresBackend:
    """StoreBackend on Postgres."""

    name = "postgres"
    dialect = Dialect("postgres")

    def __init__(self, dsn: str, *, pool_size: int = 8, command_timeout: float = 60.0) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._partitions: set[int] = set()
        self._partition_lock = asyncio.Lock()

    async def open(self) -> None:
        """Creates the pool (one connection now, more on demand)."""
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                command_timeout=self._command_timeout,
                init=self._init_connection,
            )
        except _DRIVER_ERRORS as exc:
            raise DatabaseUnavailable(f"postgres: cannot connect: {exc!r}") from exc

    @staticmethod
    async def _init_connection(conn: asyncpg.Connection) -> None:
        # asyncpg prepares every statement; after five runs Postgres may switch to a generic plan
        # that ignores which session is asked for, and for `session_id = $1 … ORDER BY seq LIMIT n`
        # on a session holding most of the table that plan sorts the whole session. Planning each
        # run costs far less than such a plan.
        await conn.execute("SET plan_cache_mode = force_custom_plan")
        await conn.execute(STAGE_DDL)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DatabaseUnavailable("postgres backend is not open")
        return self._pool

    async def migrate(self) -> list[str]:
        applied: list[str] = []
        try:
            async with self.pool.acquire() as conn:
                await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
                try:
                    await conn.execute(SCHEMA_MIGRATIONS_DDL)
                    done = {int(r[0]) for r in await conn.fetch("SELECT version FROM schema_migrations")}
                    for migration in migrations_for("postgres"):
                        if migration.version in done:
                            continue
                        async with conn.transaction():
                            await conn.execute(migration.sql)
                            await conn.execute(
                                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                                migration.version,
                                migration.name,
                                time.time(),
                            )
                        applied.append(migration.name)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        except _DRIVER_ERRORS as exc:
            raise DatabaseUnavailable(f"postgres migration failed: {exc!r}") from exc
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                yield _PgTx(conn)
        except _DRIVER_ERRORS as exc:
            raise _classify(exc) from exc

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Tx]:
        try:
            async with self.pool.acquire() as conn:
                yield _PgTx(conn)
        except _DRIVER_ERRORS as exc:
            raise _classify(exc) from exc

    async def prepare(self, records: Sequence[EventRecord]) -> None:
        days = {r.expires_at // DAY_MS for r in records}
        today = int(time.time() * 1000) // DAY_MS
        # A partition of a day already past may have been dropped by another replica's retention:
        # never trust the cache for those.
        missing = sorted(d for d in days if d not in self._partitions or d <= today)
        if not missing:
            return
        async with self._partition_lock:
            try:
                async with self.pool.acquire() as conn:
                    for day in missing:
                        # Another writer may create it between IF NOT EXISTS's check and the
                        # create: then it exists, which is all this wants.
                        with contextlib.suppress(asyncpg.DuplicateTableError, asyncpg.UniqueViolationError):
                            await conn.execute(
                                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF events "
                                f"FOR VALUES FROM ({day * DAY_MS}) TO ({(day + 1) * DAY_MS})"
                            )
                        self._partitions.add(day)
            except _DRIVER_ERRORS as exc:
                raise _classify(exc) from exc

    async def insert_events(self, tx: Tx, records: Sequence[EventRecord]) -> list[int]:
        assert isinstance(tx, _PgTx)
        conn = tx.conn
        try:
            await conn.copy_records_to_table(
                "stage_events", records=[r.stage_row() for r in records], columns=list(STAGE_COLUMNS)
            )
            await conn.execute(_LOCK_SESSIONS)
            rows = await conn.fetch(_INSERT_EVENTS)
        except asyncpg.CheckViolationError:
            # "no partition for row": a partition vanished under us (retention elsewhere).
            self._partitions.clear()
            raise
        return [int(r[0]) for r in rows]

    async def existing_partitions(self) -> dict[int, str]:
        """Partitions of events by expiry day."""
        async with self.reader() as tx:
            rows = await tx.fetch(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'"
            )
        out: dict[int, str] = {}
        for row in rows:
            day = partition_day(str(row[0]))
            if day is not None:
                out[day] = str(row[0])
        return out

    async def purge_events(self, now_ms: int) -> tuple[int, int]:
        partitions = await self.existing_partitions()
        dropped = 0
        async with self.transaction() as tx:
            deleted = await tx.execute("DELETE FROM event_keys WHERE expires_at <= $1", now_ms)
            for day, name in sorted(partitions.items()):
                if (day + 1) * DAY_MS <= now_ms:
                    # Every row of this partition expired: drop it whole instead of deleting rows.
                    await tx.execute(f"DROP TABLE IF EXISTS {name}")
                    self._partitions.discard(day)
                    dropped += 1
            await tx.execute("DELETE FROM events WHERE expires_at <= $1", now_ms)
        return deleted, dropped

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=2.0) as conn:
                await conn.fetchval("SELECT 1")
        except Exception:
            return False
        return True

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
