"""Claude-Flow's own event names and payloads (CLAUDE-FLOW.md) normalize to canonical events."""

from __future__ import annotations

from typing import Any

import pytest

from swarmscope_schema.aliases import ALIASES
from swarmscope_schema.events import TraceEvent

# Payloads as Claude-Flow's EventBus and swarm coordinator emit them.
CLAUDE_FLOW_PAYLOADS: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "agent:spawned": (
        {"agentId": "cod-1", "profile": {"type": "coder", "name": "Coder"}, "sessionId": "s"},
        "agent_spawn",
        {"agent_type": "coder", "name": "Coder"},
    ),
    "agent.created": (
        {"agentId": "res-1", "type": "researcher"},
        "agent_spawn",
        {"agent_type": "researcher"},
    ),
    "agent:terminated": ({"agentId": "cod-1", "reason": "done"}, "agent_terminate", {"reason": "done"}),
    "agent:error": (
        {"agentId": "cod-1", "error": {"message": "crashed"}},
        "error",
        {"message": "crashed", "scope": "agent"},
    ),
    "agent:status-changed": (
        {"agentId": "cod-1", "from": "idle", "to": "busy"},
        "agent_status",
        {"status": "busy", "from": "idle"},
    ),
    "task:created": (
        {"task": {"id": "T1", "description": "research", "dependencies": [], "priority": 5}},
        "task_create",
        {"task_id": "T1", "description": "research", "dependencies": []},
    ),
    "task:assigned": (
        {"taskId": "T1", "agentId": "res-1"},
        "task_assignment",
        {"task_id": "T1", "agent_id": "res-1"},
    ),
    "task.assigned": (
        {"taskId": "T1", "agentId": "res-1"},
        "task_assignment",
        {"task_id": "T1", "agent_id": "res-1"},
    ),
    "task:started": ({"taskId": "T1", "agentId": "res-1"}, "task_start", {"task_id": "T1"}),
    "task:completed": (
        {"taskId": "T1", "result": {"ok": 1}},
        "task_complete",
        {"task_id": "T1", "result": {"ok": 1}},
    ),
    "task:failed": ({"taskId": "T1", "error": "boom"}, "task_fail", {"task_id": "T1", "error": "boom"}),
    "task:cancelled": (
        {"taskId": "T1", "reason": "stop"},
        "task_cancel",
        {"task_id": "T1", "reason": "stop"},
    ),
    "task.retried": ({"taskId": "T1", "error": "flaky"}, "task_fail", {"task_id": "T1", "will_retry": True}),
    "memory:created": (
        {"entry": {"id": "e1", "key": "notes", "namespace": "swarm", "value": {"a": 1}, "version": 1}},
        "memory_write",
        {"key": "notes", "namespace": "swarm", "value": {"a": 1}, "version": 1},
    ),
    "memory:updated": (
        {"entry": {"key": "notes", "value": "v2", "version": 2}, "previousVersion": 1},
        "memory_write",
        {"key": "notes", "value": "v2", "version": 2},
    ),
    "memory:deleted": ({"entryId": "notes"}, "memory_delete", {"key": "notes"}),
    "message:sent": (
        {"from": "res-1", "to": "cod-1", "message": {"id": "m1", "type": "query", "payload": {"q": 1}}},
        "communication",
        {"direction": "sent"},
    ),
    "message:received": (
        {"from": "res-1", "to": ["cod-1"], "message": {"id": "m1", "type": "response", "payload": "ok"}},
        "communication",
        {"direction": "received"},
    ),
    "deadlock:detected": (
        {"agents": ["a", "b"], "resources": ["r"]},
        "coordination",
        {"kind": "deadlock", "details": {"agents": ["a", "b"], "resources": ["r"]}},
    ),
    "resource:acquired": (
        {"resourceId": "r1", "agentId": "a"},
        "coordination",
        {"kind": "resource_acquired"},
    ),
    "resource:released": (
        {"resourceId": "r1", "agentId": "a"},
        "coordination",
        {"kind": "resource_released"},
    ),
}


def test_every_contract_alias_is_covered() -> None:
    assert set(ALIASES) == set(CLAUDE_FLOW_PAYLOADS)


@pytest.mark.parametrize("alias", sorted(CLAUDE_FLOW_PAYLOADS))
def test_alias_maps_to_canonical_type_and_payload(alias: str) -> None:
    data, canonical, expected = CLAUDE_FLOW_PAYLOADS[alias]
    event = TraceEvent.model_validate(
        {"id": "e1", "timestamp": 1, "session_id": "s1", "type": alias, "data": data}
    )
    assert event.type == canonical
    for key, value in expected.items():
        assert event.data[key] == value, key
    # Nothing the producer sent is dropped.
    for key in data:
        assert key in event.data


def test_message_alias_builds_a_canonical_message() -> None:
    event = TraceEvent.model_validate(
        {
            "id": "e1",
            "timestamp": 1,
            "session_id": "s1",
            "type": "message:sent",
            "data": {
                "from": "res-1",
                "to": "cod-1",
                "message": {"id": "m1", "type": "query", "payload": "hi", "replyTo": "m0"},
            },
        }
    )
    message = event.data["message"]
    assert message["from"] == "res-1"
    assert message["to"] == ["cod-1"]
    assert message["content"] == "hi"
    assert message["in_reply_to"] == "m0"


def test_agent_id_is_lifted_from_claude_flow_payloads() -> None:
    event = TraceEvent.model_validate(
        {
            "id": "e1",
            "timestamp": 1,
            "session_id": "s1",
            "type": "agent:spawned",
            "data": {"agentId": "cod-1", "profile": {"type": "coder"}},
        }
    )
    assert event.agent_id == "cod-1"


def test_alias_with_missing_required_data_is_still_a_clear_error() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        TraceEvent.model_validate(
            {"id": "e1", "timestamp": 1, "session_id": "s1", "type": "task:assigned", "data": {}}
        )
    assert "data.task_id" in [".".join(map(str, e["loc"])) for e in info.value.errors()]
