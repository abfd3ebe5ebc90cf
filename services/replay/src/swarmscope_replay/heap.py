"""Short garbage-collection pauses with a large long-lived heap.

Replay keeps session states and decoded snapshots in memory: millions of small dicts that live
for minutes. CPython's cyclic collector walks every tracked object on a full collection, so with
such a heap a full collection stalls the service for a second or more, at random (the p95 of
state queries). These objects hold no reference cycles — they are freed by reference counting —
so walking them finds nothing.

Every `interval` seconds the keeper collects what is young and moves everything alive into the
permanent generation (`gc.freeze()`), which the collector no longer walks; freed objects still go
by reference counting. Cyclic garbage among frozen objects would wait, so every `full_every`
intervals everything is unfrozen and collected once: that one pause is planned and bounded.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)


class HeapKeeper:
    def __init__(self, *, interval: float = 10.0, full_every: int = 180) -> None:
        self._interval = interval
        self._full_every = full_every

    def tick(self, count: int) -> None:
        started = time.perf_counter()
        if count % self._full_every == 0:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        if count % self._full_every == 0:
            log.info("full garbage collection", extra={"seconds": round(time.perf_counter() - started, 3)})

    async def run(self) -> None:
        """Runs until cancelled; unfreezes the heap on the way out."""
        count = 1
        try:
            while True:
                await asyncio.sleep(self._interval)
                self.tick(count)
                count += 1
        finally:
            gc.unfreeze()
