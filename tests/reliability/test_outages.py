"""Dependencies going away mid-stream: Postgres for 30 s, NATS restarted. Consumers pause, then catch up."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from swarmscope_reliability_support import PublishLog, publish, valid_events, wait_stored

from swarmscope_schema.subjects import DURABLE_STORE, STREAM_EVENTS

OUTAGE_SECONDS = 30.0


async def test_postgres_unavailable_for_30_seconds(start_pipeline: Any, throwaway_postgres: Any) -> None:
    pipeline = await start_pipeline(throwaway_postgres.url)
    messages = valid_events(10_000)
    sessions = sorted({m.session_id for m in messages})
    log = PublishLog()
    nc = await pipeline.connect()
    try:
        await publish(nc, messages[:5_000], log)
        await wait_stored(pipeline, sessions, 1_000)
        await asyncio.to_thread(throwaway_postgres.stop)
        down_since = time.monotonic()
        # Events keep arriving while the database is down: they wait in JetStream.
        await publish(nc, messages[5_000:], log)
        await asyncio.sleep(2.0)
        # The store pauses: its durable holds the backlog, its readiness says why.
        info = await nc.jetstream().consumer_info(STREAM_EVENTS, DURABLE_STORE)
        assert info.num_pending + info.num_ack_pending > 0
        async with httpx.AsyncClient() as client:
            ready = await client.get(f"{pipeline.url('store')}/readyz")
        assert ready.status_code == 503
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since)))
        await asyncio.to_thread(throwaway_postgres.start)
    finally:
        await nc.close()
    assert len(log.acked) == len(messages)
    audit = await pipeline.audit(log)
    assert audit.stored_rows == len(messages)
    assert not audit.dead_letters, "an event was dead-lettered during the outage"


async def test_nats_restart_mid_stream(start_pipeline: Any, fresh_postgres_url: str) -> None:
    pipeline = await start_pipeline(fresh_postgres_url)
    messages = valid_events(10_000)
    sessions = sorted({m.session_id for m in messages})
    log = PublishLog()
    nc = await pipeline.connect()
    try:
        await publish(nc, messages[:5_000], log)
        await wait_stored(pipeline, sessions, 1_000)
        await asyncio.to_thread(pipeline.kill_nats)
        await asyncio.sleep(2.0)
        # Same port, same data directory: the streams and durables come back with it.
        await asyncio.to_thread(pipeline.start_nats)
        await publish(nc, messages[5_000:], log)
    finally:
        await nc.close()
    # Every publish acknowledged before the kill and after the restart is accounted for.
    assert len(log.acked) == len(messages)
    await pipeline.audit(log)
