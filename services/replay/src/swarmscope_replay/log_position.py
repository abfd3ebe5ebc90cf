"""Where the `replay` durable stands in TRACES, so the consumer can apply events in log order.

JetStream redelivers a nak'd or timed-out message after later ones (after a crash: only once its
ack wait has passed), so delivery order is not log order. A session's state is a fold in log order,
so the consumer applies messages strictly in stream sequence from the durable's ack floor on
(everything at or below it was applied before). When a delivery skips ahead, the consumer reads
the missing messages straight from the stream (`read_from`) instead of waiting for their
redelivery; a hole the stream no longer holds (deleted, aged out) is passed over.
"""

from __future__ import annotations

from typing import Protocol

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from swarmscope_schema.subjects import DURABLE_REPLAY, STREAM_EVENTS, STREAM_SUBJECTS
from swarmscope_service.consumer import Delivery


class LogPosition(Protocol):
    async def acked_floor(self) -> int:
        """The durable's ack floor: every message at or below it has been processed."""

    async def read_from(self, seq: int) -> Delivery | None:
        """The first message at or after `seq` that the stream holds (None: none yet)."""


class JetStreamPosition:
    """LogPosition of the `replay` durable on TRACES."""

    def __init__(
        self, js: JetStreamContext, stream: str = STREAM_EVENTS, durable: str = DURABLE_REPLAY
    ) -> None:
        self._js = js
        self._stream = stream
        self._durable = durable

    async def acked_floor(self) -> int:
        info = await self._js.consumer_info(self._stream, self._durable)
        return int(info.ack_floor.stream_seq) if info.ack_floor is not None else 0

    async def read_from(self, seq: int) -> Delivery | None:
        try:
            msg = await self._js.get_msg(
                self._stream, seq=seq, subject=STREAM_SUBJECTS[self._stream], next=True
            )
        except NotFoundError:
            return None
        if msg.seq is None:
            return None
        return Delivery(
            subject=msg.subject or "",
            data=msg.data or b"",
            headers={},
            stream_seq=int(msg.seq),
            num_delivered=0,
        )
