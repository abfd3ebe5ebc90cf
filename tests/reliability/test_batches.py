"""Batch messages (CONTRACT §3, v1.1) through the real pipeline, with kill -9 of ingest and of the
store mid-stream: every good member stored exactly once, every bad member dead-lettered exactly
once on its own (reason and member index), nothing else."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import orjson
import pytest
from swarmscope_reliability_support import wait_stored

from swarmscope_schema.batches import array_body
from swarmscope_schema.subjects import (
    DURABLE_INGEST,
    DURABLE_STORE,
    DURABLE_STORE_DLQ,
    MSG_ID_HEADER,
    STREAM_DLQ,
    STREAM_EVENTS,
    STREAM_RAW,
    raw_batch_msg_id,
    raw_batch_subject,
)
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event

BATCHES = 200
PER_BATCH = 50
SESSIONS = 8
TYPES = list(EventType)


def _batches(tag: str) -> tuple[list[tuple[str, bytes, str]], set[tuple[str, str]], set[bytes]]:
    """(subject, body, msg id) of each batch message; the good events; the bad members' payloads."""
    messages = []
    good: set[tuple[str, str]] = set()
    bad: set[bytes] = set()
    for b in range(BATCHES):
        session = f"bat-{tag}-{b % SESSIONS}"
        members: list[bytes] = []
        for i in range(PER_BATCH - 1):
            event = make_event(
                TYPES[(b + i) % len(TYPES)], session_id=session, agent_id=f"a{i % 4}", event_id=f"b{b}-{i}"
            )
            good.add((session, event["id"]))
            members.append(orjson.dumps(event))
        # One bad member per batch, in the middle: a type nobody knows.
        broken = orjson.dumps(
            {"id": f"b{b}-bad", "session_id": session, "type": "no_such_type", "timestamp": 1.0}
        )
        bad.add(broken)
        members.insert(PER_BATCH // 2, broken)
        messages.append(
            (
                raw_batch_subject(session, None),
                array_body(members),
                raw_batch_msg_id(session, f"b{b}-0", PER_BATCH),
            )
        )
    return messages, good, bad


async def _read(
    database_url: str, sessions: list[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, bytes, str]]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT session_id, event_id FROM events WHERE session_id = ANY($1::text[])", sessions
        )
        letters = await conn.fetch("SELECT reason, payload, subject FROM dead_letters")
    finally:
        await conn.close()
    return (
        [(r["session_id"], r["event_id"]) for r in rows],
        [(r["reason"], bytes(r["payload"]), r["subject"] or "") for r in letters],
    )


@pytest.mark.parametrize("victim", ["ingest", "store"])
async def test_batches_survive_a_kill_9_mid_stream(
    start_pipeline: Any, fresh_postgres_url: str, victim: str
) -> None:
    pipeline = await start_pipeline(fresh_postgres_url)
    tag = uuid.uuid4().hex[:6]
    messages, good, bad = _batches(tag)
    sessions = sorted({s for s, _ in good})
    nc = await pipeline.connect()
    try:
        js = nc.jetstream()

        async def produce() -> None:
            for subject, body, msg_id in messages:
                # A producer retries until JetStream acknowledges (NATS stays up here).
                await js.publish(subject, body, headers={MSG_ID_HEADER: msg_id}, timeout=10)

        publishing = asyncio.create_task(produce())
        await wait_stored(pipeline, sessions, 1_500)
        await asyncio.to_thread(pipeline.kill, victim)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(pipeline.restart, victim)
        await publishing
        deadline = time.monotonic() + 150
        while True:
            stored, letters = await _read(fresh_postgres_url, sessions)
            drained = True
            for stream, durable in (
                (STREAM_RAW, DURABLE_INGEST),
                (STREAM_EVENTS, DURABLE_STORE),
                (STREAM_DLQ, DURABLE_STORE_DLQ),
            ):
                info = await js.consumer_info(stream, durable)
                drained = drained and not info.num_pending and not info.num_ack_pending
            ours = [(r, p) for r, p, s in letters if f".bat-{tag}-" in s]
            if drained and len(set(stored)) >= len(good) and len({p for _, p in ours}) >= len(bad):
                break
            assert time.monotonic() < deadline, (
                f"not settled: {len(set(stored))} of {len(good)}\n{pipeline.logs()}"
            )
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert set(stored) == good
    payloads = [p for _, p in ours]
    assert len(payloads) == len(set(payloads)), "a bad member was dead-lettered twice"
    assert set(payloads) == bad
    assert {r for r, _ in ours} == {"schema_violation"}
