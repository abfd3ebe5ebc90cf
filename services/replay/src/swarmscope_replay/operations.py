"""The request-reply operations replay serves (`swarmscope.replay.<op>`, ReplayOp)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from swarmscope_replay.breakpoints import Breakpoints
from swarmscope_replay.compare import Comparer
from swarmscope_replay.diff import diff_states
from swarmscope_replay.expressions import ExpressionError
from swarmscope_replay.navigation import Navigator
from swarmscope_replay.reducer import initial_state
from swarmscope_replay.republish import Republisher
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
    StateQuery,
    StepQuery,
    WatchQuery,
)
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

    async def state(self, query: StateQuery) -> Any:
        if query.seq is not None:
            seq = query.seq
        else:
            assert query.ts is not None
            seq = await self.states.latest_seq_at(query.session_id, query.ts)
            if seq == 0:
                return initial_state(query.session_id)
        # Already JSON: spliced into the reply as it is.
        return orjson.Fragment(await self.states.at_seq_json(query.session_id, seq))

    async def diff(self, query: DiffQuery) -> dict[str, Any]:
        before = await self.states.at_seq(query.session_id, query.from_seq)
        after = await self.states.at_seq(query.session_id, query.to_seq)
        changes, truncated = diff_states(before, after)
        return {
            "session_id": query.session_id,
            "from_seq": query.from_seq,
            "to_seq": query.to_seq,
            "changes": changes,
            "truncated": truncated,
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
        }

    def table(self) -> dict[str, Operation[Any]]:
        """Every ReplayOp bound to its request model and handler."""
        return {
            ReplayOp.STATE.value: Operation(StateQuery, self.state),
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
