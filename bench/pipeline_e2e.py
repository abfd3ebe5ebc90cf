"""End-to-end pipeline throughput: publish → ingest → TRACES → store → committed, on Postgres and SQLite.

Starts its own nats-server (wheel) and throwaway Postgres database, runs ingest and store as
subprocesses (LocalStack), publishes N raw events pipelined and polls the database until all N are
committed. Beside it, the raw ceiling measured in the same run: one process doing nats-py
fetch(500) + ack and asyncpg COPY of the same events into a table with three indexes.

    uv run python bench/pipeline_e2e.py [--events 40000] [--trials 3] [--ingest-replicas 1]
        [--producers single,batched] [--skip-sqlite] [--profile DIR]

Producers: `single` publishes one event per message (v1), `batched` the v1.1 batch messages the
SDK and the gateway send (each session's events of a 2000-event window in one message, split at
the size limit). `--profile DIR` records ingest and store with py-spy during the first trial of
each run (needs `uv run --with py-spy`) and writes DIR/<run>-<service>.txt (top functions).

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
from dataclasses import dataclass
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
from swarmscope_schema.batches import raw_messages
from swarmscope_schema.subjects import MSG_ID_HEADER, STREAM_EVENTS, raw_subject
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event

TARGET = 15_000.0
SESSIONS = 20
AGENTS = 6
WINDOW = 2000


@dataclass(frozen=True, slots=True)
class BenchEvent:
    """One encoded event with the keys a producer batches by (swarmscope_schema.batches.RawItem)."""

    session_id: str
    agent_id: str | None
    event_id: str
    subject: str
    payload: bytes


def build_events(count: int, tag: str) -> list[BenchEvent]:
    """`count` realistic events over SESSIONS sessions."""
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
        out.append(
            BenchEvent(
                session, agent, event["id"], raw_subject(session, agent, event_type), orjson.dumps(event)
            )
        )
    return out


def messages(events: list[BenchEvent], batched: bool) -> list[list[tuple[str, bytes, str]]]:
    """The raw messages (subject, body, msg id) of the events, per publish window of WINDOW events."""
    return [
        [
            (m.subject, m.payload, m.msg_id)
            for m in raw_messages(events[start : start + WINDOW], batches=batched)
        ]
        for start in range(0, len(events), WINDOW)
    ]


async def publish(nc: nats.NATS, windows: list[list[tuple[str, bytes, str]]]) -> None:
    js = nc.jetstream()
    for window in windows:
        futures = [
            await js.publish_async(subject, payload, headers={MSG_ID_HEADER: msg_id})
            for subject, payload, msg_id in window
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
    nats_url: str, database_url: str, events: list[BenchEvent], nats_pid: int
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
                await js.publish_async("ceiling." + e.subject, e.payload)
                for e in events[start : start + 2000]
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


class Profiler:
    """py-spy recording the given processes (idle, GIL-holding or not) until stopped."""

    def __init__(self, out_dir: Path, label: str, pids: dict[str, int]) -> None:
        self.files = {name: out_dir / f"{label}-{name}.collapsed" for name in pids}
        self.procs = [
            subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--nonblocking",
                    "--output",
                    str(self.files[name]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in pids.items()
        ]

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(2)  # SIGINT: py-spy writes its file and exits
        for proc in self.procs:
            proc.wait(60)
        for path in self.files.values():
            if path.exists():
                path.with_suffix(".txt").write_text(top_functions(path.read_text()))


def top_functions(collapsed: str, limit: int = 15) -> str:
    """Self and inclusive share of samples per function, from py-spy's collapsed stacks (idle
    samples — the event loop waiting in select/epoll — left out, so shares are of busy time)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if any(("select" in f and "selectors.py" in f) or "epoll" in f for f in frames[-2:]):
            continue
        count = int(count_text)
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    lines = [f"busy samples: {total}", "self%  incl%  function"]
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:limit]:
        lines.append(
            f"{100 * count / max(total, 1):5.1f}  {100 * inclusive[frame] / max(total, 1):5.1f}  {frame}"
        )
    return "\n".join(lines) + "\n"


async def pipeline(
    label: str,
    data_dir: Path,
    database_url: str,
    count_sql: str,
    trials: int,
    n: int,
    replicas: int,
    *,
    batched: bool = False,
    profile_dir: Path | None = None,
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
        js = nc.jetstream()
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
            await publish(nc, messages(warm, batched))
            await wait_count(count, stored + len(warm), 120)
            stored += len(warm)
            for trial in range(trials):
                windows = messages(build_events(n, f"{label}-{trial}"), batched)
                profiler = None
                if profile_dir is not None and trial == 0:
                    profiler = Profiler(
                        profile_dir,
                        label,
                        {
                            "ingest": stack.processes["ingest"].process.pid,
                            "store": stack.processes["store"].process.pid,
                        },
                    )
                    await asyncio.sleep(1.0)  # py-spy attached before the first event
                on_traces = (await js.stream_info(STREAM_EVENTS)).state.messages

                async def traces_count(base: int = on_traces) -> int:
                    # Events ingest has put on TRACES since the trial began.
                    return (await js.stream_info(STREAM_EVENTS)).state.messages - base

                meter.begin()
                started = time.monotonic()
                ingested = asyncio.create_task(wait_count(traces_count, n, 300))
                await publish(nc, windows)
                published = time.monotonic()
                finished = await wait_count(count, stored + n, 300)
                through_ingest = await ingested
                if profiler is not None:
                    profiler.stop()
                used = {role: seconds / n * 1e6 for role, seconds in meter.end().items()}
                cpu.append(used)
                stored += n
                rate = n / (finished - started)
                rates.append(rate)
                print(
                    f"  {label} trial {trial + 1}: {n} events committed in {finished - started:.2f}s "
                    f"(published in {published - started:.2f}s, all on TRACES after {through_ingest - started:.2f}s) "
                    f"→ {rate:,.0f} events/s; CPU µs/event: "
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
    parser.add_argument("--producers", default="single,batched", help="comma-separated: single, batched")
    parser.add_argument("--profile", type=Path, default=None, help="directory for py-spy summaries")
    args = parser.parse_args()
    n = args.events
    producers = [p.strip() for p in args.producers.split(",") if p.strip()]
    if not set(producers) <= {"single", "batched"}:
        parser.error("--producers takes single and/or batched")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(
        f"pipeline_e2e: {n} events per trial, {args.trials} trials, {args.ingest_replicas} ingest "
        f"process(es), producers {', '.join(producers)}, {os.cpu_count()} cores"
    )
    runs: dict[str, tuple[list[float], list[dict[str, float]]]] = {}
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
        for producer in producers:
            batched = producer == "batched"
            label = f"postgres-{producer}"
            async with postgres_database() as database_url:
                runs[label] = await pipeline(
                    label,
                    root / label,
                    database_url,
                    "SELECT count(*) FROM event_keys",
                    args.trials,
                    n,
                    args.ingest_replicas,
                    batched=batched,
                    profile_dir=args.profile,
                )
            if not args.skip_sqlite:
                label = f"sqlite-{producer}"
                runs[label] = await pipeline(
                    label,
                    root / label,
                    f"sqlite:///{root / label / 'swarmscope.db'}",
                    "SELECT count(*) FROM events",
                    args.trials,
                    n,
                    args.ingest_replicas,
                    batched=batched,
                    profile_dir=args.profile,
                )
    ceiling_median = statistics.median(ceilings)
    cores = os.cpu_count() or 1
    budget = cores * 1e6 / TARGET
    print()
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {cores} cores")
    print(f"{'figure':<44} {'median':>12} {'min':>10} {'max':>10}   target / ceiling")
    targets = {"postgres-batched": ">= 15,000", "postgres-single": ">= 10,000", "sqlite-batched": ">= 12,000"}
    rows = [
        (f"end-to-end {label} (events/s)", rates, targets.get(label, "—"))
        for label, (rates, _) in runs.items()
    ]
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
    for label, (_, samples) in runs.items():
        roles = samples[0].keys()
        breakdown = ", ".join(f"{role} {statistics.median(s[role] for s in samples):.0f}" for role in roles)
        total = pipeline_cpu(samples)
        print(
            f"CPU µs/event {label}: {breakdown}; pipeline total {total:.0f} "
            f"(budget for {TARGET:,.0f}/s on {cores} cores: {budget:.0f}) → CPU-bound capacity "
            f"{cores * 1e6 / total:,.0f} events/s"
        )
    figures: list[dict[str, Any]] = []
    for label, (rates, samples) in runs.items():
        figures.append(
            {
                "figure": f"end-to-end publish→committed, {label}",
                "value": round(statistics.median(rates), 1),
                "unit": "events/s",
                "target": targets.get(label),
                "ceiling": round(ceiling_median, 1),
            }
        )
        figures.append(
            {
                "figure": f"pipeline CPU per event (nats+ingest+store+db), {label}",
                "value": round(pipeline_cpu(samples), 1),
                "unit": "µs/event",
                "target": "<= 110",
                "ceiling": round(statistics.median(ceiling_cpu), 1),
            }
        )
    print("BENCH_RESULT " + orjson.dumps({"bench": "pipeline_e2e", "figures": figures}).decode())


if __name__ == "__main__":
    asyncio.run(main())
