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

`--session big` measures issue 15's big session instead (100k events, 10k tasks, 50k messages of
which every 250th is 64 KiB, 5k memory keys; `swarmscope_dev.replay.big_session`), through the
chunked request-reply the gateway uses: the bounded state view at random seqs (each once), the
newest 500 messages of `communications` at other random seqs (the page the UI asks for first),
the full state streamed at a few seqs near the end (MB/s), and the hot-cache ceiling (the same
bounded views asked again). It also reports replay's consumption rate and resident memory.

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

from swarmscope_dev.replay import (
    big_session,
    canonical,
    publish_to_traces,
    stored,
    synthetic_session,
    wait_for_durable,
)
from swarmscope_dev.stack import LocalStack
from swarmscope_schema.requests import EventsQuery, ReplayOp, StateQuery, StoreOp
from swarmscope_schema.subjects import (
    DURABLE_REPLAY,
    DURABLE_STORE,
    replay_request_subject,
    store_request_subject,
)
from swarmscope_service.request_reply import RequestClient

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


def resident_kib(stack: LocalStack, name: str) -> int:
    """VmRSS of one service process of the stack, in KiB."""
    pid = stack.processes[name].process.pid
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {name} (pid {pid})")


def cpu_seconds(stack: LocalStack, name: str) -> float:
    """User + system CPU time one service process of the stack has used (load-independent)."""
    pid = stack.processes[name].process.pid
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_big(stack: LocalStack, queries: int) -> dict[str, Any]:
    """Issue 15's figures on its big session (see the module docstring)."""
    events = [canonical(e) for e in big_session(SESSION)]
    nc = await nats.connect(str(stack.nats_url), max_reconnect_attempts=1)
    try:
        js = nc.jetstream()
        rss_before = resident_kib(stack, "replay")
        cpu_before = cpu_seconds(stack, "replay")
        started = time.perf_counter()
        published = await publish_to_traces(js, events)
        last = published[-1]["seq"]
        await wait_for_durable(js, DURABLE_STORE, last, timeout=1200)
        await wait_for_durable(js, DURABLE_REPLAY, last, timeout=1200)
        replay_s = time.perf_counter() - started
        replay_cpu = cpu_seconds(stack, "replay") - cpu_before
        rss_after = resident_kib(stack, "replay")
        print(
            f"replay's CPU consuming it: {replay_cpu:.1f} s, {replay_cpu / len(published) * 1e6:.0f} µs per "
            f"event: {len(published) / replay_cpu:,.0f} events/s on one core"
        )
        print(
            f"published {len(published):,} events; replay had applied them after {replay_s:.1f} s "
            f"({len(published) / replay_s:,.0f} events/s end to end); replay RSS {rss_before / 1024:.0f} MiB "
            f"before, {rss_after / 1024:.0f} MiB after"
        )
        del events
        gc.collect()
        gc.freeze()
        client = RequestClient(nc, timeout=60)
        rng = random.Random(15)
        pool = [e["seq"] for e in published]
        view_seqs = rng.sample(pool, queries)
        page_seqs = rng.sample(sorted(set(pool) - set(view_seqs)), queries)
        state_subject = replay_request_subject(ReplayOp.STATE.value)
        page_subject = replay_request_subject(ReplayOp.STATE_PAGE.value)

        async def timed(subject: str, body: dict[str, Any]) -> tuple[float, Any]:
            t0 = time.perf_counter()
            result = await client.call(subject, body)
            return time.perf_counter() - t0, result

        for seq in rng.sample(pool, 5):  # warm up (not measured)
            await timed(state_subject, {"session_id": SESSION, "seq": seq})
        views: list[float] = []
        view_bytes: list[int] = []
        for seq in view_seqs:
            elapsed, result = await timed(state_subject, {"session_id": SESSION, "seq": seq})
            if result["seq"] != seq:
                raise RuntimeError(f"state at {seq} came back at {result['seq']}")
            views.append(elapsed)
            view_bytes.append(len(orjson.dumps(result)))
        pages: list[float] = []
        for seq in page_seqs:
            elapsed, result = await timed(
                page_subject,
                {
                    "session_id": SESSION,
                    "seq": seq,
                    "collection": "communications",
                    "limit": 500,
                    "order": "desc",
                },
            )
            if len(result["items"]) != min(500, result["count"]):
                raise RuntimeError(f"page at {seq}: {len(result['items'])} of {result['count']}")
            pages.append(elapsed)
        cached: list[float] = []
        for seq in view_seqs[-40:]:  # the most recent answers: still in the hot-state cache
            elapsed, _ = await timed(state_subject, {"session_id": SESSION, "seq": seq})
            cached.append(elapsed)
        streamed: list[tuple[int, float]] = []
        for seq in sorted(pool)[-3:]:
            t0 = time.perf_counter()
            reply = await client.open(state_subject, StateQuery(session_id=SESSION, seq=seq, full=True))
            size = sum([len(piece) async for piece in client.stream(reply)])
            streamed.append((size, time.perf_counter() - t0))
        rss_end = resident_kib(stack, "replay")
        total_bytes = sum(size for size, _ in streamed)
        total_s = sum(seconds for _, seconds in streamed)
        return {
            "view_p50": statistics.median(views) * 1000,
            "view_p95": percentile(views, 0.95) * 1000,
            "view_kib_p50": statistics.median(view_bytes) / 1024,
            "page_p50": statistics.median(pages) * 1000,
            "page_p95": percentile(pages, 0.95) * 1000,
            "cached_p50": statistics.median(cached) * 1000,
            "cached_p95": percentile(cached, 0.95) * 1000,
            "full_mib": total_bytes / len(streamed) / 2**20,
            "full_mb_s": total_bytes / total_s / 1e6,
            "replay_events_per_s": len(published) / replay_s,
            "replay_events_per_cpu_s": len(published) / replay_cpu,
            "rss_mib": rss_end / 1024,
            "rss_idle_mib": rss_before / 1024,
            "load": os.getloadavg()[0],
        }
    finally:
        await nc.close()


def report_big(f: dict[str, Any], queries: int, database: str) -> None:
    print(
        f"bounded state at a random seq ({database}, {queries} seqs, each once): p50 {f['view_p50']:.1f} ms, "
        f"p95 {f['view_p95']:.1f} ms (answer JSON p50 {f['view_kib_p50']:.0f} KiB)"
    )
    print(
        f"newest 500 communications at a random seq ({queries} other seqs): p50 {f['page_p50']:.1f} ms, "
        f"p95 {f['page_p95']:.1f} ms"
    )
    print(
        f"ceiling, the same bounded views from the hot-state cache: p50 {f['cached_p50']:.1f} ms, "
        f"p95 {f['cached_p95']:.1f} ms"
    )
    print(f"full state streamed (?full=1, {f['full_mib']:.1f} MiB each): {f['full_mb_s']:.1f} MB/s")
    print(
        f"replay consumed {f['replay_events_per_s']:,.0f} events/s; RSS {f['rss_mib']:.0f} MiB holding the "
        f"session (idle {f['rss_idle_mib']:.0f} MiB); load average {f['load']:.1f} on {os.cpu_count()} cores"
    )
    figures = [
        ("big session: bounded state at random seq p95", f["view_p95"], "ms", "<= 20", f["cached_p95"]),
        ("big session: 500-message page p95", f["page_p95"], "ms", "<= 20", None),
        ("big session: full state stream", f["full_mb_s"], "MB/s", None, None),
        ("big session: replay consume, end to end", f["replay_events_per_s"], "events/s", None, None),
        (
            "big session: replay consume per core (CPU time)",
            f["replay_events_per_cpu_s"],
            "events/s",
            None,
            None,
        ),
    ]
    result = {
        "bench": "replay_state_big",
        "figures": [
            {
                "figure": name,
                "value": round(value, 2),
                "unit": unit,
                "target": target,
                "ceiling": None if ceiling is None else round(ceiling, 2),
            }
            for name, value, unit, target, ceiling in figures
        ],
    }
    print("BENCH_RESULT " + json.dumps(result))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--session", choices=("synthetic", "big"), default="synthetic")
    args = parser.parse_args()
    if args.session == "big":
        await main_big(args.queries, args.database)
        return
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


async def main_big(queries: int, database: str) -> None:
    db_name = f"swarmscope_bench_replay_{uuid.uuid4().hex[:8]}"
    url: str | None = None
    if database == "postgres":
        await admin(f'CREATE DATABASE "{db_name}"')
        url = database_url(db_name)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-replay-big-") as tmp:
            env = {"SWARMSCOPE_LOG_LEVEL": "WARNING", "SWARMSCOPE_MONITOR_ENABLED": "false"}
            stack = LocalStack(
                data_dir=Path(tmp), services=("store", "replay"), database_url=url, env=env, ready_timeout=180
            )
            with stack:
                figures = await measure_big(stack, queries)
    finally:
        if url is not None:
            await admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    report_big(figures, queries, database)


if __name__ == "__main__":
    asyncio.run(main())
