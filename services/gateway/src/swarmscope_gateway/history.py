"""Past events for a resuming client: from the store, and from the TRACES stream for what the store
has not committed yet.

The store commits behind the live feed, so "everything the store has" is not "everything up to
now". The store says how far it is complete (`swarmscope.store.progress`, v1.1: its committed
seq), so a range is read from the store up to there and the rest straight from the stream with a
short-lived ephemeral consumer. A stream without a session filter (`/api/v1/stream`) is read from
the stream alone: the store answers per session. If the store is unreachable the stream serves the
whole range while it still holds it. Pages come in ascending seq; nothing in the range is skipped.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from swarmscope_gateway.live_event import (
    LiveEvent,
    LiveFilter,
    MalformedEvent,
    from_store_page,
    from_stream_message,
)
from swarmscope_gateway.rpc import RpcClients
from swarmscope_schema.requests import ErrorCode, EventsQuery, Request, StoreOp, StoreProgress
from swarmscope_schema.subjects import EVENTS_PREFIX, STREAM_EVENTS, subject_token
from swarmscope_service.request_reply import ServiceError

log = logging.getLogger(__name__)

STORE_PAGE = 1000
MIN_STORE_PAGE = 10
STREAM_FETCH = 500


def stream_subject(live_filter: LiveFilter) -> str:
    """The narrowest subject filter for a live filter (exact matching is still done per event)."""
    session = subject_token(live_filter.session_id) if live_filter.session_id else "*"
    agent = subject_token(live_filter.single_agent) if live_filter.single_agent else "*"
    event_type = subject_token(live_filter.single_type) if live_filter.single_type else "*"
    if session == agent == event_type == "*":
        return f"{EVENTS_PREFIX}.>"
    return f"{EVENTS_PREFIX}.{session}.{agent}.{event_type}"


def _joined(names: frozenset[str] | None) -> str | None:
    """A name set as the store's comma-separated filter."""
    return ",".join(sorted(names)) if names else None


class HistoryUnavailable(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


class History:
    """Reads (after, until] of the log for one filter."""

    def __init__(self, js: JetStreamContext, rpc: RpcClients) -> None:
        self._js = js
        self._rpc = rpc

    async def store_floor(self) -> int:
        """The seq up to which the store has committed every event (0 if unknown: the stream then
        serves the whole range while it still holds it)."""
        try:
            result = await self._rpc.store(StoreOp.PROGRESS, Request(), timeout=2.0)
            return StoreProgress.model_validate(result).committed_seq
        except (ServiceError, ValueError) as exc:
            log.warning("store progress unknown", extra={"error": repr(exc)})
            return 0

    async def read(
        self, live_filter: LiveFilter, after: int, until: int
    ) -> AsyncGenerator[tuple[str, list[LiveEvent]], None]:
        """Pages `(source, events)` of the events matching the filter with after < seq <= until."""
        if until <= after:
            return
        cursor = after
        if live_filter.session_id is not None:
            store_until = min(until, await self.store_floor())
            if store_until > cursor:
                try:
                    async with contextlib.aclosing(
                        self._from_store(live_filter, cursor, store_until)
                    ) as pages:
                        async for page in pages:
                            yield "store", page
                    cursor = store_until
                except ServiceError as exc:
                    if exc.code not in (ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.INTERNAL):
                        raise
                    log.warning(
                        "store unavailable for history; reading the stream", extra={"error": exc.message}
                    )
        if cursor < until:
            # Closing this generator must close the inner one too: it holds a stream consumer.
            async with contextlib.aclosing(self._from_stream(live_filter, cursor, until)) as pages:
                async for page in pages:
                    yield "stream", page

    async def _from_store(
        self, live_filter: LiveFilter, after: int, until: int
    ) -> AsyncGenerator[list[LiveEvent], None]:
        assert live_filter.session_id is not None
        cursor = after
        limit = STORE_PAGE
        while cursor < until:
            query = EventsQuery(
                session_id=live_filter.session_id,
                after_seq=cursor,
                until_seq=until,
                limit=limit,
                agent=_joined(live_filter.agents),
                type=_joined(live_filter.types),
            )
            try:
                result = await self._rpc.store(StoreOp.EVENTS, query)
            except ServiceError as exc:
                if exc.code is ErrorCode.PAYLOAD_TOO_LARGE and limit > MIN_STORE_PAGE:
                    limit = max(MIN_STORE_PAGE, limit // 4)
                    continue
                raise
            events = from_store_page(result)
            if not events:
                return
            cursor = events[-1].seq
            matching = [e for e in events if live_filter.matches(e) and after < e.seq <= until]
            if matching:
                yield matching
            if not (isinstance(result, dict) and result.get("next_cursor")):
                return

    async def _from_stream(
        self, live_filter: LiveFilter, after: int, until: int
    ) -> AsyncGenerator[list[LiveEvent], None]:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        try:
            sub = await self._js.pull_subscribe(
                stream_subject(live_filter), stream=STREAM_EVENTS, config=config
            )
        except Exception as exc:
            raise HistoryUnavailable(f"the event stream is not readable: {exc!r}") from None
        name: str | None = None
        try:
            info = await sub.consumer_info()
            name = info.name
            pending = int(info.num_pending or 0)
            first = await self._stream_first_seq()
            if first > after + 1:
                log.warning(
                    "history older than the stream was requested; the gap is no longer stored",
                    extra={"after_seq": after, "stream_first_seq": first},
                )
            while pending > 0:
                msgs = await sub.fetch(min(STREAM_FETCH, pending), timeout=5.0)
                page: list[LiveEvent] = []
                finished = False
                for msg in msgs:
                    meta = msg.metadata
                    seq = int(meta.sequence.stream)
                    pending = int(meta.num_pending)
                    if seq > until:
                        finished = True
                        break
                    try:
                        event = from_stream_message(msg.data, seq)
                    except MalformedEvent as exc:
                        log.warning("skipping a malformed event in history", extra={"error": str(exc)})
                        continue
                    if live_filter.matches(event):
                        page.append(event)
                if page:
                    yield page
                if finished:
                    return
        finally:
            await sub.unsubscribe()
            if name is not None:
                try:
                    await self._js.delete_consumer(STREAM_EVENTS, name)
                except Exception as exc:
                    log.debug("history consumer not deleted (it expires)", extra={"error": repr(exc)})

    async def _stream_first_seq(self) -> int:
        try:
            info = await self._js.stream_info(STREAM_EVENTS)
        except Exception:
            return 0
        return int(info.state.first_seq)
