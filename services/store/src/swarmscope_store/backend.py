"""The interface every storage backend implements, and the SQL dialect differences.

Two backends implement `StoreBackend`: Postgres (asyncpg pool; COPY into a staging table, one
transaction per batch) and SQLite (stdlib sqlite3 on dedicated threads, WAL, executemany). The
write path (`writer`) and the queries (`queries`) are written once against this interface; SQL is
written with Postgres-style `$n` placeholders and a backend translates them where it must. What
differs between the two engines is confined to `Dialect` and to each backend's `insert_events`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from swarmscope_store.records import EventRecord

Row = Sequence[Any]


class Tx(Protocol):
    """A connection inside a transaction (or a read-only connection for queries)."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Runs a statement; returns the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...


class DatabaseUnavailable(Exception):
    """The database cannot be reached or is not usable right now; retry later."""


class DataRejected(Exception):
    """The database refused the data itself (a constraint or a value it cannot hold)."""


@dataclass(frozen=True)
class RetentionResult:
    """What one retention pass removed."""

    events: int = 0
    partitions: int = 0
    sessions: int = 0
    projections: int = 0
    dead_letters: int = 0


class StoreBackend(Protocol):
    """A storage engine for events, projections and dead letters."""

    name: str
    dialect: Dialect

    async def migrate(self) -> list[str]:
        """Applies pending migrations; returns the names applied (empty when up to date)."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction: committed when the block exits normally, else rolled back."""
        ...

    def reader(self) -> AbstractAsyncContextManager[Tx]:
        """A connection for queries."""
        ...

    async def insert_events(self, tx: Tx, records: Sequence[EventRecord]) -> list[int]:
        """Stages the batch (table `stage_events`) and inserts the events not yet stored.

        Returns the seqs actually inserted. A duplicate (session_id, event_id) or seq is skipped;
        within a batch the lowest seq of a duplicated id wins.
        """
        ...

    async def prepare(self, records: Sequence[EventRecord]) -> None:
        """Readies storage for a batch outside its transaction (Postgres: create partitions)."""
        ...

    async def purge_events(self, now_ms: int) -> tuple[int, int]:
        """Deletes events expired at now_ms; returns (events deleted, partitions dropped)."""
        ...

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """SQL fragments that differ between Postgres and SQLite."""

    name: str

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.is_postgres else f"MIN({a}, {b})"

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.is_postgres else f"MAX({a}, {b})"

    def contains(self, expr: str, param: str) -> str:
        """Case-insensitive substring test; the parameter must already be lower-cased."""
        if self.is_postgres:
            return f"strpos(lower({expr}), {param}) > 0"
        return f"instr(lower({expr}), {param}) > 0"

    def in_list(self, column: str, param: str) -> str:
        """`column` is one of the list parameter's values (see list_param)."""
        if self.is_postgres:
            return f"{column} = ANY({param}::text[])"
        return f"{column} IN (SELECT value FROM json_each({param}))"  # noqa: S608

    def list_param(self, values: Sequence[str]) -> Any:
        if self.is_postgres:
            return list(values)
        import json

        return json.dumps(list(values))

    def data_text(self, body: str) -> str:
        """The JSON text of an event body's `data` object.

        Postgres JSON cannot hold a NUL character, so the rare body with a `\\u0000` escape is
        searched whole rather than failing the query.
        """
        if self.is_postgres:
            text = f"convert_from({body}, 'UTF8')"
            return (
                f"CASE WHEN strpos({text}, '\\u0000') > 0 THEN {text} "
                f"ELSE ({text}::jsonb -> 'data')::text END"
            )
        return f"json_extract(CAST({body} AS TEXT), '$.data')"

    def byte_length(self, column: str) -> str:
        return f"octet_length({column})" if self.is_postgres else f"length({column})"

    def head_bytes(self, column: str, n: int) -> str:
        if self.is_postgres:
            return f"substring({column} from 1 for {int(n)})"
        return f"substr({column}, 1, {int(n)})"
