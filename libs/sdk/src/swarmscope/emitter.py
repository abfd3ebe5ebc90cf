"""Emitting events: the caller's path, spans, decorators, instrumentation and event-bus tracing.

`emit` is the hot path: it checks the type and required fields, builds a small dict and appends it to
the buffer. No pydantic, no lock while there is room, no encoding: redaction and JSON happen on the
publisher's thread.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from time import time as _time
from typing import TYPE_CHECKING, Any, TypeVar, overload

from swarmscope.context import CURRENT_SPAN, SpanContext
from swarmscope.core import missing_required
from swarmscope.instrument import EventBusMode, instrument_object, trace_callable, trace_event_bus
from swarmscope.spans import INHERIT, SELF_SPAN, LlmSpan, Span, TaskSpan
from swarmscope_schema.events import EVENT_ID_PATTERN
from swarmscope_schema.taxonomy import PAYLOAD_MODELS, PHASES, REQUIRED_FIELDS

if TYPE_CHECKING:
    from swarmscope.core import TracerCore

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

SESSION = "_"  # pass as agent_id for a session-level event (no agent), even from an agent's view
# Required payload fields per canonical type, as sets: `data.keys() >= required` is one C call.
_REQUIRED: dict[str, frozenset[str]] = {t: frozenset(REQUIRED_FIELDS.get(t, ())) for t in PAYLOAD_MODELS}
_current_span = CURRENT_SPAN.get
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_PHASES = frozenset(PHASES)
_RANKS = {"low": 0, "normal": 1, "high": 2, "critical": 3}


class EmitterBase:
    """Emits events for one session, optionally bound to one agent: the mechanics. The swarm
    vocabulary on top of it is `swarmscope.Emitter`; see `Tracer` and `Tracer.agent`."""

    __slots__ = ("_agent", "_core")

    def __init__(self, core: TracerCore, agent_id: str | None) -> None:
        if agent_id is not None:
            core.check_agent(agent_id)
        self._core = core
        self._agent = agent_id

    @property
    def session_id(self) -> str:
        return self._core.session_id

    @property
    def agent_id(self) -> str | None:
        """The agent this emitter speaks for (None: the tracer's default, or the enclosing span's)."""
        return self._agent or self._core.default_agent

    def _resolve_agent(self, agent_id: str | None, ctx: SpanContext | None) -> str | None:
        agent = (
            agent_id or self._agent or (ctx.agent_id if ctx is not None else None) or self._core.default_agent
        )
        if agent == SESSION:
            return None
        if agent is not None and agent not in self._core.known_agents:
            self._core.check_agent(agent)
        return agent

    def emit(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        phase: str = "complete",
        agent_id: str | None = None,
        span_id: str | None = None,
        parent_id: str | None = INHERIT,
        priority: str | None = None,
        tags: list[str] | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        performance: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        timestamp: float | None = None,
        _admitted: bool = False,
    ) -> str | None:
        """Emits one event; returns its id, or None when selective tracing left it out.

        `type` is a taxonomy type, a Claude-Flow alias or `custom.<name>`; `data` must hold the
        type's required fields (a ValueError says which are missing). The parent span, the agent
        and the correlation id come from the enclosing span unless given. `data` is copied
        shallowly: nested objects are read when the publisher encodes them, within milliseconds.
        """
        core = self._core
        # `type` is the parameter here (the contract's field name), hence __class__.
        if data is not None and data.__class__ is not dict and not isinstance(data, Mapping):
            raise TypeError(f"event data must be a mapping (a dict), got {data.__class__.__name__}")
        required = _REQUIRED.get(type)
        if required is not None:
            if required and (data is None or not data.keys() >= required):
                missing_required(type, data)
        else:
            agent_id = core.check_other_type(type, data, agent_id)
        if phase not in _PHASES:
            raise ValueError(f"phase must be one of {sorted(_PHASES)}, got {phase!r}")
        rank = core.default_rank if priority is None else _RANKS.get(priority, -1)
        if rank < 0:
            raise ValueError(f"priority must be one of {list(_RANKS)}, got {priority!r}")
        ctx = _current_span()
        if ctx is not None and ctx.session_id != core.session_id:
            ctx = None
        agent = agent_id or self._agent or (ctx.agent_id if ctx is not None else None) or core.default_agent
        if agent is not None:
            if agent == SESSION:
                agent = None
            elif agent not in core.known_agents:
                core.check_agent(agent)
        if core.selective and not _admitted:
            reason = core.selector.check(type, phase, rank, agent, None if ctx is None else ctx.sampled)
            if reason is not None:
                core.drops.add(reason, rank)
                return None
        if core.closed:
            core.warn_closed(rank)
            return None
        if timestamp is None:
            timestamp = _time() * 1000.0 if core.clock is None else core.clock()
        seq = next(core.counter)
        if event_id is None:
            event_id = f"{int(timestamp):011x}{core.tag}{seq & 0xFFFFFF:06x}"
        elif not _EVENT_ID.match(event_id):
            raise ValueError(f"event_id must match {EVENT_ID_PATTERN}, got {event_id!r}")
        event: dict[str, Any] = {
            "id": event_id,
            "timestamp": timestamp,
            "session_id": core.session_id,
            "type": type,
            "phase": phase,
            "data": dict(data) if data else {},
        }
        if agent is not None:
            event["agent_id"] = agent
            counter = core.agent_seqs.get(agent)
            if counter is None:
                counter = core.agent_seqs.setdefault(agent, itertools.count(1))
            event["agent_seq"] = next(counter)
        if span_id is not None:
            event["span_id"] = event_id if span_id is SELF_SPAN else span_id
        if parent_id is INHERIT:
            parent_id = ctx.span_id if ctx is not None else None
        if correlation_id is None and ctx is not None:
            correlation_id = ctx.correlation_id
        if (
            parent_id
            or correlation_id
            or causation_id
            or rank != 1
            or tags
            or core.tags
            or metadata
            or core.retention
        ):
            meta: dict[str, Any] = dict(metadata) if metadata else {}
            if parent_id:
                meta["parent_id"] = parent_id
            if correlation_id:
                meta["correlation_id"] = correlation_id
            if causation_id:
                meta["causation_id"] = causation_id
            if rank != 1:
                meta["priority"] = priority or ("low", "normal", "high", "critical")[rank]
            if tags or core.tags:
                meta["tags"] = [*core.tags, *(tags or ())]
            if core.retention and "retention" not in meta:
                meta["retention"] = core.retention
            event["metadata"] = meta
        if performance:
            event["performance"] = dict(performance)
        if core.sink is not None:
            core.sink(rank, seq, event)
            return event_id
        queues = core.queues
        buffered = len(queues[0]) + len(queues[1]) + len(queues[2]) + len(queues[3])
        if buffered < core.capacity:
            queues[rank].append((seq, event))
        else:
            core.buffer.shed(rank, (seq, event))
        publisher = core.publisher
        # Wake the publisher when it sleeps, and when a full batch is waiting (flush on size).
        if publisher is not None and (publisher.idle or buffered == core.batch_size):
            publisher.wake()
        return event_id

    # ------------------------------------------------------------------------------------ spans --

    def span(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        agent_id: str | None = None,
        span_id: str | None = None,
        parent_id: str | None = INHERIT,
        priority: str | None = None,
        tags: list[str] | None = None,
        correlation_id: str | None = None,
    ) -> Span:
        """A span of `type`: start, then complete (or error with the exception) under one span id.

        `with tracer.span("tool_call", {"tool": "Bash", "args": {...}}) as s: s.set(exit_code=0)`;
        works with `async with` too.
        """
        return Span(
            self,
            type,
            data,
            agent_id=agent_id,
            span_id=span_id,
            parent_id=parent_id,
            priority=priority,
            tags=tags,
            correlation_id=correlation_id,
        )

    def task(
        self,
        task_id: str,
        *,
        attempt: int = 1,
        agent_id: str | None = None,
        priority: str | None = None,
        **data: Any,
    ) -> TaskSpan:
        """A task attempt as a span: task_start, task_progress (`span.progress`), then task_complete,
        or task_fail if the block raises (call `span.retry()` to state `will_retry`)."""
        return TaskSpan(self, str(task_id), attempt, agent_id=agent_id, priority=priority, data=data)

    def tool_call(self, tool: str, args: Any = None, *, agent_id: str | None = None, **data: Any) -> Span:
        """A tool call as a span; `span.set(result=…, exit_code=…)`, `span.fail(error, exit_code=1)`."""
        return Span(self, "tool_call", {"tool": tool, "args": args, **data}, agent_id=agent_id)

    def llm_call(
        self, model: str, prompt: Any = None, *, agent_id: str | None = None, **data: Any
    ) -> LlmSpan:
        """An LLM call as a span; `span.set_response(text)`, `span.set_usage(in, out, cost)`."""
        payload = {"model": model, **data}
        if prompt is not None:
            payload["prompt"] = prompt
        return LlmSpan(self, "llm_call", payload, agent_id=agent_id)

    # ------------------------------------------------------------------ decorators, instrumentation --

    @overload
    def trace(self, fn: F) -> F: ...

    @overload
    def trace(
        self,
        fn: None = None,
        *,
        type: str = "agent_method",
        name: str | None = None,
        capture_args: bool = True,
        capture_result: bool = True,
        priority: str | None = None,
        agent_id: str | None = None,
    ) -> Callable[[F], F]: ...

    def trace(
        self,
        fn: F | None = None,
        *,
        type: str = "agent_method",
        name: str | None = None,
        capture_args: bool = True,
        capture_result: bool = True,
        priority: str | None = None,
        agent_id: str | None = None,
    ) -> F | Callable[[F], F]:
        """Traces every call of a function (sync, async, generator or async generator) as a span.

        `@tracer.trace` or `@tracer.trace(type="tool_call", name="search")`. The default type is
        `agent_method` with `method` (the name) and `args`; the result goes in the closing event.
        Behaviour, return values and exceptions are the function's own.
        """

        def decorate(function: F) -> F:
            return trace_callable(
                self,
                function,
                event_type=type,
                name=name,
                capture_args=capture_args,
                capture_result=capture_result,
                priority=priority,
                agent_id=agent_id,
            )

        return decorate(fn) if fn is not None else decorate

    def instrument(
        self,
        obj: T,
        *,
        agent_id: str | None = None,
        methods: list[str] | None = None,
        exclude: list[str] | None = None,
        capture_args: bool = True,
        capture_result: bool = True,
    ) -> T:
        """Traces every public method call of `obj` as `agent_method` spans, in place; returns `obj`.

        The agent is `agent_id`, else the object's own `agent_id` / `id` attribute when it is a valid
        agent name. Calls of one method from another nest. `swarmscope.uninstrument(obj)` undoes it.
        """
        return instrument_object(
            self,
            obj,
            agent_id=agent_id,
            methods=methods,
            exclude=exclude,
            capture_args=capture_args,
            capture_result=capture_result,
        )

    def trace_event_bus(
        self, bus: T, *, mode: EventBusMode = "aliased", agent_id: str | None = None, method: str = "emit"
    ) -> T:
        """Traces a Claude-Flow style event bus: every `bus.emit(event, data)` becomes an event.

        `mode="aliased"`: names ingest knows (`task:created`, `agent:spawned`, …) are sent under
        their own name and normalized by ingest; other names become `communication` events with the
        name in `event`. `mode="communication"`: every emit is a `communication` event (seed §8.1).
        Handlers run inside the traced event's context, so what they emit nests under it.
        """
        return trace_event_bus(self, bus, mode=mode, agent_id=agent_id, method=method)
