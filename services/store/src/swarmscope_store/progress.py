"""(v1.1) `swarmscope.store.progress`: how far the store has committed TRACES.

The store acks an event of TRACES only once the transaction holding it has committed (or it was
dead-lettered), so its durable's ack floor is exactly its committed sequence — for every store
replica at once, since they share the durable. That durable is the store's private business: this
module is the one place that reads it, and replay and the gateway ask this op instead (issue 19).
"""

from __future__ import annotations

import logging
from typing import Any

from nats.js import JetStreamContext

from swarmscope_schema.requests import ErrorCode, Request, StoreProgress
from swarmscope_schema.subjects import DURABLE_STORE, STREAM_EVENTS
from swarmscope_service.request_reply import ServiceError

log = logging.getLogger(__name__)


class CommittedProgress:
    """Answers `progress` from the store durable's state on TRACES."""

    def __init__(self, js: JetStreamContext, *, timeout: float = 2.0) -> None:
        self._js = js
        self._timeout = timeout

    async def committed_seq(self) -> int:
        """The seq up to which every event of TRACES is committed (or dead-lettered) by the store."""
        try:
            info = await self._js.consumer_info(STREAM_EVENTS, DURABLE_STORE, timeout=self._timeout)
        except Exception as exc:
            log.warning("store durable not readable", extra={"error": repr(exc)})
            raise ServiceError(
                ErrorCode.UNAVAILABLE, "the store's progress cannot be read from NATS right now"
            ) from exc
        floor = int(info.ack_floor.stream_seq if info.ack_floor else 0)
        # With nothing pending and nothing awaiting an ack, everything delivered was acked: the floor
        # may lag that (it stops at a gap left by a message deleted from the stream).
        if not info.num_pending and not info.num_ack_pending and info.delivered is not None:
            floor = max(floor, int(info.delivered.stream_seq))
        return floor

    async def progress(self, _: Request) -> dict[str, Any]:
        """The `progress` op's answer (StoreProgress)."""
        return StoreProgress(committed_seq=await self.committed_seq()).model_dump()
