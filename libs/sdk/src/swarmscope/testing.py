"""Helpers for tests of traced agents: read back what a session published to TRACES_RAW.

from swarmscope.testing import published_events
events = published_events("nats://127.0.0.1:14222", "swarm-demo-01")

A batch message (v1.1) is read back as its members, in order, each with the message's subject and
headers and its index in the batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from swarmscope_schema.batches import batch_members
from swarmscope_schema.subjects import RAW_PREFIX, STREAM_RAW, is_batch_subject, session_filter


@dataclass(frozen=True)
class RawMessage:
    """One event of TRACES_RAW: a single-event message, or a member of a batch message."""

    subject: str
    headers: dict[str, str]
    event: dict[str, Any]
    member: int | None = None  # its index, when it came in a batch message


def _events(subject: str, headers: dict[str, str], data: bytes) -> list[RawMessage]:
    if not is_batch_subject(subject):
        return [RawMessage(subject, headers, orjson.loads(data))]
    return [RawMessage(subject, headers, m.value, m.index) for m in batch_members(data)]


async def read_raw_messages(nats_url: str, session_id: str) -> list[RawMessage]:
    """Every message a session has in TRACES_RAW, in stream order (an ephemeral consumer, no acks)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            session_filter(RAW_PREFIX, session_id),
            stream=STREAM_RAW,
            config=ConsumerConfig(
                ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0
            ),
        )
        out: list[RawMessage] = []
        try:
            while (pending := (await sub.consumer_info()).num_pending or 0) > 0:
                for msg in await sub.fetch(min(pending, 500), timeout=5):
                    out.extend(_events(msg.subject, dict(msg.headers or {}), msg.data))
        finally:
            await sub.unsubscribe()
        return out
    finally:
        await nc.close()


def published_messages(nats_url: str, session_id: str) -> list[RawMessage]:
    """`read_raw_messages` for synchronous code."""
    return asyncio.run(read_raw_messages(nats_url, session_id))


def published_events(nats_url: str, session_id: str) -> list[dict[str, Any]]:
    """The event bodies a session published, in stream order."""
    return [m.event for m in published_messages(nats_url, session_id)]
