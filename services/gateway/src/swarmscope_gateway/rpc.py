"""The gateway's only way to data: RPC clients of the store and replay ops (NATS request-reply).

(Named `rpc`, not `backends`: in the store, "backend" is its database; here it never was one.)

The gateway has no database (ARCHITECTURE): every REST answer is a store or replay result, passed
through as the op returned it. Long ops (breakpoint search, compare, replay, the graph) get a longer timeout.
Answers of any size arrive whole (chunked replies, v1.1); a full state can be passed on as it comes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from swarmscope_schema.requests import ReplayOp, StoreOp
from swarmscope_schema.subjects import replay_request_subject, store_request_subject
from swarmscope_service.request_reply import RequestClient

SLOW_REPLAY_OPS = frozenset({ReplayOp.BREAKPOINT, ReplayOp.COMPARE, ReplayOp.REPLAY})
# The graph is built whole before its first chunk goes out, in time that grows with the session (up
# to 50,000 nodes): on a 100k-event session it can take longer than an ordinary request may.
SLOW_STORE_OPS = frozenset({StoreOp.GRAPH})


class RpcClients:
    """Calls store and replay; raises ServiceError with their error (or unavailable / timeout)."""

    def __init__(self, nc: NatsClient, *, timeout: float, slow_timeout: float) -> None:
        self._client = RequestClient(nc, timeout=timeout)
        self._timeout = timeout
        self._slow_timeout = slow_timeout

    async def store(self, op: StoreOp, body: BaseModel, *, timeout: float | None = None) -> Any:
        default = self._slow_timeout if op in SLOW_STORE_OPS else self._timeout
        return await self._client.call(store_request_subject(op), body, timeout=timeout or default)

    async def replay(self, op: ReplayOp, body: BaseModel, *, timeout: float | None = None) -> Any:
        default = self._slow_timeout if op in SLOW_REPLAY_OPS else self._timeout
        return await self._client.call(replay_request_subject(op), body, timeout=timeout or default)

    async def replay_stream(
        self, op: ReplayOp, body: BaseModel, *, timeout: float | None = None
    ) -> AsyncIterator[bytes]:
        """A replay op's result JSON as it arrives (any size); the op's error, if it is one, is
        raised here, before any of it."""
        default = self._slow_timeout if op in SLOW_REPLAY_OPS else self._timeout
        reply = await self._client.open(replay_request_subject(op), body, timeout=timeout or default)
        return self._client.stream(reply)

    async def ping_store(self) -> bool:
        return await self._ping(store_request_subject(StoreOp.PING))

    async def ping_replay(self) -> bool:
        return await self._ping(replay_request_subject(ReplayOp.PING))

    async def _ping(self, subject: str) -> bool:
        try:
            await self._client.call(subject, {}, timeout=2.0)
        except Exception:
            return False
        return True
