"""Pipelined JetStream publishing: many publishes in flight, one wait for all their acks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import PubAck


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish, with the stream it must land in."""

    subject: str
    payload: bytes
    headers: dict[str, str] | None = None
    stream: str | None = None


class PublishError(RuntimeError):
    """Some publishes of a batch were not acknowledged; the caller retries the whole batch."""


async def publish_all(
    js: JetStreamContext, messages: Sequence[Outgoing], *, timeout: float = 10.0
) -> list[PubAck]:
    """Publishes every message without waiting in between, then waits (bounded) for all the acks.

    `publish_async` futures have no timeout of their own: the bound here is what keeps a lost NATS
    from hanging the caller. Raises PublishError if any ack is missing or negative; with
    `Nats-Msg-Id` headers a retry of the whole batch stores nothing twice.
    """
    if not messages:
        return []
    futures = [
        await js.publish_async(m.subject, m.payload, headers=m.headers, stream=m.stream, wait_stall=timeout)
        for m in messages
    ]
    try:
        done = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), timeout)
    except TimeoutError as exc:
        for future in futures:
            future.cancel()
        raise PublishError(f"{len(futures)} publishes not acknowledged within {timeout}s") from exc
    failures = [r for r in done if isinstance(r, BaseException)]
    if failures:
        raise PublishError(f"{len(failures)} of {len(futures)} publishes failed: {failures[0]!r}")
    return [r for r in done if isinstance(r, PubAck)]
