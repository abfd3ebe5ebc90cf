"""Store query latency: a 500-event page of a session on a Postgres database holding 1M events.

Loads 1,000,000 events with COPY straight into the store's schema (one session of 100k events, 900
sessions of 1,000, interleaved in seq order as a shared log interleaves them), then times pages of
500 events at random positions: in process (the store's `events` op: SQL, byte budget, reply
encoding) and over NATS request-reply (what the gateway sees). Beside it, the ceiling measured in
the same run: the bare asyncpg query `SELECT seq, body … ORDER BY seq LIMIT 500` at the same
positions.

    uv run python bench/store_query.py [--events 1000000] [--queries 300]

Prints readable lines, then one `BENCH_RESULT {...}` line (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import nats
import orjson
from _support import postgres_database
from prometheus_client import CollectorRegistry

from swarmscope_dev.nats_server import start_nats_server
from swarmscope_schema.requests import EventsQuery, StoreOp
from swarmscope_schema.subjects import STORE_REQUEST_PREFIX, store_request_subject
from swarmscope_service.request_reply import RequestServer
from swarmscope_store.database import open_backend
from swarmscope_store.graph import GraphBuilder
from swarmscope_store.operations import store_operations
from swarmscope_store.postgres_backend import DAY_MS, PostgresBackend, partition_name
from swarmscope_store.progress import CommittedProgress
from swarmscope_store.queries import StoreQueries

BIG = "big-session"
SMALL_SESSIONS = 900
PAGE = 500
TYPES = ("tool_call", "llm_call", "task_start", "task_complete", "communication", "memory_write", "decision")
CHUNK = 50_000


def session_of(seq: int) -> str:
    # Every tenth event of the log belongs to the big session; the rest round-robin over the others.
    if seq % 10 == 0:
        return BIG
    return f"s-{(seq - seq // 10 - 1) % SMALL_SESSIONS:03d}"


async def load(url: str, total: int) -> dict[str, int]:
    """COPYs `total` events (event_keys + events) and a sessions row per session; returns counts."""
    now = time.time() * 1000
    expires = int(now + 168 * 3_600_000)
    day = expires // DAY_MS
    conn = await asyncpg.connect(url)
    counts: dict[str, int] = {}
    try:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF events "
            f"FOR VALUES FROM ({day * DAY_MS}) TO ({(day + 1) * DAY_MS})"
        )
        started = time.perf_counter()
        for low in range(1, total + 1, CHUNK):
            keys = []
            rows = []
            for seq in range(low, min(low + CHUNK, total + 1)):
                session = session_of(seq)
                counts[session] = counts.get(session, 0) + 1
                agent = f"agent-{seq % 7}"
                kind = TYPES[seq % len(TYPES)]
                event_id = f"e{seq}"
                ts = now - (total - seq) * 2.0
                body = orjson.dumps(
                    {
                        "seq": seq,
                        "id": event_id,
                        "timestamp": ts,
                        "session_id": session,
                        "agent_id": agent,
                        "type": kind,
                        "phase": "complete",
                        "span_id": event_id,
                        "data": {"tool": "Bash", "args": {"cmd": "pytest -q tests/"}, "result": "ok " * 30},
                        "metadata": {"tags": ["bench"], "priority": "normal"},
                        "performance": {"duration": 12.5},
                        "received_at": ts + 3,
                    }
                )
                keys.append((session, event_id, seq, event_id, expires))
                rows.append((seq, session, event_id, agent, kind, "complete", event_id, ts, expires, body))
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "event_keys",
                    records=keys,
                    columns=["session_id", "event_id", "seq", "span_id", "expires_at"],
                )
                await conn.copy_records_to_table(
                    "events",
                    records=rows,
                    columns=[
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
                    ],
                )
            print(f"  loaded {min(low + CHUNK - 1, total):,} events", flush=True)
        elapsed = time.perf_counter() - started
        print(
            f"COPY load: {total:,} events in {elapsed:.1f} s ({total / elapsed:,.0f} rows/s incl. event_keys)"
        )
        await conn.executemany(
            "INSERT INTO sessions (session_id, first_seq, last_seq, start_time, last_event_time, event_count, expires_at) "
            "VALUES ($1, 0, 0, 0, 0, $2, $3)",
            [(s, n, expires) for s, n in counts.items()],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return counts


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def timed(calls: list[Callable[[], Awaitable[Any]]]) -> list[float]:
    out = []
    for call in calls:
        t = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t) * 1000)
    return out


def positions(rng: random.Random, count: int, queries: int) -> list[int]:
    """after_seq values whose page is full: the seq of a random event of the session minus one."""
    return [rng.randrange(0, max(count - PAGE, 1)) for _ in range(queries)]


async def run(url: str, total: int, queries: int) -> list[dict[str, Any]]:
    backend = await open_backend(url, pool_size=4)
    assert isinstance(backend, PostgresBackend)
    await backend.migrate()
    counts = await load(url, total)
    rng = random.Random(7)
    budget = 8 * 1024 * 1024
    store = StoreQueries(backend, lambda: budget)
    raw = await asyncpg.connect(url)
    await raw.execute("SET plan_cache_mode = force_custom_plan")  # as the store's own connections
    results: dict[str, list[float]] = {}
    try:
        # after_seq in the big session: its events are every tenth seq
        big = [p * 10 for p in positions(rng, counts[BIG], queries)]
        smalls = sorted(s for s in counts if s != BIG)
        small_sessions = [rng.choice(smalls) for _ in range(queries)]

        async def page(query: EventsQuery) -> None:
            orjson.dumps({"ok": True, "result": await store.events(query)})

        async def bare(session: str, after: int) -> None:
            await raw.fetch(
                "SELECT seq, body FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT 500",
                session,
                after,
            )

        for _ in range(20):  # warm caches and prepared statements
            await page(EventsQuery(session_id=BIG, after_seq=big[0], limit=PAGE))
            await bare(BIG, big[0])
        results["big"] = await timed(
            [lambda a=a: page(EventsQuery(session_id=BIG, after_seq=a, limit=PAGE)) for a in big]
        )
        results["big_raw"] = await timed([lambda a=a: bare(BIG, a) for a in big])
        results["small"] = await timed(
            [lambda s=s: page(EventsQuery(session_id=s, limit=PAGE)) for s in small_sessions]
        )
        results["desc"] = await timed(
            [
                lambda a=a: page(EventsQuery(session_id=BIG, until_seq=a + 50_000, order="desc", limit=PAGE))
                for a in big
            ]
        )
        results["agent"] = await timed(
            [
                lambda a=a: page(EventsQuery(session_id=BIG, after_seq=a, agent="agent-3", limit=PAGE))
                for a in big[: queries // 3]
            ]
        )
        with tempfile.TemporaryDirectory() as tmp:
            server = start_nats_server(Path(tmp) / "nats")
            try:
                serving = await nats.connect(server.url)
                calling = await nats.connect(server.url)
                try:
                    ops = store_operations(
                        StoreQueries(backend, lambda: int(serving.max_payload)),
                        GraphBuilder(backend),
                        CommittedProgress(serving.jetstream()),
                    )
                    request_server = RequestServer(
                        serving, STORE_REQUEST_PREFIX, ops, CollectorRegistry(), queue="store"
                    )
                    await request_server.start()
                    subject = store_request_subject(StoreOp.EVENTS.value)

                    async def over_nats(after: int) -> None:
                        # The reply as it arrives (bytes): decoding it is the caller's own cost.
                        body = orjson.dumps({"session_id": BIG, "after_seq": after, "limit": PAGE})
                        reply = await calling.request(subject, body, timeout=10)
                        assert reply.data.startswith(b'{"ok":true')

                    for _ in range(20):
                        await over_nats(big[0])
                    results["nats"] = await timed([lambda a=a: over_nats(a) for a in big])
                    await request_server.stop()
                finally:
                    await calling.close()
                    await serving.close()
            finally:
                server.stop()
    finally:
        await raw.close()
        await backend.close()
    labels = {
        "big": "page of 500, 100k-event session (in process)",
        "small": "page of 500, 1k-event session",
        "desc": "page of 500, newest first",
        "agent": "page of 500 filtered by agent",
        "nats": "page of 500 over NATS request-reply (reply bytes received)",
        "big_raw": "ceiling: bare asyncpg SELECT … LIMIT 500",
    }
    for key, label in labels.items():
        values = results[key]
        print(
            f"{label}: p50 {quantile(values, 0.5):.2f} ms, p95 {quantile(values, 0.95):.2f} ms ({len(values)} queries)"
        )
    ceiling_p95 = round(quantile(results["big_raw"], 0.95), 2)
    return [
        {
            "figure": "query: 500-event page, 1M-event DB, p95",
            "value": round(quantile(results["big"], 0.95), 2),
            "unit": "ms",
            "target": "<= 20",
            "ceiling": ceiling_p95,
        },
        {
            "figure": "query: 500-event page, 1M-event DB, p50",
            "value": round(quantile(results["big"], 0.5), 2),
            "unit": "ms",
            "target": None,
            "ceiling": round(quantile(results["big_raw"], 0.5), 2),
        },
        {
            "figure": "query: 500-event page over NATS request-reply, p95",
            "value": round(quantile(results["nats"], 0.95), 2),
            "unit": "ms",
            "target": "<= 20",
            "ceiling": ceiling_p95,
        },
        {
            "figure": "query: 500-event page filtered by agent, p95",
            "value": round(quantile(results["agent"], 0.95), 2),
            "unit": "ms",
            "target": "<= 20",
            "ceiling": ceiling_p95,
        },
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    async with postgres_database() as url:
        figures = await run(url, args.events, args.queries)
    print("BENCH_RESULT " + orjson.dumps({"bench": "store_query", "figures": figures}).decode())


if __name__ == "__main__":
    asyncio.run(main())
