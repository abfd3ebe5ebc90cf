"""Run to a breakpoint and watch expressions, with CEL conditions over `event` and `state`.

Forward from a seq: the state after from_seq (snapshot + fold) goes to a sandbox worker once;
then pages of the following events go to it and it folds each one into its state and evaluates the
conditions with `event` = that event and `state` = the state after it, stopping at the first
event where one holds (true). The state is folded incrementally, never recomputed per event.

Backward from a seq: the events before it are taken in chunks that start at a snapshot (the
nearest below the chunk's end); a chunk is folded forward from its snapshot and the last hit in it
wins, else the previous chunk is searched. from_seq 0 with `backward` searches from the end.

A condition that fails on an event (a missing key, a type mismatch) does not hold there; those
failures are counted and the first is reported. A condition that does not compile, or breaks a
limit, ends the request with `expression_error`; the whole search is bounded in time too.

Compile (v1.1) checks expressions as they are typed, without running them: each compiles in the
sandbox, and reads only the variables its use gives it (`event` and `state` for a condition,
`state` for a watch; names a comprehension binds, the `x` of `.exists(x, …)`, are its own). A
misspelt variable would otherwise compile and then fail on every event, silently never holding.
"""

from __future__ import annotations

import re
import time
from typing import Any

from swarmscope_replay.event_source import EventSource, StoredEventDict, iter_pages
from swarmscope_replay.expressions import (
    ExpressionError,
    ExpressionPool,
    ExpressionSession,
    ScanDeadline,
    check_expressions,
)
from swarmscope_replay.states import StateResolver
from swarmscope_schema.requests import BreakpointQuery, CompileQuery, ErrorCode, ExpressionUse, WatchQuery
from swarmscope_service.request_reply import ServiceError

VARIABLES: dict[ExpressionUse, tuple[str, ...]] = {"condition": ("event", "state"), "watch": ("state",)}
# `.exists(x, …)`, `.map(x, …)`, `.all(k, v, …)`: the names a comprehension binds for its body.
_BOUND = re.compile(
    r"\.\s*[A-Za-z_][A-Za-z0-9_]*\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,(?:\s*([A-Za-z_][A-Za-z0-9_]*)\s*,)?"
)


def unknown_variables(source: str, variables: list[str], use: ExpressionUse) -> list[str]:
    """The variables an expression reads that its use does not provide."""
    bound = {name for match in _BOUND.finditer(source) for name in match.groups() if name}
    allowed = set(VARIABLES[use])
    return [v for v in variables if v not in allowed and v not in bound]


class Breakpoints:
    """The breakpoint, watch and compile operations."""

    def __init__(
        self,
        source: EventSource,
        states: StateResolver,
        pool: ExpressionPool,
        *,
        scan_timeout: float,
    ) -> None:
        self._source = source
        self._states = states
        self._pool = pool
        self._scan_timeout = scan_timeout

    async def watch(self, query: WatchQuery) -> dict[str, Any]:
        check_expressions(query.expressions)
        state = await self._states.at_seq(query.session_id, query.seq)
        async with self._pool.session() as session:
            values = await session.watch(query.expressions, state)
        return {
            "session_id": query.session_id,
            "seq": int(state.get("seq") or 0),
            "values": [
                {"expression": expression, "value": value, "error": error}
                for expression, (value, error) in zip(query.expressions, values, strict=True)
            ],
        }

    async def compile(self, query: CompileQuery) -> dict[str, Any]:
        check_expressions(query.expressions)
        async with self._pool.session() as session:
            compiled = await session.compile_details(query.expressions)
        results: list[dict[str, Any]] = []
        for source, c in zip(query.expressions, compiled, strict=True):
            error, column = c.message, c.column
            if error is None:
                unknown = unknown_variables(source, c.variables, query.use)
                if unknown:
                    names = " and ".join(VARIABLES[query.use])
                    what = "a condition" if query.use == "condition" else "a watch"
                    error = f"unknown variable {', '.join(map(repr, unknown))}: {what} can read {names}"
                    column = _column_of(source, unknown[0])
            results.append(
                {
                    "expression": source,
                    "ok": error is None,
                    "error": error,
                    "column": column,
                    "variables": c.variables,
                }
            )
        return {"results": results}

    async def run(self, query: BreakpointQuery) -> dict[str, Any]:
        check_expressions(query.conditions, "condition")
        if await self._source.session_bounds(query.session_id) is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no session {query.session_id!r}")
        deadline = time.monotonic() + self._scan_timeout
        async with self._pool.session() as session:
            errors = await session.compile(query.conditions)
            for index, error in enumerate(errors):
                if error is not None:
                    raise ExpressionError(f"condition {index} does not compile: {error}")
            search = _Search(query)
            try:
                if query.direction == "forward":
                    await self._forward(session, search, deadline)
                else:
                    await self._backward(session, search, deadline)
            except ScanDeadline:
                raise ServiceError(
                    ErrorCode.TIMEOUT,
                    f"the breakpoint search stopped after {self._scan_timeout:g} s and {search.scanned} events; "
                    "start nearer or lower max_events",
                ) from None
        return search.result()

    async def _forward(self, session: ExpressionSession, search: _Search, deadline: float) -> None:
        query = search.query
        start = await self._states.at_seq(query.session_id, query.from_seq)
        await session.begin(start)
        async for page in iter_pages(self._source, query.session_id, after_seq=query.from_seq):
            page = page[: query.max_events - search.scanned]
            result = await session.scan(page, mode="first", deadline=deadline)
            search.count(result.evaluated, result.errors, result.first_error)
            if result.hit_index is not None and result.condition_index is not None:
                search.hit(page[result.hit_index], result.condition_index)
                return
            if search.scanned >= query.max_events:
                return

    async def _backward(self, session: ExpressionSession, search: _Search, deadline: float) -> None:
        query = search.query
        upper = query.from_seq - 1 if query.from_seq > 0 else 2**62
        while upper >= 1 and search.scanned < query.max_events:
            base = await self._states.base(query.session_id, upper - 1)
            chunk = [
                event
                async for page in iter_pages(
                    self._source, query.session_id, after_seq=base.seq, until_seq=upper
                )
                for event in page
            ]
            if chunk:
                allowed = query.max_events - search.scanned
                eval_from = max(len(chunk) - allowed, 0)
                await session.begin(base.state)
                result = await session.scan(chunk, mode="last", eval_from=eval_from, deadline=deadline)
                search.count(result.evaluated, result.errors, result.first_error)
                if result.hit_index is not None and result.condition_index is not None:
                    # Events after the hit, nearer to from_seq, were searched first.
                    search.scanned -= result.evaluated - (len(chunk) - result.hit_index)
                    search.hit(chunk[result.hit_index], result.condition_index)
                    return
            if base.seq == 0:
                return
            upper = base.seq


def _column_of(source: str, name: str) -> int | None:
    match = re.search(r"(?<![A-Za-z0-9_.])" + re.escape(name) + r"(?![A-Za-z0-9_])", source)
    return match.start() + 1 if match else None


class _Search:
    def __init__(self, query: BreakpointQuery) -> None:
        self.query = query
        self.scanned = 0
        self.errors = 0
        self.first_error: str | None = None
        self.event: StoredEventDict | None = None
        self.condition_index: int | None = None

    def count(self, evaluated: int, errors: int, first_error: str | None) -> None:
        self.scanned += evaluated
        self.errors += errors
        self.first_error = self.first_error or first_error

    def hit(self, event: StoredEventDict, condition_index: int) -> None:
        self.event = event
        self.condition_index = condition_index

    def result(self) -> dict[str, Any]:
        return {
            "session_id": self.query.session_id,
            "hit": self.event is not None,
            "event": self.event,
            "condition": self.query.conditions[self.condition_index]
            if self.condition_index is not None
            else None,
            "condition_index": self.condition_index,
            "scanned": self.scanned,
            "evaluation_errors": self.errors,
            "first_error": self.first_error,
        }
