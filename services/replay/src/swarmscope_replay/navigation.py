"""Moving through a run like a debugger: step into / over / out / back, and the call stack.

Spans form the call tree: an event belongs to its `span_id`, a span's parent is the
`metadata.parent_id` its events state. The depth of an event is the depth of its span. From an
event E in span S (parent P):

- over: the next event at E's depth or shallower in E's line of the tree: an event of S itself, of
  a sibling of S, of an ancestor of S or of an ancestor's sibling (root spans are siblings of each
  other). Events of S's descendants are stepped over, and so are other branches' deeper events.
- into: the first event of the first child span of S that starts after E (while S is open; events
  of parallel branches in between are passed); when S gets no further child, into behaves as over
  (as a debugger does on a line without a call).
- out: the next event after the end of the innermost span that encloses E and is still open after
  E, whether it ends by complete, error or fail: E's own span S while it is open (at its start, a
  progress), else the nearest open ancestor. "Next" is in that span's line of the tree (over from
  its closing event). The call stack is the same list of frames (`frames`), so the innermost open
  frame the stack shows is the span step out leaves, by construction. None when no frame is open
  (`no_enclosing_span`) or that span never ends (`enclosing_span_unfinished`).
- back: the session's previous event.
At either end the event is null with the reason (`end_of_session`, `start_of_session`).

The scan forward starts from the state at E (its open spans know their parents) and reads pages
from the store, learning each new span's parent from its events as it goes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from swarmscope_replay.event_source import MAX_PAGE, EventSource, StoredEventDict, previous_event
from swarmscope_replay.reducer import CLOSING_PHASES, event_label
from swarmscope_replay.states import StateResolver
from swarmscope_schema.requests import ErrorCode
from swarmscope_service.request_reply import ServiceError

MAX_DEPTH = 256
FIRST_PAGE = 500


def span_of(event: Mapping[str, Any]) -> str:
    return str(event.get("span_id") or event.get("id"))


def parent_of(event: Mapping[str, Any]) -> str | None:
    metadata = event.get("metadata")
    parent = metadata.get("parent_id") if isinstance(metadata, Mapping) else None
    return str(parent) if parent else None


@dataclass(frozen=True, slots=True)
class SpanFacts:
    """What is known about a span from its events up to some seq."""

    span_id: str
    parent_id: str | None
    start: StoredEventDict | None
    end: StoredEventDict | None


@dataclass(frozen=True, slots=True)
class Frame:
    """One enclosing span of an event (a call stack frame), as it was right after the event."""

    span_id: str
    parent_id: str | None
    type: str
    agent_id: Any
    label: str
    start_seq: int
    start_event_id: str
    start_time: float
    duration_so_far_ms: float
    open: bool

    def as_json(self) -> dict[str, Any]:
        """The frame as the API's StackFrame."""
        return {
            "span_id": self.span_id,
            "type": self.type,
            "agent_id": self.agent_id,
            "label": self.label,
            "start_seq": self.start_seq,
            "start_event_id": self.start_event_id,
            "start_time": self.start_time,
            "duration_so_far_ms": self.duration_so_far_ms,
            "open": self.open,
        }


@dataclass(frozen=True, slots=True)
class StepOutcome:
    event: StoredEventDict | None
    reason: str | None


class Navigator:
    """Step and stack over one session, reading events from the store."""

    def __init__(self, source: EventSource, states: StateResolver) -> None:
        self._source = source
        self._states = states

    async def require_event(self, session_id: str, event_id: str) -> StoredEventDict:
        event = await self._source.event(session_id, event_id)
        if event is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no event {event_id!r} in session {session_id!r}")
        return event

    # ---------------------------------------------------------------------------- span facts --

    async def span_facts(self, session_id: str, span_id: str, until_seq: int) -> SpanFacts:
        """The span's parent, first event and closing event, from its events up to `until_seq`."""
        events: list[StoredEventDict] = []
        async for page in iter_pages_of_span(self._source, session_id, span_id, until_seq):
            events.extend(page)
        parent = next((p for p in (parent_of(e) for e in events) if p), None)
        start = events[0] if events else None
        end = next((e for e in events if (e.get("phase") or "complete") in CLOSING_PHASES), None)
        return SpanFacts(span_id, parent, start, end)

    async def _parents_at(
        self, session_id: str, event: StoredEventDict
    ) -> tuple[dict[str, str | None], Mapping[str, Any]]:
        """The parents of the spans open after `event`, and those open spans."""
        state = await self._states.at_seq(session_id, int(event["seq"]))
        open_spans = state.get("open_spans")
        open_spans = open_spans if isinstance(open_spans, Mapping) else {}
        parents: dict[str, str | None] = {
            span: (info.get("parent_id") if isinstance(info, Mapping) else None)
            for span, info in open_spans.items()
        }
        return parents, open_spans

    async def _parent(
        self, session_id: str, span_id: str, parents: dict[str, str | None], until_seq: int
    ) -> str | None:
        if parents.get(span_id):
            return parents[span_id]
        facts = await self.span_facts(session_id, span_id, until_seq)
        parents[span_id] = facts.parent_id
        return facts.parent_id

    async def _ancestors(
        self, session_id: str, span_id: str, parents: dict[str, str | None], until_seq: int
    ) -> list[str]:
        chain: list[str] = []
        current = await self._parent(session_id, span_id, parents, until_seq)
        while current is not None and current not in chain and current != span_id and len(chain) < MAX_DEPTH:
            chain.append(current)
            current = await self._parent(session_id, current, parents, until_seq)
        return chain

    # ---------------------------------------------------------------------------------- steps --

    async def step(self, session_id: str, event_id: str, direction: str) -> StepOutcome:
        event = await self.require_event(session_id, event_id)
        seq = int(event["seq"])
        if direction == "back":
            previous = await previous_event(self._source, session_id, seq)
            return StepOutcome(previous, None if previous else "start_of_session")
        parents, open_spans = await self._parents_at(session_id, event)
        span = span_of(event)
        if parent_of(event):
            parents.setdefault(span, parent_of(event))
        if direction in ("over", "into"):
            return await self._over_or_into(
                session_id, event, span, parents, open_spans, into=direction == "into"
            )
        if direction == "out":
            return await self._out(session_id, event, parents)
        raise ServiceError(ErrorCode.BAD_REQUEST, f"unknown direction {direction!r}")

    async def _over_or_into(
        self,
        session_id: str,
        event: StoredEventDict,
        span: str,
        parents: dict[str, str | None],
        open_spans: Mapping[str, Any],
        *,
        into: bool,
    ) -> StepOutcome:
        seq = int(event["seq"])
        ancestors = await self._ancestors(session_id, span, parents, seq)
        level = _Level(span, parents.get(span), ancestors)
        # Children can only come while the span is open after E.
        into = into and span in open_spans
        fallback: StoredEventDict | None = None
        async for candidate in self._scan(session_id, seq, parents):
            candidate_span = span_of(candidate)
            if into and candidate_span != span and parents.get(candidate_span) == span:
                return StepOutcome(candidate, None)
            if fallback is None and level.qualifies(candidate_span, parents.get(candidate_span)):
                if not into:
                    return StepOutcome(candidate, None)
                fallback = candidate
            if into and candidate_span == span and (candidate.get("phase") or "complete") in CLOSING_PHASES:
                break
        if fallback is not None:
            return StepOutcome(fallback, None)
        return StepOutcome(None, "end_of_session")

    async def _out(
        self, session_id: str, event: StoredEventDict, parents: dict[str, str | None]
    ) -> StepOutcome:
        seq = int(event["seq"])
        enclosing = next((frame for frame in await self.frames(session_id, event) if frame.open), None)
        if enclosing is None:
            return StepOutcome(None, "no_enclosing_span")
        span = enclosing.span_id
        if enclosing.parent_id:
            parents.setdefault(span, enclosing.parent_id)
        ancestors = await self._ancestors(session_id, span, parents, seq)
        level = _Level(span, parents.get(span), ancestors)
        ended = False
        async for candidate in self._scan(session_id, seq, parents):
            candidate_span = span_of(candidate)
            if not ended:
                if candidate_span == span and (candidate.get("phase") or "complete") in CLOSING_PHASES:
                    ended = True
                continue
            if level.qualifies(candidate_span, parents.get(candidate_span)) and candidate_span != span:
                return StepOutcome(candidate, None)
        if not ended:
            return StepOutcome(None, "enclosing_span_unfinished")
        return StepOutcome(None, "end_of_session")

    async def _scan(
        self, session_id: str, after_seq: int, parents: dict[str, str | None]
    ) -> AsyncIterator[StoredEventDict]:
        """Events after `after_seq`, learning the parent of each span from its events."""
        page_size = FIRST_PAGE
        cursor = after_seq
        while True:
            page = await self._source.events(session_id, after_seq=cursor, limit=page_size)
            for candidate in page:
                candidate_span = span_of(candidate)
                parent = parent_of(candidate)
                if parent and not parents.get(candidate_span):
                    parents[candidate_span] = parent
                else:
                    parents.setdefault(candidate_span, None)
                yield candidate
            if len(page) < page_size:
                return
            cursor = int(page[-1]["seq"])
            page_size = MAX_PAGE

    # ---------------------------------------------------------------------------------- stack --

    async def frames(self, session_id: str, event: StoredEventDict) -> list[Frame]:
        """The spans enclosing `event`, innermost (its own span) first, each open or closed as it
        was right after the event. Both the call stack and step out read this one list."""
        seq = int(event["seq"])
        state = await self._states.at_seq(session_id, seq)
        open_spans = state.get("open_spans") or {}
        now = float(event.get("timestamp") or 0.0)
        frames: list[Frame] = []
        span: str | None = span_of(event)
        seen: set[str] = set()
        first = True
        while span is not None and span not in seen and len(frames) < MAX_DEPTH:
            seen.add(span)
            info = open_spans.get(span)
            if isinstance(info, Mapping):
                parent = info.get("parent_id")
                if first and not parent:
                    parent = parent_of(event)
                started = float(info.get("timestamp") or now)
                frames.append(
                    Frame(
                        span_id=span,
                        parent_id=str(parent) if parent else None,
                        type=str(info.get("type")),
                        agent_id=info.get("agent_id"),
                        label=str(info.get("label") or info.get("type")),
                        start_seq=int(info.get("seq") or 0),
                        start_event_id=str(info.get("event_id") or ""),
                        start_time=started,
                        duration_so_far_ms=max(now - started, 0.0),
                        open=True,
                    )
                )
                span = str(parent) if parent else None
                first = False
                continue
            facts = await self.span_facts(session_id, span, seq)
            if facts.start is None:
                break
            start = facts.start
            start_time = float(start.get("timestamp") or 0.0)
            end_time = float(facts.end.get("timestamp") or start_time) if facts.end is not None else now
            parent_id = facts.parent_id or (parent_of(event) if first else None)
            frames.append(
                Frame(
                    span_id=span,
                    parent_id=parent_id,
                    type=str(start.get("type")),
                    agent_id=start.get("agent_id"),
                    label=event_label(start),
                    start_seq=int(start["seq"]),
                    start_event_id=str(start.get("id")),
                    start_time=start_time,
                    duration_so_far_ms=max(end_time - start_time, 0.0),
                    open=facts.end is None,
                )
            )
            span = parent_id
            first = False
        return frames

    async def stack(self, session_id: str, event_id: str) -> dict[str, Any]:
        event = await self.require_event(session_id, event_id)
        frames = await self.frames(session_id, event)
        return {
            "session_id": session_id,
            "event_id": event_id,
            "seq": int(event["seq"]),
            "frames": [frame.as_json() for frame in frames],
        }


async def iter_pages_of_span(
    source: EventSource, session_id: str, span_id: str, until_seq: int
) -> AsyncIterator[list[StoredEventDict]]:
    cursor = 0
    while True:
        page = await source.events(session_id, after_seq=cursor, until_seq=until_seq, span_id=span_id)
        if not page:
            return
        yield page
        if len(page) < MAX_PAGE:
            return
        cursor = int(page[-1]["seq"])


@dataclass(frozen=True, slots=True)
class _Level:
    """Which spans are at a span's depth or shallower, in its line of the tree."""

    span: str
    parent: str | None
    ancestors: list[str]

    def qualifies(self, span: str, parent: str | None) -> bool:
        if span == self.span or span in self.ancestors:
            return True
        # Siblings of the span or of one of its ancestors; root spans are siblings of each other.
        return parent == self.parent or parent is None or parent in self.ancestors
