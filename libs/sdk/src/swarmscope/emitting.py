"""What spans and instrumentation need of an emitter, as a Protocol.

`emitter.py` builds on `spans.py` and `instrument.py` (its `span()`, `trace()`, `instrument()`);
they in turn hand their events back to the emitter that made them. Naming that emitter through this
Protocol instead of `emitter.EmitterBase` keeps the import graph one-way (issue 19: no cycle, not
even a type-only one); `EmitterBase` satisfies it structurally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from swarmscope.context import SpanContext
from swarmscope.core import TracerCore


class Emitting(Protocol):
    """An emitter as its spans and instrumentation see it."""

    @property
    def _core(self) -> TracerCore: ...

    @property
    def session_id(self) -> str: ...

    @property
    def agent_id(self) -> str | None: ...

    def _resolve_agent(self, agent_id: str | None, ctx: SpanContext | None) -> str | None: ...

    def emit(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        phase: str = ...,
        agent_id: str | None = None,
        span_id: str | None = None,
        parent_id: str | None = ...,
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
        """Emits one event; returns its id, or None when selective tracing left it out."""
