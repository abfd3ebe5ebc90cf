"""The batch consumer loop against a real NATS: ack, nak with delay, dead letters, poison, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

from swarmscope_dev.nats_server import start_nats_server
from swarmscope_schema.subjects import (
    DLQ_ERROR_HEADER,
    DLQ_REASON_HEADER,
    DLQ_STREAM_SEQ_HEADER,
    DLQ_SUBJECT_HEADER,
    DURABLE_INGEST,
    STREAM_DLQ,
    STREAM_RAW,
    DlqReason,
)
from swarmscope_service.consumer import (
    BatchConsumer,
    ConsumerMetrics,
    Decision,
    Delivery,
    RetryableError,
    _delivery,
)
from swarmscope_service.nats_setup import StreamSettings, provision


@pytest.fixture
async def js(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[JetStreamContext]:
    # A server per test: each test starts with empty streams and fresh durables.
    server = start_nats_server(tmp_path_factory.mktemp("nats-consumer"))
    nc = await nats.connect(server.url)
    try:
        context = nc.jetstream()
        await provision(context)
        yield context
    finally:
        await nc.close()
        server.stop()


async def publish_raw(js: JetStreamContext, count: int, prefix: str = "m") -> None:
    futures = [
        await js.publish_async(f"traces.raw.s1.a1.t{i % 3}", f"{prefix}{i}".encode()) for i in range(count)
    ]
    await asyncio.gather(*futures)


@dataclass
class Recorder:
    """A handler whose decisions are scripted per payload; records every delivery it saw."""

    decide: dict[bytes, Decision] = field(default_factory=dict)
    seen: list[Delivery] = field(default_factory=list)
    raise_on_batch: Exception | None = None

    async def __call__(self, batch: Sequence[Delivery]) -> list[Decision]:
        self.seen.extend(batch)
        if self.raise_on_batch is not None:
            error, self.raise_on_batch = self.raise_on_batch, None
            raise error
        return [self.decide.get(d.data, Decision.ack()) for d in batch]


def make_consumer(js: JetStreamContext, handler: Recorder, **kwargs: float) -> BatchConsumer:
    return BatchConsumer(
        js=js,
        stream=STREAM_RAW,
        durable=DURABLE_INGEST,
        handler=handler,
        metrics=ConsumerMetrics.create(CollectorRegistry()),
        batch_size=100,
        fetch_wait=0.1,
        retry_base_delay=0.05,
        **kwargs,  # type: ignore[arg-type]
    )


async def run_until(consumer: BatchConsumer, predicate: object, timeout: float = 20.0) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(timeout):
            while not predicate():  # type: ignore[operator]
                await asyncio.sleep(0.02)
    finally:
        consumer.stop()
        await task


async def pending(js: JetStreamContext) -> tuple[int, int]:
    info = await js.consumer_info(STREAM_RAW, DURABLE_INGEST)
    return info.num_pending, info.num_ack_pending


async def test_acked_messages_are_not_redelivered(js: JetStreamContext) -> None:
    await publish_raw(js, 250)
    handler = Recorder()
    consumer = make_consumer(js, handler)
    await run_until(consumer, lambda: len(handler.seen) >= 250)
    await js._nc.flush()
    assert sorted(d.data for d in handler.seen) == sorted(f"m{i}".encode() for i in range(250))
    assert len({d.stream_seq for d in handler.seen}) == 250
    await asyncio.sleep(0.2)
    assert await pending(js) == (0, 0)


async def test_nak_redelivers_after_the_delay(js: JetStreamContext) -> None:
    await publish_raw(js, 3)
    handler = Recorder(decide={b"m1": Decision.nak(0.2)})
    consumer = make_consumer(js, handler)

    def m1_twice() -> bool:
        return sum(1 for d in handler.seen if d.data == b"m1") >= 2

    await run_until(consumer, m1_twice)
    redelivered = [d for d in handler.seen if d.data == b"m1"]
    assert redelivered[0].num_delivered == 1
    assert redelivered[1].num_delivered == 2
    assert [d.data for d in handler.seen].count(b"m0") == 1


async def test_dead_letters_carry_reason_detail_and_original_payload(js: JetStreamContext) -> None:
    await publish_raw(js, 5)
    bad = Decision.dead(DlqReason.SCHEMA_VIOLATION, "data.task_id: Field required\nsecond line")
    handler = Recorder(decide={b"m2": bad, b"m4": Decision.dead(DlqReason.TOO_LARGE, "2 MiB")})
    consumer = make_consumer(js, handler)
    await run_until(consumer, lambda: len(handler.seen) >= 5)
    dlq = await js.pull_subscribe("traces.dlq.>", stream=STREAM_DLQ)
    letters = await dlq.fetch(10, timeout=5)
    by_reason = {m.headers[DLQ_REASON_HEADER]: m for m in letters if m.headers}
    assert set(by_reason) == {"schema_violation", "too_large"}
    letter = by_reason["schema_violation"]
    assert letter.subject == "traces.dlq.schema_violation"
    assert letter.data == b"m2"
    assert letter.headers is not None
    assert letter.headers[DLQ_ERROR_HEADER] == "data.task_id: Field required second line"
    assert letter.headers[DLQ_SUBJECT_HEADER] == "traces.raw.s1.a1.t2"
    assert int(letter.headers[DLQ_STREAM_SEQ_HEADER]) == 3
    await asyncio.sleep(0.2)
    assert await pending(js) == (0, 0)  # terminated messages are settled, not redelivered


SECRET_PAYLOADS = [
    # Well formed but rejected (an unknown type, say): redacted as a good event would be.
    b'{"id":"e1","session_id":"s1","type":"nope","data":{"password":"hunter2","note":"ok"}}',
    # Truncated JSON: the value rules over its text.
    b'{"id":"e2","session_id":"s1","type":"tool_call","data":{"api_key":"k-991","cmd":"curl -H \'Authorization: Bearer t0k3n.99\'',
    # Invalid UTF-8.
    b'{"id":"e3","data":{"log":"DB_PASSWORD=s3cr3t \xff\xfe","dsn":"postgres://app:pgpw@db/app"}}',
]
REDACTED_PAYLOADS = [
    b'{"id":"e1","session_id":"s1","type":"nope","data":{"password":"[REDACTED]","note":"ok"}}',
    b'{"id":"e2","session_id":"s1","type":"tool_call","data":{"api_key":"[REDACTED]","cmd":"curl -H \'Authorization: Bearer [REDACTED]\'',
    b'{"id":"e3","data":{"log":"DB_PASSWORD=[REDACTED] \xff\xfe","dsn":"postgres://app:[REDACTED]@db/app"}}',
]


async def _dead_letter_all(js: JetStreamContext, **kwargs: object) -> list[bytes]:
    futures = [await js.publish_async("traces.raw.s1._.x", payload) for payload in SECRET_PAYLOADS]
    await asyncio.gather(*futures)
    dead = Decision.dead(DlqReason.SCHEMA_VIOLATION, "rejected")
    handler = Recorder(decide=dict.fromkeys(SECRET_PAYLOADS, dead))
    consumer = make_consumer(js, handler, **kwargs)  # type: ignore[arg-type]
    await run_until(consumer, lambda: len(handler.seen) >= len(SECRET_PAYLOADS))
    dlq = await js.pull_subscribe("traces.dlq.>", stream=STREAM_DLQ)
    letters = await dlq.fetch(10, timeout=5)
    return sorted(m.data for m in letters)


async def test_dead_letters_keep_the_redacted_payload(js: JetStreamContext) -> None:
    """Issue 12 item 2: a secret in a rejected message must not reach TRACES_DLQ."""
    assert await _dead_letter_all(js) == sorted(REDACTED_PAYLOADS)


async def test_keeping_originals_is_an_explicit_choice(js: JetStreamContext) -> None:
    assert await _dead_letter_all(js, dead_letter_redactor=None) == sorted(SECRET_PAYLOADS)


async def test_retryable_error_naks_the_batch_and_it_is_processed_later(js: JetStreamContext) -> None:
    await publish_raw(js, 20)
    handler = Recorder(raise_on_batch=RetryableError("database down"))
    consumer = make_consumer(js, handler)
    await run_until(consumer, lambda: len({d.data for d in handler.seen}) >= 20 and len(handler.seen) >= 40)
    first = handler.seen[:20]
    assert all(d.num_delivered == 1 for d in first)
    assert {d.data for d in handler.seen[20:]} == {d.data for d in first}


async def test_a_poison_message_is_dead_lettered_after_max_attempts(js: JetStreamContext) -> None:
    await publish_raw(js, 1, prefix="poison")

    class Exploding(Recorder):
        async def __call__(self, batch: Sequence[Delivery]) -> list[Decision]:
            self.seen.extend(batch)
            raise ValueError("bug in handler")

    handler = Exploding()
    consumer = make_consumer(js, handler, max_attempts=3)
    await run_until(consumer, lambda: max((d.num_delivered for d in handler.seen), default=0) >= 3)
    dlq = await js.pull_subscribe("traces.dlq.unprocessable", stream=STREAM_DLQ)
    letters = await dlq.fetch(1, timeout=5)
    assert max(d.num_delivered for d in handler.seen) == 3  # dead-lettered, so never a 4th time
    assert letters[0].data == b"poison0"
    assert letters[0].headers is not None
    assert "bug in handler" in letters[0].headers[DLQ_ERROR_HEADER]


async def test_a_poison_message_does_not_take_its_batch_with_it(js: JetStreamContext) -> None:
    await publish_raw(js, 6)
    acked: list[bytes] = []

    async def picky(batch: Sequence[Delivery]) -> list[Decision]:
        if any(d.data == b"m3" for d in batch):
            raise ValueError("cannot handle m3")
        acked.extend(d.data for d in batch)
        return [Decision.ack()] * len(batch)

    consumer = BatchConsumer(
        js=js,
        stream=STREAM_RAW,
        durable=DURABLE_INGEST,
        handler=picky,
        metrics=ConsumerMetrics.create(CollectorRegistry()),
        batch_size=100,
        fetch_wait=0.1,
        retry_base_delay=0.05,
        max_attempts=2,
    )
    dlq = await js.pull_subscribe("traces.dlq.unprocessable", stream=STREAM_DLQ)
    letters: list[bytes] = []

    async def dead_lettered() -> None:
        while not letters:
            try:
                letters.extend(m.data for m in await dlq.fetch(1, timeout=0.2))
            except Exception:
                await asyncio.sleep(0.05)

    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(dead_lettered(), 20)
    finally:
        consumer.stop()
        await task
    assert letters == [b"m3"]
    assert sorted(acked) == [b"m0", b"m1", b"m2", b"m4", b"m5"]  # each once, never dead-lettered


async def stop_during_the_first_batch(js: JetStreamContext, *, prefetch: bool = False) -> list[Delivery]:
    """Publishes 100 messages, runs a consumer of 40-message batches, asks it to stop while its
    handler holds the first batch, then lets the handler finish; returns what the handler saw."""
    await publish_raw(js, 100)
    started = asyncio.Event()
    release = asyncio.Event()
    seen: list[Delivery] = []

    async def slow(batch: Sequence[Delivery]) -> list[Decision]:
        started.set()
        await release.wait()
        seen.extend(batch)
        return [Decision.ack()] * len(batch)

    consumer = BatchConsumer(
        js=js,
        stream=STREAM_RAW,
        durable=DURABLE_INGEST,
        handler=slow,
        metrics=ConsumerMetrics.create(CollectorRegistry()),
        batch_size=40,
        fetch_wait=0.1,
        prefetch=prefetch,
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(started.wait(), 10)
    consumer.stop()
    release.set()
    await asyncio.wait_for(task, 10)
    return seen


async def test_stop_finishes_the_batch_in_hand_and_acks_it(js: JetStreamContext) -> None:
    seen = await stop_during_the_first_batch(js)
    nc: NatsClient = js._nc
    await nc.flush()
    num_pending, ack_pending = await pending(js)
    assert len(seen) == 40  # the batch in hand was finished; no new fetch after stop
    assert ack_pending == 0
    assert num_pending == 60


@dataclass
class Slow(Recorder):
    """Takes `seconds` over its first batch (a slow COPY), then answers at once."""

    seconds: float = 0.0

    async def __call__(self, batch: Sequence[Delivery]) -> list[Decision]:
        first = not self.seen
        decisions = await super().__call__(batch)
        if first:
            await asyncio.sleep(self.seconds)
        return decisions


async def test_a_batch_slower_than_ack_wait_keeps_its_messages(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = start_nats_server(tmp_path_factory.mktemp("nats-ack-wait"))
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await provision(js, StreamSettings(ack_wait_seconds=1.0))
        assert (await js.consumer_info(STREAM_RAW, DURABLE_INGEST)).config.ack_wait == 1.0
        await publish_raw(js, 20)
        # One replica takes three ack waits over its batch (a slow COPY); a second replica on the
        # same durable would be handed that batch again after each ack wait without in-progress acks.
        slow = Slow(seconds=3.0)
        slow_consumer = make_consumer(js, slow, ack_wait=1.0)
        slow_task = asyncio.create_task(slow_consumer.run())
        async with asyncio.timeout(10):
            while len(slow.seen) < 20:
                await asyncio.sleep(0.02)
        other = Recorder()
        other_consumer = make_consumer(js, other, ack_wait=1.0)
        other_task = asyncio.create_task(other_consumer.run())
        # Past the slow batch's end and one more ack wait: a redelivery would have reached `other`.
        await asyncio.sleep(4.5)
        for consumer, task in ((other_consumer, other_task), (slow_consumer, slow_task)):
            consumer.stop()
            await task
        assert other.seen == []
        assert sorted(d.data for d in slow.seen) == sorted(f"m{i}".encode() for i in range(20))
        assert {d.num_delivered for d in slow.seen} == {1}
        assert slow_consumer.metrics.in_progress.labels(DURABLE_INGEST)._value.get() >= 20
        info = await js.consumer_info(STREAM_RAW, DURABLE_INGEST)
        assert (info.num_ack_pending, info.num_redelivered) == (0, 0)
    finally:
        await nc.close()
        server.stop()


async def test_redeliveries_are_counted(js: JetStreamContext) -> None:
    await publish_raw(js, 3)
    handler = Recorder(decide={b"m1": Decision.nak(0.05)})
    consumer = make_consumer(js, handler)
    await run_until(consumer, lambda: any(d.data == b"m1" and d.num_delivered > 1 for d in handler.seen))
    assert consumer.metrics.redelivered.labels(DURABLE_INGEST)._value.get() >= 1


def test_delivery_metadata_is_read_from_the_ack_subject_as_nats_py_reads_it() -> None:
    v1 = "$JS.ACK.TRACES.store.3.1042.977.1765000000123456789.12"
    v2 = "$JS.ACK.hub.ACCHASH.TRACES.store.2.1043.978.1765000000987654321.11.tok"
    v2_short = "$JS.ACK._.ACCHASH.TRACES.store.1.7.7.1765000000000000001.0"
    for reply in (v1, v2, v2_short):
        msg = Msg(_client=None, subject="traces.events.s.a.t", reply=reply, data=b"{}", headers={"h": "v"})  # type: ignore[arg-type]
        meta = msg.metadata
        got = _delivery(msg)
        assert (got.stream_seq, got.num_delivered) == (meta.sequence.stream, meta.num_delivered)
        assert got.timestamp_ns == int(reply.split(".")[7 if reply == v1 else 9])
        assert abs(got.timestamp_ns - meta.timestamp.timestamp() * 1e9) < 1e3
        assert got.headers == {"h": "v"}
    with pytest.raises(NotJSMessageError):
        _delivery(Msg(_client=None, subject="x", reply="_INBOX.abc", data=b""))  # type: ignore[arg-type]


async def test_a_prefetching_consumer_releases_the_next_batch_at_stop(js: JetStreamContext) -> None:
    seen = await stop_during_the_first_batch(js, prefetch=True)
    assert [d.stream_seq for d in seen] == list(range(1, 41))  # the batch in hand, and only it
    # The batch prefetched while the first was handled was released (nak'd), not kept: the next
    # consumer gets every other message, each once, and nothing stays pending.
    successor = Recorder()
    await run_until(make_consumer(js, successor), lambda: len(successor.seen) >= 60)
    assert sorted(d.stream_seq for d in successor.seen) == list(range(41, 101))
    assert await pending(js) == (0, 0)
