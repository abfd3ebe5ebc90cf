"""JetStream consumer lag as Prometheus gauges, polled in the background.

How far a durable is behind (`num_pending`: in the stream, not yet delivered), how much it holds
unacknowledged (`num_ack_pending`) and how often it had to be redelivered are what tell an operator
whether swarmscope keeps up; KEDA scales ingest and store on the same numbers, read from NATS itself.
The values come from JetStream, not from the consumer loop, so they are right even while the loop
is stuck or restarting.

Every replica of a service exports the same durable's figures (a durable is shared by its
replicas): aggregate with `max by (durable)`, never `sum`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger(__name__)

DEFAULT_LAG_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class LagMetrics:
    """The gauges of consumer and stream state, registered on a service's registry."""

    pending: Gauge
    ack_pending: Gauge
    redelivered: Gauge
    waiting: Gauge
    stream_messages: Gauge
    stream_bytes: Gauge
    stream_last_seq: Gauge
    poll_errors: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> LagMetrics:
        """Registers the lag gauges on `registry` (once per registry)."""
        return cls(
            pending=Gauge(
                "swarmscope_consumer_pending_messages",
                "Messages in the stream not yet delivered to the durable (JetStream num_pending)",
                ["stream", "durable"],
                registry=registry,
            ),
            ack_pending=Gauge(
                "swarmscope_consumer_ack_pending_messages",
                "Messages delivered to the durable and not yet acknowledged (num_ack_pending)",
                ["stream", "durable"],
                registry=registry,
            ),
            redelivered=Gauge(
                "swarmscope_consumer_redelivered_messages",
                "Messages currently outstanding that were delivered more than once (num_redelivered)",
                ["stream", "durable"],
                registry=registry,
            ),
            waiting=Gauge(
                "swarmscope_consumer_waiting_pulls",
                "Pull requests waiting on the durable (num_waiting): fetchers with nothing to do",
                ["stream", "durable"],
                registry=registry,
            ),
            stream_messages=Gauge(
                "swarmscope_stream_messages",
                "Messages stored in the JetStream stream",
                ["stream"],
                registry=registry,
            ),
            stream_bytes=Gauge(
                "swarmscope_stream_bytes",
                "Bytes stored in the JetStream stream",
                ["stream"],
                registry=registry,
            ),
            stream_last_seq=Gauge(
                "swarmscope_stream_last_sequence",
                "Last sequence of the JetStream stream (its rate is the stream's write rate)",
                ["stream"],
                registry=registry,
            ),
            poll_errors=Counter(
                "swarmscope_consumer_lag_poll_errors_total",
                "Failed reads of consumer info (durable set) or stream info (durable empty) from JetStream",
                ["stream", "durable"],
                registry=registry,
            ),
        )


@dataclass
class LagPoller:
    """Reads consumer info of `durables` ((stream, durable) pairs) every `interval` seconds.

    `run` is a background task for `ServiceParts.background`: it never raises on a NATS failure
    (it counts it and tries again next round) and stops when cancelled.
    """

    js: JetStreamContext
    durables: Sequence[tuple[str, str]]
    metrics: LagMetrics
    interval: float = DEFAULT_LAG_POLL_SECONDS
    request_timeout: float = 2.0
    _polled_once: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def for_registry(
        cls,
        js: JetStreamContext,
        durables: Sequence[tuple[str, str]],
        registry: CollectorRegistry,
        *,
        interval: float = DEFAULT_LAG_POLL_SECONDS,
    ) -> LagPoller:
        """A poller whose gauges are registered on `registry`."""
        return cls(js=js, durables=durables, metrics=LagMetrics.create(registry), interval=interval)

    async def run(self) -> None:
        """Polls until cancelled."""
        while True:
            await self.poll_once()
            await asyncio.sleep(self.interval)

    async def wait_first_poll(self) -> None:
        """Returns once one full round has been read (successfully or not)."""
        await self._polled_once.wait()

    async def poll_once(self) -> None:
        """Reads every durable's and stream's state once and updates the gauges."""
        try:
            for stream in dict.fromkeys(stream for stream, _ in self.durables):
                await self._poll_stream(stream)
            for stream, durable in self.durables:
                await self._poll_consumer(stream, durable)
        finally:
            self._polled_once.set()

    async def _poll_stream(self, stream: str) -> None:
        try:
            info = await asyncio.wait_for(self.js.stream_info(stream), self.request_timeout)
        except NotFoundError:
            self._forget_stream(stream)
            return
        except Exception as exc:
            self.metrics.poll_errors.labels(stream, "").inc()
            log.debug("stream info failed", extra={"stream": stream, "error": repr(exc)})
            return
        self.metrics.stream_messages.labels(stream).set(info.state.messages)
        self.metrics.stream_bytes.labels(stream).set(info.state.bytes)
        self.metrics.stream_last_seq.labels(stream).set(info.state.last_seq)

    async def _poll_consumer(self, stream: str, durable: str) -> None:
        try:
            info = await self.js.consumer_info(stream, durable, timeout=self.request_timeout)
        except NotFoundError:
            # A durable that no longer exists has no lag; a stale figure would keep an alert firing.
            self._forget_consumer(stream, durable)
            self.metrics.poll_errors.labels(stream, durable).inc()
            return
        except Exception as exc:
            # NATS is reconnecting: keep the last figures (they are the best estimate) and count it.
            self.metrics.poll_errors.labels(stream, durable).inc()
            log.debug("consumer info failed", extra={"durable": durable, "error": repr(exc)})
            return
        self.metrics.pending.labels(stream, durable).set(info.num_pending or 0)
        self.metrics.ack_pending.labels(stream, durable).set(info.num_ack_pending or 0)
        self.metrics.redelivered.labels(stream, durable).set(info.num_redelivered or 0)
        self.metrics.waiting.labels(stream, durable).set(info.num_waiting or 0)

    def _forget_consumer(self, stream: str, durable: str) -> None:
        for gauge in (
            self.metrics.pending,
            self.metrics.ack_pending,
            self.metrics.redelivered,
            self.metrics.waiting,
        ):
            with contextlib.suppress(KeyError):
                gauge.remove(stream, durable)

    def _forget_stream(self, stream: str) -> None:
        for gauge in (self.metrics.stream_messages, self.metrics.stream_bytes, self.metrics.stream_last_seq):
            with contextlib.suppress(KeyError):
                gauge.remove(stream)
