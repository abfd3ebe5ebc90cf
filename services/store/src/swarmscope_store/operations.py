"""The request-reply operations the store serves (`swarmscope.store.<op>`, StoreOp)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from swarmscope_schema.requests import (
    DlqQuery,
    ErrorCode,
    EventRef,
    EventSeqsQuery,
    EventsQuery,
    FacetsQuery,
    GraphQuery,
    PerformanceQuery,
    Request,
    SessionRef,
    SessionsQuery,
    StoreOp,
)
from swarmscope_service.request_reply import Operation, ServiceError
from swarmscope_store.backend import DatabaseUnavailable
from swarmscope_store.graph import GraphBuilder
from swarmscope_store.progress import CommittedProgress
from swarmscope_store.queries import StoreQueries

RequestT = TypeVar("RequestT")


def _unavailable_as_503(
    handle: Callable[[RequestT], Awaitable[Any]],
) -> Callable[[RequestT], Awaitable[Any]]:
    # A database outage is the caller's `unavailable` (HTTP 503, retry later), not an internal error.
    async def answer(request: RequestT) -> Any:
        try:
            return await handle(request)
        except DatabaseUnavailable as exc:
            raise ServiceError(ErrorCode.UNAVAILABLE, "the store's database is unavailable") from exc

    return answer


def store_operations(
    queries: StoreQueries, graphs: GraphBuilder, progress: CommittedProgress
) -> dict[str, Operation[Any]]:
    """Every StoreOp bound to its request model and handler."""

    async def ping(_: Request) -> dict[str, Any]:
        return await queries.ping()

    handlers: dict[StoreOp, tuple[type[Request], Callable[[Any], Awaitable[Any]]]] = {
        StoreOp.SESSIONS: (SessionsQuery, queries.sessions),
        StoreOp.SESSION: (SessionRef, queries.session),
        StoreOp.EVENTS: (EventsQuery, queries.events),
        StoreOp.EVENT: (EventRef, queries.event),
        StoreOp.AGENTS: (SessionRef, queries.agents),
        StoreOp.GRAPH: (GraphQuery, graphs.graph),
        StoreOp.PERFORMANCE: (PerformanceQuery, queries.performance),
        StoreOp.DLQ: (DlqQuery, queries.dead_letters),
        StoreOp.FACETS: (FacetsQuery, queries.facets),
        StoreOp.EVENT_SEQS: (EventSeqsQuery, queries.event_seqs),
        StoreOp.PROGRESS: (Request, progress.progress),
        StoreOp.PING: (Request, ping),
    }
    return {
        op.value: Operation(model, _unavailable_as_503(handle)) for op, (model, handle) in handlers.items()
    }
