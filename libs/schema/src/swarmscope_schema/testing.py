"""Factories for valid events of every type, for tests in every package.

`make_event(type)` gives a canonical wire dict with a unique id; `sample_payload(type)` the smallest
valid payload. They build plain dicts (what producers send), not models.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Iterator
from typing import Any

from swarmscope_schema.taxonomy import EventType

_SAMPLE_PAYLOADS: dict[str, dict[str, Any]] = {
    EventType.SESSION_START: {
        "objective": "build a rate limiter",
        "name": "demo",
        "topology": "hierarchical",
    },
    EventType.SESSION_END: {"status": "completed"},
    EventType.AGENT_SPAWN: {"agent_type": "coder", "name": "Coder 1", "capabilities": ["python"]},
    EventType.AGENT_STATUS: {"status": "busy", "from": "idle"},
    EventType.AGENT_TERMINATE: {"reason": "done"},
    EventType.AGENT_METHOD: {"method": "plan", "args": {"depth": 2}},
    EventType.TASK_CREATE: {"task_id": "T1", "description": "research", "dependencies": []},
    EventType.TASK_ASSIGNMENT: {"task_id": "T1", "agent_id": "res-1", "attempt": 1},
    EventType.TASK_START: {"task_id": "T1", "attempt": 1},
    EventType.TASK_PROGRESS: {"task_id": "T1", "progress": 0.5, "message": "halfway"},
    EventType.TASK_COMPLETE: {"task_id": "T1", "result": {"ok": True}},
    EventType.TASK_FAIL: {"task_id": "T1", "error": "boom", "will_retry": False},
    EventType.TASK_CANCEL: {"task_id": "T1", "reason": "superseded"},
    EventType.COMMUNICATION: {
        "message": {
            "id": "m1",
            "from": "res-1",
            "to": ["cod-1"],
            "type": "notification",
            "content": "hi",
        },
        "direction": "sent",
    },
    EventType.MEMORY_WRITE: {"namespace": "swarm", "key": "notes", "value": {"a": 1}, "version": 1},
    EventType.MEMORY_READ: {"namespace": "swarm", "key": "notes", "version_read": 1, "hit": True},
    EventType.MEMORY_DELETE: {"namespace": "swarm", "key": "notes"},
    EventType.TOOL_CALL: {"tool": "Bash", "args": {"cmd": "pytest"}, "exit_code": 0},
    EventType.LLM_CALL: {
        "model": "claude-sonnet",
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_usd": 0.001,
    },
    EventType.DECISION: {
        "kind": "retry_strategy",
        "options": ["retry", "abort"],
        "chosen": "retry",
    },
    EventType.COORDINATION: {"kind": "consensus", "details": {"votes": 3}},
    EventType.CONTEXT_UPDATE: {"key": "focus", "value": "tests"},
    EventType.ERROR: {"message": "connection refused", "error_type": "ConnectionError"},
    EventType.PERFORMANCE_ALERT: {"metric": "latency_ms", "value": 120.0, "threshold": 50.0},
}


def sample_payload(event_type: str) -> dict[str, Any]:
    """The smallest realistic valid payload of a canonical type (a fresh copy)."""
    return copy.deepcopy(_SAMPLE_PAYLOADS.get(event_type, {"note": "custom"}))


def make_event(
    event_type: str = EventType.TOOL_CALL,
    *,
    session_id: str = "sess-test",
    agent_id: str | None = "agent-1",
    event_id: str | None = None,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A valid wire event dict; extra keyword arguments become envelope fields."""
    event: dict[str, Any] = {
        "id": event_id or f"ev-{uuid.uuid4().hex[:20]}",
        "timestamp": time.time() * 1000,
        "session_id": session_id,
        "type": str(event_type),
        "data": data if data is not None else sample_payload(event_type),
    }
    if agent_id is not None:
        event["agent_id"] = agent_id
    event.update(fields)
    return event


def every_type_events(session_id: str = "sess-test") -> Iterator[dict[str, Any]]:
    """One valid event of every canonical type."""
    for event_type in EventType:
        yield make_event(event_type, session_id=session_id)
