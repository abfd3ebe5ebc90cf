"""Pipelined JetStream publishing of canonical events with one reply subscription per process.

`swarmscope_service.publishing.publish_all` goes through nats-py's `publish_async`, which spends a
semaphore wait (an `asyncio.wait_for`), a future, a done-callback and a fresh inbox token on every
message; on ingest's hot path that was about a sixth of the CPU per event. Here a whole batch
shares one reply prefix (`<inbox>.<batch>.<index>`), the acknowledgements are parsed with orjson
and counted into one waiter, and the wait for the batch is bounded once. The semantics are those
of `publish_all`: every message is acknowledged by its stream, or the batch raises PublishError
and is retried as a whole (`Nats-Msg-Id` makes the retry harmless).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from swarmscope_service.publishing import PublishError

EXPECTED_STREAM_HEADER = "Nats-Expected-Stream"


@dataclass(frozen=True, slots=True)
class Ack:
    """A stream's acknowledgement of one published message."""

    seq: int
    duplicate: bool


@dataclass
class _Batch:
    size: int
    acks: list[Ack | None]
    errors: list[str] = field(default_factory=list)
    received: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class BatchPublisher:
    """Publishes batches to JetStream and waits, bounded, for every acknowledgement."""

    def __init__(self, nc: NatsClient, *, timeout: float = 10.0) -> None:
        self._nc = nc
        self._timeout = timeout
        self._prefix = nc.new_inbox()
        self._sub: Subscription | None = None
        self._lock = asyncio.Lock()
        self._batches: dict[int, _Batch] = {}
        self._ids = itertools.count(1)

    async def _subscription(self) -> Subscription:
        async with self._lock:
            if self._sub is None:
                self._sub = await self._nc.subscribe(f"{self._prefix}.*.*", cb=self._on_reply)
            return self._sub

    async def close(self) -> None:
        """Drops the reply subscription (pending batches then time out)."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def publish(
        self,
        messages: Sequence[tuple[str, bytes, dict[str, str]]],
        *,
        stream: str,
    ) -> list[Ack]:
        """Publishes (subject, payload, headers) messages into `stream`; returns their acks in order."""
        if not messages:
            return []
        await self._subscription()
        batch_id = next(self._ids)
        batch = _Batch(size=len(messages), acks=[None] * len(messages))
        self._batches[batch_id] = batch
        reply_prefix = f"{self._prefix}.{batch_id}."
        publish = self._nc.publish
        try:
            for index, (subject, payload, headers) in enumerate(messages):
                headers[EXPECTED_STREAM_HEADER] = stream
                await publish(subject, payload, reply=f"{reply_prefix}{index}", headers=headers)
            try:
                await asyncio.wait_for(batch.done.wait(), self._timeout)
            except TimeoutError as exc:
                raise PublishError(
                    f"{batch.size - batch.received} of {batch.size} publishes not acknowledged "
                    f"within {self._timeout}s"
                ) from exc
        except PublishError:
            raise
        except Exception as exc:
            # Connection closed, reconnect buffer full, …: nothing the messages did wrong.
            raise PublishError(f"publish failed: {exc!r}") from exc
        finally:
            self._batches.pop(batch_id, None)
        if batch.errors:
            raise PublishError(f"{len(batch.errors)} of {batch.size} publishes failed: {batch.errors[0]}")
        return [ack for ack in batch.acks if ack is not None]

    async def _on_reply(self, msg: Msg) -> None:
        _, batch_token, index_token = msg.subject.rsplit(".", 2)
        batch = self._batches.get(int(batch_token))
        if batch is None:
            return  # the reply of a batch that already timed out
        index = int(index_token)
        if batch.acks[index] is not None:
            return
        ack = _parse_ack(msg)
        if isinstance(ack, str):
            batch.errors.append(ack)
            ack = Ack(seq=0, duplicate=False)
        batch.acks[index] = ack
        batch.received += 1
        if batch.received == batch.size:
            batch.done.set()


def _parse_ack(msg: Msg) -> Ack | str:
    """The acknowledgement in a reply, or why the reply is not a positive one."""
    if not msg.data:
        headers = msg.headers or {}
        status = headers.get("Status", "empty")
        return f"no acknowledgement (status {status} {headers.get('Description', '')})".strip()
    try:
        reply = orjson.loads(msg.data)
    except orjson.JSONDecodeError:
        return f"unreadable acknowledgement {msg.data[:200]!r}"
    # A refusal carries an error beside a zero seq.
    if not isinstance(reply, dict) or reply.get("error") or "seq" not in reply:
        error = reply.get("error") if isinstance(reply, dict) else None
        return f"stream refused the message: {error or reply!r}"
    return Ack(seq=int(reply["seq"]), duplicate=bool(reply.get("duplicate")))
