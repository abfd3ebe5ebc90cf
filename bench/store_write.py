"""Store write path: canonical events → committed rows with projections, on Postgres and SQLite.

Runs the store's consumer handler (what it does per fetched batch: decode, stage, insert the new
events, read and upsert every projection, commit, metrics) over realistic swarm events, at the
service's batch size (2000) and at 500, and reads the CPU time the store process and the Postgres
backend spent per event (load-independent, unlike the rates on a shared machine). Beside it, the raw ceiling measured in the same run on the same rows:
asyncpg COPY into a bare table with the events table's three indexes (Postgres), and executemany
into the same bare table (SQLite), one transaction per batch.

    uv run python bench/store_write.py [--events 60000] [--trials 3]

Prints readable lines, then one `BENCH_RESULT {...}` line (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from _support import cpu_seconds, postgres_database
from prometheus_client import CollectorRegistry

from swarmscope_service.consumer import Delivery, Verdict
from swarmscope_store.database import open_backend
from swarmscope_store.handlers import EventsHandler
from swarmscope_store.metrics import StoreMetrics
from swarmscope_store.postgres_backend import PostgresBackend
from swarmscope_store.records import EventRecord, decode_event

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


def deliveries(events: list[dict[str, Any]]) -> list[Delivery]:
    return [Delivery("traces.events.x", orjson.dumps(e), {}, seq, 1) for seq, e in enumerate(events, 1)]


def records(events: list[dict[str, Any]]) -> list[EventRecord]:
    return [decode_event(d, 168.0) for d in deliveries(events)]


def bare_rows(recs: list[EventRecord]) -> list[tuple[Any, ...]]:
    return [r.stage_row()[:10] for r in recs]


def _backend_cpu(pids: list[int]) -> float | None:
    """CPU seconds the given Postgres backends used so far (None when /proc cannot tell)."""
    # A backend that has exited took its CPU time with it: the figure would be short, so none.
    if not all(Path(f"/proc/{pid}").exists() for pid in pids):
        return None
    return sum(cpu_seconds(pid) for pid in pids)


@dataclass
class Run:
    rate: float
    batch_seconds: list[float]
    cpu_us: float  # store process CPU per event
    db_cpu_us: float | None  # Postgres backends' CPU per event


async def store_rate(url: str, deliveries: list[Delivery], batch: int) -> Run:
    """Runs the store's consumer handler (decode, write, projections, metrics) over the batches."""
    backend = await open_backend(url, pool_size=1)
    try:
        await backend.migrate()
        handler = EventsHandler(
            backend, StoreMetrics.create(CollectorRegistry()), retention_hours=168.0, durable="bench"
        )
        pids: list[int] = []
        if isinstance(backend, PostgresBackend):
            async with backend.reader() as tx:
                pids = [int(r[0]) for r in await tx.fetch("SELECT pg_backend_pid()")]
        db_before = _backend_cpu(pids) if pids else None
        cpu_before = time.process_time()
        times = []
        started = time.perf_counter()
        for i in range(0, len(deliveries), batch):
            t = time.perf_counter()
            decisions = await handler(deliveries[i : i + batch])
            assert all(d.verdict is Verdict.ACK for d in decisions)
            times.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        db_after = _backend_cpu(pids) if pids else None
        n = len(deliveries)
        return Run(
            rate=n / elapsed,
            batch_seconds=times,
            cpu_us=cpu / n * 1e6,
            db_cpu_us=None if db_before is None or db_after is None else (db_after - db_before) / n * 1e6,
        )
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
    async with postgres_database() as url:
        return await fn(url)


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[Run]] = {}
    ceilings: dict[str, list[float]] = {}
    for trial in range(args.trials):
        events = swarm_events(args.events, f"t{trial}-{uuid.uuid4().hex[:6]}")
        batch_in = deliveries(events)
        rows = bare_rows(records(events))
        for batch in (2000, 500):
            run = await with_database(lambda url, b=batch, d=batch_in: store_rate(url, d, b))
            runs.setdefault(f"pg{batch}", []).append(run)
        ceilings.setdefault("pg", []).append(
            await with_database(lambda url, r=rows: copy_ceiling(url, r, 2000))
        )
        with tempfile.TemporaryDirectory() as tmp:
            for batch in (2000, 500):
                run = await store_rate(f"sqlite:///{tmp}/store{batch}.db", batch_in, batch)
                runs.setdefault(f"sqlite{batch}", []).append(run)
            ceilings.setdefault("sqlite", []).append(sqlite_ceiling(Path(tmp) / "bare.db", rows, 2000))
        print(
            f"trial {trial + 1}: "
            + ", ".join(f"{k} {v[-1].rate:,.0f}/s" for k, v in runs.items())
            + f", COPY ceiling {ceilings['pg'][-1]:,.0f}/s, sqlite ceiling {ceilings['sqlite'][-1]:,.0f}/s",
            flush=True,
        )
    rate = {k: statistics.median(r.rate for r in v) for k, v in runs.items()}
    ceiling = {k: statistics.median(v) for k, v in ceilings.items()}
    for key, trials in runs.items():
        t = [s for r in trials for s in r.batch_seconds]
        cpu = statistics.median(r.cpu_us for r in trials)
        db = [r.db_cpu_us for r in trials if r.db_cpu_us is not None]
        db_text = f", Postgres CPU {statistics.median(db):.1f} µs/event" if db else ""
        print(
            f"{key}: median {rate[key]:,.0f} events/s; batch p50 {ms(t, 0.5):.1f} ms, p95 {ms(t, 0.95):.1f} ms; "
            f"store CPU {cpu:.1f} µs/event{db_text}"
        )
    print(
        f"ceiling: asyncpg COPY {ceiling['pg']:,.0f} rows/s; sqlite executemany {ceiling['sqlite']:,.0f} rows/s"
    )
    pg_cpu = statistics.median(r.cpu_us for r in runs["pg2000"])
    pg_db = [r.db_cpu_us for r in runs["pg2000"] if r.db_cpu_us is not None]
    figures = [
        {
            "figure": "store write, Postgres, batches of 2000 (events + projections)",
            "value": round(rate["pg2000"], 1),
            "unit": "events/s",
            "target": TARGET,
            "ceiling": round(ceiling["pg"], 1),
        },
        {
            "figure": "store write, Postgres, batches of 500",
            "value": round(rate["pg500"], 1),
            "unit": "events/s",
            "target": None,
            "ceiling": round(ceiling["pg"], 1),
        },
        {
            "figure": "store write, SQLite, batches of 2000",
            "value": round(rate["sqlite2000"], 1),
            "unit": "events/s",
            "target": None,
            "ceiling": round(ceiling["sqlite"], 1),
        },
        {
            "figure": "store write, SQLite, batches of 500",
            "value": round(rate["sqlite500"], 1),
            "unit": "events/s",
            "target": None,
            "ceiling": round(ceiling["sqlite"], 1),
        },
        {
            "figure": "store write, Postgres: store process CPU per event",
            "value": round(pg_cpu, 1),
            "unit": "µs",
            "target": None,
            "ceiling": None,
        },
    ]
    if pg_db:
        figures.append(
            {
                "figure": "store write, Postgres: database CPU per event",
                "value": round(statistics.median(pg_db), 1),
                "unit": "µs",
                "target": None,
                "ceiling": None,
            }
        )
    print("BENCH_RESULT " + orjson.dumps({"bench": "store_write", "figures": figures}).decode())


if __name__ == "__main__":
    asyncio.run(main())
