"""The request-reply operations replay serves (`swarmscope.replay.<op>`, ReplayOp)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from swarmscope_replay.breakpoints import Breakpoints
from swarmscope_replay.compare import Comparer
from swarmscope_replay.diff import diff_page
from swarmscope_replay.expressions import ExpressionError
from swarmscope_replay.navigation import Navigator
from swarmscope_replay.ownership import LeaseOwnership
from swarmscope_replay.reducer import initial_state
from swarmscope_replay.republish import Republisher
from swarmscope_replay.state_views import bounded_view, collection_page, parse_cursor, whole_state_pieces
from swarmscope_replay.states import StateResolver
from swarmscope_replay.tracker import SessionTracker
from swarmscope_schema.requests import (
    BreakpointQuery,
    CompareQuery,
    CompileQuery,
    DiffQuery,
    ErrorCode,
    ReplayOp,
    ReplayQuery,
    Request,
    StackQuery,
    StatePageQuery,
    StateQuery,
    StepQuery,
    WatchQuery,
)
from swarmscope_schema.state import STATE_COLLECTIONS
from swarmscope_service.reply_chunks import Streamed
from swarmscope_service.request_reply import Operation, ServiceError

RequestT = TypeVar("RequestT", bound=Request)


def _expressions(handle: Callable[[RequestT], Awaitable[Any]]) -> Callable[[RequestT], Awaitable[Any]]:
    async def wrapped(request: RequestT) -> Any:
        try:
            return await handle(request)
        except ExpressionError as exc:
            raise ServiceError(ErrorCode.EXPRESSION_ERROR, str(exc)) from None

    return wrapped


@dataclass(frozen=True)
class ReplayOperations:
    states: StateResolver
    navigator: Navigator
    breakpoints: Breakpoints
    comparer: Comparer
    republisher: Republisher
    tracker: SessionTracker | None = None
    ownership: LeaseOwnership | None = None

    async def _seq(self, session_id: str, seq: int | None, ts: float | None) -> int:
        if seq is not None:
            return seq
        assert ts is not None
        return await self.states.latest_seq_at(session_id, ts)

    async def state(self, query: StateQuery) -> Any:
        """The bounded view (v1.1 default) or, with `full`, the whole state streamed."""
        seq = await self._seq(query.session_id, query.seq, query.ts)
        if query.full:
            state = (
                await self.states.at_seq(query.session_id, seq) if seq else initial_state(query.session_id)
            )
            return Streamed(whole_state_pieces(state))
        if seq == 0:
            return bounded_view(initial_state(query.session_id), query.limit)
        # Already JSON: spliced into the reply as it is.
        return orjson.Fragment(await self.states.view_json(query.session_id, seq, query.limit))

    async def state_page(self, query: StatePageQuery) -> Any:
        """(v1.1) A page of one growing collection of the state."""
        seq = await self._seq(query.session_id, query.seq, query.ts)
        if seq == 0:
            return collection_page(initial_state(query.session_id), query)
        return await self.states.page(query, seq)

    async def diff(self, query: DiffQuery) -> dict[str, Any]:
        before = await self.states.at_seq(query.session_id, query.from_seq)
        after = await self.states.at_seq(query.session_id, query.to_seq)
        skip = parse_cursor(query.cursor) or 0
        under = STATE_COLLECTIONS[query.collection].path if query.collection else ()
        changes, more = diff_page(before, after, skip=skip, limit=query.limit, under=under)
        return {
            "session_id": query.session_id,
            "from_seq": query.from_seq,
            "to_seq": query.to_seq,
            "changes": changes,
            "truncated": more,
            "next_cursor": str(skip + len(changes)) if more else None,
        }

    async def step(self, query: StepQuery) -> dict[str, Any]:
        outcome = await self.navigator.step(query.session_id, query.event_id, query.direction)
        return {
            "session_id": query.session_id,
            "direction": query.direction,
            "from_event_id": query.event_id,
            "event": outcome.event,
            "reason": outcome.reason,
        }

    async def stack(self, query: StackQuery) -> dict[str, Any]:
        return await self.navigator.stack(query.session_id, query.event_id)

    async def ping(self, _: Request) -> dict[str, Any]:
        return {
            "service": "replay",
            "status": "ok",
            "sessions_in_memory": self.tracker.sessions_in_memory if self.tracker else 0,
            "replays_running": self.republisher.running,
            "partitions": sorted(self.ownership.held()) if self.ownership else None,
        }

    def table(self) -> dict[str, Operation[Any]]:
        """Every ReplayOp bound to its request model and handler."""
        return {
            ReplayOp.STATE.value: Operation(StateQuery, self.state),
            ReplayOp.STATE_PAGE.value: Operation(StatePageQuery, self.state_page),
            ReplayOp.DIFF.value: Operation(DiffQuery, self.diff),
            ReplayOp.STEP.value: Operation(StepQuery, self.step),
            ReplayOp.STACK.value: Operation(StackQuery, self.stack),
            ReplayOp.BREAKPOINT.value: Operation(BreakpointQuery, _expressions(self.breakpoints.run)),
            ReplayOp.WATCH.value: Operation(WatchQuery, _expressions(self.breakpoints.watch)),
            ReplayOp.COMPILE.value: Operation(CompileQuery, _expressions(self.breakpoints.compile)),
            ReplayOp.COMPARE.value: Operation(CompareQuery, self.comparer.compare),
            ReplayOp.REPLAY.value: Operation(ReplayQuery, self.republisher.start),
            ReplayOp.PING.value: Operation(Request, self.ping),
        }
