"""The event source in production: the store, over `swarmscope.store.*` request-reply.

`covers(seq)` asks the store how far it has committed (`swarmscope.store.progress`, v1.1): every
event up to that seq can be read back. The highest answer seen is remembered, so only questions
about the live edge cost a round trip. (It used to read the store's JetStream durable itself;
that is the store's private business, issue 19.)
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from swarmscope_replay.event_source import MAX_PAGE, StoredEventDict
from swarmscope_schema.requests import (
    MAX_EVENT_SEQS,
    ErrorCode,
    EventRef,
    EventSeqsQuery,
    EventsQuery,
    Request,
    SessionRef,
    StoreOp,
    StoreProgress,
)
from swarmscope_schema.subjects import store_request_subject
from swarmscope_service.request_reply import RequestClient, ServiceError

log = logging.getLogger(__name__)


class StoreEventSource:
    """EventSource backed by the store service."""

    def __init__(self, client: RequestClient, *, timeout: float = 10.0) -> None:
        self._client = client
        self._timeout = timeout
        self._floor = 0

    async def events(
        self,
        session_id: str,
        *,
        after_seq: int = 0,
        until_seq: int | None = None,
        limit: int = MAX_PAGE,
        order: Literal["asc", "desc"] = "asc",
        span_id: str | None = None,
        to_ts: float | None = None,
    ) -> list[StoredEventDict]:
        if until_seq is not None and until_seq <= after_seq:
            return []
        out: list[StoredEventDict] = []
        page_limit = limit
        cursor: str | None = None
        while len(out) < limit:
            want = min(page_limit, limit - len(out))
            query = EventsQuery(
                session_id=session_id,
                after_seq=after_seq,
                until_seq=until_seq,
                limit=want,
                order=order,
                span_id=span_id,
                to_ts=to_ts,
                cursor=cursor,
            )
            try:
                result = await self._client.call(
                    store_request_subject(StoreOp.EVENTS), query, timeout=self._timeout
                )
            except ServiceError as exc:
                # Pages of very large events can exceed the NATS payload: ask for fewer at a time.
                if exc.code is ErrorCode.PAYLOAD_TOO_LARGE and want > 1:
                    page_limit = max(want // 2, 1)
                    continue
                if exc.code is ErrorCode.NOT_FOUND:
                    return out
                raise
            items = _items(result)
            out.extend(items)
            # The store may end a page early to stay within the NATS payload; its cursor goes on.
            cursor = result.get("next_cursor")
            if not cursor or not items:
                break
        return out

    async def event(self, session_id: str, event_id: str) -> StoredEventDict | None:
        try:
            result = await self._client.call(
                store_request_subject(StoreOp.EVENT),
                EventRef(session_id=session_id, event_id=event_id),
                timeout=self._timeout,
            )
        except ServiceError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                return None
            raise
        return result if isinstance(result, dict) else None

    async def session_bounds(self, session_id: str) -> tuple[int, int] | None:
        try:
            result = await self._client.call(
                store_request_subject(StoreOp.SESSION),
                SessionRef(session_id=session_id),
                timeout=self._timeout,
            )
        except ServiceError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                return None
            raise
        if not isinstance(result, dict):
            return None
        return int(result.get("event_count") or 0), int(result.get("last_seq") or 0)

    async def event_seqs(self, ids: dict[str, list[str]]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        pairs = [(sid, eid) for sid, eids in ids.items() for eid in eids]
        for start in range(0, len(pairs), MAX_EVENT_SEQS):
            chunk: dict[str, list[str]] = {}
            for sid, eid in pairs[start : start + MAX_EVENT_SEQS]:
                chunk.setdefault(sid, []).append(eid)
            result = await self._client.call(
                store_request_subject(StoreOp.EVENT_SEQS), EventSeqsQuery(events=chunk), timeout=self._timeout
            )
            seqs = result.get("seqs") if isinstance(result, dict) else None
            if not isinstance(seqs, dict):
                raise ServiceError(ErrorCode.INTERNAL, "the store answered event_seqs without seqs")
            for sid, held in seqs.items():
                out.setdefault(sid, {}).update({str(k): int(v) for k, v in held.items()})
        return out

    async def covers(self, seq: int) -> bool:
        if seq <= self._floor:
            return True
        try:
            result = await self._client.call(
                store_request_subject(StoreOp.PROGRESS), Request(), timeout=self._timeout
            )
            progress = StoreProgress.model_validate(result)
        except (ServiceError, ValueError) as exc:
            # Unknown progress covers nothing: the caller waits or reads less, never more.
            log.warning("store progress unknown", extra={"error": repr(exc)})
            return False
        self._floor = max(self._floor, progress.committed_seq)
        return seq <= self._floor


def _items(result: Any) -> list[StoredEventDict]:
    if not isinstance(result, dict) or not isinstance(result.get("items"), list):
        raise ServiceError(ErrorCode.INTERNAL, "the store answered an events page without items")
    return [item for item in result["items"] if isinstance(item, dict)]
