"""Consumer handlers: TRACES → events (durable `store`) and TRACES_DLQ → dead_letters (`store-dlq`).

Errors are sorted as the consumer loop expects. The database being unreachable (or any failure of
the database as a whole) raises RetryableError: the batch is nak'd, the loop backs off and pauses,
and nothing is acked until a commit succeeds. A batch the database refuses because of its data is
split and written event by event, so one poison event is dead-lettered (`unprocessable`) and every
other event of the batch is stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from swarmscope_schema.subjects import DlqReason
from swarmscope_service.consumer import Decision, Delivery, RetryableError
from swarmscope_store.backend import DatabaseUnavailable, StoreBackend
from swarmscope_store.metrics import StoreMetrics, observe_many
from swarmscope_store.records import EventRecord, InvalidEvent, decode_dead_letter, decode_event
from swarmscope_store.writer import write_dead_letters, write_events

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class EventsHandler:
    """Stores canonical events; one transaction per batch; acks only what is committed."""

    def __init__(
        self,
        backend: StoreBackend,
        metrics: StoreMetrics,
        *,
        retention_hours: float,
        durable: str,
        clock: Clock = time.time,
    ) -> None:
        self._backend = backend
        self._metrics = metrics
        self._retention_hours = retention_hours
        self._durable = durable
        self._clock = clock

    async def __call__(self, deliveries: Sequence[Delivery]) -> Sequence[Decision]:
        decisions = [Decision.ack()] * len(deliveries)
        records: list[EventRecord] = []
        positions: list[int] = []
        now_ms = self._clock() * 1000
        redelivered = 0
        for i, delivery in enumerate(deliveries):
            redelivered += delivery.num_delivered > 1
            try:
                records.append(decode_event(delivery, self._retention_hours, now_ms))
                positions.append(i)
            except InvalidEvent as exc:
                decisions[i] = Decision.dead(DlqReason.UNPROCESSABLE, f"store: {exc}")
                self._metrics.dead_lettered.inc()
        if redelivered:
            self._metrics.redeliveries.labels(self._durable).inc(redelivered)
        if not records:
            return decisions
        try:
            await self._write(records)
        except DatabaseUnavailable as exc:
            raise RetryableError(str(exc)) from exc
        except Exception as exc:
            log.warning(
                "batch refused; writing its events one by one",
                extra={"size": len(records), "error": repr(exc)},
            )
            await self._isolate(records, positions, decisions)
        return decisions

    async def _write(self, records: Sequence[EventRecord]) -> None:
        try:
            result = await write_events(self._backend, records)
        except DatabaseUnavailable:
            self._metrics.write_failures.labels("events", "unavailable").inc()
            raise
        except Exception:
            self._metrics.write_failures.labels("events", "rejected").inc()
            raise
        m = self._metrics
        m.batch_rows.labels("events").observe(len(records))
        m.commit_seconds.labels("events").observe(result.seconds)
        if result.inserted:
            m.rows_committed.labels("events").inc(len(result.inserted))
            now_ms = self._clock() * 1000.0
            observe_many(m.stored_latency, [max(now_ms - r.ts, 0.0) / 1000.0 for r in result.inserted])
        if result.duplicates:
            m.duplicates_skipped.labels("events").inc(result.duplicates)

    async def _isolate(
        self, records: Sequence[EventRecord], positions: Sequence[int], decisions: list[Decision]
    ) -> None:
        for record, position in zip(records, positions, strict=True):
            try:
                await self._write([record])
            except DatabaseUnavailable as exc:
                # Those written so far are committed; a redelivery of them changes nothing.
                raise RetryableError(str(exc)) from exc
            except Exception as exc:
                log.error(
                    "event refused by the database; dead-lettering it",
                    extra={"seq": record.seq, "error": repr(exc)},
                )
                decisions[position] = Decision.dead(
                    DlqReason.UNPROCESSABLE, f"store could not write the event: {exc}"
                )
                self._metrics.dead_lettered.inc()


class DeadLetterHandler:
    """Keeps every message of TRACES_DLQ in dead_letters. Never dead-letters (that would loop)."""

    def __init__(self, backend: StoreBackend, metrics: StoreMetrics, *, durable: str) -> None:
        self._backend = backend
        self._metrics = metrics
        self._durable = durable

    async def __call__(self, deliveries: Sequence[Delivery]) -> Sequence[Decision]:
        letters = [decode_dead_letter(d) for d in deliveries]
        redelivered = sum(d.num_delivered > 1 for d in deliveries)
        if redelivered:
            self._metrics.redeliveries.labels(self._durable).inc(redelivered)
        started = time.perf_counter()
        try:
            inserted = await write_dead_letters(self._backend, letters)
        except DatabaseUnavailable as exc:
            self._metrics.write_failures.labels("dead_letters", "unavailable").inc()
            raise RetryableError(str(exc)) from exc
        except Exception as exc:
            self._metrics.write_failures.labels("dead_letters", "rejected").inc()
            log.error("dead letters refused; retrying one by one", extra={"error": repr(exc)})
            decisions: list[Decision] = []
            for letter in letters:
                try:
                    inserted = await write_dead_letters(self._backend, [letter])
                    self._metrics.rows_committed.labels("dead_letters").inc(inserted)
                    decisions.append(Decision.ack())
                except DatabaseUnavailable as unavailable:
                    raise RetryableError(str(unavailable)) from unavailable
                except Exception as refused:
                    log.error(
                        "dead letter refused; will retry", extra={"seq": letter.seq, "error": repr(refused)}
                    )
                    decisions.append(Decision.nak(30.0))
            return decisions
        self._metrics.batch_rows.labels("dead_letters").observe(len(letters))
        self._metrics.commit_seconds.labels("dead_letters").observe(time.perf_counter() - started)
        self._metrics.rows_committed.labels("dead_letters").inc(inserted)
        if len(letters) - inserted:
            self._metrics.duplicates_skipped.labels("dead_letters").inc(len(letters) - inserted)
        return [Decision.ack()] * len(deliveries)
