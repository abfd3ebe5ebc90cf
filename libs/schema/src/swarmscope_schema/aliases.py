"""Claude-Flow's own event names (CONTRACT §2, CLAUDE-FLOW.md, INTEGRATIONS.md) mapped to canonical types.

An alias maps a name to a canonical type and adapts Claude-Flow's payload (camelCase, nested
`task` / `entry` / `message` objects) to the canonical payload. Adapters only add canonical keys;
the original keys stay in `data`, so nothing a producer sent is lost.

The adapters are data, not code: each alias is a rule (`AliasRule`) saying where each canonical
field is found in the payload, read by one small interpreter (`adapt`). The same rules are exported
to `docs/contract/aliases.json` (`make contract`), where the TypeScript SDK reads them, so ingest and
the Node producers agree on every name and on what a payload needs to be complete.

Rule language (the JSON form is the same):
- a field spec is a list of paths (`"task.id"` reads `data["task"]["id"]`, `"agentIds.0"` the first
  item of a list); the first value that is not None wins; `"$data"` is a copy of the whole payload;
- or an object `{"paths": [...], "default": v, "text": true, "list": true}`: `default` when no path
  has a value, `text` turns the value into a string, `list` wraps a single value in a list;
- or `{"object": {field: spec, ...}, "merge": path, "defaults": {...}}`: a nested object built from
  its own specs, overlaid with the mapping at `merge` (the producer's own keys win), then `defaults`
  for what is still missing; it replaces the key (the canonical `message` of a communication).
- `constants` are added when the payload lacks them (`kind` of a coordination, `will_retry`, an
  explicit `task_status`).

(v1.1) Claude-Flow v3 names and its event envelope are accepted too (`unwrap_envelope`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from swarmscope_schema.taxonomy import PRIORITIES, EventType

DataAdapter = Callable[[dict[str, Any]], dict[str, Any]]
FieldSpec = list[str] | dict[str, Any]

WHOLE_PAYLOAD = "$data"


@dataclass(frozen=True)
class AliasRule:
    """How one Claude-Flow name becomes a canonical event (see the module docstring)."""

    type: EventType
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The rule as JSON-ready data (docs/contract/aliases.json)."""
        out: dict[str, Any] = {"type": self.type.value}
        if self.fields:
            out["fields"] = self.fields
        if self.constants:
            out["constants"] = self.constants
        return out


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    if path == WHOLE_PAYLOAD:
        return dict(data)
    value: Any = data
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        else:
            return None
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    # The same text in Python and in JavaScript (JSON.stringify), for objects and numbers alike.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def resolve_field(spec: FieldSpec, data: Mapping[str, Any]) -> Any:
    """The value a field spec finds in `data` (see the module docstring), or None."""
    if isinstance(spec, list):
        for path in spec:
            value = _lookup(data, path)
            if value is not None:
                return value
        return None
    if "object" in spec:
        built: dict[str, Any] = {}
        for key, sub in spec["object"].items():
            value = resolve_field(sub, data)
            if value is not None:
                built[key] = value
        merge = _lookup(data, spec["merge"]) if "merge" in spec else None
        if isinstance(merge, Mapping):
            built = {**built, **merge}
        for key, default in spec.get("defaults", {}).items():
            if built.get(key) is None:
                built[key] = default
        for key, sub in spec["object"].items():
            if (
                isinstance(sub, dict)
                and sub.get("list")
                and key in built
                and not isinstance(built[key], list)
            ):
                built[key] = [built[key]]
        return built
    value = resolve_field(spec["paths"], data)
    if value is None:
        value = spec.get("default")
    if value is None:
        return None
    if spec.get("text"):
        value = _text(value)
    if spec.get("list") and not isinstance(value, list):
        value = [value]
    return value


def adapt(rule: AliasRule, data: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical payload of `data` under `rule`: the producer's keys plus the canonical ones."""
    out = dict(data)
    for key, spec in rule.fields.items():
        if isinstance(spec, dict) and "object" in spec:
            out[key] = resolve_field(spec, data)
            continue
        if key in out and out[key] is not None:
            continue
        value = resolve_field(spec, data)
        if value is not None:
            out[key] = value
    for key, value in rule.constants.items():
        out.setdefault(key, value)
    return out


# ----------------------------------------------------------------------------- the field specs --

_AGENT_SPAWN: dict[str, FieldSpec] = {
    "agent_type": ["agentType", "type", "role", "profile.type", "profile.agentType", "profile.role"],
    "name": ["name", "profile.name"],
    "capabilities": ["capabilities", "profile.capabilities"],
    "parent_agent_id": ["parentAgentId", "parentId", "profile.parentAgentId"],
}
_AGENT_STATUS: dict[str, FieldSpec] = {
    "status": ["status", "to", "newStatus"],
    "from": ["from", "oldStatus", "previousStatus"],
}
_TASK: dict[str, FieldSpec] = {
    "task_id": ["taskId", "task.id", "task.taskId"],
    "agent_id": ["agentId", "task.assignedAgent", "task.agentId"],
    "description": ["task.description", "description"],
    "dependencies": ["task.dependencies", "dependencies"],
    "priority": ["task.priority", "priority"],
    "max_retries": ["task.maxRetries", "maxRetries"],
    "attempt": ["attempt", "task.attempts"],
}
_TASK_ERROR: dict[str, FieldSpec] = {**_TASK, "error": ["error", "reason"]}
_MEMORY: dict[str, FieldSpec] = {
    "namespace": ["entry.namespace", "namespace"],
    "key": ["entry.key", "entry.id", "entryId", "key", "memoryId"],
}
_MEMORY_WRITE: dict[str, FieldSpec] = {
    **_MEMORY,
    "value": {"paths": ["entry.value", "entry.content", "value", "content"]},
    "version": ["entry.version", "version"],
}
_ERROR: dict[str, FieldSpec] = {
    "message": {"paths": ["error.message", "error", "message"], "text": True, "default": "agent error"},
    "stack": ["stack", "error.stack"],
}


def _message_fields() -> dict[str, FieldSpec]:
    return {
        "message": {
            "object": {
                "id": ["message.id", "messageId"],
                "from": ["from", "message.from", "message.sender"],
                "to": {"paths": ["to", "message.to", "message.receivers", "message.targets"], "list": True},
                "type": ["message.type"],
                "content": ["message.content", "message.payload"],
                "in_reply_to": ["message.in_reply_to", "message.replyTo", "message.inReplyTo"],
            },
            "merge": "message",
            "defaults": {"to": []},
        }
    }


def _coordination(kind: str, **constants: Any) -> AliasRule:
    return AliasRule(EventType.COORDINATION, {"details": [WHOLE_PAYLOAD]}, {"kind": kind, **constants})


def _task_status(status: str) -> AliasRule:
    """A task-level change of status with no canonical type of its own (queued, blocked, retrying)."""
    return AliasRule(EventType.TASK_PROGRESS, _TASK, {"task_status": status})


_E = EventType
ALIAS_RULES: dict[str, AliasRule] = {
    # -- v2 EventBus (CLAUDE-FLOW.md) and the contract's list
    "agent:spawned": AliasRule(_E.AGENT_SPAWN, _AGENT_SPAWN),
    "agent.created": AliasRule(_E.AGENT_SPAWN, _AGENT_SPAWN),
    "agent:terminated": AliasRule(_E.AGENT_TERMINATE),
    "agent:error": AliasRule(_E.ERROR, _ERROR, {"scope": "agent"}),
    "agent:status-changed": AliasRule(_E.AGENT_STATUS, _AGENT_STATUS),
    "task:created": AliasRule(_E.TASK_CREATE, _TASK),
    "task:assigned": AliasRule(_E.TASK_ASSIGNMENT, _TASK),
    "task.assigned": AliasRule(_E.TASK_ASSIGNMENT, _TASK),
    "task:started": AliasRule(_E.TASK_START, _TASK),
    "task:completed": AliasRule(_E.TASK_COMPLETE, _TASK),
    "task:failed": AliasRule(_E.TASK_FAIL, _TASK_ERROR),
    "task:cancelled": AliasRule(_E.TASK_CANCEL, _TASK),
    "task.retried": AliasRule(_E.TASK_FAIL, _TASK_ERROR, {"will_retry": True}),
    "memory:created": AliasRule(_E.MEMORY_WRITE, _MEMORY_WRITE, {"value": None}),
    "memory:updated": AliasRule(_E.MEMORY_WRITE, _MEMORY_WRITE, {"value": None}),
    "memory:deleted": AliasRule(_E.MEMORY_DELETE, _MEMORY),
    "message:sent": AliasRule(_E.COMMUNICATION, _message_fields(), {"direction": "sent"}),
    "message:received": AliasRule(_E.COMMUNICATION, _message_fields(), {"direction": "received"}),
    "deadlock:detected": _coordination("deadlock"),
    "resource:acquired": _coordination("resource_acquired"),
    "resource:released": _coordination("resource_released"),
    # -- (v1.1) v3 EventBus (@claude-flow/shared SystemEventTypes and domain events)
    "agent:idle": AliasRule(_E.AGENT_STATUS, _AGENT_STATUS, {"status": "idle"}),
    "agent:busy": AliasRule(_E.AGENT_STATUS, _AGENT_STATUS, {"status": "busy"}),
    "agent:started": AliasRule(_E.AGENT_STATUS, _AGENT_STATUS, {"status": "idle"}),
    "agent:stopped": AliasRule(_E.AGENT_TERMINATE),
    "agent:failed": AliasRule(
        _E.ERROR, _ERROR, {"scope": "agent", "recoverable": False, "agent_status": "error"}
    ),
    "agent:task-assigned": AliasRule(_E.TASK_ASSIGNMENT, _TASK),
    "agent:task-completed": AliasRule(_E.TASK_COMPLETE, _TASK),
    "task:timeout": AliasRule(
        _E.TASK_FAIL, {**_TASK, "error": {"paths": ["error", "reason"], "default": "timeout"}}
    ),
    "task:retry": _task_status("retrying"),
    "task:blocked": _task_status("blocked"),
    "task:queued": _task_status("queued"),
    "memory:stored": AliasRule(_E.MEMORY_WRITE, _MEMORY_WRITE, {"value": None}),
    "memory:retrieved": AliasRule(
        _E.MEMORY_READ, {**_MEMORY, "version_read": ["version", "entry.version"]}, {"hit": True}
    ),
    "memory:expired": AliasRule(_E.MEMORY_DELETE, _MEMORY, {"reason": "expired"}),
    "coordination:deadlock": _coordination("deadlock"),
    "coordination:started": _coordination("coordination_started"),
    "coordination:completed": _coordination("coordination_completed"),
    "session:created": AliasRule(_E.SESSION_START, {"objective": ["objective"], "name": ["name"]}),
    "session:terminated": AliasRule(
        _E.SESSION_END, {"status": {"paths": ["status"], "default": "terminated"}}
    ),
    # -- (v1.1) v3 UnifiedSwarmCoordinator (@claude-flow/swarm) and the v2 swarm coordinator
    "swarm.initialized": _coordination("swarm_initialized"),
    "swarm.started": AliasRule(
        _E.SESSION_START, {"topology": ["topology"], "strategy": ["strategy", "consensus"]}
    ),
    "swarm.paused": _coordination("swarm_paused"),
    "swarm.resumed": _coordination("swarm_resumed"),
    "swarm.stopped": AliasRule(_E.SESSION_END, {"status": {"paths": ["status"], "default": "completed"}}),
    "agent.joined": AliasRule(_E.AGENT_SPAWN, _AGENT_SPAWN),
    "agent.started": AliasRule(_E.AGENT_STATUS, _AGENT_STATUS, {"status": "idle"}),
    "agent.stopped": AliasRule(_E.AGENT_TERMINATE),
    "agent.left": AliasRule(_E.AGENT_TERMINATE),
    "agent.status_changed": AliasRule(_E.AGENT_STATUS, _AGENT_STATUS),
    "task.created": AliasRule(_E.TASK_CREATE, _TASK),
    "task.queued": _task_status("queued"),
    "task.started": AliasRule(_E.TASK_START, _TASK),
    "task.completed": AliasRule(_E.TASK_COMPLETE, _TASK),
    "task.failed": AliasRule(_E.TASK_FAIL, _TASK_ERROR),
    "task.cancelled": AliasRule(_E.TASK_CANCEL, _TASK),
    "consensus.achieved": _coordination("consensus", outcome="achieved"),
    "consensus.failed": _coordination("consensus", outcome="failed"),
    "message.sent": AliasRule(_E.COMMUNICATION, _message_fields(), {"direction": "sent"}),
    "message.received": AliasRule(_E.COMMUNICATION, _message_fields(), {"direction": "received"}),
}


def _adapter(rule: AliasRule) -> DataAdapter:
    def adapt_payload(data: dict[str, Any]) -> dict[str, Any]:
        return adapt(rule, data)

    return adapt_payload


def _identity(data: dict[str, Any]) -> dict[str, Any]:
    return data


ALIASES: dict[str, tuple[EventType, DataAdapter]] = {
    name: (rule.type, _adapter(rule)) for name, rule in ALIAS_RULES.items()
}


def resolve_alias(event_type: str) -> tuple[str, DataAdapter]:
    """The canonical type for a name and the adapter for its payload (identity if not an alias)."""
    alias = ALIASES.get(event_type)
    if alias is None:
        return event_type, _identity
    return alias[0].value, alias[1]


# ------------------------------------------------------------------------- the v3 event envelope --

# (v1.1) Claude-Flow v3 hands its handlers an envelope: `{id, type, timestamp: Date, source, payload,
# priority, correlationId, causationId, metadata: {sessionId}}` (EventBus) or `{id, type, source,
# timestamp, data}` (UnifiedSwarmCoordinator). Where each part of a trace event is found in it:
ENVELOPE_FIELDS: dict[str, list[str]] = {
    "data": ["payload", "data"],
    "session_id": ["metadata.sessionId", "sessionId"],
    "correlation_id": ["correlationId", "metadata.correlationId"],
    "causation_id": ["causationId", "metadata.causationId"],
    "priority": ["priority"],
    "source": ["source"],
}


def is_envelope(raw: Mapping[str, Any]) -> bool:
    """True for a Claude-Flow v3 envelope: a `type` and a `payload` object instead of `data`."""
    return isinstance(raw.get("type"), str) and isinstance(raw.get("payload"), Mapping) and "data" not in raw


def envelope_timestamp(value: Any) -> Any:
    """Epoch milliseconds of a timestamp given as an ISO 8601 text (a serialized JavaScript Date);
    anything else is returned unchanged for the event model to judge."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp() * 1000.0


def unwrap_envelope(raw: dict[str, Any]) -> dict[str, Any]:
    """(v1.1) A v3 envelope in the event's own shape; any other object is returned as it is, but
    for an ISO 8601 `timestamp`, which becomes epoch milliseconds.

    The payload becomes `data`, `metadata.sessionId` the session, `correlationId`, `causationId` and
    `priority` go to `metadata`; every other key of the envelope is kept.
    """
    out = raw
    if isinstance(raw.get("timestamp"), str):
        out = {**raw, "timestamp": envelope_timestamp(raw["timestamp"])}
    if not is_envelope(raw):
        return out
    out = {k: v for k, v in out.items() if k != "payload"}
    out["data"] = dict(raw["payload"])
    metadata = dict(raw["metadata"]) if isinstance(raw.get("metadata"), Mapping) else {}
    if "session_id" not in out and "sessionId" not in out:
        session = resolve_field(ENVELOPE_FIELDS["session_id"], raw)
        if isinstance(session, str):
            out["session_id"] = session
    for key in ("correlation_id", "causation_id"):
        value = resolve_field(ENVELOPE_FIELDS[key], raw)
        if isinstance(value, str) and key not in metadata:
            metadata[key] = value
    priority = raw.get("priority")
    if priority in PRIORITIES and "priority" not in metadata:
        metadata["priority"] = priority
    out.pop("correlationId", None)
    out.pop("causationId", None)
    if priority in PRIORITIES:
        out.pop("priority", None)
    out["metadata"] = metadata
    return out


def alias_document() -> dict[str, Any]:
    """docs/contract/aliases.json: every alias name → canonical type, and the rules behind them."""
    return {
        "aliases": {name: rule.type.value for name, rule in sorted(ALIAS_RULES.items())},
        "rules": {name: rule.document() for name, rule in sorted(ALIAS_RULES.items())},
        "envelope": ENVELOPE_FIELDS,
        "whole_payload": WHOLE_PAYLOAD,
    }
