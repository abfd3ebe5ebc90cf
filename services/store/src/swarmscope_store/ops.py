"""The request-reply operations the store serves (`swarmscope.store.<op>`, StoreOp)."""

from __future__ import annotations

from typing import Any

from swarmscope_schema.requests import (
    DlqQuery,
    EventRef,
    EventsQuery,
    GraphQuery,
    PerformanceQuery,
    Request,
    SessionRef,
    SessionsQuery,
    StoreOp,
)
from swarmscope_service.request_reply import Operation
from swarmscope_store.graph import GraphBuilder
from swarmscope_store.queries import StoreQueries


def store_operations(queries: StoreQueries, graphs: GraphBuilder) -> dict[str, Operation[Any]]:
    """Every StoreOp bound to its request model and handler."""

    async def ping(_: Request) -> dict[str, Any]:
        return await queries.ping()

    return {
        StoreOp.SESSIONS.value: Operation(SessionsQuery, queries.sessions),
        StoreOp.SESSION.value: Operation(SessionRef, queries.session),
        StoreOp.EVENTS.value: Operation(EventsQuery, queries.events),
        StoreOp.EVENT.value: Operation(EventRef, queries.event),
        StoreOp.AGENTS.value: Operation(SessionRef, queries.agents),
        StoreOp.GRAPH.value: Operation(GraphQuery, graphs.graph),
        StoreOp.PERFORMANCE.value: Operation(PerformanceQuery, queries.performance),
        StoreOp.DLQ.value: Operation(DlqQuery, queries.dead_letters),
        StoreOp.PING.value: Operation(Request, ping),
    }
