"""`Tracer`: one session's tracer, usable from synchronous and asyncio code alike.

    tracer = Tracer(session_id="swarm-demo-01", agent_id="coder-1")   # NATS from $SWARMSCOPE_NATS_URL
    tracer.emit("tool_call", {"tool": "Bash", "args": {"command": "pytest"}, "exit_code": 0})
    with tracer.span("llm_call", {"model": "claude-sonnet-4"}) as call: ...
    tracer.close()                                                     # or atexit does it

Events go to NATS (`traces.raw.<session>.<agent>.<type>`, `Nats-Msg-Id` = event id) through a
background publisher thread; with `gateway_url` and no NATS URL they are POSTed to the gateway
instead; with `transport="memory"` they are kept in `tracer.events` (tests, and the demo's
`generate_session`).
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import random
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Literal

from swarmscope.buffer import FILTER_REASONS, LOSS_REASONS, PRIORITY_RANK, DropCounter, EventBuffer
from swarmscope.core import Clock, TracerCore, wire_copy
from swarmscope.encoding import EventEncoder
from swarmscope.publisher import Publisher, PublisherOptions
from swarmscope.selective import ResourceProbe, Selector, TraceLevel
from swarmscope.transport import HttpTransport, NatsTransport, Transport
from swarmscope.vocabulary import Emitter
from swarmscope_schema.redaction import DEFAULT_REDACT_KEYS

DEFAULT_NATS_URL = "nats://127.0.0.1:14222"
DEFAULT_GATEWAY_URL = "http://127.0.0.1:8000"


def default_nats_url() -> str:
    """`$SWARMSCOPE_NATS_URL`, else the port `make run` starts NATS on."""
    return os.environ.get("SWARMSCOPE_NATS_URL") or DEFAULT_NATS_URL


def default_gateway_url() -> str:
    """`$SWARMSCOPE_GATEWAY_URL`, else the gateway's default address."""
    return os.environ.get("SWARMSCOPE_GATEWAY_URL") or DEFAULT_GATEWAY_URL


class Tracer(Emitter):
    """Traces one session. Thread-safe; never blocks the caller beyond appending to a buffer.

    Parameters (all but `session_id` optional):
    - `nats_url`, `agent_id`: where to publish and the default agent of events.
    - `gateway_url`, `api_key`, `transport`: `"nats"` (default), `"http"` (POST to the gateway),
      `"memory"` (keep events in `self.events`), or a `Transport` object.
    - selective tracing: `level` (minimal | standard | verbose), `sample_rate` (0..1, per trace),
      `rate_limit` / `rate_burst` (events per second per agent), `cpu_threshold` (load per CPU) and
      `memory_threshold_bytes` (resident memory) above which only essential events are traced.
    - sanitizing: `redact_keys` (patterns, default as ingest), `redact_values` (secrets inside strings:
      tokens, keys, passwords in URLs and commands; default True), `max_value_bytes` (truncate longer
      strings, marked; default None = keep values whole up to the 1 MiB event limit).
    - publishing: `max_buffer` (events held while NATS is away; then shed by priority), `max_batch`,
      `batch_messages` (over NATS, a session's events go as batch messages, CONTRACT §3 v1.1;
      False sends one message per event, for a pipeline older than v1.1), `flush_interval` (seconds, ≤ 0.02 by default 0.01), `publish_timeout`, `drop_report_interval`,
      `close_timeout` (bound on the final flush, also at interpreter exit).
    - envelope defaults: `tags`, `retention` (hours), `priority`.
    - determinism (tests, demo): `clock` (epoch ms), `rng`, `measure_resources` (CPU and memory in
      span performance).
    """

    def __init__(
        self,
        session_id: str,
        nats_url: str | None = None,
        agent_id: str | None = None,
        *,
        gateway_url: str | None = None,
        api_key: str | None = None,
        transport: Transport | Literal["nats", "http", "memory"] | None = None,
        level: TraceLevel | str = TraceLevel.VERBOSE,
        sample_rate: float = 1.0,
        rate_limit: float | None = None,
        rate_burst: float | None = None,
        cpu_threshold: float | None = None,
        memory_threshold_bytes: int | None = None,
        redact_keys: Iterable[str] = DEFAULT_REDACT_KEYS,
        redact_values: bool = True,
        max_value_bytes: int | None = None,
        max_buffer: int = 10_000,
        max_batch: int = 500,
        batch_messages: bool = True,
        flush_interval: float = 0.01,
        publish_timeout: float = 5.0,
        drop_report_interval: float = 5.0,
        close_timeout: float = 5.0,
        tags: Iterable[str] = (),
        retention: float | None = None,
        priority: str = "normal",
        clock: Clock | None = None,
        rng: random.Random | None = None,
        measure_resources: bool = True,
        name: str = "swarmscope-sdk",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if flush_interval < 0 or publish_timeout <= 0 or close_timeout < 0:
            raise ValueError("flush_interval and close_timeout must be ≥ 0 and publish_timeout > 0")
        if retention is not None and retention <= 0:
            raise ValueError(f"retention is in hours and must be positive, got {retention}")
        drops = DropCounter()
        buffer = EventBuffer(max_buffer, drops)
        selector = Selector(
            level=level, sample_rate=sample_rate, rate_limit=rate_limit, rate_burst=rate_burst, rng=rng
        )
        encoder = EventEncoder(
            redact_keys=redact_keys, redact_values=redact_values, max_value_bytes=max_value_bytes
        )
        probe = ResourceProbe()
        try:
            core = TracerCore(
                session_id=session_id,
                default_agent=agent_id,
                buffer=buffer,
                drops=drops,
                selector=selector,
                encoder=encoder,
                probe=probe,
                clock=clock,
                rng=rng,
                tags=tuple(tags),
                retention=retention,
                default_priority=priority,
                measure=measure_resources,
            )
        except BaseException:
            probe.close()
            raise
        super().__init__(core, None)
        self._close_timeout = close_timeout
        self._close_lock = threading.Lock()
        self._closed = False
        self._publisher: Publisher | None = None
        self.events: list[dict[str, Any]] = []
        if transport == "memory":
            core.sink = self._keep
            self.transport_description = "memory"
            return
        chosen: Transport
        if transport is None:
            transport = "http" if gateway_url and not nats_url else "nats"
        if transport == "nats":
            chosen = NatsTransport(nats_url or default_nats_url(), name=name, batches=batch_messages)
        elif transport == "http":
            chosen = HttpTransport(
                gateway_url or default_gateway_url(), api_key=api_key or os.environ.get("SWARMSCOPE_API_KEY")
            )
        elif isinstance(transport, str):
            raise ValueError(f"transport must be 'nats', 'http', 'memory' or a Transport, got {transport!r}")
        else:
            chosen = transport
        self.transport_description = chosen.description
        self._publisher = Publisher(
            buffer=buffer,
            encoder=encoder,
            drops=drops,
            transport=chosen,
            selector=selector,
            probe=probe,
            make_event=self._sdk_event,
            on_pressure=core.set_pressure,
            options=PublisherOptions(
                flush_interval=flush_interval,
                max_batch=max_batch,
                publish_timeout=publish_timeout,
                drop_report_interval=drop_report_interval,
                cpu_threshold=cpu_threshold,
                memory_threshold_bytes=memory_threshold_bytes,
            ),
        )
        core.publisher = self._publisher
        core.batch_size = max_batch - 1
        self._publisher.start()
        atexit.register(self._close_at_exit)

    # -------------------------------------------------------------------------------- lifecycle --

    def flush(self, timeout: float | None = None) -> bool:
        """Blocks until every event emitted so far is published (or dropped and counted).

        Returns False if `timeout` (seconds) passed first; the events stay buffered.
        """
        if self._publisher is None:
            return True
        return self._publisher.flush(next(self._core.counter), timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Publishes what is buffered (waiting at most `timeout`, default `close_timeout`), reports
        the drops, and stops. Events emitted afterwards are dropped and counted. Idempotent.
        Returns False when some events could not be published in time (they are counted and logged).
        """
        with self._close_lock:
            if self._closed:
                return True
            self._closed = True
        self._core.closed = True
        clean = True
        if self._publisher is not None:
            atexit.unregister(self._close_at_exit)
            clean = self._publisher.stop(self._close_timeout if timeout is None else timeout)
        self._core.probe.close()
        return clean and self._core.drops.total(("unsent_at_close",)) == 0

    async def aflush(self, timeout: float | None = None) -> bool:
        """`flush` for asyncio code: waits in a worker thread, never blocking the event loop."""
        return await asyncio.to_thread(self.flush, timeout)

    async def aclose(self, timeout: float | None = None) -> bool:
        """`close` for asyncio code."""
        return await asyncio.to_thread(self.close, timeout)

    def _close_at_exit(self) -> None:
        self.close()

    def __enter__(self) -> Tracer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Tracer:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------------------------ state --

    def stats(self) -> dict[str, Any]:
        """Counters: published, buffered, batches, retries, drops by reason and priority, …"""
        core = self._core
        dropped = core.drops.snapshot()
        publisher = self._publisher
        return {
            "session_id": core.session_id,
            "transport": self.transport_description,
            "connected": publisher.stats.connected if publisher else True,
            "published": publisher.stats.published if publisher else len(self.events),
            "batches": publisher.stats.batches if publisher else 0,
            "retries": publisher.stats.retries if publisher else 0,
            "buffered": len(core.buffer),
            "buffer_capacity": core.buffer.capacity,
            "dropped": dropped,
            "lost": sum(n for r, by in dropped.items() if r in LOSS_REASONS for n in by.values()),
            "filtered": sum(n for r, by in dropped.items() if r in FILTER_REASONS for n in by.values()),
            "redacted_values": core.encoder.redacted,
            "truncated_events": core.encoder.truncated_events,
            "pressure": core.selector.pressure,
            "last_error": publisher.stats.last_error if publisher else None,
        }

    # ------------------------------------------------------------------------------- internals --

    def _keep(self, rank: int, seq: int, event: dict[str, Any]) -> None:
        self.events.append(wire_copy(event, self._core.encoder))

    def _sdk_event(
        self, event_type: str, data: dict[str, Any], priority: str, extra: dict[str, Any] | None
    ) -> tuple[int, int, dict[str, Any]]:
        """An event the SDK itself reports (drops, pressure alerts, size errors); bypasses selection."""
        core = self._core
        extra = extra or {}
        timestamp = core.clock() if core.clock is not None else time.time() * 1000.0
        seq = next(core.counter)
        event: dict[str, Any] = {
            "id": f"{int(timestamp):011x}{core.tag}{seq & 0xFFFFFF:06x}",
            "timestamp": timestamp,
            "session_id": core.session_id,
            "type": event_type,
            "phase": "complete",
            "data": data,
            "metadata": {"priority": priority, "tags": ["sdk"]},
        }
        agent = extra.get("agent_id", core.default_agent)
        if agent:
            counter = core.agent_seqs.get(agent)
            if counter is None:
                counter = core.agent_seqs.setdefault(agent, itertools.count(1))
            event["agent_id"] = agent
            event["agent_seq"] = next(counter)
        if extra.get("parent_id"):
            event["metadata"]["parent_id"] = extra["parent_id"]
        return PRIORITY_RANK[priority], seq, event
