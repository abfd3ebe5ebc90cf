"""Capacity per replica: CPU seconds each service spends per event, as events/s one core sustains.

The capacity model of docs/operations.md sizes replicas by what one core of each service carries.
Wall-clock throughput on a shared 2-core machine mixes every process's work; CPU time per event
does not: it is what the service itself spent, whatever else ran. This starts nats-server, a
throwaway Postgres database and the ingest and store services as separate processes (as in
production), publishes realistic events, waits until the store has committed all of them, and
reads each service's CPU time, and that of the Postgres backends serving the store, from /proc
before and after. Beside it, the ceiling measured in the
same run: one bare Python process doing nats-py fetch(500) + ack of as many messages (the
client-side floor any consumer pays).

    uv run python bench/deploy_capacity.py [--events 20000] [--trials 3]

Targets: the pipeline's 15,000 events/s (TARGETS.md) with each stage on its own core means each of
ingest and store must sustain 15,000 events/s per core. Prints readable lines, then one
`BENCH_RESULT {...}` line (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import asyncpg
import nats
import orjson
from _support import cpu_seconds, postgres_database
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from swarmscope_dev.stack import LocalStack
from swarmscope_schema.subjects import MSG_ID_HEADER, raw_subject
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event

TARGET_PER_CORE = 15_000.0


def build_events(count: int, tag: str) -> list[tuple[str, bytes, str]]:
    types = [t for t in EventType if t not in (EventType.SESSION_START, EventType.SESSION_END)]
    out = []
    for i in range(count):
        session, agent = f"cap-{tag}-{i % 20}", f"agent-{(i // 20) % 6}"
        event = make_event(
            types[i % len(types)],
            session_id=session,
            agent_id=agent,
            event_id=f"e{i}",
            span_id=f"sp-{i // 4}",
            metadata={"parent_id": f"sp-{i // 40}", "tags": ["bench"]},
            performance={"duration": 12.5, "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.001},
        )
        # Ids repeat across trials: the message id joins the session, unique per trial.
        out.append(
            (raw_subject(session, agent, event["type"]), orjson.dumps(event), f"{session}:{event['id']}")
        )
    return out


async def publish(js: JetStreamContext, events: list[tuple[str, bytes, str]], prefix: str = "") -> None:
    for start in range(0, len(events), 2000):
        futures = [
            await js.publish_async(prefix + subject, payload, headers={MSG_ID_HEADER: msg_id})
            for subject, payload, msg_id in events[start : start + 2000]
        ]
        await asyncio.gather(*futures)


def committed(store_url: str) -> float:
    with urllib.request.urlopen(store_url + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith('swarmscope_store_rows_committed_total{table="events"}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def consume_ceiling(nats_url: str, events: list[tuple[str, bytes, str]], trial: int) -> float:
    """CPU seconds per message of a bare fetch(500) + ack loop in this process."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        name = f"CEILING{trial}"
        await js.add_stream(StreamConfig(name=name, subjects=[f"ceiling{trial}.>"], storage=StorageType.FILE))
        await publish(js, events, prefix=f"ceiling{trial}.")
        sub = await js.pull_subscribe(
            f"ceiling{trial}.>",
            durable="c",
            stream=name,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
        )
        done = 0
        before = time.process_time()
        while done < len(events):
            msgs = await sub.fetch(500, timeout=10)
            for msg in msgs:
                orjson.loads(msg.data)
                await msg.ack()
            done += len(msgs)
        await nc.flush()
        spent = time.process_time() - before
        await sub.unsubscribe()
        await js.delete_stream(name)
        return spent / len(events)
    finally:
        await nc.close()


async def postgres_cpu(database_url: str) -> float:
    """CPU seconds of the Postgres backends serving the benchmark's database (the store's pool)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    total = 0.0
    for row in rows:
        with contextlib.suppress(OSError):
            total += cpu_seconds(row["pid"])
    return total


async def trial_run(stack: LocalStack, count: int, trial: int) -> tuple[float, float, float]:
    """(ingest, store, Postgres) CPU seconds per event for `count` events through the services."""
    assert stack.nats_url is not None
    assert stack.database_url is not None
    events = build_events(count, f"t{trial}-{uuid.uuid4().hex[:6]}")
    store_url = stack.url("store")
    start_committed = committed(store_url)
    pids = {name: stack.processes[name].process.pid for name in ("ingest", "store")}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    pg_before = await postgres_cpu(stack.database_url)
    nc = await nats.connect(stack.nats_url)
    try:
        await publish(nc.jetstream(), events)
    finally:
        await nc.close()
    deadline = time.monotonic() + 600
    while committed(store_url) < start_committed + count:
        if time.monotonic() > deadline:
            raise TimeoutError("the store did not commit every event within 10 minutes")
        await asyncio.sleep(0.2)
    # Let the last acks and metrics settle before reading CPU (idle loops cost next to nothing).
    await asyncio.sleep(0.5)
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    pg_after = await postgres_cpu(stack.database_url)
    return (
        (after["ingest"] - before["ingest"]) / count,
        (after["store"] - before["store"]) / count,
        max(pg_after - pg_before, 0.0) / count,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    print(f"deploy_capacity: {args.events} events per trial, {args.trials} trials, {os.cpu_count()} cores")
    ingest_costs: list[float] = []
    store_costs: list[float] = []
    postgres_costs: list[float] = []
    ceilings: list[float] = []
    async with postgres_database() as database_url:
        with tempfile.TemporaryDirectory(prefix="swarmscope-capacity-") as tmp:
            stack = LocalStack(
                data_dir=Path(tmp),
                services=("ingest", "store"),
                database_url=database_url,
                env={"SWARMSCOPE_LOG_LEVEL": "WARNING"},
            )
            with stack:
                assert stack.nats_url is not None
                # A warm-up pass: imports, prepared statements and partitions are not per-event costs.
                await trial_run(stack, min(2000, args.events), 0)
                for trial in range(1, args.trials + 1):
                    ingest_cost, store_cost, postgres_cost = await trial_run(stack, args.events, trial)
                    ceiling_cost = await consume_ceiling(
                        stack.nats_url, build_events(args.events, "c"), trial
                    )
                    ingest_costs.append(ingest_cost)
                    store_costs.append(store_cost)
                    postgres_costs.append(postgres_cost)
                    ceilings.append(ceiling_cost)
                    print(
                        f"  trial {trial}: ingest {ingest_cost * 1e6:.0f} µs CPU/event, "
                        f"store {store_cost * 1e6:.0f} µs CPU/event, "
                        f"Postgres {postgres_cost * 1e6:.0f} µs CPU/event, "
                        f"bare fetch+ack {ceiling_cost * 1e6:.0f} µs CPU/message"
                    )
    ingest_rate = 1.0 / statistics.median(ingest_costs)
    store_rate = 1.0 / statistics.median(store_costs)
    ceiling_rate = 1.0 / statistics.median(ceilings)
    print(f"ingest: {ingest_rate:,.0f} events/s per core (median)")
    print(f"store:  {store_rate:,.0f} events/s per core (median, Postgres)")
    postgres_rate = 1.0 / max(statistics.median(postgres_costs), 1e-9)
    print(f"Postgres: {postgres_rate:,.0f} events/s per core of the database server")
    print(f"ceiling: bare nats-py fetch(500)+ack {ceiling_rate:,.0f} messages/s per core")
    figures = [
        {
            "figure": "ingest events/s per core",
            "value": round(ingest_rate, 1),
            "unit": "events/s",
            "target": f">= {TARGET_PER_CORE:.0f}",
            "ceiling": round(ceiling_rate, 1),
        },
        {
            "figure": "store events/s per core (Postgres)",
            "value": round(store_rate, 1),
            "unit": "events/s",
            "target": f">= {TARGET_PER_CORE:.0f}",
            "ceiling": round(ceiling_rate, 1),
        },
        {
            "figure": "Postgres events/s per core (server side of the store's writes)",
            "value": round(postgres_rate, 1),
            "unit": "events/s",
            "target": None,
            "ceiling": None,
        },
        {
            "figure": "ingest CPU per event",
            "value": round(statistics.median(ingest_costs) * 1e6, 1),
            "unit": "µs",
            "target": None,
            "ceiling": round(statistics.median(ceilings) * 1e6, 1),
        },
        {
            "figure": "store CPU per event",
            "value": round(statistics.median(store_costs) * 1e6, 1),
            "unit": "µs",
            "target": None,
            "ceiling": round(statistics.median(ceilings) * 1e6, 1),
        },
    ]
    print("BENCH_RESULT " + orjson.dumps({"bench": "deploy_capacity", "figures": figures}).decode())


if __name__ == "__main__":
    asyncio.run(main())
