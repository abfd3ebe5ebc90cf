"""The Claude Code hook mapping: recorded hook payloads become a session with parent/child agents,
tasks and tool spans, every event valid for ingest."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarmscope_schema.claude_code import (
    MAX_OPEN_TOOLS,
    HookPayloadError,
    custom_type,
    map_hook,
    mcp_tool,
    new_state,
    parse_tool_response,
    safe_name,
    subagent_name,
)
from swarmscope_schema.events import TraceEvent

FIXTURES = Path(__file__).resolve().parents[3] / "docs" / "contract" / "fixtures" / "claude-code-hooks.json"


def _run(name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    steps = json.loads(FIXTURES.read_text())["sessions"][name]
    state = new_state()
    counter = itertools.count(1)
    events: list[dict[str, Any]] = []
    for now, payload in steps:
        events += map_hook(payload, state, now=float(now), new_id=lambda: f"g{next(counter)}")
    return events, state


def _by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in events}


@pytest.mark.parametrize("name", ["subagent", "claude-flow-mcp", "edge-cases"])
def test_every_event_is_a_valid_trace_event_with_a_unique_id(name: str) -> None:
    events, _ = _run(name)
    assert len({e["id"] for e in events}) == len(events)
    for event in events:
        parsed = TraceEvent.model_validate(event)
        assert parsed.metadata.model_extra is not None
        assert parsed.metadata.model_extra["source"] == "claude-code"


def test_a_subagent_is_a_child_agent_of_the_caller_working_on_the_task_tool_use() -> None:
    events, state = _run("subagent")
    by_id = _by_id(events)
    spawn = by_id["spawn-Explore-a7f3c2e91b"]
    assert spawn["type"] == "agent_spawn"
    assert spawn["agent_id"] == "Explore-a7f3c2e91b"
    assert spawn["data"]["parent_agent_id"] == "main"
    assert spawn["data"]["agent_type"] == "Explore"
    # The Task tool use is the subagent's task: assigned to it, started and completed by it.
    assert by_id["toolu_02Task1.task"]["type"] == "task_create"
    assert by_id["toolu_02Task1.assign"]["data"] == {
        "task_id": "toolu_02Task1",
        "agent_id": "Explore-a7f3c2e91b",
        "attempt": 1,
    }
    start, end = by_id["toolu_02Task1.task-start"], by_id["toolu_02Task1.task-end"]
    assert (start["agent_id"], end["agent_id"]) == ("Explore-a7f3c2e91b", "Explore-a7f3c2e91b")
    assert end["data"]["result"].startswith("config.py:load_config()")
    # The subagent's own tool call hangs under its task, which hangs under the Task tool call.
    grep = by_id["toolu_03Grep1.start"]
    assert grep["agent_id"] == "Explore-a7f3c2e91b"
    assert grep["metadata"]["parent_id"] == "sp_toolu_02Task1_a1"
    assert start["metadata"]["parent_id"] == "toolu_02Task1"
    assert by_id["toolu_02Task1.start"]["metadata"]["parent_id"] == "sp_prompt-1_a1"
    terminated = [
        e for e in events if e["type"] == "agent_terminate" and e["agent_id"] == "Explore-a7f3c2e91b"
    ]
    assert len(terminated) == 1
    assert state["tools"] == {}
    assert state["prompt"] is None


def test_tool_uses_are_spans_keyed_by_tool_use_id() -> None:
    events, _ = _run("subagent")
    calls = [e for e in events if e["type"] == "tool_call"]
    spans: dict[str, list[str]] = {}
    for call in calls:
        spans.setdefault(call["span_id"], []).append(call["phase"])
    assert spans == {
        "toolu_01Read1": ["start", "complete"],
        "toolu_02Task1": ["start", "complete"],
        "toolu_03Grep1": ["start", "complete"],
        "toolu_04Bash1": ["start", "error"],
    }
    by_id = _by_id(events)
    assert by_id["toolu_01Read1.start"]["data"] == {
        "tool": "Read",
        "args": {"file_path": "/home/dev/limiter/limiter.py"},
    }
    assert by_id["toolu_01Read1.end"]["performance"] == {"duration": 60.0}
    failure = by_id["toolu_04Bash1.end"]
    assert failure["data"]["error"].startswith("Exit code 1")
    assert failure["metadata"]["priority"] == "high"


def test_a_prompt_is_a_task_of_main_until_claude_stops() -> None:
    events, _ = _run("subagent")
    prompt = [
        e
        for e in events
        if (e["metadata"].get("correlation_id") == "prompt-1") and e["type"].startswith("task_")
    ]
    assert [e["type"] for e in prompt] == ["task_create", "task_assignment", "task_start", "task_complete"]
    assert prompt[0]["data"]["description"].startswith("Find where the rate limiter")
    assert prompt[-1]["data"]["result"].startswith("Added tests/test_burst.py")
    assert events[-1]["type"] == "session_end"
    assert events[-2]["type"] == "agent_terminate"


def test_claude_flow_mcp_tools_become_memory_task_and_agent_events() -> None:
    events, _ = _run("claude-flow-mcp")
    effects = {e["id"]: e for e in events if e["id"].endswith(".effect")}
    write = effects["toolu_14Mem.effect"]
    assert write["type"] == "memory_write"
    assert write["data"]["key"] == "design/limiter"
    assert write["data"]["namespace"] == "swarm"
    assert write["data"]["value"] == {"algorithm": "token bucket", "api_key": "sk-live-123"}
    assert write["metadata"]["parent_id"] == "toolu_14Mem"
    # The failed store (success: false) changed nothing.
    assert "toolu_15MemBad.effect" not in effects
    assert effects["toolu_16Get.effect"]["data"] == {
        "namespace": "swarm",
        "key": "design/limiter",
        "hit": True,
    }
    spawn = effects["toolu_11Spawn.effect"]
    assert (spawn["type"], spawn["agent_id"], spawn["data"]["parent_agent_id"]) == (
        "agent_spawn",
        "coder-1",
        "main",
    )
    created = effects["toolu_12Task.effect"]
    assert (created["type"], created["data"]["task_id"]) == ("task_create", "task-1796500001300-ab12")
    assigned = effects["toolu_13Assign.effect"]
    assert assigned["data"]["agent_id"] == "coder-1"
    assert effects["toolu_17Done.effect"]["type"] == "task_complete"
    assert effects["toolu_18Del.effect"]["type"] == "memory_delete"
    terminated = effects["toolu_19Term.effect"]
    assert (terminated["type"], terminated["agent_id"]) == ("agent_terminate", "coder-1")
    assert effects["toolu_10Swarm.effect"]["data"]["kind"] == "swarm_init"


def test_messages_to_the_user_and_compaction() -> None:
    events, _ = _run("claude-flow-mcp")
    messages = [e for e in events if e["type"] == "communication"]
    assert [m["data"]["message"]["type"] for m in messages] == ["permission_prompt", "permission_request"]
    assert all(m["data"]["message"]["to"] == ["user"] for m in messages)
    assert messages[1]["data"]["message"]["content"]["args"] == {"command": "rm -rf build/"}
    compaction = [e for e in events if e["type"] == "context_update"]
    assert [c["phase"] for c in compaction] == ["start", "complete"]
    assert compaction[0]["span_id"] == compaction[1]["span_id"]
    assert compaction[0]["metadata"]["parent_id"] == compaction[1]["metadata"]["parent_id"]


def test_parallel_subagents_claim_the_task_tool_use_of_their_type() -> None:
    events, state = _run("edge-cases")
    by_id = _by_id(events)
    assert by_id["spawn-Plan-b1"]["metadata"]["parent_id"] == "toolu_31B"
    assert by_id["spawn-code-reviewer-c2"]["metadata"]["parent_id"] == "toolu_30A"
    # A second SubagentStart of the same agent is a resume, not a second spawn.
    spawns = [e for e in events if e["type"] == "agent_spawn" and e["agent_id"] == "code-reviewer-c2"]
    assert len(spawns) == 1
    # The interrupted Agent call fails the Plan subagent's task.
    assert by_id["toolu_31B.task-end"]["type"] == "task_fail"
    assert by_id["toolu_31B.task-end"]["agent_id"] == "Plan-b1"
    # Without subagent hooks the task ends with the tool use.
    assert by_id["toolu_32C.task-end"]["type"] == "task_complete"
    assert state["agents"]["Plan-b1"]["done"] is True


def test_hooks_before_session_start_open_the_session_and_interrupted_prompts_are_cancelled() -> None:
    events, _ = _run("edge-cases")
    assert [e["type"] for e in events[:2]] == ["session_start", "agent_spawn"]
    cancelled = [e for e in events if e["type"] == "task_cancel"]
    assert [e["data"]["task_id"] for e in cancelled] == ["prompt-1"]
    assert events[-1]["type"] == "context_update"
    assert events[-1]["data"]["value"] == {"source": "resume", "model": "claude-sonnet-4-6"}


def test_unknown_hooks_and_agent_teams() -> None:
    events, _ = _run("edge-cases")
    custom = [e for e in events if e["type"].startswith("custom.")]
    assert [e["type"] for e in custom] == ["custom.claude_code.config_change"]
    assert custom[0]["data"]["file_path"] == "/home/dev/.claude/settings.json"
    team = [e for e in events if e["metadata"].get("correlation_id") == "cc-task-7"]
    assert [e["type"] for e in team] == ["task_create", "task_complete"]
    writer = [e for e in events if e.get("agent_id") == "writer"]
    assert [e["type"] for e in writer] == ["agent_spawn", "agent_status"]
    failure = next(e for e in events if e["type"] == "task_fail" and e["data"]["task_id"] == "prompt-2")
    assert failure["data"]["error"] == "rate_limit"


def test_re_emitted_session_events_keep_their_ids() -> None:
    """A lost state re-announces the session and `main` under the same ids, which dedupe."""
    payload = {"session_id": "s-1", "hook_event_name": "Stop"}
    first = map_hook(payload, new_state(), now=1.0, new_id=lambda: "x")
    second = map_hook(payload, new_state(), now=2.0, new_id=lambda: "y")
    assert [e["id"] for e in first[:2]] == [e["id"] for e in second[:2]] == ["session-start", "spawn-main"]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "text",
        {"hook_event_name": "Stop"},
        {"session_id": "s", "hook_event_name": ""},
        {"session_id": 3, "hook_event_name": "Stop"},
    ],
)
def test_payloads_without_session_or_event_are_refused(payload: Any) -> None:
    with pytest.raises(HookPayloadError):
        map_hook(payload, new_state(), now=1.0, new_id=lambda: "x")


def test_state_stays_bounded_when_tool_uses_never_finish() -> None:
    state = new_state()
    ids: Iterator[int] = itertools.count()
    for n in range(MAX_OPEN_TOOLS + 50):
        map_hook(
            {"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": f"t{n}"},
            state,
            now=float(n),
            new_id=lambda: f"g{next(ids)}",
        )
    assert len(state["tools"]) == MAX_OPEN_TOOLS
    assert "t0" not in state["tools"]


def test_an_old_state_version_starts_over() -> None:
    state: dict[str, Any] = {"v": 0, "started": True}
    events = map_hook({"session_id": "s", "hook_event_name": "Stop"}, state, now=1.0, new_id=lambda: "x")
    assert events[0]["type"] == "session_start"
    assert state["v"] == new_state()["v"]


def test_names_and_helpers() -> None:
    assert safe_name("a b/c") == "a-b-c"
    assert safe_name("_") == "unknown"
    assert safe_name("x" * 300) == "x" * 128
    assert safe_name("héllo🙂") == "h-llo-"
    assert subagent_name("my-plugin:reviewer", "a1") == "my-plugin-reviewer-a1"
    assert subagent_name(None, None) == "subagent"
    assert custom_type("ConfigChange") == "custom.claude_code.config_change"
    assert custom_type("WorktreeCreate") == "custom.claude_code.worktree_create"
    assert mcp_tool("mcp__claude-flow__memory_store") == "memory_store"
    assert mcp_tool("mcp__ruflo__task_create") == "task_create"
    assert mcp_tool("mcp__github__create_issue") is None
    assert mcp_tool("Bash") is None
    assert parse_tool_response([{"type": "text", "text": '{"a": 1}'}]) == {"a": 1}
    assert parse_tool_response({"content": [{"type": "text", "text": "plain"}], "isError": False}) == "plain"
    assert parse_tool_response({"structuredContent": {"b": 2}, "content": []}) == {"b": 2}
    assert parse_tool_response({"found": True}) == {"found": True}
