"""Store write path: canonical events → committed rows with projections, on Postgres and SQLite.

Times `write_events` (what the store's consumer does per fetched batch: stage, insert the new
events, read and upsert every projection, commit) over realistic swarm events, at the service's
batch size (2000) and at 500. Beside it, the raw ceiling measured in the same run on the same rows:
asyncpg COPY into a bare table with the events table's three indexes (Postgres), and executemany
into the same bare table (SQLite), one transaction per batch.

    uv run python bench/store_write.py [--events 60000] [--trials 3]

Prints readable lines, then one `BENCH_RESULT {...}` line (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

from swarmscope_service.consumer import Delivery
from swarmscope_store.database import open_backend
from swarmscope_store.records import EventRecord, decode_event
from swarmscope_store.writer import write_events

ADMIN_URL = os.environ.get("SWARMSCOPE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET = ">= 15000"
SESSIONS = 20
AGENTS = 6

BARE_TABLE = (
    "CREATE TABLE bare (seq bigint, session_id text, event_id text, agent_id text, type text, phase text, "
    "span_id text, ts double precision, expires_at bigint, body bytea)"
)
BARE_INDEXES = (
    "CREATE INDEX bare_1 ON bare (session_id, seq)",
    "CREATE INDEX bare_2 ON bare (session_id, agent_id, seq)",
    "CREATE INDEX bare_3 ON bare (session_id, type, seq)",
)
BARE_COLUMNS = [
    "seq",
    "session_id",
    "event_id",
    "agent_id",
    "type",
    "phase",
    "span_id",
    "ts",
    "expires_at",
    "body",
]


def _event(
    out: list[dict[str, Any]],
    where: tuple[str, str, float],
    kind: str,
    phase: str,
    span: str,
    data: dict[str, Any],
    **extra: Any,
) -> None:
    session, agent, ts = where
    n = len(out)
    out.append(
        {
            "id": f"e{n}",
            "timestamp": ts + n * 0.01,
            "session_id": session,
            "agent_id": agent,
            "type": kind,
            "phase": phase,
            "span_id": span,
            "data": data,
            "metadata": {"tags": [], "priority": "normal", **extra.pop("metadata", {})},
            "received_at": ts + n * 0.01 + 2,
            **extra,
        }
    )


def swarm_events(count: int, tag: str) -> list[dict[str, Any]]:
    """Canonical event dicts as ingest publishes them: tasks holding tool and LLM calls (start and
    complete phases), messages, memory writes, decisions and errors."""
    now = time.time() * 1000
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < count:
        agent = f"agent-{(i // SESSIONS) % AGENTS}"
        where = (f"{tag}-s{i % SESSIONS}", agent, now + len(out))
        task = f"sp-task-{i}"
        child = {"metadata": {"parent_id": task}}
        _event(out, where, "task_start", "start", task, {"task_id": f"T{i}", "attempt": 1})
        _event(
            out,
            where,
            "tool_call",
            "start",
            f"{task}-tool",
            {"tool": "Bash", "args": {"cmd": "pytest"}},
            **child,
        )
        _event(
            out, where, "llm_call", "start", f"{task}-llm", {"model": "claude", "prompt": "p" * 120}, **child
        )
        _event(
            out,
            where,
            "tool_call",
            "complete",
            f"{task}-tool",
            {"tool": "Bash", "exit_code": 0, "result": "ok " * 20},
            performance={"duration": 120.0},
            **child,
        )
        _event(
            out,
            where,
            "llm_call",
            "complete",
            f"{task}-llm",
            {"model": "claude", "response": "r" * 200, "input_tokens": 900, "output_tokens": 150},
            performance={"duration": 900.0, "input_tokens": 900, "output_tokens": 150, "cost_usd": 0.004},
            **child,
        )
        message = {"id": f"m{i}", "from": agent, "to": ["agent-0"], "type": "result", "content": "done"}
        _event(
            out, where, "communication", "complete", f"{task}-msg", {"message": message, "direction": "sent"}
        )
        _event(
            out, where, "memory_write", "complete", f"{task}-mem", {"key": f"k{i % 50}", "value": {"v": i}}
        )
        _event(out, where, "decision", "complete", f"{task}-dec", {"kind": "next", "chosen": "a"})
        if i % 10 == 0:
            _event(out, where, "error", "complete", f"{task}-err", {"message": "flaky test"}, **child)
        _event(out, where, "task_complete", "complete", task, {"task_id": f"T{i}", "result": {"ok": True}})
        i += 1
    for event in out:
        event["id"] = f"{tag}-{event['id']}"
    return out[:count]


def records(events: list[dict[str, Any]]) -> list[EventRecord]:
    return [
        decode_event(Delivery("traces.events.x", orjson.dumps(e), {}, seq, 1), 168.0)
        for seq, e in enumerate(events, 1)
    ]


def bare_rows(recs: list[EventRecord]) -> list[tuple[Any, ...]]:
    return [r.stage_row()[:10] for r in recs]


async def store_rate(url: str, recs: list[EventRecord], batch: int) -> tuple[float, list[float]]:
    backend = await open_backend(url, pool_size=4)
    try:
        await backend.migrate()
        times = []
        started = time.perf_counter()
        for i in range(0, len(recs), batch):
            t = time.perf_counter()
            await write_events(backend, recs[i : i + batch])
            times.append(time.perf_counter() - t)
        return len(recs) / (time.perf_counter() - started), times
    finally:
        await backend.close()


async def copy_ceiling(url: str, rows: list[tuple[Any, ...]], batch: int) -> float:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS bare")
        await conn.execute(BARE_TABLE)
        for statement in BARE_INDEXES:
            await conn.execute(statement)
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            async with conn.transaction():
                await conn.copy_records_to_table("bare", records=rows[i : i + batch], columns=BARE_COLUMNS)
        return len(rows) / (time.perf_counter() - started)
    finally:
        await conn.close()


def sqlite_ceiling(path: Path, rows: list[tuple[Any, ...]], batch: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(BARE_TABLE.replace("double precision", "REAL").replace("bytea", "BLOB"))
        for statement in BARE_INDEXES:
            conn.execute(statement)
        insert = f"INSERT INTO bare VALUES ({', '.join('?' * 10)})"
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            conn.execute("BEGIN")
            conn.executemany(insert, rows[i : i + batch])
            conn.execute("COMMIT")
        return len(rows) / (time.perf_counter() - started)
    finally:
        conn.close()


async def with_database(fn: Any) -> Any:
    name = f"swarmscope_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(ADMIN_URL)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    try:
        return await fn(url)
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    figures: list[dict[str, Any]] = []
    results: dict[str, list[float]] = {}
    batch_times: dict[str, list[float]] = {}
    for trial in range(args.trials):
        recs = records(swarm_events(args.events, f"t{trial}-{uuid.uuid4().hex[:6]}"))
        rows = bare_rows(recs)
        for batch in (2000, 500):
            rate, times = await with_database(lambda url, b=batch, r=recs: store_rate(url, r, b))
            results.setdefault(f"pg{batch}", []).append(rate)
            batch_times.setdefault(f"pg{batch}", []).extend(times)
        results.setdefault("pg_ceiling", []).append(
            await with_database(lambda url, r=rows: copy_ceiling(url, r, 2000))
        )
        with tempfile.TemporaryDirectory() as tmp:
            for batch in (2000, 500):
                rate, times = await store_rate(f"sqlite:///{tmp}/store{batch}.db", recs, batch)
                results.setdefault(f"sqlite{batch}", []).append(rate)
                batch_times.setdefault(f"sqlite{batch}", []).extend(times)
            results.setdefault("sqlite_ceiling", []).append(sqlite_ceiling(Path(tmp) / "bare.db", rows, 2000))
        print(
            f"trial {trial + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in results.items()),
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in results.items()}
    for key in ("pg2000", "pg500", "sqlite2000", "sqlite500"):
        t = batch_times[key]
        print(
            f"{key}: median {med[key]:,.0f} events/s; batch commit p50 {ms(t, 0.5):.1f} ms, p95 {ms(t, 0.95):.1f} ms"
        )
    print(
        f"ceiling: asyncpg COPY {med['pg_ceiling']:,.0f} rows/s; sqlite executemany {med['sqlite_ceiling']:,.0f} rows/s"
    )
    figures = [
        {
            "figure": "store write, Postgres, batches of 2000 (events + projections)",
            "value": round(med["pg2000"], 1),
            "unit": "events/s",
            "target": TARGET,
            "ceiling": round(med["pg_ceiling"], 1),
        },
        {
            "figure": "store write, Postgres, batches of 500",
            "value": round(med["pg500"], 1),
            "unit": "events/s",
            "target": None,
            "ceiling": round(med["pg_ceiling"], 1),
        },
        {
            "figure": "store write, SQLite, batches of 2000",
            "value": round(med["sqlite2000"], 1),
            "unit": "events/s",
            "target": None,
            "ceiling": round(med["sqlite_ceiling"], 1),
        },
        {
            "figure": "store write, SQLite, batches of 500",
            "value": round(med["sqlite500"], 1),
            "unit": "events/s",
            "target": None,
            "ceiling": round(med["sqlite_ceiling"], 1),
        },
    ]
    print("BENCH_RESULT " + orjson.dumps({"bench": "store_write", "figures": figures}).decode())


if __name__ == "__main__":
    asyncio.run(main())
