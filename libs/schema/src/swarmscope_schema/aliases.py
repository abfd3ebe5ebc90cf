"""Claude-Flow's own event names (CONTRACT §2, CLAUDE-FLOW.md) mapped to canonical types.

An alias maps a name to a canonical type and adapts Claude-Flow's payload (camelCase, nested
`task` / `entry` / `message` objects) to the canonical payload. Adapters only add canonical keys;
the original keys stay in `data`, so nothing a producer sent is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from swarmscope_schema.taxonomy import EventType

DataAdapter = Callable[[dict[str, Any]], dict[str, Any]]


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in data and data[key] is not None:
            return data[key]
    return None


def _with(data: dict[str, Any], **canonical: Any) -> dict[str, Any]:
    """Adds canonical keys that are not already present and have a value."""
    out = dict(data)
    for key, value in canonical.items():
        if key not in out and value is not None:
            out[key] = value
    return out


def _agent_spawned(data: dict[str, Any]) -> dict[str, Any]:
    profile = data.get("profile")
    profile = profile if isinstance(profile, Mapping) else {}
    return _with(
        data,
        agent_type=_first(data, "agentType", "type") or _first(profile, "type", "agentType"),
        name=_first(data, "name") or _first(profile, "name"),
        capabilities=_first(data, "capabilities") or _first(profile, "capabilities"),
        parent_agent_id=_first(data, "parentAgentId", "parentId"),
    )


def _agent_status_changed(data: dict[str, Any]) -> dict[str, Any]:
    return _with(
        data,
        status=_first(data, "status", "to", "newStatus"),
        **{"from": _first(data, "from", "oldStatus", "previousStatus")},
    )


def _agent_error(data: dict[str, Any]) -> dict[str, Any]:
    error = data.get("error")
    message = error.get("message") if isinstance(error, Mapping) else error
    return _with(data, message=str(message) if message is not None else "agent error", scope="agent")


def _task_fields(data: dict[str, Any]) -> dict[str, Any]:
    task = data.get("task")
    task = task if isinstance(task, Mapping) else {}
    return _with(
        data,
        task_id=_first(data, "taskId") or _first(task, "id", "taskId"),
        agent_id=_first(data, "agentId") or _first(task, "assignedAgent", "agentId"),
        description=_first(task, "description"),
        dependencies=_first(task, "dependencies"),
        priority=_first(task, "priority"),
        max_retries=_first(task, "maxRetries"),
        attempt=_first(data, "attempt") or _first(task, "attempts"),
    )


def _task_retried(data: dict[str, Any]) -> dict[str, Any]:
    return _with(_task_fields(data), will_retry=True)


def _memory_fields(data: dict[str, Any]) -> dict[str, Any]:
    entry = data.get("entry")
    entry = entry if isinstance(entry, Mapping) else {}
    return _with(
        data,
        namespace=_first(entry, "namespace"),
        key=_first(entry, "key", "id") or _first(data, "entryId", "key"),
        value=_first(entry, "value", "content"),
        version=_first(entry, "version"),
    )


def _memory_write(data: dict[str, Any]) -> dict[str, Any]:
    out = _memory_fields(data)
    # A write always carries a value, even when the entry's value is null.
    out.setdefault("value", None)
    return out


def _message(direction: str) -> DataAdapter:
    def adapt(data: dict[str, Any]) -> dict[str, Any]:
        message = data.get("message")
        message = dict(message) if isinstance(message, Mapping) else {}
        to = _first(data, "to") or _first(message, "to", "receivers", "targets") or []
        canonical = {
            "id": _first(message, "id") or _first(data, "messageId"),
            "from": _first(data, "from") or _first(message, "from", "sender"),
            "to": to if isinstance(to, list) else [to],
            "type": _first(message, "type"),
            "content": _first(message, "content", "payload"),
            "in_reply_to": _first(message, "in_reply_to", "replyTo", "inReplyTo"),
        }
        merged = {**{k: v for k, v in canonical.items() if v is not None}, **message}
        merged.setdefault("to", canonical["to"])
        out = dict(data)
        out["message"] = merged
        return _with(out, direction=direction)

    return adapt


def _coordination(kind: str) -> DataAdapter:
    def adapt(data: dict[str, Any]) -> dict[str, Any]:
        return _with(data, kind=kind, details=dict(data))

    return adapt


def _identity(data: dict[str, Any]) -> dict[str, Any]:
    return data


ALIASES: dict[str, tuple[EventType, DataAdapter]] = {
    "agent:spawned": (EventType.AGENT_SPAWN, _agent_spawned),
    "agent.created": (EventType.AGENT_SPAWN, _agent_spawned),
    "agent:terminated": (EventType.AGENT_TERMINATE, _identity),
    "agent:error": (EventType.ERROR, _agent_error),
    "agent:status-changed": (EventType.AGENT_STATUS, _agent_status_changed),
    "task:created": (EventType.TASK_CREATE, _task_fields),
    "task:assigned": (EventType.TASK_ASSIGNMENT, _task_fields),
    "task.assigned": (EventType.TASK_ASSIGNMENT, _task_fields),
    "task:started": (EventType.TASK_START, _task_fields),
    "task:completed": (EventType.TASK_COMPLETE, _task_fields),
    "task:failed": (EventType.TASK_FAIL, _task_fields),
    "task:cancelled": (EventType.TASK_CANCEL, _task_fields),
    "task.retried": (EventType.TASK_FAIL, _task_retried),
    "memory:created": (EventType.MEMORY_WRITE, _memory_write),
    "memory:updated": (EventType.MEMORY_WRITE, _memory_write),
    "memory:deleted": (EventType.MEMORY_DELETE, _memory_fields),
    "message:sent": (EventType.COMMUNICATION, _message("sent")),
    "message:received": (EventType.COMMUNICATION, _message("received")),
    "deadlock:detected": (EventType.COORDINATION, _coordination("deadlock")),
    "resource:acquired": (EventType.COORDINATION, _coordination("resource_acquired")),
    "resource:released": (EventType.COORDINATION, _coordination("resource_released")),
}


def resolve_alias(event_type: str) -> tuple[str, DataAdapter]:
    """The canonical type for a name and the adapter for its payload (identity if not an alias)."""
    alias = ALIASES.get(event_type)
    if alias is None:
        return event_type, _identity
    return alias[0].value, alias[1]
