"""The one JetStream publisher of the services: pipelined publishes, one reply subscription, one
bounded wait per batch; and raw events published as batch messages (CONTRACT §3, v1.1).

nats-py's `publish_async` spends a semaphore wait (an `asyncio.wait_for`), a future, a
done-callback and a fresh inbox token on every message; on ingest's hot path that was about a sixth
of the CPU per event. Here a whole batch shares one reply prefix (`<inbox>.<batch>.<index>`), the
acknowledgements are parsed with orjson and counted into one waiter, and the wait for the batch is
bounded once. That is JetStream's own publish protocol (a core publish with a reply subject, a
PubAck on it), as `publish_async` speaks it.

Every message is acknowledged by its stream, or `publish` raises PublishError and the caller
retries the whole batch; `Nats-Msg-Id` headers (TRACES, TRACES_DLQ) and the downstream dedupe by
(session_id, id) make the retry harmless.

The Python SDK (libs/sdk `transport.py`) speaks the same protocol with its own small loop: it ships
to agents, and this package would bring a web server and Prometheus into their installs. What both
must agree on — which messages a run of events becomes, their subjects and `Nats-Msg-Id`s, how a
batch is framed and split — is one function, `swarmscope_schema.batches.raw_messages`, that both
send. Nothing else in the repository builds a raw message id (the monitor's single alert uses
`subjects.raw_msg_id`, replay's republish goes through `publish_all`).
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
from nats.js import JetStreamContext

from swarmscope_schema import batches
from swarmscope_schema.batches import MAX_BATCH_BYTES
from swarmscope_schema.subjects import MSG_ID_HEADER, STREAM_RAW, raw_subject

EXPECTED_STREAM_HEADER = "Nats-Expected-Stream"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish, with the stream it must land in."""

    subject: str
    payload: bytes
    headers: dict[str, str] | None = None
    stream: str | None = None


@dataclass(frozen=True, slots=True)
class Ack:
    """A stream's acknowledgement of one published message."""

    seq: int
    duplicate: bool


class PublishError(RuntimeError):
    """Some publishes of a batch were not acknowledged; the caller retries the whole batch."""


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

    @classmethod
    def of(cls, js: JetStreamContext, *, timeout: float = 10.0) -> BatchPublisher:
        """A publisher on the connection a JetStream context speaks over."""
        return cls(js._nc, timeout=timeout)

    async def _subscription(self) -> Subscription:
        async with self._lock:
            if self._sub is None:
                self._sub = await self._nc.subscribe(f"{self._prefix}.*.*", cb=self._on_reply)
            return self._sub

    async def close(self) -> None:
        """Drops the reply subscription (pending batches then time out)."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    async def publish(
        self, messages: Sequence[Outgoing], *, stream: str | None = None, timeout: float | None = None
    ) -> list[Ack]:
        """Publishes the messages, each into its `stream` (or the one given for all); returns their
        acknowledgements in order, or raises PublishError when any is missing or negative."""
        if not messages:
            return []
        await self._subscription()
        limit = self._timeout if timeout is None else timeout
        batch_id = next(self._ids)
        batch = _Batch(size=len(messages), acks=[None] * len(messages))
        self._batches[batch_id] = batch
        reply_prefix = f"{self._prefix}.{batch_id}."
        publish = self._nc.publish
        try:
            for index, message in enumerate(messages):
                # The expected stream is added to the message's own headers (a copy per message
                # would cost the hot path; a retry adds the same value again).
                headers = message.headers if message.headers is not None else {}
                target = message.stream or stream
                if target:
                    headers[EXPECTED_STREAM_HEADER] = target
                await publish(
                    message.subject, message.payload, reply=f"{reply_prefix}{index}", headers=headers
                )
            try:
                await asyncio.wait_for(batch.done.wait(), limit)
            except TimeoutError as exc:
                raise PublishError(
                    f"{batch.size - batch.received} of {batch.size} publishes not acknowledged within {limit}s"
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
        ack = parse_ack(msg)
        if isinstance(ack, str):
            batch.errors.append(ack)
            ack = Ack(seq=0, duplicate=False)
        batch.acks[index] = ack
        batch.received += 1
        if batch.received == batch.size:
            batch.done.set()


def parse_ack(msg: Msg) -> Ack | str:
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


async def publish_all(
    js: JetStreamContext, messages: Sequence[Outgoing], *, timeout: float = 10.0
) -> list[Ack]:
    """Publishes every message pipelined and waits (bounded) for all the acknowledgements, with a
    publisher of its own on `js`'s connection (for rare publishes: dead letters, replays).

    Raises PublishError if any ack is missing or negative; with `Nats-Msg-Id` headers a retry of
    the whole batch stores nothing twice.
    """
    publisher = BatchPublisher.of(js, timeout=timeout)
    try:
        return await publisher.publish(messages)
    finally:
        await publisher.close()


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One event a producer sends into TRACES_RAW: its keys and its JSON bytes."""

    session_id: str
    agent_id: str | None
    event_id: str
    event_type: str
    payload: bytes

    @property
    def subject(self) -> str:
        """Its subject when it travels as a single-event message."""
        return raw_subject(self.session_id, self.agent_id, self.event_type)


def raw_messages(
    events: Sequence[RawEvent], *, max_bytes: int = MAX_BATCH_BYTES
) -> list[tuple[Outgoing, int]]:
    """The TRACES_RAW messages of some events, each with how many events it carries.

    Events are grouped by session (in their order) into batch messages (v1.1) of at most
    `max_bytes`; a session with one event goes as a single-event message, exactly as v1
    (`swarmscope_schema.batches.raw_messages`, the plan the SDK sends too). Raises
    `swarmscope_schema.batches.BatchTooLarge` for an event too big for any message.
    """
    return [
        (
            Outgoing(
                subject=message.subject,
                payload=message.payload,
                headers={MSG_ID_HEADER: message.msg_id},
                stream=STREAM_RAW,
            ),
            len(message.members),
        )
        for message in batches.raw_messages(events, max_bytes=max_bytes)
    ]


async def publish_raw(
    publisher: BatchPublisher, events: Sequence[RawEvent], *, max_bytes: int = MAX_BATCH_BYTES
) -> int:
    """Publishes events into TRACES_RAW as batch messages; returns how many events were
    acknowledged (all of them, or PublishError)."""
    messages = raw_messages(events, max_bytes=max_bytes)
    await publisher.publish([message for message, _ in messages])
    return sum(count for _, count in messages)
