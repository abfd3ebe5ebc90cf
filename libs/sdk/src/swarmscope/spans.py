"""Spans: a unit of work that emits a start event, then a complete or an error event, under one span id.

A span's id is the id of its start event. While it is open it is the parent of everything emitted in
its context (threads via `propagate`, asyncio tasks naturally). The closing event carries the
duration, the thread's CPU time and the process's resident memory in `performance`, plus whatever
the code added with `set_performance` (tokens, cost).
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from swarmscope.context import CURRENT_SPAN, SpanContext

if TYPE_CHECKING:
    from swarmscope.emitting import Emitting as Emitter

INHERIT: Any = object()  # "take the parent from the context"
SELF_SPAN = "\x00self"  # "this event opens a span: its span_id is its own id"
_MAX_STACK_FRAMES = 30


def describe_error(exc: BaseException) -> dict[str, Any]:
    """An exception as event data: type, message and a bounded traceback."""
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=_MAX_STACK_FRAMES))
    return {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__, "stack": stack}


class Span:
    """A traced unit of work; use with `with` / `async with`, or call `start()` and `end()`."""

    __slots__ = (
        "_agent_id",
        "_correlation_id",
        "_cpu0",
        "_ctx",
        "_data",
        "_done",
        "_emitter",
        "_failure",
        "_parent_id",
        "_perf0",
        "_performance",
        "_priority",
        "_result",
        "_rss0",
        "_tags",
        "_token",
        "_traced",
        "_ts0",
        "complete_type",
        "error_type",
        "progress_type",
        "span_id",
        "type",
    )

    def __init__(
        self,
        emitter: Emitter,
        event_type: str,
        data: Mapping[str, Any] | None = None,
        *,
        complete_type: str | None = None,
        error_type: str | None = None,
        progress_type: str | None = None,
        agent_id: str | None = None,
        span_id: str | None = None,
        parent_id: str | None = INHERIT,
        priority: str | None = None,
        tags: list[str] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self._emitter = emitter
        self.type = event_type
        self.complete_type = complete_type or event_type
        self.error_type = error_type or event_type
        self.progress_type = progress_type or event_type
        self._data: dict[str, Any] = dict(data) if data else {}
        self._agent_id = agent_id
        self.span_id: str | None = span_id
        self._parent_id = parent_id
        self._priority = priority
        self._tags = tags
        self._correlation_id = correlation_id
        self._result: dict[str, Any] = {}
        self._performance: dict[str, Any] = {}
        self._failure: BaseException | str | None = None
        self._token: Any = None
        self._ctx: SpanContext | None = None
        self._traced = False
        self._done = False
        self._perf0 = 0.0
        self._cpu0 = 0.0
        self._rss0 = 0
        self._ts0 = 0.0

    # ---------------------------------------------------------------------------------- lifecycle --

    def start(self, *, attach: bool = True) -> Self:
        """Emits the start event and makes this span the parent of what follows in this context.

        With `attach=False` the context is left alone; `context_value` is what to set while the
        span's own code runs (generators, which must not leak their span to their consumer).
        """
        emitter = self._emitter
        core = emitter._core
        ctx = core.context()
        agent = emitter._resolve_agent(self._agent_id, ctx)
        self._agent_id = agent
        if self._parent_id is INHERIT:
            self._parent_id = ctx.span_id if ctx is not None else None
        if self._correlation_id is None and ctx is not None:
            self._correlation_id = ctx.correlation_id
        sampled = True
        reason = core.admission(self.type, "start", self._priority, agent, ctx)
        if reason is None:
            self._begin_measure()
            event_id = emitter.emit(
                self.type,
                self._data,
                phase="start",
                agent_id=agent,
                span_id=self.span_id or SELF_SPAN,
                parent_id=self._parent_id,
                priority=self._priority,
                tags=self._tags,
                correlation_id=self._correlation_id,
                _admitted=True,
            )
            if event_id is not None:
                self._traced = True
                if self.span_id is None:
                    self.span_id = event_id
        elif reason == "sampled":
            sampled = False
        if self._traced or not sampled:
            # A span left out by sampling still opens a context, so that its whole subtree is left
            # out with it; one left out for other reasons is transparent (children attach higher up).
            self._ctx = SpanContext(
                core.session_id,
                self.span_id if self._traced else self._parent_id,
                agent,
                sampled,
                self._correlation_id,
            )
        else:
            self._ctx = ctx
        if attach and self._ctx is not ctx:
            self._token = CURRENT_SPAN.set(self._ctx)
        return self

    @property
    def context_value(self) -> SpanContext | None:
        """The context nested code runs in (this span, once started)."""
        return self._ctx

    def end(self, exc: BaseException | None = None) -> None:
        """Emits the closing event (error if `exc` is given or `fail` was called). Idempotent."""
        if self._done:
            return
        self._done = True
        if self._token is not None:
            # A span closed in another context (an async generator finalized elsewhere) cannot reset.
            with contextlib.suppress(ValueError):
                CURRENT_SPAN.reset(self._token)
            self._token = None
        if not self._traced:
            return
        failure = exc if exc is not None else self._failure
        emitter = self._emitter
        performance = self._measure()
        if failure is None:
            emitter.emit(
                self.complete_type,
                self.complete_data(),
                phase="complete",
                agent_id=self._agent_id,
                span_id=self.span_id,
                parent_id=self._parent_id,
                priority=self._priority,
                tags=self._tags,
                correlation_id=self._correlation_id,
                performance=performance,
                _admitted=True,
            )
        else:
            priority = self._priority if self._priority in ("high", "critical") else "high"
            emitter.emit(
                self.error_type,
                self.error_data(failure),
                phase="error",
                agent_id=self._agent_id,
                span_id=self.span_id,
                parent_id=self._parent_id,
                priority=priority,
                tags=self._tags,
                correlation_id=self._correlation_id,
                performance=performance,
                _admitted=True,
            )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.end(exc)

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.end(exc)

    # ------------------------------------------------------------------------------- during work --

    @property
    def traced(self) -> bool:
        """False when selective tracing left this span out."""
        return self._traced

    @property
    def agent_id(self) -> str | None:
        return self._agent_id

    def set(self, **data: Any) -> Self:
        """Adds fields to the closing event's data (e.g. `result=…`, `exit_code=0`)."""
        self._result.update(data)
        return self

    def set_performance(self, **performance: Any) -> Self:
        """Adds fields to the closing event's performance (e.g. `input_tokens`, `cost_usd`)."""
        self._performance.update(performance)
        return self

    def fail(self, error: BaseException | str, **data: Any) -> Self:
        """Marks the span failed without raising: it will close with an error event."""
        self._failure = error
        self._result.update(data)
        return self

    def progress(self, progress: float | None = None, message: str | None = None, **data: Any) -> str | None:
        """Emits a progress event of this span."""
        if not self._traced or self._done:
            return None
        payload = {**self.progress_base(), **data}
        if progress is not None:
            payload["progress"] = progress
        if message is not None:
            payload["message"] = message
        return self._emitter.emit(
            self.progress_type,
            payload,
            phase="progress",
            agent_id=self._agent_id,
            span_id=self.span_id,
            parent_id=self._parent_id,
            priority=self._priority,
            tags=self._tags,
            correlation_id=self._correlation_id,
            _admitted=True,
        )

    # ------------------------------------------------------------------ what the events carry --

    def progress_base(self) -> dict[str, Any]:
        return dict(self._data)

    def complete_data(self) -> dict[str, Any]:
        return {**self._data, **self._result}

    def error_data(self, failure: BaseException | str) -> dict[str, Any]:
        error = describe_error(failure) if isinstance(failure, BaseException) else {"message": failure}
        return {**self._data, **self._result, "error": error}

    def _begin_measure(self) -> None:
        core = self._emitter._core
        if core.clock is not None:
            self._ts0 = core.clock()
        else:
            self._perf0 = time.perf_counter()
        if core.measure:
            self._cpu0 = time.thread_time()
            self._rss0 = core.probe.rss_bytes()

    def _measure(self) -> dict[str, Any]:
        core = self._emitter._core
        if core.clock is not None:
            performance: dict[str, Any] = {"duration": round(core.clock() - self._ts0, 3)}
        else:
            performance = {"duration": round((time.perf_counter() - self._perf0) * 1000.0, 4)}
        if core.measure:
            rss = core.probe.rss_bytes()
            performance["cpu_time"] = round((time.thread_time() - self._cpu0) * 1000.0, 4)
            performance["memory_usage"] = rss
            performance["memory_delta"] = rss - self._rss0
        performance.update(self._performance)
        return performance


class TaskSpan(Span):
    """A task's attempt: task_start, task_progress, then task_complete or task_fail (phase error)."""

    __slots__ = ("attempt", "task_id", "will_retry")

    def __init__(self, emitter: Emitter, task_id: str, attempt: int = 1, **kwargs: Any) -> None:
        data = {"task_id": task_id, "attempt": attempt, **kwargs.pop("data", {})}
        kwargs.setdefault("span_id", task_span_id(task_id, attempt))
        kwargs.setdefault("correlation_id", task_id)
        super().__init__(
            emitter,
            "task_start",
            data,
            complete_type="task_complete",
            error_type="task_fail",
            progress_type="task_progress",
            **kwargs,
        )
        self.task_id = task_id
        self.attempt = attempt
        self.will_retry: bool | None = None

    def progress_base(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "attempt": self.attempt}

    def complete_data(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "attempt": self.attempt, **self._result}

    def error_data(self, failure: BaseException | str) -> dict[str, Any]:
        data: dict[str, Any] = {"task_id": self.task_id, "attempt": self.attempt}
        if isinstance(failure, BaseException):
            described = describe_error(failure)
            data.update(error=described["message"], error_type=described["type"], stack=described["stack"])
        else:
            data["error"] = failure
        if self.will_retry is not None:
            data["will_retry"] = self.will_retry
        data.update(self._result)
        return data

    def retry(self, will_retry: bool = True) -> TaskSpan:
        """States whether a failure of this attempt will be retried (`will_retry` in task_fail)."""
        self.will_retry = will_retry
        return self


class LlmSpan(Span):
    """An LLM call: `set_usage` puts tokens and cost in both data and performance."""

    __slots__ = ()

    def set_usage(
        self, input_tokens: int | None = None, output_tokens: int | None = None, cost_usd: float | None = None
    ) -> LlmSpan:
        usage = {
            k: v
            for k, v in (
                ("input_tokens", input_tokens),
                ("output_tokens", output_tokens),
                ("cost_usd", cost_usd),
            )
            if v is not None
        }
        self._result.update(usage)
        self._performance.update(usage)
        if input_tokens is not None or output_tokens is not None:
            self._performance["token_count"] = (input_tokens or 0) + (output_tokens or 0)
        return self

    def set_response(self, response: Any) -> LlmSpan:
        self._result["response"] = response
        return self


def task_span_id(task_id: str, attempt: int) -> str:
    """The span id of a task attempt (`sp_<task>_a<attempt>`), shared by its lifecycle events."""
    return f"sp_{task_id}_a{attempt}"
