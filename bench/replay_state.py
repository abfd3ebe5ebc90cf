"""Time travel: the state at random seqs of a 100k-event session, and snapshot bytes per 1k events.

Starts a nats-server from the wheel, the store and the replay service as subprocesses (Postgres in
a throwaway database by default, or `--database sqlite`, the embedded default), publishes a
100k-event synthetic swarm session into TRACES as ingest would, waits until both services have
consumed it, then asks replay for the state at random seqs over NATS (`swarmscope.replay.state`,
request to parsed reply, every seq asked once so no answer comes from the hot-state cache).

Beside it, measured in the same run: the ceiling, the same answers again from the hot-state cache
(nothing computed: the cost of sending and parsing a state of that size), and the one store
request each state query makes (`swarmscope.store.events` between the nearest snapshot and the
seq), timed alone on the same ranges.

    uv run python bench/replay_state.py [--events 100000] [--queries 300] [--database postgres|sqlite]

Prints readable lines, then one `BENCH_RESULT {...}` line (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import orjson

from swarmscope_dev.replay import publish_to_traces, stored, synthetic_session, wait_for_durable
from swarmscope_dev.stack import LocalStack
from swarmscope_schema.requests import EventsQuery, StoreOp
from swarmscope_schema.subjects import (
    DURABLE_REPLAY,
    DURABLE_STORE,
    replay_request_subject,
    store_request_subject,
)

ADMIN_URL = os.environ.get("SWARMSCOPE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SESSION = "bench-replay-100k"
SNAPSHOT_EVERY = 500


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(q * (len(ordered) - 1)), len(ordered) - 1)]


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def database_url(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def server_seconds(stack: LocalStack) -> tuple[float, float]:
    """Sum and count of replay's own time computing states (its Prometheus histogram)."""
    with urllib.request.urlopen(f"{stack.url('replay')}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("swarmscope_replay_state_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("swarmscope_replay_state_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


async def snapshot_totals(stack: LocalStack, url: str | None) -> tuple[int, int, int]:
    query = "SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(sum(size), 0) FROM replay_snapshots WHERE session_id = "
    if url is None:
        with sqlite3.connect(stack.data_dir / "replay.db") as conn:
            row = conn.execute(query + "?", (SESSION,)).fetchone()
        return int(row[0]), int(row[1]), int(row[2])
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(query + "$1", SESSION)
    finally:
        await conn.close()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


async def measure(
    stack: LocalStack, events: list[dict[str, Any]], queries: int, url: str | None
) -> dict[str, Any]:
    nc = await nats.connect(str(stack.nats_url), max_reconnect_attempts=1)
    try:
        js = nc.jetstream()
        started = time.perf_counter()
        published = await publish_to_traces(js, events)
        publish_s = time.perf_counter() - started
        last = published[-1]["seq"]
        await wait_for_durable(js, DURABLE_STORE, last, timeout=600)
        store_s = time.perf_counter() - started
        await wait_for_durable(js, DURABLE_REPLAY, last, timeout=600)
        replay_s = time.perf_counter() - started
        print(
            f"published {len(published):,} events in {publish_s:.1f} s; store had them after {store_s:.1f} s, "
            f"replay after {replay_s:.1f} s ({len(published) / replay_s:,.0f} events/s end to end)"
        )
        # This process holds the 100k generated events: keep the collector from walking them on
        # every reply it parses (a client of replay holds nothing like it).
        gc.collect()
        gc.freeze()
        rng = random.Random(42)
        seqs = rng.sample([e["seq"] for e in published], queries)
        first_seq = published[0]["seq"]

        async def state(seq: int) -> tuple[float, dict[str, Any]]:
            body = orjson.dumps({"session_id": SESSION, "seq": seq})
            t0 = time.perf_counter()
            reply = orjson.loads((await nc.request(replay_request_subject("state"), body, timeout=30)).data)
            elapsed = time.perf_counter() - t0
            if not reply.get("ok"):
                raise RuntimeError(f"state at {seq} failed: {reply}")
            return elapsed, reply["result"]

        for seq in rng.sample(seqs, 5):  # warm up connections and code paths (not measured)
            await state(seq + 1 if seq + 1 <= last else seq)
        server_before = server_seconds(stack)
        latencies: list[float] = []
        sizes: list[int] = []
        folded: list[int] = []
        for seq in seqs:
            elapsed, result = await state(seq)
            latencies.append(elapsed)
            sizes.append(len(orjson.dumps(result)))
            if result["seq"] != seq:
                raise RuntimeError(f"state at {seq} came back at {result['seq']}; {result['counters']}")
            # Events of the session after the nearest snapshot (every 500th event of the session).
            index = seq - first_seq + 1
            folded.append(index % SNAPSHOT_EVERY)
        server_after = server_seconds(stack)
        computed = server_after[1] - server_before[1]
        server_mean = (server_after[0] - server_before[0]) / computed * 1000 if computed else float("nan")
        # The ceiling: the one store request a state query makes, alone, on the same ranges.
        ceiling: list[float] = []
        for seq in seqs:
            index = seq - first_seq + 1
            after = first_seq - 1 + index - index % SNAPSHOT_EVERY
            query = EventsQuery(session_id=SESSION, after_seq=after, until_seq=seq, limit=5000)
            t0 = time.perf_counter()
            reply = orjson.loads(
                (
                    await nc.request(
                        store_request_subject(StoreOp.EVENTS), query.model_dump_json().encode(), timeout=30
                    )
                ).data
            )
            ceiling.append(time.perf_counter() - t0)
            if not reply.get("ok"):
                raise RuntimeError(f"store events failed: {reply}")
        cached: list[float] = []
        for seq in seqs[-40:]:  # the most recent answers: within the in-process cache's 64 MiB
            elapsed, _ = await state(seq)
            cached.append(elapsed)
        count, stored_bytes, state_bytes = await snapshot_totals(stack, url)
        return {
            "p50": statistics.median(latencies) * 1000,
            "p95": percentile(latencies, 0.95) * 1000,
            "max": max(latencies) * 1000,
            "ceiling_p50": statistics.median(ceiling) * 1000,
            "ceiling_p95": percentile(ceiling, 0.95) * 1000,
            "cached_p50": statistics.median(cached) * 1000,
            "cached_p95": percentile(cached, 0.95) * 1000,
            "state_kib_p50": statistics.median(sizes) / 1024,
            "state_kib_max": max(sizes) / 1024,
            "folded_p50": statistics.median(folded),
            "snapshots": count,
            "stored_per_1k": stored_bytes / (len(events) / 1000),
            "state_per_1k": state_bytes / (len(events) / 1000),
            "replay_events_per_s": len(published) / replay_s,
            "server_mean": server_mean,
            "load": os.getloadavg()[0],
        }
    finally:
        await nc.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    args = parser.parse_args()
    print(f"generating a {args.events:,}-event session …")
    events = stored(synthetic_session(SESSION, args.events, seed=1))
    db_name = f"swarmscope_bench_replay_{uuid.uuid4().hex[:8]}"
    url: str | None = None
    if args.database == "postgres":
        await admin(f'CREATE DATABASE "{db_name}"')
        url = database_url(db_name)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
            env = {
                "SWARMSCOPE_LOG_LEVEL": "WARNING",
                "SWARMSCOPE_REPLAY_SNAPSHOT_EVERY": str(SNAPSHOT_EVERY),
            }
            stack = LocalStack(data_dir=Path(tmp), services=("store", "replay"), database_url=url, env=env)
            with stack:
                figures = await measure(stack, events, args.queries, url)
    finally:
        if url is not None:
            await admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    f = figures
    print(
        f"state at a random seq ({args.database}, {args.queries} seqs, each once): "
        f"p50 {f['p50']:.1f} ms, p95 {f['p95']:.1f} ms, max {f['max']:.1f} ms "
        f"(state JSON p50 {f['state_kib_p50']:.0f} KiB, max {f['state_kib_max']:.0f} KiB; "
        f"events folded on the snapshot p50 {f['folded_p50']:.0f})"
    )
    print(
        f"inside replay (snapshot, store request, fold, encoding), mean {f['server_mean']:.1f} ms; the rest is "
        f"NATS and parsing the reply; load average {f['load']:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"ceiling, the store request alone on the same ranges: p50 {f['ceiling_p50']:.1f} ms, p95 {f['ceiling_p95']:.1f} ms"
    )
    print(
        f"ceiling, the same answers again from the hot-state cache (nothing computed: sending and "
        f"parsing the state alone): p50 {f['cached_p50']:.1f} ms, p95 {f['cached_p95']:.1f} ms"
    )
    print(
        f"snapshots: {f['snapshots']} for {args.events:,} events; {f['stored_per_1k'] / 1024:.1f} KiB stored "
        f"({f['state_per_1k'] / 1024:.1f} KiB of state JSON) per 1k events"
    )
    result = {
        "bench": "replay_state",
        "figures": [
            {
                "figure": f"state at random seq p95 ({args.database})",
                "value": round(f["p95"], 2),
                "unit": "ms",
                "target": "<= 30",
                "ceiling": round(f["cached_p95"], 2),
            },
            {
                "figure": f"state at random seq p50 ({args.database})",
                "value": round(f["p50"], 2),
                "unit": "ms",
                "target": None,
                "ceiling": round(f["cached_p50"], 2),
            },
            {
                "figure": "snapshot bytes per 1k events (stored, zlib)",
                "value": round(f["stored_per_1k"]),
                "unit": "bytes",
                "target": None,
                "ceiling": None,
            },
            {
                "figure": "replay consume, publish to all applied",
                "value": round(f["replay_events_per_s"]),
                "unit": "events/s",
                "target": None,
                "ceiling": None,
            },
        ],
    }
    print("BENCH_RESULT " + json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
