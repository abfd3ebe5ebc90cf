"""The ingest handler: one batch of raw messages in, canonical events out on TRACES, one decision each.

Every message is checked and prepared first (no I/O); the good events are published together,
pipelined, and only once TRACES has acknowledged all of them does the batch say `ack`. If any
publish is not acknowledged the whole batch is retried (RetryableError → nak with backoff):
`Nats-Msg-Id` makes the republish of the events that did land a no-op.

A batch message (v1.1) is prepared member by member: its good members join the events published,
its bad members become dead letters of their own (with their index), and the message is acked once
both are done; a message that cannot be read at all is dead-lettered whole, like a single event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from swarmscope_ingest.canonical import CanonicalEvent, canonicalize
from swarmscope_ingest.metrics import IngestMetrics
from swarmscope_schema.redaction import Redactor
from swarmscope_schema.subjects import (
    MSG_ID_HEADER,
    STREAM_EVENTS,
    DlqReason,
    SubjectParts,
    is_batch_subject,
    parse_event_subject,
)
from swarmscope_schema.validation import Rejected, parse_payload, validate_batch, validate_event
from swarmscope_service.consumer import Decision, Delivery, MemberLetter, RetryableError
from swarmscope_service.publishing import BatchPublisher, Outgoing

log = logging.getLogger(__name__)


def _received_at(delivery: Delivery, now_ms: float) -> float:
    # The moment TRACES_RAW stored the message (JetStream's timestamp): a redelivered message
    # yields the identical canonical event. `now_ms` stands in when it is unknown.
    return delivery.timestamp_ns / 1e6 if delivery.timestamp_ns else now_ms


def _unprocessable(delivery: Delivery, exc: Exception) -> Rejected:
    # A flaw on our side (an alias adapter meeting a shape it never saw): the message is kept in
    # the DLQ for a fix and a replay, and the line does not stop.
    log.warning(
        "could not normalize event",
        extra={"subject": delivery.subject, "stream_seq": delivery.stream_seq, "error": repr(exc)},
    )
    return Rejected(DlqReason.UNPROCESSABLE, f"event could not be normalized: {exc!r}")


def prepare(
    delivery: Delivery, redactor: Redactor, now_ms: float, subject: str | SubjectParts | None = None
) -> CanonicalEvent | Rejected:
    """Checks one single-event raw message and builds its canonical event. Never raises.

    `subject` is the delivery's subject already parsed, when the caller has it.
    """
    try:
        raw = parse_payload(delivery.data)
        if isinstance(raw, Rejected):
            return raw
        event = validate_event(raw, delivery.subject if subject is None else subject)
        if isinstance(event, Rejected):
            return event
        return canonicalize(event, _received_at(delivery, now_ms), redactor)
    except Exception as exc:
        return _unprocessable(delivery, exc)


def prepare_batch(
    delivery: Delivery, redactor: Redactor, now_ms: float
) -> tuple[list[CanonicalEvent], list[MemberLetter]] | Rejected:
    """Checks a batch message (v1.1): its good members' canonical events and its bad members'
    dead letters, or why the message as a whole is rejected. Never raises."""
    try:
        members = validate_batch(delivery.data, delivery.subject)
    except Exception as exc:
        return _unprocessable(delivery, exc)
    if isinstance(members, Rejected):
        return members
    received_at = _received_at(delivery, now_ms)
    events: list[CanonicalEvent] = []
    letters: list[MemberLetter] = []
    for member, checked in members:
        result: CanonicalEvent | Rejected
        if isinstance(checked, Rejected):
            result = checked
        else:
            try:
                result = canonicalize(checked, received_at, redactor)
            except Exception as exc:
                result = _unprocessable(delivery, exc)
        if isinstance(result, Rejected):
            letters.append(MemberLetter(member.index, result.reason, result.detail, member.payload()))
        else:
            events.append(result)
    return events, letters


class IngestHandler:
    """The batch handler the `ingest` durable runs."""

    def __init__(
        self,
        publisher: BatchPublisher,
        redactor: Redactor,
        metrics: IngestMetrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._publisher = publisher
        self._redactor = redactor
        self._metrics = metrics
        self._clock = clock

    async def __call__(self, deliveries: Sequence[Delivery]) -> list[Decision]:
        started = time.perf_counter()
        now_ms = self._clock() * 1000.0
        decisions: list[Decision] = []
        events: list[CanonicalEvent] = []
        seen: set[str] = set()
        batch_duplicates = 0
        # A batch's single-event messages share a few subjects (session, agent, type): each is
        # parsed once per batch. One that does not parse goes to the validator as text, which
        # words the rejection.
        subjects: dict[str, str | SubjectParts] = {}
        for delivery in deliveries:
            prepared: list[CanonicalEvent]
            if is_batch_subject(delivery.subject):
                result = prepare_batch(delivery, self._redactor, now_ms)
                if isinstance(result, Rejected):
                    decisions.append(Decision.dead(result.reason, result.detail))
                    continue
                prepared, letters = result
                decisions.append(Decision.ack(letters))
            else:
                subject = subjects.get(delivery.subject)
                if subject is None:
                    try:
                        subject = parse_event_subject(delivery.subject)
                    except ValueError:
                        subject = delivery.subject
                    subjects[delivery.subject] = subject
                single = prepare(delivery, self._redactor, now_ms, subject)
                if isinstance(single, Rejected):
                    decisions.append(Decision.dead(single.reason, single.detail))
                    continue
                prepared = [single]
                decisions.append(Decision.ack())
            for event in prepared:
                if event.msg_id in seen:
                    # The same event twice in one batch: JetStream would drop the second anyway.
                    batch_duplicates += 1
                    continue
                seen.add(event.msg_id)
                events.append(event)
        published = time.perf_counter()
        self._metrics.stage_seconds.labels("validate").observe(published - started)
        if events:
            await self._publish(events)
            self._metrics.stage_seconds.labels("publish").observe(time.perf_counter() - published)
        if batch_duplicates:
            self._metrics.duplicates.inc(batch_duplicates)
        return decisions

    async def _publish(self, events: Sequence[CanonicalEvent]) -> None:
        outgoing = [Outgoing(event.subject, event.payload, {MSG_ID_HEADER: event.msg_id}) for event in events]
        try:
            acks = await self._publisher.publish(outgoing, stream=STREAM_EVENTS)
        except Exception as exc:
            # Any failure to publish (no ack, NATS reconnecting, stalled) passes; none is the
            # message's fault, so none may dead-letter it.
            raise RetryableError(f"canonical publish failed: {exc}") from exc
        if len(acks) != len(events):
            raise RetryableError(f"{len(events) - len(acks)} canonical publishes were not acknowledged")
        acked_at = self._clock()
        accepted = duplicates = redacted = 0
        latency = self._metrics.latency
        for event, ack in zip(events, acks, strict=True):
            if ack.duplicate:
                duplicates += 1
                continue
            accepted += 1
            redacted += event.redacted
            if event.sdk_drops:
                for reason, by_priority in event.sdk_drops.items():
                    for priority, count in by_priority.items():
                        self._metrics.sdk_dropped.labels(reason, priority).inc(count)
            # Producer clocks run ahead sometimes; a negative latency is noise, not information.
            latency.observe(max(acked_at - event.timestamp_ms / 1000.0, 0.0))
        if accepted:
            self._metrics.accepted.inc(accepted)
        if duplicates:
            self._metrics.duplicates.inc(duplicates)
        if redacted:
            self._metrics.redacted.inc(redacted)
