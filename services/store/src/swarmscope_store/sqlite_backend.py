"""The SQLite backend: stdlib sqlite3, WAL, one writer thread and one reader thread.

sqlite3 calls block, so each connection lives on its own single-thread executor: the writer runs
every write transaction (serialized by a lock: SQLite has one writer anyway), the reader answers
queries meanwhile from a consistent WAL snapshot. synchronous=NORMAL in WAL mode survives a crash
of the process (kill -9) without losing a commit; only a power loss may roll back the last ones.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from swarmscope_store.backend import DatabaseUnavailable, DataRejected, Dialect, Row, Tx
from swarmscope_store.migrations import SCHEMA_MIGRATIONS_DDL, migrations_for
from swarmscope_store.records import STAGE_COLUMNS, EventRecord

T = TypeVar("T")

_PARAM = re.compile(r"\$(\d+)")

STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_events ("
    "seq INTEGER, session_id TEXT, event_id TEXT, agent_id TEXT, type TEXT, phase TEXT, span_id TEXT, "
    "ts REAL, expires_at INTEGER, body BLOB, parent_id TEXT, causation_id TEXT, message_id TEXT, "
    "reply_to TEXT, parent_agent_id TEXT)"
)
_STAGE_INSERT = (
    f"INSERT INTO stage_events ({', '.join(STAGE_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'?{i}' for i in range(1, len(STAGE_COLUMNS) + 1))})"
)
_EVENT_COLUMNS = "seq, session_id, event_id, agent_id, type, phase, span_id, ts, expires_at, body"
_INSERT_EVENTS = (
    f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM stage_events "  # noqa: S608
    "WHERE true ORDER BY seq ON CONFLICT DO NOTHING RETURNING seq"
)


@lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """Postgres-style `$n` placeholders as SQLite's numbered `?n`."""
    return _PARAM.sub(r"?\1", sql)


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///path` URL (relative to the working directory, or absolute with
    `sqlite:////abs/path`)."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r}")
    return Path(url[len("sqlite:///") :])


def _classify(exc: BaseException) -> Exception:
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError, OverflowError)):
        return DataRejected(str(exc))
    return DatabaseUnavailable(f"sqlite: {exc}")


class _Worker:
    """One sqlite3 connection bound to one thread."""

    def __init__(self, path: Path, name: str, setup: Sequence[str]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._path = path
        self._setup = setup
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
            for statement in self._setup:
                conn.execute(statement)
            self._conn = conn
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._open()))

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)


class _SqliteTx:
    def __init__(self, worker: _Worker) -> None:
        self._worker = worker

    async def execute(self, sql: str, *args: Any) -> int:
        statement = translate(sql)
        return await self._worker.run(lambda c: c.execute(statement, args).rowcount)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        statement = translate(sql)
        await self._worker.run(lambda c: c.executemany(statement, rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        statement = translate(sql)
        return await self._worker.run(lambda c: c.execute(statement, args).fetchall())

    async def script(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._worker.run(fn)


class SqliteBackend:
    """StoreBackend on a SQLite file."""

    name = "sqlite"
    dialect = Dialect("sqlite")

    def __init__(self, url: str) -> None:
        self.path = sqlite_path(url)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pragmas = ["PRAGMA busy_timeout = 30000", "PRAGMA foreign_keys = OFF"]
        self._writer = _Worker(
            self.path,
            "sqlite-writer",
            [
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA temp_store = MEMORY",
                *pragmas,
                STAGE_DDL,
            ],
        )
        self._reader = _Worker(self.path, "sqlite-reader", [*pragmas, "PRAGMA query_only = ON"])
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()

    async def open(self) -> None:
        """Opens the writer connection (creates the file and switches it to WAL)."""
        try:
            await self._writer.run(lambda c: c.execute("SELECT 1").fetchall())
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"sqlite: cannot open {self.path}: {exc}") from exc

    async def migrate(self) -> list[str]:
        applied: list[str] = []
        async with self._write_lock:

            def run(conn: sqlite3.Connection) -> None:
                conn.execute(SCHEMA_MIGRATIONS_DDL)
                done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
                for migration in migrations_for("sqlite"):
                    if migration.version in done:
                        continue
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                        # Re-check under the write lock: another process may have migrated meanwhile.
                        row = conn.execute(
                            "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
                        ).fetchone()
                        if row is None:
                            for statement in _statements(migration.sql):
                                conn.execute(statement)
                            conn.execute(
                                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                                (migration.version, migration.name, time.time()),
                            )
                            applied.append(migration.name)
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise

            try:
                await self._writer.run(run)
            except sqlite3.Error as exc:
                raise DatabaseUnavailable(f"sqlite migration failed: {exc}") from exc
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._write_lock:
            tx = _SqliteTx(self._writer)
            try:
                await tx.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _classify(exc) from exc
            try:
                yield tx
            except BaseException as exc:
                await self._writer.run(_rollback)
                if isinstance(exc, (sqlite3.Error, OverflowError)):
                    raise _classify(exc) from exc
                raise
            try:
                await tx.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._writer.run(_rollback)
                raise _classify(exc) from exc

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Tx]:
        async with self._read_lock:
            tx = _SqliteTx(self._reader)
            try:
                # One snapshot for every query of one answer (e.g. a graph's spans and edges).
                await tx.execute("BEGIN")
            except sqlite3.Error as exc:
                raise _classify(exc) from exc
            try:
                yield tx
            except sqlite3.Error as exc:
                raise _classify(exc) from exc
            finally:
                await self._reader.run(_rollback)

    async def prepare(self, records: Sequence[EventRecord]) -> None:
        return None

    async def insert_events(self, tx: Tx, records: Sequence[EventRecord]) -> list[int]:
        assert isinstance(tx, _SqliteTx)
        rows = [r.stage_row() for r in records]

        def run(conn: sqlite3.Connection) -> list[int]:
            conn.execute("DELETE FROM stage_events")
            conn.executemany(_STAGE_INSERT, rows)
            return [int(r[0]) for r in conn.execute(_INSERT_EVENTS).fetchall()]

        return await tx.script(run)

    async def purge_events(self, now_ms: int) -> tuple[int, int]:
        async with self.transaction() as tx:
            deleted = await tx.execute("DELETE FROM events WHERE expires_at <= $1", now_ms)
        return deleted, 0

    async def ping(self) -> bool:
        try:
            await self._reader.run(lambda c: c.execute("SELECT 1").fetchall())
        except sqlite3.Error:
            return False
        return True

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _statements(script: str) -> list[str]:
    """The statements of a migration script (split where sqlite3 says a statement is complete)."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current.append(line)
        text = "".join(current)
        if sqlite3.complete_statement(text):
            statements.append(text.strip())
            current = []
    if "".join(current).strip():
        raise RuntimeError("migration ends with an incomplete statement")
    return statements
