"""The periodic retention job: expired events, their projections, and old dead letters go."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from swarmscope_store.backend import RetentionResult, StoreBackend
from swarmscope_store.metrics import StoreMetrics
from swarmscope_store.records import HOUR_MS
from swarmscope_store.writer import purge_expired

log = logging.getLogger(__name__)


class RetentionJob:
    """Runs a retention pass every `interval` seconds (and once at start)."""

    def __init__(
        self,
        backend: StoreBackend,
        metrics: StoreMetrics,
        *,
        retention_hours: float,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backend = backend
        self._metrics = metrics
        self._retention_hours = retention_hours
        self._interval = interval
        self._clock = clock

    async def run_once(self) -> RetentionResult:
        """One pass; dead letters are kept for the default retention from their arrival."""
        now_ms = int(self._clock() * 1000)
        result = await purge_expired(self._backend, now_ms, now_ms - self._retention_hours * HOUR_MS)
        for kind in ("events", "partitions", "sessions", "projections", "dead_letters"):
            count = getattr(result, kind)
            if count:
                self._metrics.retention_deleted.labels(kind).inc(count)
        if result.events or result.partitions or result.sessions or result.dead_letters:
            log.info("retention pass", extra=vars(result))
        return result

    async def run(self) -> None:
        """Passes until cancelled; a failed pass is logged and retried at the next interval."""
        while True:
            try:
                await self.run_once()
                self._metrics.retention_runs.labels("ok").inc()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._metrics.retention_runs.labels("failed").inc()
                log.warning("retention pass failed", extra={"error": repr(exc)})
            await asyncio.sleep(self._interval)
