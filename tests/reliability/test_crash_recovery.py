"""kill -9 of a service mid-stream, then a restart: nothing lost, nothing stored twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from swarmscope_reliability_support import PublishLog, publish, valid_events, wait_stored

EVENTS = 20_000


@pytest.mark.parametrize("victim", ["store", "ingest"])
async def test_kill_9_mid_stream_then_restart(
    start_pipeline: Any, fresh_postgres_url: str, victim: str
) -> None:
    pipeline = await start_pipeline(fresh_postgres_url)
    messages = valid_events(EVENTS)
    sessions = sorted({m.session_id for m in messages})
    log = PublishLog()
    nc = await pipeline.connect()
    try:
        publishing = asyncio.create_task(publish(nc, messages, log))
        # Mid-stream: events are flowing through both services when the victim dies.
        await wait_stored(pipeline, sessions, 2_000)
        await asyncio.to_thread(pipeline.kill, victim)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(pipeline.restart, victim)
        await publishing
    finally:
        await nc.close()
    assert len(log.acked) == EVENTS
    audit = await pipeline.audit(log)
    assert audit.stored_rows == EVENTS
