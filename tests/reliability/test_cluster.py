"""A 3-node JetStream cluster, streams R3, as production runs it (deploy/k8s: 3 nodes, R3): the real
ingest, store and replay connected to every node. 30k events are published while one node is
killed -9 and brought back, then the leader of TRACES_RAW; every acknowledged publish is stored
exactly once, and afterwards every durable is drained and every service ready (none stuck)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from swarmscope_reliability_support import ClusteredPipeline, PublishLog, publish_until_acked, valid_events

from swarmscope_schema.subjects import DURABLES, STREAM_EVENTS, STREAM_RAW, STREAM_SUBJECTS

EVENTS = 30_000


async def _acked_at_least(log: PublishLog, count: int, publisher: asyncio.Task[Any]) -> None:
    while len(log.acked) < count and not publisher.done():
        await asyncio.sleep(0.05)


async def _stream_leader(nc: Any, stream: str, timeout: float = 30.0) -> str:
    js = nc.jetstream()
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = await js.stream_info(stream)
            if info.cluster is not None and info.cluster.leader:
                return str(info.cluster.leader)
        except Exception:  # no leader yet (an election is running)
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


async def _all_replicas_current(nc: Any, timeout: float = 60.0) -> None:
    js = nc.jetstream()
    deadline = time.monotonic() + timeout
    while True:
        behind = []
        for stream in STREAM_SUBJECTS:
            try:
                info = await js.stream_info(stream)
            except Exception as exc:
                behind.append(f"{stream}: {exc!r}")
                continue
            assert info.config.num_replicas == 3, stream
            cluster = info.cluster
            peers = (cluster.replicas or []) if cluster is not None else []
            if cluster is None or not cluster.leader or len(peers) != 2 or not all(p.current for p in peers):
                behind.append(f"{stream}: {cluster}")
        if not behind:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"replicas not current after the restarts: {behind}")
        await asyncio.sleep(0.5)


@pytest.mark.slow
async def test_a_node_and_then_the_stream_leader_killed_mid_stream_lose_and_double_nothing(
    clustered_pipeline: ClusteredPipeline,
) -> None:
    pipeline = clustered_pipeline
    assert pipeline.cluster is not None
    messages = valid_events(EVENTS, sessions=20)
    log = PublishLog()
    nc = await pipeline.connect()
    try:
        raw_leader = await _stream_leader(nc, STREAM_RAW)
        follower = next(n.name for n in pipeline.cluster.nodes if n.name != raw_leader)

        # A follower dies while events pour in, and comes back with the same data directory.
        first = asyncio.create_task(publish_until_acked(nc, messages[: EVENTS // 2], log))
        await _acked_at_least(log, EVENTS // 6, first)
        await asyncio.to_thread(pipeline.kill_node, follower)
        await _acked_at_least(log, EVENTS // 3, first)
        await asyncio.to_thread(pipeline.restart_node, follower)
        await first

        # Then the node leading TRACES_RAW, the stream every producer writes to.
        raw_leader = await _stream_leader(nc, STREAM_RAW)
        events_leader = await _stream_leader(nc, STREAM_EVENTS)
        second = asyncio.create_task(publish_until_acked(nc, messages[EVENTS // 2 :], log))
        await _acked_at_least(log, EVENTS * 2 // 3, second)
        await asyncio.to_thread(pipeline.kill_node, raw_leader)
        await _acked_at_least(log, EVENTS * 5 // 6, second)
        await asyncio.to_thread(pipeline.restart_node, raw_leader)
        await second
        assert await _stream_leader(nc, STREAM_RAW), "no leader elected"
        await _all_replicas_current(nc)
    finally:
        await nc.close()

    # Producers retried what was not acknowledged, with the same ids: all of it got in.
    assert not log.failed, f"{len(log.failed)} publishes never acknowledged"
    assert len(log.acked) == EVENTS
    audit = await pipeline.audit(log, timeout=240.0)
    assert audit.stored_rows == EVENTS
    assert not audit.dead_letters, "an event was dead-lettered during the failovers"

    # Nobody is stuck: every durable (replay's too) drained, every service ready.
    nc = await pipeline.connect()
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + 120
        for stream, durable in DURABLES:
            while True:
                info = await js.consumer_info(stream, durable)
                if (info.num_pending, info.num_ack_pending) == (0, 0):
                    break
                assert time.monotonic() < deadline, f"{durable} stuck: {info}\n{pipeline.logs()}"
                await asyncio.sleep(0.5)
    finally:
        await nc.close()
    async with httpx.AsyncClient(timeout=10) as http:
        for service in pipeline.services:
            ready = await http.get(f"{pipeline.url(service)}/readyz")
            assert ready.status_code == 200, (service, ready.text)
    print(
        f"killed {follower}, then {raw_leader} (TRACES_RAW leader; TRACES led by {events_leader}); "
        f"{log.retried} publishes retried after no acknowledgement"
    )
