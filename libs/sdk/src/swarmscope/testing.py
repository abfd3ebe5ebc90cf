"""Helpers for tests of traced agents: read back what a session published to TRACES_RAW.

from swarmscope.testing import published_events
events = published_events("nats://127.0.0.1:14222", "swarm-demo-01")
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from swarmscope_schema.subjects import RAW_PREFIX, STREAM_RAW, session_filter


@dataclass(frozen=True)
class RawMessage:
    """One message of TRACES_RAW."""

    subject: str
    headers: dict[str, str]
    event: dict[str, Any]


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
                out.extend(
                    RawMessage(msg.subject, dict(msg.headers or {}), orjson.loads(msg.data))
                    for msg in await sub.fetch(min(pending, 500), timeout=5)
                )
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
