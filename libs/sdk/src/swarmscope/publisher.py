"""The background publisher: its own asyncio loop in a daemon thread, so sync agents work too.

The caller's path only appends to the buffer. After a quiet spell the worker sleeps until the next
event wakes it; while events keep coming it polls every `flush_interval` instead, so an active
agent never pays for a wake-up. It lingers `flush_interval` (10 ms, ≤ 20 ms) so that a burst goes
out as one batch, or less when a full batch is waiting, then drains the buffer in emission order,
encodes off the caller's path and publishes the batch pipelined, waiting (bounded) for every
acknowledgement. Under load it never idles: each batch is the backlog. A batch is retried with the
same event ids until every event is acknowledged or refused for good, so a NATS restart loses
nothing the buffer holds; meanwhile the buffer fills and sheds by priority. Once a second it reads
CPU and memory pressure, and every `drop_report_interval` it reports new drops as a
`custom.sdk_drops` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from swarmscope.buffer import FILTER_REASONS, LOSS_REASONS, DropCounter, EventBuffer, subtract
from swarmscope.encoding import Encoded, EventEncoder
from swarmscope.selective import ResourceProbe, Selector
from swarmscope.transport import OK, RETRY, Transport
from swarmscope_schema.taxonomy import SDK_DROPS_TYPE

log = logging.getLogger("swarmscope")

DROPS_EVENT_TYPE = SDK_DROPS_TYPE
T = TypeVar("T")
_TICK_SECONDS = 1.0
_POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class PublisherOptions:
    """How the publisher batches, retries and reports."""

    flush_interval: float = 0.01
    max_batch: int = 500
    publish_timeout: float = 5.0
    retry_backoff_max: float = 2.0
    drop_report_interval: float = 5.0
    cpu_threshold: float | None = None
    memory_threshold_bytes: int | None = None


# Builds an SDK-generated event (drop reports, alerts, size errors) from (type, data, priority,
# envelope overrides); returns (priority rank, sequence number, event).
EventFactory = Callable[[str, dict[str, Any], str, dict[str, Any] | None], tuple[int, int, dict[str, Any]]]


class _Abandoned(Exception):
    """`stop` gave up waiting: what is left is counted as unsent."""


@dataclass
class PublisherStats:
    published: int = 0
    batches: int = 0
    retries: int = 0
    connected: bool = False
    last_error: str | None = None


class Publisher:
    """Owns the worker thread and its loop; see the module docstring."""

    def __init__(
        self,
        *,
        buffer: EventBuffer,
        encoder: EventEncoder,
        drops: DropCounter,
        transport: Transport,
        selector: Selector,
        probe: ResourceProbe,
        make_event: EventFactory,
        on_pressure: Callable[[bool], None],
        options: PublisherOptions,
    ) -> None:
        self._buffer = buffer
        self._encoder = encoder
        self._drops = drops
        self._transport = transport
        self._selector = selector
        self._probe = probe
        self._make_event = make_event
        self._on_pressure = on_pressure
        self.options = options
        self.stats = PublisherStats()
        # Set by the worker right before it sleeps, cleared by whoever wakes it. Read on the caller's
        # path without a lock: a stale read costs at most one extra wake-up.
        self.idle = False
        self._loop = asyncio.new_event_loop()
        self._wake: asyncio.Event | None = None
        self._urgent = False
        self._stopping = False
        self._abandon = False
        self._abandoned: asyncio.Event | None = None
        self._flush_requests: list[tuple[int, threading.Event]] = []
        self._flush_lock = threading.Lock()
        self._reported: dict[str, dict[str, int]] = {}
        self._last_report = time.monotonic()
        self._last_tick = 0.0
        self._last_work = 0.0
        self._pending: list[Encoded] = []
        self._thread = threading.Thread(target=self._run, name="swarmscope-publisher", daemon=True)
        self._started = threading.Event()

    # ------------------------------------------------------------------ called from other threads --

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def wake(self, *, urgent: bool = False) -> None:
        """Wakes the worker (from any thread). `urgent` skips the linger (flush, close)."""
        self.idle = False
        if urgent:
            self._urgent = True
        wake = self._wake
        if wake is None:
            return
        # A closed loop means the publisher has stopped: nothing to wake.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(wake.set)

    def flush(self, mark: int, timeout: float | None) -> bool:
        """Waits until every event with a sequence number below `mark` is published or dropped."""
        if not self._thread.is_alive():
            return len(self._buffer) == 0 and not self._pending
        done = threading.Event()
        with self._flush_lock:
            self._flush_requests.append((mark, done))
        self.wake(urgent=True)
        return done.wait(timeout)

    def stop(self, timeout: float) -> bool:
        """Publishes what is buffered (bounded by `timeout`), then stops the worker and closes the
        transport. What could not be sent in time is counted as `unsent_at_close` and logged."""
        if not self._thread.is_alive():
            return True
        self._stopping = True
        self.wake(urgent=True)
        self._thread.join(timeout)
        clean = not self._thread.is_alive()
        if not clean:
            self._abandon = True
            abandoned = self._abandoned
            if abandoned is not None:
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(abandoned.set)
            self.wake(urgent=True)
            self._thread.join(10.0)
        return clean

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------------------- the worker thread --

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except Exception:
            log.exception("swarmscope: the publisher stopped on an unexpected error")
        finally:
            self._count_abandoned()
            self._release_flushes(everything=True)
            try:
                self._loop.run_until_complete(self._transport.close())
            except Exception as exc:
                log.debug("swarmscope: closing the transport: %r", exc)
            self._loop.close()

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        self._abandoned = asyncio.Event()
        self._started.set()
        try:
            await self._work()
        except _Abandoned:
            return

    async def _until_abandoned(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs `coro`, cancelling it if `stop` gives up on the remaining work (close timeout)."""
        assert self._abandoned is not None
        task = asyncio.ensure_future(coro)
        waiter = asyncio.ensure_future(self._abandoned.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            waiter.cancel()
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise _Abandoned

    async def _work(self) -> None:
        await self._connect()
        while not self._abandon:
            self._tick()
            if self._pending:
                await self._send_pending()
                continue
            items = self._buffer.drain(self.options.max_batch)
            if items:
                self._last_work = time.monotonic()
                self._pending = self._encode(items)
                report = self._drop_report(force=False)
                if report is not None:
                    self._pending.insert(0, report)
                continue
            self._release_flushes()
            if self._stopping or self._abandon:
                report = self._drop_report(force=True)
                if report is not None and not self._abandon:
                    self._pending = [report]
                    await self._send_pending()
                return
            await self._sleep()

    async def _sleep(self) -> None:
        """Waits for work: the caller's wake-up, a flush, or the next tick.

        While events keep coming (the last one less than `_POLL_SECONDS` ago) the worker polls every
        `flush_interval` instead of sleeping until woken: an active agent's emits then never pay
        for a cross-thread wake-up (a syscall); only the first event after a quiet spell does.
        """
        assert self._wake is not None
        if not self._urgent and time.monotonic() - self._last_work < _POLL_SECONDS:
            await self._linger(self.options.flush_interval or 0.001)
            return
        self.idle = True
        if len(self._buffer):
            self.idle = False
            return
        try:
            await asyncio.wait_for(self._wake.wait(), _TICK_SECONDS)
        except TimeoutError:
            self.idle = False
            return
        self.idle = False
        if self.options.flush_interval > 0:
            # Linger so that a burst leaves as one batch, and the burst's emitters need no wake-up.
            await self._linger(self.options.flush_interval)
        self._urgent = False

    async def _linger(self, seconds: float) -> None:
        """Waits up to `seconds`, less if a full batch is buffered or a flush or close is asked."""
        assert self._wake is not None
        # Clear first, then look: a wake-up after the look ends the wait, one before it is seen.
        self._wake.clear()
        if not self._urgent and len(self._buffer) < self.options.max_batch:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)
        self._urgent = False

    async def _connect(self) -> None:
        delay = 0.05
        while not self._abandon:
            try:
                await self._until_abandoned(self._transport.connect())
                self.stats.connected = True
                return
            except _Abandoned:
                raise
            except Exception as exc:
                self.stats.last_error = f"connect: {exc!r}"
                if delay >= 1.0:
                    log.warning(
                        "swarmscope: cannot reach %s (%r); buffering", self._transport.description, exc
                    )
            if self._stopping and len(self._buffer) == 0:
                return
            await self._interruptible_sleep(delay)
            delay = min(delay * 2, self.options.retry_backoff_max)

    async def _interruptible_sleep(self, seconds: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    def _encode(self, items: list[tuple[int, tuple[int, dict[str, Any]]]]) -> list[Encoded]:
        out: list[Encoded] = []
        limit = self._encoder.max_event_bytes
        for rank, (_seq, event) in items:
            try:
                encoded = self._encoder.encode(event, rank)
            except Exception as exc:
                # Should not happen (encoding falls back to text); count it rather than lose silently.
                log.error("swarmscope: cannot encode event %s: %r", event.get("id"), exc)
                self._drops.add("rejected", rank)
                continue
            if len(encoded.payload) > limit:
                self._drops.add("too_large", rank)
                out.append(self._too_large_error(event, len(encoded.payload)))
                continue
            out.append(encoded)
        return out

    def _too_large_error(self, event: dict[str, Any], size: int) -> Encoded:
        message = (
            f"event {event.get('id')} ({event.get('type')}) is {size} bytes encoded, over the "
            f"{self._encoder.max_event_bytes}-byte limit; the SDK dropped it (pass max_value_bytes "
            "to the Tracer to truncate long values instead)"
        )
        log.error("swarmscope: %s", message)
        # The error hangs under the dropped event's span (or its parent), so it shows where it belongs.
        parent = event.get("span_id") or (event.get("metadata") or {}).get("parent_id")
        extra: dict[str, Any] = {"agent_id": event.get("agent_id"), "parent_id": parent}
        rank, _seq, error = self._make_event(
            "error",
            {
                "message": message,
                "error_type": "EventTooLarge",
                "scope": "sdk",
                "recoverable": True,
                "dropped_event": {"id": event.get("id"), "type": event.get("type"), "bytes": size},
            },
            "high",
            extra,
        )
        return self._encoder.encode(error, rank)

    async def _send_pending(self) -> None:
        delay = 0.05
        while self._pending:
            if self._abandon:
                return
            batch = self._pending
            try:
                outcomes = await self._until_abandoned(
                    self._transport.send(batch, self.options.publish_timeout)
                )
            except _Abandoned:
                raise
            except Exception as exc:
                self.stats.last_error = repr(exc)
                outcomes = [RETRY] * len(batch)
            retry: list[Encoded] = []
            for item, outcome in zip(batch, outcomes, strict=True):
                if outcome == OK:
                    self.stats.published += 1
                elif outcome == RETRY:
                    retry.append(item)
                else:
                    self._drops.add(outcome, item.rank)
            self.stats.batches += 1
            self._pending = retry
            if not retry:
                self.stats.connected = True
                return
            self.stats.retries += 1
            self.stats.connected = False
            self.stats.last_error = getattr(self._transport, "last_error", None) or self.stats.last_error
            if delay >= 0.8:
                log.warning(
                    "swarmscope: %d events not acknowledged by %s; retrying with the same ids",
                    len(retry),
                    self._transport.description,
                )
            self._tick()
            await self._interruptible_sleep(delay)
            delay = min(delay * 2, self.options.retry_backoff_max)

    def _count_abandoned(self) -> None:
        left = [(item.rank, 1) for item in self._pending]
        left += [(rank, 1) for rank, _ in self._buffer.drain(len(self._buffer) + 1_000_000)]
        self._pending = []
        if not left:
            return
        for rank, count in left:
            self._drops.add("unsent_at_close", rank, count)
        log.error(
            "swarmscope: %d events could not be published before the tracer closed (%s unreachable); "
            "drops so far: %s",
            len(left),
            self._transport.description,
            self._drops.snapshot(),
        )

    def _release_flushes(self, *, everything: bool = False) -> None:
        with self._flush_lock:
            if not self._flush_requests:
                return
            head = self._buffer.head_seq()
            keep = []
            for mark, done in self._flush_requests:
                if everything or (not self._pending and (head is None or head >= mark)):
                    done.set()
                else:
                    keep.append((mark, done))
            self._flush_requests = keep

    def _tick(self) -> None:
        """Once a second at most: the pressure reading."""
        now = time.monotonic()
        if now - self._last_tick < _TICK_SECONDS:
            return
        self._last_tick = now
        options = self.options
        if options.cpu_threshold is None and options.memory_threshold_bytes is None:
            return
        reasons: list[tuple[str, float, float]] = []
        if options.cpu_threshold is not None:
            load = self._probe.cpu_load()
            if load >= options.cpu_threshold:
                reasons.append(("sdk.cpu_load", load, options.cpu_threshold))
        if options.memory_threshold_bytes is not None:
            rss = self._probe.rss_bytes()
            if rss >= options.memory_threshold_bytes:
                reasons.append(("sdk.rss_bytes", float(rss), float(options.memory_threshold_bytes)))
        pressure = bool(reasons)
        if pressure == self._selector.pressure:
            return
        self._on_pressure(pressure)
        if pressure:
            metric, value, threshold = reasons[0]
            log.warning("swarmscope: %s %.2f ≥ %.2f: tracing essential events only", metric, value, threshold)
            data: dict[str, Any] = {
                "metric": metric,
                "value": value,
                "threshold": threshold,
                "mode": "essential_only",
            }
        else:
            data = {
                "metric": "sdk.pressure",
                "value": 0.0,
                "threshold": 1.0,
                "mode": "normal",
                "resolved": True,
            }
        rank, seq, event = self._make_event("performance_alert", data, "high", None)
        self._buffer.put(rank, (seq, event))

    def _drop_report(self, *, force: bool) -> Encoded | None:
        now = time.monotonic()
        if not force and now - self._last_report < self.options.drop_report_interval:
            return None
        snapshot = self._drops.snapshot()
        new = subtract(snapshot, self._reported)
        if not new:
            return None
        self._last_report = now
        self._reported = snapshot

        def total(counts: dict[str, dict[str, int]], reasons: tuple[str, ...]) -> int:
            return sum(n for reason, by in counts.items() if reason in reasons for n in by.values())

        data = {
            "dropped": snapshot,
            "new": new,
            "lost": total(snapshot, LOSS_REASONS),
            "filtered": total(snapshot, FILTER_REASONS),
            "new_lost": total(new, LOSS_REASONS),
            "buffer_capacity": self._buffer.capacity,
            "published": self.stats.published,
        }
        if data["new_lost"]:
            log.warning("swarmscope: dropped %d events since the last report: %s", data["new_lost"], new)
        rank, _seq, event = self._make_event(DROPS_EVENT_TYPE, data, "critical", None)
        return self._encoder.encode(event, rank)
