"""REST handlers that answer from store and replay (CONTRACT §4).

Each validates its parameters into the op's request model (400 naming the parameter), calls the op
and returns its result unchanged; an op's error keeps its code and gets that code's status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from swarmscope_gateway.auth import Principal
from swarmscope_gateway.bodies import read_json
from swarmscope_gateway.errors import ApiError, JsonResponse
from swarmscope_gateway.params import DlqParams, PerformanceParams, parse_body, parse_params
from swarmscope_gateway.rpc import RpcClients
from swarmscope_schema.requests import (
    MAX_EXPRESSION_CHARS,
    BreakpointQuery,
    CompareQuery,
    CompileQuery,
    DiffQuery,
    ErrorCode,
    EventRef,
    EventsQuery,
    FacetsQuery,
    GraphQuery,
    ReplayOp,
    ReplayQuery,
    SessionRef,
    SessionsQuery,
    StackQuery,
    StatePageQuery,
    StateQuery,
    StepQuery,
    StoreOp,
    WatchQuery,
)

Handler = Callable[[Request, Principal], Awaitable[Response]]

# Breakpoint and watch bodies: at most 20 expressions of 2000 characters, and a little room.
SMALL_BODY_BYTES = 256 * 1024


def as_page(result: Any) -> dict[str, Any]:
    """A list answer as a page, so every list endpoint has the same shape."""
    if isinstance(result, list):
        return {"items": result, "next_cursor": None}
    if isinstance(result, dict) and isinstance(result.get("items"), list):
        return {"items": result["items"], "next_cursor": result.get("next_cursor")}
    raise ApiError(ErrorCode.INTERNAL, "the store answered a list in an unexpected shape")


def rest_handlers(rpc: RpcClients) -> dict[str, Handler]:
    """Handlers by endpoint name (see api_spec)."""

    async def list_sessions(request: Request, _: Principal) -> Response:
        query = parse_params(SessionsQuery, request)
        return JsonResponse(as_page(await rpc.store(StoreOp.SESSIONS, query)))

    async def session_facets(request: Request, _: Principal) -> Response:
        return JsonResponse(await rpc.store(StoreOp.FACETS, parse_params(FacetsQuery, request)))

    async def get_session(request: Request, _: Principal) -> Response:
        return JsonResponse(await rpc.store(StoreOp.SESSION, parse_params(SessionRef, request)))

    async def list_events(request: Request, _: Principal) -> Response:
        query = parse_params(EventsQuery, request)
        return JsonResponse(as_page(await rpc.store(StoreOp.EVENTS, query)))

    async def get_event(request: Request, _: Principal) -> Response:
        return JsonResponse(await rpc.store(StoreOp.EVENT, parse_params(EventRef, request)))

    async def list_agents(request: Request, _: Principal) -> Response:
        result = await rpc.store(StoreOp.AGENTS, parse_params(SessionRef, request))
        return JsonResponse(as_page(result))

    async def get_graph(request: Request, _: Principal) -> Response:
        return JsonResponse(await rpc.store(StoreOp.GRAPH, parse_params(GraphQuery, request)))

    async def get_performance(request: Request, _: Principal) -> Response:
        result = await rpc.store(StoreOp.PERFORMANCE, parse_params(PerformanceParams, request).to_query())
        return JsonResponse(result)

    async def list_dead_letters(request: Request, _: Principal) -> Response:
        query = parse_params(DlqParams, request).to_query()
        return JsonResponse(as_page(await rpc.store(StoreOp.DLQ, query)))

    async def get_state(request: Request, _: Principal) -> Response:
        query = parse_params(StateQuery, request)
        if not query.full:
            return JsonResponse(await rpc.replay(ReplayOp.STATE, query))
        # The whole state of any size: passed on as it arrives (errors before the first byte
        # keep their status; a stream broken later is cut, which is how HTTP says "failed").
        pieces = await rpc.replay_stream(ReplayOp.STATE, query)
        return StreamingResponse(pieces, media_type="application/json", headers={"Cache-Control": "no-store"})

    async def get_state_page(request: Request, _: Principal) -> Response:
        return JsonResponse(await rpc.replay(ReplayOp.STATE_PAGE, parse_params(StatePageQuery, request)))

    async def get_diff(request: Request, _: Principal) -> Response:
        return JsonResponse(await rpc.replay(ReplayOp.DIFF, parse_params(DiffQuery, request)))

    async def step(request: Request, _: Principal) -> Response:
        return JsonResponse(await rpc.replay(ReplayOp.STEP, parse_params(StepQuery, request)))

    async def get_stack(request: Request, _: Principal) -> Response:
        return JsonResponse(await rpc.replay(ReplayOp.STACK, parse_params(StackQuery, request)))

    async def run_breakpoints(request: Request, _: Principal) -> Response:
        ref = parse_params(SessionRef, request)
        body = await read_json(request, SMALL_BODY_BYTES)
        query = parse_body(BreakpointQuery, body, session_id=ref.session_id)
        _check_expressions(query.conditions, "conditions")
        return JsonResponse(await rpc.replay(ReplayOp.BREAKPOINT, query))

    async def watch(request: Request, _: Principal) -> Response:
        ref = parse_params(SessionRef, request)
        body = await read_json(request, SMALL_BODY_BYTES)
        query = parse_body(WatchQuery, body, session_id=ref.session_id)
        _check_expressions(query.expressions, "expressions")
        return JsonResponse(await rpc.replay(ReplayOp.WATCH, query))

    async def compile_expressions(request: Request, _: Principal) -> Response:
        body = await read_json(request, SMALL_BODY_BYTES)
        query = parse_body(CompileQuery, body)
        _check_expressions(query.expressions, "expressions")
        return JsonResponse(await rpc.replay(ReplayOp.COMPILE, query))

    async def compare(request: Request, _: Principal) -> Response:
        return JsonResponse(await rpc.replay(ReplayOp.COMPARE, parse_params(CompareQuery, request)))

    async def replay_session(request: Request, _: Principal) -> Response:
        ref = parse_params(SessionRef, request)
        body = await read_json(request, SMALL_BODY_BYTES, empty={})
        query = parse_body(ReplayQuery, body, session_id=ref.session_id)
        return JsonResponse(await rpc.replay(ReplayOp.REPLAY, query), status_code=202)

    return {
        "list_sessions": list_sessions,
        "session_facets": session_facets,
        "get_session": get_session,
        "list_events": list_events,
        "get_event": get_event,
        "list_agents": list_agents,
        "get_graph": get_graph,
        "get_performance": get_performance,
        "list_dead_letters": list_dead_letters,
        "get_state": get_state,
        "get_state_page": get_state_page,
        "get_diff": get_diff,
        "step": step,
        "get_stack": get_stack,
        "run_breakpoints": run_breakpoints,
        "watch": watch,
        "compile_expressions": compile_expressions,
        "compare": compare,
        "replay_session": replay_session,
    }


def _check_expressions(expressions: list[str], field: str) -> None:
    for index, expression in enumerate(expressions):
        if not expression.strip():
            raise ApiError(ErrorCode.BAD_REQUEST, f"body.{field}.{index}: empty expression")
        if len(expression) > MAX_EXPRESSION_CHARS:
            raise ApiError(
                ErrorCode.BAD_REQUEST,
                f"body.{field}.{index}: longer than {MAX_EXPRESSION_CHARS} characters",
            )
