"""End-to-end pipeline throughput: publish → ingest → TRACES → store → committed, on Postgres and SQLite.

Starts its own nats-server (wheel) and throwaway Postgres database, runs ingest and store as
subprocesses (LocalStack), publishes N raw events pipelined and polls the database until all N are
committed. Beside it, the raw ceiling measured in the same run: one process doing nats-py
fetch(500) + ack and asyncpg COPY of the same events into a table with three indexes.

    uv run python bench/pipeline_e2e.py [--events 40000] [--trials 3] [--ingest-replicas 1]

Prints readable lines, then one `BENCH_RESULT {...}` line (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import nats
import orjson
from _support import cpu_seconds, postgres_database
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from swarmscope_dev.nats_server import free_port, start_nats_server
from swarmscope_dev.stack import LocalStack
from swarmscope_schema.subjects import MSG_ID_HEADER, raw_subject
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event

TARGET = 15_000.0
SESSIONS = 20
AGENTS = 6


def build_events(count: int, tag: str) -> list[tuple[str, bytes, str]]:
    """(subject, payload, msg id) of `count` realistic events over SESSIONS sessions."""
    types = [t for t in EventType if t not in (EventType.SESSION_START, EventType.SESSION_END)]
    out = []
    for i in range(count):
        session = f"bench-{tag}-{i % SESSIONS}"
        agent = f"agent-{(i // SESSIONS) % AGENTS}"
        event_type = types[i % len(types)]
        event = make_event(
            event_type,
            session_id=session,
            agent_id=agent,
            event_id=f"e{i}",
            span_id=f"sp-{i // 4}",
            metadata={"parent_id": f"sp-{i // 40}", "tags": ["bench"]},
            performance={"duration": 12.5, "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.001},
        )
        out.append((raw_subject(session, agent, event_type), orjson.dumps(event), event["id"]))
    return out


async def publish(nc: nats.NATS, events: list[tuple[str, bytes, str]], window: int = 2000) -> None:
    js = nc.jetstream()
    for start in range(0, len(events), window):
        futures = [
            await js.publish_async(subject, payload, headers={MSG_ID_HEADER: f"{subject}:{msg_id}"})
            for subject, payload, msg_id in events[start : start + window]
        ]
        await asyncio.gather(*futures)


async def wait_count(count: Callable[[], Any], expected: int, timeout: float) -> float:
    """Polls until `count()` reaches `expected`; returns the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while True:
        current = await count()
        if current >= expected:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {current} of {expected} committed within {timeout}s")
        await asyncio.sleep(0.05)


async def ceiling(
    nats_url: str, database_url: str, events: list[tuple[str, bytes, str]], nats_pid: int
) -> tuple[float, float]:
    """One process: fetch(500) + ack every message, COPY each batch into an indexed table.

    Returns events/s and CPU µs per event (this process, nats-server and its Postgres backend).
    """
    nc = await nats.connect(nats_url)
    conn = await asyncpg.connect(database_url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="CEILING", subjects=["ceiling.>"], storage=StorageType.FILE))
        await conn.execute(
            "CREATE TABLE ceiling (seq bigint NOT NULL, session_id text NOT NULL, event_id text NOT NULL,"
            " type text NOT NULL, ts double precision NOT NULL, body jsonb NOT NULL,"
            " PRIMARY KEY (session_id, event_id));"
            "CREATE INDEX ceiling_session_seq ON ceiling (session_id, seq);"
            "CREATE INDEX ceiling_session_type ON ceiling (session_id, type, seq);"
        )
        for start in range(0, len(events), 2000):
            futures = [
                await js.publish_async("ceiling." + subject, payload)
                for subject, payload, _ in events[start : start + 2000]
            ]
            await asyncio.gather(*futures)
        sub = await js.pull_subscribe(
            "ceiling.>",
            durable="ceiling",
            stream="CEILING",
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
        )
        done = 0
        database = urlsplit(database_url).path.lstrip("/")
        meter = CpuMeter(
            {"all": lambda: [os.getpid(), nats_pid, *postgres_backends(database)]},
        )
        meter.begin()
        started = time.perf_counter()
        while done < len(events):
            msgs = await sub.fetch(500, timeout=5)
            rows = []
            for msg in msgs:
                body = orjson.loads(msg.data)
                rows.append(
                    (
                        msg.metadata.sequence.stream,
                        body["session_id"],
                        body["id"],
                        body["type"],
                        body["timestamp"],
                        msg.data.decode(),
                    )
                )
            await conn.copy_records_to_table(
                "ceiling", records=rows, columns=["seq", "session_id", "event_id", "type", "ts", "body"]
            )
            for msg in msgs:
                await msg.ack()
            done += len(msgs)
        elapsed = time.perf_counter() - started
        cpu = meter.end()["all"] / len(events) * 1e6
        await sub.unsubscribe()
        await js.delete_stream("CEILING")
        return len(events) / elapsed, cpu
    finally:
        await conn.close()
        await nc.close()


def postgres_backends(database: str) -> list[int]:
    """The Postgres server processes serving connections to `database` (by their process title)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                title = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            pids.append(int(entry))
    return pids


class CpuMeter:
    """CPU seconds per role (nats, ingest, store, postgres) between two readings."""

    def __init__(self, roles: dict[str, Callable[[], list[int]]]) -> None:
        self.roles = roles
        self.start: dict[str, dict[int, float]] = {}

    def begin(self) -> None:
        self.start = {role: {pid: cpu_seconds(pid) for pid in pids()} for role, pids in self.roles.items()}

    def end(self) -> dict[str, float]:
        used = {}
        for role, pids in self.roles.items():
            before = self.start.get(role, {})
            used[role] = sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in pids())
        return used


def start_extra_ingest(stack: LocalStack, index: int) -> subprocess.Popen[bytes]:
    env = stack.service_env("ingest", free_port())
    log = stack.data_dir / f"ingest-{index}.log"
    with log.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "swarmscope_ingest"], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )


async def pipeline(
    label: str, data_dir: Path, database_url: str, count_sql: str, trials: int, n: int, replicas: int
) -> tuple[list[float], list[dict[str, float]]]:
    env = {"SWARMSCOPE_LOG_LEVEL": "WARNING"}
    rates: list[float] = []
    cpu: list[dict[str, float]] = []
    stack = LocalStack(data_dir=data_dir, services=("ingest", "store"), database_url=database_url, env=env)
    extra: list[subprocess.Popen[bytes]] = []
    stack.start()
    try:
        extra = [start_extra_ingest(stack, i) for i in range(1, replicas)]
        database = urlsplit(database_url).path.lstrip("/")
        meter = CpuMeter(
            {
                "nats-server": lambda: [stack.nats.process.pid] if stack.nats else [],
                "ingest": lambda: [stack.processes["ingest"].process.pid] + [p.pid for p in extra],
                "store": lambda: [stack.processes["store"].process.pid],
                "postgres": lambda: (
                    postgres_backends(database) if database_url.startswith("postgres") else []
                ),
                "bench publisher": lambda: [os.getpid()],
            }
        )
        nc = await nats.connect(str(stack.nats_url))
        if database_url.startswith("postgres"):
            db = await asyncpg.connect(database_url)

            async def count() -> int:
                return int(await db.fetchval(count_sql))

            close_db: Callable[[], Any] = db.close
        else:
            path = database_url.removeprefix("sqlite:///")

            async def count() -> int:
                with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                    return int(conn.execute(count_sql).fetchone()[0])

            async def close_db() -> None:
                return None

        try:
            stored = await count()
            # Warm-up: first connections, statement caches, partitions created.
            warm = build_events(2000, f"{label}-warm")
            await publish(nc, warm)
            await wait_count(count, stored + len(warm), 120)
            stored += len(warm)
            for trial in range(trials):
                events = build_events(n, f"{label}-{trial}")
                meter.begin()
                started = time.monotonic()
                await publish(nc, events)
                published = time.monotonic()
                finished = await wait_count(count, stored + n, 300)
                used = {role: seconds / n * 1e6 for role, seconds in meter.end().items()}
                cpu.append(used)
                stored += n
                rate = n / (finished - started)
                rates.append(rate)
                print(
                    f"  {label} trial {trial + 1}: {n} events committed in {finished - started:.2f}s "
                    f"(published in {published - started:.2f}s) → {rate:,.0f} events/s; CPU µs/event: "
                    + ", ".join(f"{role} {value:.0f}" for role, value in used.items())
                )
        finally:
            await close_db()
            await nc.close()
    finally:
        for process in extra:
            process.terminate()
            process.wait(30)
        stack.stop()
    return rates, cpu


def pipeline_cpu(samples: list[dict[str, float]]) -> float:
    """Median CPU µs per event of the pipeline's own processes (not the bench's publisher)."""
    return statistics.median(sum(v for k, v in s.items() if k != "bench publisher") for s in samples)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--ingest-replicas", type=int, default=1)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    n = args.events
    print(
        f"pipeline_e2e: {n} events per trial, {args.trials} trials, {args.ingest_replicas} ingest process(es), {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory(prefix="swarmscope-bench-") as tmp:
        root = Path(tmp)
        async with postgres_database() as ceiling_db:
            server = start_nats_server(root / "ceiling-nats")
            try:
                ceilings = []
                ceiling_cpu = []
                for trial in range(args.trials):
                    rate, cpu = await ceiling(
                        server.url, ceiling_db, build_events(n, f"ceil-{trial}"), server.process.pid
                    )
                    ceiling_cpu.append(cpu)
                    async with asyncpg.create_pool(ceiling_db, min_size=1, max_size=1) as pool:
                        await pool.execute("DROP TABLE ceiling")
                    ceilings.append(rate)
                    print(
                        f"  ceiling trial {trial + 1}: fetch(500)+ack + COPY → {rate:,.0f} events/s; "
                        f"CPU {cpu:.0f} µs/event (consumer + nats-server + postgres)"
                    )
            finally:
                server.stop()
        async with postgres_database() as database_url:
            pg, pg_cpu = await pipeline(
                "postgres",
                root / "pg",
                database_url,
                "SELECT count(*) FROM event_keys",
                args.trials,
                n,
                args.ingest_replicas,
            )
        sqlite: list[float] = []
        sqlite_cpu: list[dict[str, float]] = []
        if not args.skip_sqlite:
            sqlite, sqlite_cpu = await pipeline(
                "sqlite",
                root / "sqlite",
                f"sqlite:///{root / 'sqlite' / 'swarmscope.db'}",
                "SELECT count(*) FROM events",
                args.trials,
                n,
                args.ingest_replicas,
            )
    ceiling_median = statistics.median(ceilings)
    cores = os.cpu_count() or 1
    budget = cores * 1e6 / TARGET
    print()
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {cores} cores")
    print(f"{'figure':<44} {'median':>12} {'min':>10} {'max':>10}   target / ceiling")
    rows = [("end-to-end on Postgres (events/s)", pg, f">= {TARGET:,.0f}")]
    if sqlite:
        rows.append(("end-to-end on SQLite (events/s)", sqlite, "—"))
    rows.append(("raw ceiling fetch+ack+COPY, 1 process", ceilings, "—"))
    for name, values, target in rows:
        print(
            f"{name:<44} {statistics.median(values):>12,.0f} {min(values):>10,.0f} {max(values):>10,.0f}   {target}"
        )
    print(
        f"CPU µs/event of the ceiling (consumer + nats-server + postgres): {statistics.median(ceiling_cpu):.0f}"
    )
    # Wall-clock rates on a shared 2-core machine follow whatever else runs; CPU per event does not.
    # Its sum says what the pipeline could do with the machine to itself.
    for label, samples in (("Postgres", pg_cpu), ("SQLite", sqlite_cpu)):
        if not samples:
            continue
        roles = samples[0].keys()
        breakdown = ", ".join(f"{role} {statistics.median(s[role] for s in samples):.0f}" for role in roles)
        total = pipeline_cpu(samples)
        print(
            f"CPU µs/event on {label}: {breakdown}; pipeline total {total:.0f} "
            f"(budget for {TARGET:,.0f}/s on {cores} cores: {budget:.0f}) → CPU-bound capacity "
            f"{cores * 1e6 / total:,.0f} events/s"
        )
    figures: list[dict[str, Any]] = [
        {
            "figure": "end-to-end publish→committed, Postgres",
            "value": round(statistics.median(pg), 1),
            "unit": "events/s",
            "target": f">= {TARGET:.0f}",
            "ceiling": round(ceiling_median, 1),
        },
        {
            "figure": "pipeline CPU per event (nats+ingest+store+postgres)",
            "value": round(pipeline_cpu(pg_cpu), 1),
            "unit": "µs/event",
            "target": f"<= {budget:.0f}",
            "ceiling": round(statistics.median(ceiling_cpu), 1),
        },
    ]
    if sqlite:
        figures.append(
            {
                "figure": "end-to-end publish→committed, SQLite",
                "value": round(statistics.median(sqlite), 1),
                "unit": "events/s",
                "target": None,
                "ceiling": round(ceiling_median, 1),
            }
        )
    print("BENCH_RESULT " + orjson.dumps({"bench": "pipeline_e2e", "figures": figures}).decode())


if __name__ == "__main__":
    asyncio.run(main())
