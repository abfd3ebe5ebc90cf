"""A durable pull consumer's client CPU per message: nats-py's `fetch` against swarmscope's PullFetcher.

Starts its own nats-server (wheel), stores N messages of 400 bytes with a `Nats-Msg-Id` (as TRACES
holds them), and drains the same stream through a fresh durable with each fetcher in turn, acking
every message, batches of 2000 (the store's fetch size). Prints the client process's CPU per message
and the rate; the last line is `BENCH_RESULT {...}`.

    uv run python bench/pull_fetch.py [--messages 40000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from swarmscope_dev.nats_server import start_nats_server
from swarmscope_service.pull import PullFetcher

BATCH = 2000


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


async def _drain(js: nats.js.JetStreamContext, nc: nats.NATS, kind: str, count: int) -> tuple[float, float]:
    durable = f"{kind}-{time.time_ns()}"
    await js.add_consumer("BENCH", ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT))
    got = 0
    cpu0, wall0 = _cpu(), time.perf_counter()
    if kind == "nats-py":
        sub = await js.pull_subscribe_bind(durable, stream="BENCH")
        while got < count:
            msgs = await sub.fetch(BATCH, timeout=1.0)
            for msg in msgs:
                await msg.ack()
            got += len(msgs)
    else:
        fetcher = PullFetcher(nc, "BENCH", durable)
        await fetcher.start()
        while got < count:
            msgs = await fetcher.fetch(BATCH, 1.0)
            for msg in msgs:
                await msg.ack()
            got += len(msgs)
        await fetcher.stop()
    return (_cpu() - cpu0) / count * 1e6, count / (time.perf_counter() - wall0)


async def main(count: int, rounds: int) -> None:
    server = start_nats_server(Path(tempfile.mkdtemp(prefix="pull-bench-")))
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.>"]))
        body = b"x" * 400
        acks = [
            await js.publish_async(f"bench.s{i % 20}", body, headers={"Nats-Msg-Id": f"s{i % 20}:{i}"})
            for i in range(count)
        ]
        await asyncio.gather(*acks)
        results: dict[str, list[tuple[float, float]]] = {"nats-py": [], "PullFetcher": []}
        for _ in range(rounds):
            for kind in results:
                results[kind].append(await _drain(js, nc, kind, count))
        await nc.close()
    finally:
        server.stop()
    figures = []
    for kind, runs in results.items():
        cpu = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[1] for r in runs)
        print(f"{kind:12s} client CPU {cpu:6.1f} µs/message, {rate:9,.0f} messages/s (median of {rounds})")
        figures.append(
            {"figure": f"fetch+ack client CPU, {kind}", "value": round(cpu, 1), "unit": "µs/message"}
        )
    print(
        f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    )
    print("BENCH_RESULT " + json.dumps({"bench": "pull_fetch", "figures": figures}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
