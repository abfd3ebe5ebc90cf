"""The batch consumer loop every pipeline service runs on its durable.

fetch a batch → handler decides per message → dead letters published (and acknowledged by
JetStream) → originals terminated → the rest acked or nak'd with a delay. A message that carries
many events (a batch message, v1.1) may be acked with dead letters of its own bad members: those
are published first, each naming its member index, and the message is acked only once they are. The handler's effect
comes first and the ack last, so a crash anywhere leaves messages unacked and redelivered; effects
are idempotent, so redelivery changes nothing.

Failures are of two kinds (as in the OpenTelemetry Collector): a `RetryableError` (database down,
NATS publish not acknowledged) naks the batch with a growing delay and pauses; a message the handler
marks as permanently bad is dead-lettered with its reason and never retried. An unexpected
exception is treated as retryable, except that a message delivered `max_attempts` times is then
dead-lettered as `unprocessable`, so one poison message can never stall a durable. A dead letter
keeps its message's payload redacted (unless the service is told to keep originals).

Durables redeliver what was not acked within a short `ack_wait` (nats_setup), so a crashed
consumer's last batch comes back seconds after a restart. While a batch is being handled and
settled, the loop sends in-progress acks for its messages every third of `ack_wait`: a batch
slower than ack_wait (a slow COPY, a database failing over) keeps its messages instead of having
them redelivered to another replica while it still works on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Counter, Histogram

from swarmscope_schema.redaction import Redactor
from swarmscope_schema.redaction.dead_letters import redact_payload
from swarmscope_schema.subjects import (
    DLQ_ERROR_HEADER,
    DLQ_MEMBER_INDEX_HEADER,
    DLQ_REASON_HEADER,
    DLQ_SOURCE_HEADER,
    DLQ_STREAM_SEQ_HEADER,
    DLQ_SUBJECT_HEADER,
    MSG_ID_HEADER,
    STREAM_DLQ,
    DlqReason,
    dlq_subject,
)
from swarmscope_service.nats_setup import DEFAULT_ACK_WAIT_SECONDS
from swarmscope_service.publishing import BatchPublisher, Outgoing, PublishError
from swarmscope_service.pull import PullFetcher

log = logging.getLogger(__name__)


class RetryableError(Exception):
    """A failure that will pass (a dependency is down): the batch is nak'd and retried later."""


class Verdict(Enum):
    ACK = "ack"
    NAK = "nak"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class MemberLetter:
    """The dead letter of one member of a batch message: its index, why, and the member alone."""

    index: int
    reason: DlqReason
    detail: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one delivered message."""

    verdict: Verdict
    reason: DlqReason | None = None
    detail: str = ""
    delay: float = 0.0
    # ACK of a batch message whose bad members are dead-lettered one by one (before the ack).
    letters: tuple[MemberLetter, ...] = ()

    @staticmethod
    def ack(letters: Sequence[MemberLetter] = ()) -> Decision:
        return Decision(Verdict.ACK, letters=tuple(letters)) if letters else _ACK

    @staticmethod
    def nak(delay: float = 1.0) -> Decision:
        return Decision(Verdict.NAK, delay=delay)

    @staticmethod
    def dead(reason: DlqReason, detail: str) -> Decision:
        return Decision(Verdict.DEAD, reason=reason, detail=detail)


_ACK = Decision(Verdict.ACK)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as a handler sees it."""

    subject: str
    data: bytes
    headers: dict[str, str]
    stream_seq: int
    num_delivered: int
    timestamp_ns: int = 0


Handler = Callable[[Sequence[Delivery]], Awaitable[Sequence[Decision]]]


@dataclass
class ConsumerMetrics:
    """Counters and histograms of one consumer loop, registered on the service's registry."""

    messages: Counter
    dead_letters: Counter
    naks: Counter
    batch_size: Histogram
    batch_seconds: Histogram
    retryable_failures: Counter
    redelivered: Counter
    in_progress: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ConsumerMetrics:
        return cls(
            messages=Counter(
                "swarmscope_consumer_messages_total",
                "Messages processed by a durable consumer, by outcome",
                ["durable", "outcome"],
                registry=registry,
            ),
            dead_letters=Counter(
                "swarmscope_consumer_dead_letters_total",
                "Messages dead-lettered by a durable consumer, by reason",
                ["durable", "reason"],
                registry=registry,
            ),
            naks=Counter(
                "swarmscope_consumer_naks_total",
                "Messages nak'd for redelivery",
                ["durable"],
                registry=registry,
            ),
            batch_size=Histogram(
                "swarmscope_consumer_batch_size",
                "Messages per fetched batch",
                ["durable"],
                buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000),
                registry=registry,
            ),
            batch_seconds=Histogram(
                "swarmscope_consumer_batch_seconds",
                "Time to handle and settle one batch",
                ["durable"],
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                registry=registry,
            ),
            retryable_failures=Counter(
                "swarmscope_consumer_retryable_failures_total",
                "Batches that failed with a retryable error and were nak'd",
                ["durable"],
                registry=registry,
            ),
            redelivered=Counter(
                "swarmscope_consumer_redelivered_total",
                "Messages received again (JetStream delivery count above 1): after a nak, or after "
                "ack_wait passed without an ack (a consumer that crashed or stalled)",
                ["durable"],
                registry=registry,
            ),
            in_progress=Counter(
                "swarmscope_consumer_in_progress_acks_total",
                "In-progress acks sent for messages of batches slower than a third of ack_wait",
                ["durable"],
                registry=registry,
            ),
        )


@dataclass
class BatchConsumer:
    """Runs a handler over a durable pull consumer until stopped."""

    js: JetStreamContext
    stream: str
    durable: str
    handler: Handler
    metrics: ConsumerMetrics
    batch_size: int = 500
    fetch_wait: float = 0.25
    max_attempts: int = 5
    retry_base_delay: float = 0.5
    retry_max_delay: float = 15.0
    # Dead letters go out through this publisher (one on `js`'s connection when not given).
    publisher: BatchPublisher | None = None
    # Bytes a fetch should bring at most (0: no bound): with batch messages of many events each,
    # `batch_size` messages could be hundreds of MiB, so the count follows the sizes seen.
    fetch_bytes: int = 0
    # The durable's ack wait (SWARMSCOPE_ACK_WAIT_SECONDS): a batch still in hand after a third of
    # it sends in-progress acks.
    ack_wait: float = DEFAULT_ACK_WAIT_SECONDS
    # Ask for the next batch as soon as one is handed out, so it arrives while this one is handled
    # (PullFetcher). At stop, the prefetched batch is released (nak'd) for the next consumer.
    prefetch: bool = False
    _message_bytes: float = 0.0
    # What a dead letter keeps of its message: the payload redacted by this (CONTRACT "Data
    # handling"); None keeps it as it came, secrets included (SWARMSCOPE_DLQ_KEEP_ORIGINAL).
    dead_letter_redactor: Redactor | None = field(default_factory=Redactor)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _consecutive_failures: int = 0
    _fetcher: PullFetcher | None = None

    def stop(self) -> None:
        """Asks the loop to stop after the batch in hand is handled and settled."""
        self._stopping.set()

    async def wait_stopped(self) -> None:
        await self._idle.wait()

    async def run(self) -> None:
        """Fetches and handles batches until `stop()`; returns with nothing half-settled."""
        self._idle.clear()
        # nats-py keeps the connection and the API prefix (a JetStream domain's) on the context.
        fetcher = PullFetcher(
            self.js._nc, self.stream, self.durable, api_prefix=self.js._prefix, prefetch=self.prefetch
        )
        await fetcher.start()
        self._fetcher = fetcher
        try:
            while not self._stopping.is_set():
                try:
                    msgs = await fetcher.fetch(self._fetch_count(), timeout=self.fetch_wait)
                except Exception as exc:
                    # NATS is reconnecting or the consumer is briefly unavailable: wait, go on.
                    log.warning("fetch failed", extra={"durable": self.durable, "error": repr(exc)})
                    await self._sleep_unless_stopping(1.0)
                    continue
                if msgs:
                    await self.process(msgs)
        finally:
            self._fetcher = None
            await self._release(await fetcher.stop())
            self._idle.set()

    def _fetch_count(self) -> int:
        if not self.fetch_bytes or not self._message_bytes:
            return self.batch_size
        return max(1, min(self.batch_size, int(self.fetch_bytes / self._message_bytes)))

    async def process(self, msgs: Sequence[Msg]) -> None:
        """Handles and settles one batch. Public so tests can drive a batch directly."""
        keep_alive = asyncio.create_task(self._keep_in_progress(msgs))
        try:
            decisions = await self._handle_and_settle(msgs)
        finally:
            keep_alive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keep_alive
        if any(d.verdict is Verdict.NAK for d in decisions):
            # Back off as a whole: redelivery is already delayed, and not fetching at once keeps a
            # down dependency from being hammered.
            await self._sleep_unless_stopping(min(d.delay for d in decisions if d.verdict is Verdict.NAK))

    async def _keep_in_progress(self, batch: Sequence[Msg]) -> None:
        interval = max(self.ack_wait / 3.0, 0.05)
        counter = self.metrics.in_progress.labels(self.durable)
        while True:
            await asyncio.sleep(interval)
            # The next batch, prefetched while this one is handled, waits on it: keep it too.
            msgs = [*batch, *(self._fetcher.buffered() if self._fetcher else ())]
            for msg in msgs:
                try:
                    await msg.in_progress()
                except Exception as exc:
                    # NATS reconnecting: the next round tries again; at worst a redelivery,
                    # which changes nothing.
                    log.debug("in-progress ack failed", extra={"durable": self.durable, "error": repr(exc)})
                    break
            else:
                counter.inc(len(msgs))

    async def _handle_and_settle(self, msgs: Sequence[Msg]) -> list[Decision]:
        started = time.perf_counter()
        deliveries = [_delivery(m) for m in msgs]
        redelivered = sum(1 for d in deliveries if d.num_delivered > 1)
        if redelivered:
            self.metrics.redelivered.labels(self.durable).inc(redelivered)
        if self.fetch_bytes:
            mean = sum(len(d.data) for d in deliveries) / len(deliveries)
            # A moving average: one batch of large messages shrinks the next fetch at once.
            self._message_bytes = max(mean, 0.5 * self._message_bytes + 0.5 * mean)
        self.metrics.batch_size.labels(self.durable).observe(len(msgs))
        try:
            decisions = list(await self.handler(deliveries))
            if len(decisions) != len(msgs):
                raise RuntimeError(f"handler returned {len(decisions)} decisions for {len(msgs)} messages")
            self._consecutive_failures = 0
        except RetryableError as exc:
            delay = self._next_retry_delay()
            self.metrics.retryable_failures.labels(self.durable).inc()
            log.warning(
                "batch failed, will retry",
                extra={
                    "durable": self.durable,
                    "size": len(msgs),
                    "retry_in_s": delay,
                    "error": str(exc),
                },
            )
            decisions = [Decision.nak(delay)] * len(msgs)
        except Exception:
            log.exception("handler raised", extra={"durable": self.durable, "size": len(msgs)})
            decisions = await self._isolate(deliveries, self._next_retry_delay())
        await self._settle(msgs, deliveries, decisions)
        self.metrics.batch_seconds.labels(self.durable).observe(time.perf_counter() - started)
        return decisions

    async def _isolate(self, deliveries: Sequence[Delivery], delay: float) -> list[Decision]:
        """After an unexpected exception, handles each message alone, so only the message that
        raises is retried (and, once delivered `max_attempts` times, dead-lettered); the valid
        messages of the same batch go through."""
        decisions: list[Decision] = []
        for delivery in deliveries:
            try:
                (decision,) = await self.handler([delivery])
            except RetryableError:
                decision = Decision.nak(delay)
            except Exception as exc:
                if delivery.num_delivered >= self.max_attempts:
                    decision = Decision.dead(DlqReason.UNPROCESSABLE, f"handler raised {exc!r}")
                else:
                    decision = Decision.nak(delay)
            decisions.append(decision)
        return decisions

    async def _release(self, msgs: Sequence[Msg]) -> None:
        # Messages delivered (prefetched) but never handled: nak them at stop so another replica
        # gets them now rather than after ack_wait.
        released = 0
        for msg in msgs:
            try:
                await msg.nak()
                released += 1
            except Exception as exc:
                log.debug("nak at stop failed", extra={"error": repr(exc)})
        if released:
            log.info("released buffered messages at stop", extra={"durable": self.durable, "count": released})

    def _letter(
        self, delivery: Delivery, reason: DlqReason, detail: str, payload: bytes, member: int | None = None
    ) -> Outgoing:
        """The dead letter of a message (or of one member of a batch message)."""
        if member is not None:
            # Also in the text, which the store keeps and /dlq shows.
            detail = f"batch member {member}: {detail}"
        headers = {
            DLQ_REASON_HEADER: reason.value,
            DLQ_ERROR_HEADER: _header_text(detail),
            DLQ_SUBJECT_HEADER: delivery.subject,
            DLQ_STREAM_SEQ_HEADER: str(delivery.stream_seq),
            DLQ_SOURCE_HEADER: f"{self.stream}/{self.durable}",
            # A redelivered poison message must not become two dead letters.
            MSG_ID_HEADER: f"dlq:{self.stream}:{delivery.stream_seq}",
        }
        if member is not None:
            headers[DLQ_MEMBER_INDEX_HEADER] = str(member)
            headers[MSG_ID_HEADER] += f":{member}"
        return Outgoing(
            subject=dlq_subject(reason),
            payload=self._dead_letter_payload(payload),
            headers=headers,
            stream=STREAM_DLQ,
        )

    async def _settle(
        self, msgs: Sequence[Msg], deliveries: Sequence[Delivery], decisions: Sequence[Decision]
    ) -> None:
        letters: list[Outgoing] = []
        reasons: list[str] = []
        for d, dec in zip(deliveries, decisions, strict=True):
            if dec.verdict is Verdict.DEAD:
                reason = dec.reason or DlqReason.UNPROCESSABLE
                letters.append(self._letter(d, reason, dec.detail, d.data))
                reasons.append(reason.value)
            elif dec.letters:
                for letter in dec.letters:
                    letters.append(
                        self._letter(d, letter.reason, letter.detail, letter.payload, letter.index)
                    )
                    reasons.append(letter.reason.value)
        dead_ok = True
        if letters:
            try:
                await self._publisher().publish(letters)
            except PublishError as exc:
                dead_ok = False
                log.warning("dead letters not acknowledged, will retry", extra={"error": str(exc)})
        acked = naked = dead = 0
        for msg, dec in zip(msgs, decisions, strict=True):
            if dec.verdict is Verdict.ACK and (dead_ok or not dec.letters):
                await msg.ack()
                acked += 1
            elif dec.verdict is Verdict.DEAD and dead_ok:
                await msg.term()
                dead += 1
            else:
                delay = dec.delay if dec.verdict is Verdict.NAK else self.retry_base_delay
                await msg.nak(delay=delay)
                naked += 1
        if dead_ok:
            for counted in reasons:
                self.metrics.dead_letters.labels(self.durable, counted).inc()
        if acked:
            self.metrics.messages.labels(self.durable, "ack").inc(acked)
        if naked:
            self.metrics.messages.labels(self.durable, "nak").inc(naked)
            self.metrics.naks.labels(self.durable).inc(naked)
        if dead:
            self.metrics.messages.labels(self.durable, "dead").inc(dead)

    def _publisher(self) -> BatchPublisher:
        if self.publisher is None:
            self.publisher = BatchPublisher.of(self.js)
        return self.publisher

    def _dead_letter_payload(self, data: bytes) -> bytes:
        if self.dead_letter_redactor is None:
            return data
        return redact_payload(self.dead_letter_redactor, data)[0]

    def _next_retry_delay(self) -> float:
        self._consecutive_failures += 1
        return min(self.retry_base_delay * 2.0 ** (self._consecutive_failures - 1), self.retry_max_delay)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


def _header_text(text: str, limit: int = 2048) -> str:
    # Headers are single-line text: fold newlines and keep the detail readable but bounded.
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _delivery(msg: Msg) -> Delivery:
    # The delivery's metadata is in its ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.
    # <stream seq>.<consumer seq>.<ns>.<pending>` (v1) or with `<domain>.<account hash>.` after
    # `ACK` (v2, 11 or 12 tokens). Read here directly: nats-py's `msg.metadata` builds two objects
    # and a datetime per message, a tenth of ingest's CPU in a profile, for three integers.
    reply = msg.reply
    tokens = reply.split(".") if reply else []
    count = len(tokens)
    if count >= 9 and tokens[0] == "$JS" and tokens[1] == "ACK" and (count == 9 or count >= 11):
        base = 4 if count == 9 else 6
        num_delivered, stream_seq, timestamp_ns = (
            int(tokens[base]),
            int(tokens[base + 1]),
            int(tokens[base + 3]),
        )
    else:
        meta = msg.metadata  # raises NotJSMessageError, as before
        num_delivered, stream_seq = meta.num_delivered, meta.sequence.stream
        timestamp_ns = int(meta.timestamp.timestamp() * 1e9) if meta.timestamp else 0
    headers = msg.headers
    return Delivery(
        subject=msg.subject,
        data=msg.data,
        headers=dict(headers) if headers else {},
        stream_seq=stream_seq,
        num_delivered=num_delivered,
        timestamp_ns=timestamp_ns,
    )
