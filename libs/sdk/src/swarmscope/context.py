"""The enclosing span, carried in a context variable.

asyncio tasks copy the context when they are created, so a span opened before `create_task` is the
parent of what the task emits. Threads start with an empty context: run the thread's function
through `propagate(fn)` (or `contextvars.copy_context().run`) to nest it under the current span.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class SpanContext:
    """What nested events inherit from the span around them."""

    __slots__ = ("agent_id", "correlation_id", "sampled", "session_id", "span_id")

    def __init__(
        self,
        session_id: str,
        span_id: str | None,
        agent_id: str | None,
        sampled: bool,
        correlation_id: str | None,
    ) -> None:
        self.session_id = session_id
        self.span_id = span_id
        self.agent_id = agent_id
        self.sampled = sampled
        self.correlation_id = correlation_id


CURRENT_SPAN: contextvars.ContextVar[SpanContext | None] = contextvars.ContextVar(
    "swarmscope_current_span", default=None
)


def current_span_id() -> str | None:
    """The span id of the innermost open span in this context, if any."""
    ctx = CURRENT_SPAN.get()
    return ctx.span_id if ctx is not None else None


def propagate(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` bound to a copy of the current context, for threads and executors.

    `pool.submit(propagate(work), item)` makes the spans `work` opens children of the span that was
    open when `propagate` was called.
    """
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(fn, *args, **kwargs)

    return run
