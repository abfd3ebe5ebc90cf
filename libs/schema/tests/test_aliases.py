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


# (v1.1) Claude-Flow v3: payloads as @claude-flow/shared's EventBus producers (orchestrator managers,
# domain events) and @claude-flow/swarm's UnifiedSwarmCoordinator emit them (read from the packages).
V3_PAYLOADS: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "agent:idle": ({"agentId": "cod-1"}, "agent_status", {"status": "idle"}),
    "agent:busy": ({"agentId": "cod-1", "taskId": "T1"}, "agent_status", {"status": "busy"}),
    "agent:started": ({"agentId": "cod-1", "startedAt": 1}, "agent_status", {"status": "idle"}),
    "agent:stopped": ({"agentId": "cod-1", "reason": "done", "stoppedAt": 2}, "agent_terminate", {}),
    "agent:failed": (
        {"agentId": "cod-1", "error": "out of memory", "stack": "Error: out of memory\n    at x"},
        "error",
        {"message": "out of memory", "scope": "agent", "agent_status": "error", "recoverable": False},
    ),
    "agent:task-assigned": (
        {"agentId": "cod-1", "taskId": "T1", "assignedAt": 3},
        "task_assignment",
        {"task_id": "T1", "agent_id": "cod-1"},
    ),
    "agent:task-completed": (
        {"agentId": "cod-1", "taskId": "T1", "result": {"ok": True}, "duration": 12},
        "task_complete",
        {"task_id": "T1", "result": {"ok": True}},
    ),
    "task:timeout": ({"taskId": "T1"}, "task_fail", {"task_id": "T1", "error": "timeout"}),
    "task:retry": (
        {"taskId": "T1", "attempt": 2, "maxAttempts": 3},
        "task_progress",
        {"task_id": "T1", "task_status": "retrying"},
    ),
    "task:blocked": ({"taskId": "T1", "reason": "waits on T0"}, "task_progress", {"task_status": "blocked"}),
    "task:queued": ({"taskId": "T1"}, "task_progress", {"task_status": "queued"}),
    "memory:stored": (
        {"memoryId": "m-1", "namespace": "swarm", "key": "notes", "memoryType": "semantic", "size": 12},
        "memory_write",
        {"namespace": "swarm", "key": "notes", "value": None},
    ),
    "memory:retrieved": (
        {"memoryId": "m-1", "namespace": "swarm", "key": "notes", "accessCount": 2},
        "memory_read",
        {"namespace": "swarm", "key": "notes", "hit": True},
    ),
    "memory:expired": ({"namespace": "swarm", "key": "notes"}, "memory_delete", {"reason": "expired"}),
    "coordination:deadlock": (
        {"agents": ["a", "b"], "resources": ["r"]},
        "coordination",
        {"kind": "deadlock", "details": {"agents": ["a", "b"], "resources": ["r"]}},
    ),
    "coordination:started": ({"plan": "p"}, "coordination", {"kind": "coordination_started"}),
    "coordination:completed": ({"plan": "p"}, "coordination", {"kind": "coordination_completed"}),
    "session:created": ({"sessionId": "cf-1", "name": "build"}, "session_start", {"name": "build"}),
    "session:terminated": ({"sessionId": "cf-1"}, "session_end", {"status": "terminated"}),
    "swarm.initialized": (
        {"swarmId": "swarm_1", "initDurationMs": 1.2},
        "coordination",
        {"kind": "swarm_initialized"},
    ),
    "swarm.started": (
        {"swarmId": "swarm_1", "topology": "hierarchical", "consensus": "raft"},
        "session_start",
        {"topology": "hierarchical", "strategy": "raft"},
    ),
    "swarm.paused": ({"swarmId": "swarm_1"}, "coordination", {"kind": "swarm_paused"}),
    "swarm.resumed": ({"swarmId": "swarm_1"}, "coordination", {"kind": "swarm_resumed"}),
    "swarm.stopped": (
        {"swarmId": "swarm_1", "totalTasks": 1, "completedTasks": 1},
        "session_end",
        {"status": "completed"},
    ),
    "agent.joined": (
        {"agentId": "agent_swarm_1_1", "type": "coder", "registrationDurationMs": 0.6},
        "agent_spawn",
        {"agent_type": "coder"},
    ),
    "agent.started": ({"agentId": "cod-1"}, "agent_status", {"status": "idle"}),
    "agent.stopped": ({"agentId": "cod-1"}, "agent_terminate", {}),
    "agent.left": ({"agentId": "agent_swarm_1_1"}, "agent_terminate", {}),
    "agent.status_changed": (
        {"agentId": "agent_swarm_1_1", "status": "busy"},
        "agent_status",
        {"status": "busy"},
    ),
    "task.created": (
        {"taskId": "task_swarm_1_1", "type": "coding", "priority": "normal", "assignedTo": "agent_swarm_1_1"},
        "task_create",
        {"task_id": "task_swarm_1_1", "priority": "normal"},
    ),
    "task.queued": (
        {"taskId": "T1", "domain": "core", "queuePosition": 1},
        "task_progress",
        {"task_status": "queued"},
    ),
    "task.started": ({"taskId": "T1", "agentId": "a1"}, "task_start", {"task_id": "T1"}),
    "task.completed": (
        {"taskId": "T1", "agentId": "a1", "result": {"ok": True}},
        "task_complete",
        {"task_id": "T1", "result": {"ok": True}},
    ),
    "task.failed": (
        {"taskId": "T1", "reason": "cancelled"},
        "task_fail",
        {"task_id": "T1", "error": "cancelled"},
    ),
    "task.cancelled": ({"taskId": "T1", "reason": "stop"}, "task_cancel", {"task_id": "T1"}),
    "consensus.achieved": (
        {"proposalId": "p1", "approvalRate": 1.0, "durationMs": 3},
        "coordination",
        {"kind": "consensus", "outcome": "achieved"},
    ),
    "consensus.failed": (
        {"proposalId": "p1", "approvalRate": 0.4, "reason": "threshold_not_met"},
        "coordination",
        {"kind": "consensus", "outcome": "failed"},
    ),
    "message.sent": (
        {"from": "coord", "to": "a1", "message": {"id": "m1", "type": "task_assign", "payload": {"t": 1}}},
        "communication",
        {"direction": "sent"},
    ),
    "message.received": (
        {"messageId": "m1", "from": "coord", "to": "a1"},
        "communication",
        {"direction": "received"},
    ),
}
ALL_PAYLOADS = {**CLAUDE_FLOW_PAYLOADS, **V3_PAYLOADS}


def test_every_contract_alias_is_covered() -> None:
    assert set(ALIASES) == set(ALL_PAYLOADS)


@pytest.mark.parametrize("alias", sorted(ALL_PAYLOADS))
def test_alias_maps_to_canonical_type_and_payload(alias: str) -> None:
    data, canonical, expected = ALL_PAYLOADS[alias]
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


def test_message_to_given_as_text_becomes_a_list() -> None:
    event = TraceEvent.model_validate(
        {
            "id": "e1",
            "timestamp": 1,
            "session_id": "s1",
            "type": "message:sent",
            "data": {"message": {"id": "m1", "from": "a", "to": "b", "content": "hi"}},
        }
    )
    assert event.data["message"]["to"] == ["b"]


def test_an_incomplete_coordinator_message_is_a_clear_error() -> None:
    """UnifiedSwarmCoordinator's `message.received` names no sender: no message can be built."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        TraceEvent.model_validate(
            {
                "id": "e1",
                "timestamp": 1,
                "session_id": "s1",
                "type": "message.received",
                "data": {"messageId": "m1", "to": "a1"},
            }
        )
    assert "data.message.from" in [".".join(map(str, e["loc"])) for e in info.value.errors()]


def test_rule_engine_defaults_text_and_whole_payload() -> None:
    from swarmscope_schema.aliases import ALIAS_RULES, adapt

    error = adapt(ALIAS_RULES["agent:error"], {"agentId": "a", "error": {"code": 7}})
    assert error["message"] == '{"code":7}'
    assert adapt(ALIAS_RULES["agent:error"], {"agentId": "a"})["message"] == "agent error"
    deadlock = adapt(ALIAS_RULES["deadlock:detected"], {"agents": ["a"]})
    assert deadlock["details"] == {"agents": ["a"]}
    # A producer's own canonical keys win over the rule's.
    assert adapt(ALIAS_RULES["task:failed"], {"taskId": "T1", "task_id": "T9"})["task_id"] == "T9"
    assert adapt(ALIAS_RULES["agent:idle"], {"agentId": "a", "status": "paused"})["status"] == "paused"


def test_v3_event_bus_envelope_is_accepted() -> None:
    """The envelope a v3 EventBus handler receives, serialized as JSON (the Date becomes ISO text)."""
    envelope = {
        "id": "evt_mxc97bct_aa3054dd69c83fdf17a1713c",
        "type": "task:completed",
        "timestamp": "2026-12-06T19:43:00.250Z",
        "source": "event-bus",
        "payload": {"taskId": "T1", "result": {"ok": True}},
        "priority": "high",
        "correlationId": "c-1",
        "causationId": "evt_prev",
        "metadata": {"sessionId": "cf-session", "version": 1},
    }
    event = TraceEvent.model_validate(envelope)
    assert event.session_id == "cf-session"
    assert event.type == "task_complete"
    assert event.data["task_id"] == "T1"
    assert event.data["result"] == {"ok": True}
    assert event.metadata.correlation_id == "c-1"
    assert event.metadata.causation_id == "evt_prev"
    assert event.metadata.priority == "high"
    assert event.timestamp == 1796586180250.0
    assert "payload" not in (event.model_extra or {})


def test_coordinator_envelope_with_iso_timestamp_is_accepted() -> None:
    event = TraceEvent.model_validate(
        {
            "id": "event_1796586448851_abc123",
            "type": "task.assigned",
            "source": "swarm_1",
            "timestamp": "2026-12-06T19:47:28.851+00:00",
            "session_id": "s1",
            "data": {"taskId": "T1", "agentId": "a1"},
        }
    )
    assert event.type == "task_assignment"
    assert event.agent_id == "a1"
    assert event.timestamp == 1796586448851.0


def test_a_timestamp_text_that_is_no_date_is_still_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        TraceEvent.model_validate({"id": "e1", "timestamp": "yesterday", "session_id": "s1", "type": "error"})
