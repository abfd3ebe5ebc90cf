"""`swarmscope hook` against a real local swarmscope (nats-server, ingest, store, replay, gateway as
processes): Claude Code's recorded hook payloads become a stored session whose events are exactly
the contract's recorded cases, with the subagent a child agent and tool uses as spans, and whose
replayed state is right at any seq. The hook never fails Claude Code: bad input, an unreachable
NATS and a mistyped command line all exit 0 with nothing on stdout, and lose nothing."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from swarmscope import claude_hook
from swarmscope.claude_hook import HookOptions
from swarmscope.encoding import EventEncoder
from swarmscope_dev.stack import LocalStack

API_KEY = "hook-test-key-0123"
CONTRACT = Path(__file__).resolve().parents[3] / "docs" / "contract"
FIXTURES = json.loads((CONTRACT / "fixtures" / "claude-code-hooks.json").read_text())["sessions"]
CASES = json.loads((CONTRACT / "claude-code-hook-cases.json").read_text())["cases"]
GENERATED = re.compile(r"^g\d+$")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        data_dir=tmp_path_factory.mktemp("stack"),
        env={"SWARMSCOPE_DEMO": "0", "SWARMSCOPE_API_KEYS": API_KEY},
    ) as running:
        yield running


def _get(stack: LocalStack, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{stack.gateway_url}/api/v1{path}", params=params, headers={"authorization": f"Bearer {API_KEY}"}
    )
    response.raise_for_status()
    return response.json()


def stored(stack: LocalStack, session_id: str) -> list[dict[str, Any]]:
    try:
        items: list[dict[str, Any]] = _get(stack, f"/sessions/{session_id}/events", limit=1000)["items"]
    except httpx.HTTPStatusError:
        return []
    return items


def options(tmp_path: Path, **overrides: Any) -> HookOptions:
    values: dict[str, Any] = {
        "state_dir": tmp_path / "state",
        "log_path": tmp_path / "hook.log",
        "timeout": 5.0,
        "nats_url": None,
        "gateway_url": None,
        "api_key": None,
    }
    values.update(overrides)
    return HookOptions(**values)


def payloads(name: str, session_id: str) -> list[dict[str, Any]]:
    """The recorded payloads of a fixture session, moved to a session of the test's own."""
    return [{**payload, "session_id": session_id} for _now, payload in FIXTURES[name]]


def hook(payload: dict[str, Any] | bytes, opts: HookOptions) -> int:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return claude_hook.run(io.BytesIO(raw), opts)


def _comparable(event: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """The fields the mapping decides, with generated ids replaced through `ids`."""
    metadata = event.get("metadata") or {}
    picked = {
        "type": event["type"],
        "agent_id": event.get("agent_id"),
        "phase": event.get("phase", "complete"),
        # A stored event's span defaults to its id (CONTRACT §1).
        "span_id": event.get("span_id") or event["id"],
        "parent_id": metadata.get("parent_id"),
        "correlation_id": metadata.get("correlation_id"),
        "data": event.get("data"),
    }
    text = json.dumps(picked, sort_keys=True)
    for generated, real in ids.items():
        text = text.replace(f'"{generated}"', f'"{real}"')
    value: dict[str, Any] = json.loads(text)
    return value


def assert_stored_as_recorded(name: str, events: list[dict[str, Any]]) -> None:
    """The stored events, in seq order, are the recorded case's events as the SDK sends them
    (redacted), ids the mapping generates (fresh per call) matched by position."""
    encoder = EventEncoder()
    expected = [encoder.prepare(e) for step in CASES[name] for e in step["events"]]
    assert [e["type"] for e in events] == [e["type"] for e in expected]
    ids: dict[str, str] = {}
    for want, got in zip(expected, events, strict=True):
        if GENERATED.match(want["id"]):
            ids[want["id"]] = got["id"]
        else:
            assert got["id"] == want["id"]
    for want, got in zip(expected, events, strict=True):
        assert _comparable(got, {}) == _comparable(want, ids), want["id"]
        assert got["metadata"]["source"] == "claude-code"


def test_a_recorded_session_is_stored_as_the_contract_cases_say_with_a_child_agent_and_tool_spans(
    stack: LocalStack, tmp_path: Path, wait_for: Callable[..., None]
) -> None:
    session_id = f"cc-{uuid.uuid4().hex[:10]}"
    opts = options(tmp_path, nats_url=stack.nats_url)
    steps = payloads("subagent", session_id)
    for payload in steps:
        assert hook(payload, opts) == 0
    expected_count = sum(len(step["events"]) for step in CASES["subagent"])
    wait_for(lambda: len(stored(stack, session_id)) == expected_count, timeout=60)
    events = stored(stack, session_id)
    assert_stored_as_recorded("subagent", events)
    # Stamped on receipt, in the order the hooks came.
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)

    agents = {a["agent_id"]: a for a in _get(stack, f"/sessions/{session_id}/agents")["items"]}
    assert set(agents) == {"main", "Explore-a7f3c2e91b"}
    assert agents["Explore-a7f3c2e91b"]["parent_agent_id"] == "main"
    assert agents["Explore-a7f3c2e91b"]["agent_type"] == "Explore"
    summary = _get(stack, f"/sessions/{session_id}")
    assert summary["source"] == "claude-code"
    assert summary["status"] == "completed"

    # Time travel: right after the subagent started its task, and at the end.
    started = next(e for e in events if e["id"] == "toolu_02Task1.task-start")
    during = _get(stack, f"/sessions/{session_id}/state", seq=started["seq"])
    child = during["agents"]["Explore-a7f3c2e91b"]
    assert (child["parent_agent_id"], child["status"]) == ("main", "busy")
    assert during["tasks"]["toolu_02Task1"]["status"] == "running"
    assert during["tasks"]["toolu_02Task1"]["agent_id"] == "Explore-a7f3c2e91b"
    assert during["tasks"]["prompt-1"]["status"] == "running"
    assert "toolu_02Task1" in during["open_spans"]
    end = _get(stack, f"/sessions/{session_id}/state", seq=events[-1]["seq"])
    assert end["agents"]["Explore-a7f3c2e91b"]["status"] == "terminated"
    assert end["tasks"]["toolu_02Task1"]["status"] == "completed"
    assert end["tasks"]["prompt-1"]["status"] == "completed"
    assert end["counters"]["tool_calls"] == 4
    assert not any(k.startswith("toolu_") for k in end["open_spans"])
    # SessionEnd: the session's state file is gone.
    assert list((tmp_path / "state").glob("*.json")) == []


def test_claude_flow_mcp_tools_become_memory_task_and_agent_events_over_http(
    stack: LocalStack, tmp_path: Path, wait_for: Callable[..., None]
) -> None:
    session_id = f"cc-{uuid.uuid4().hex[:10]}"
    opts = options(tmp_path, gateway_url=stack.gateway_url, api_key=API_KEY)
    for payload in payloads("claude-flow-mcp", session_id):
        assert hook(payload, opts) == 0
    expected_count = sum(len(step["events"]) for step in CASES["claude-flow-mcp"])
    wait_for(lambda: len(stored(stack, session_id)) == expected_count, timeout=60)
    events = stored(stack, session_id)
    assert_stored_as_recorded("claude-flow-mcp", events)
    # The recorded memory_store carries an API key: redacted before it left the hook.
    assert b"sk-live-123" in orjson.dumps(FIXTURES["claude-flow-mcp"])
    assert b"sk-live-123" not in orjson.dumps(events)
    memory_writes = [e for e in events if e["type"] == "memory_write"]
    assert memory_writes, "memory_store calls are memory writes"
    state = _get(stack, f"/sessions/{session_id}/state", seq=memory_writes[-1]["seq"])
    written = memory_writes[-1]["data"]
    key = f"{written['namespace']}/{written['key']}"
    assert state["memory"][key]["value"] == written["value"]


def test_edge_cases_unknown_events_and_a_session_without_end(
    stack: LocalStack, tmp_path: Path, wait_for: Callable[..., None]
) -> None:
    session_id = f"cc-{uuid.uuid4().hex[:10]}"
    opts = options(tmp_path, nats_url=stack.nats_url)
    for payload in payloads("edge-cases", session_id):
        assert hook(payload, opts) == 0
    expected_count = sum(len(step["events"]) for step in CASES["edge-cases"])
    wait_for(lambda: len(stored(stack, session_id)) == expected_count, timeout=60)
    assert_stored_as_recorded("edge-cases", stored(stack, session_id))
    # No SessionEnd: the state stays for the session's next hook, with nothing left to send.
    (state_file,) = (tmp_path / "state").glob("*.json")
    body = orjson.loads(state_file.read_bytes())
    assert body["pending"] == []
    assert body["state"]["started"] is True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_events_are_spooled_while_nats_is_away_and_sent_by_the_next_call(
    stack: LocalStack, tmp_path: Path, wait_for: Callable[..., None]
) -> None:
    session_id = f"cc-{uuid.uuid4().hex[:10]}"
    steps = payloads("subagent", session_id)
    away = options(tmp_path, nats_url=f"nats://127.0.0.1:{_free_port()}", timeout=0.5)
    for payload in steps[:3]:
        assert hook(payload, away) == 0
    body = orjson.loads((tmp_path / "state" / f"{session_id}.json").read_bytes())
    spooled = [e["id"] for e in body["pending"]]
    assert spooled[:2] == ["session-start", "spawn-main"]
    assert "toolu_01Read1.start" in spooled
    assert "spooled for the next call" in (tmp_path / "hook.log").read_text()
    assert stored(stack, session_id) == []

    back = options(tmp_path, nats_url=stack.nats_url)
    for payload in steps[3:]:
        assert hook(payload, back) == 0
    expected_count = sum(len(step["events"]) for step in CASES["subagent"])
    wait_for(lambda: len(stored(stack, session_id)) == expected_count, timeout=60)
    assert_stored_as_recorded("subagent", stored(stack, session_id))


def test_flush_sends_what_a_session_left_spooled(
    stack: LocalStack, tmp_path: Path, wait_for: Callable[..., None]
) -> None:
    session_id = f"cc-{uuid.uuid4().hex[:10]}"
    away = options(tmp_path, nats_url=f"nats://127.0.0.1:{_free_port()}", timeout=0.5)
    for payload in payloads("subagent", session_id):
        assert hook(payload, away) == 0
    # SessionEnd came while NATS was away: the file holds only the spool.
    body = orjson.loads((tmp_path / "state" / f"{session_id}.json").read_bytes())
    assert body["state"] is None
    assert len(body["pending"]) > 10
    sent, left = claude_hook.flush(options(tmp_path, nats_url=stack.nats_url), deadline=1e18)
    assert (sent, left) == (len(body["pending"]), 0)
    wait_for(lambda: len(stored(stack, session_id)) == sent, timeout=60)
    assert_stored_as_recorded("subagent", stored(stack, session_id))
    assert list((tmp_path / "state").glob("*.json")) == []


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"session_id": "s1", "hook_event_name": "PreTool', "not valid JSON"),
        (b'["a list"]', "a hook payload is a JSON object"),
        (b'{"hook_event_name": "Stop"}', "the hook payload has no session_id"),
        (b'{"session_id": "s1"}', "the hook payload has no hook_event_name"),
    ],
)
def test_bad_input_is_logged_and_kept_and_exits_zero(tmp_path: Path, raw: bytes, why: str) -> None:
    opts = options(tmp_path, nats_url="nats://127.0.0.1:1")
    assert hook(raw, opts) == 0
    assert why in (tmp_path / "hook.log").read_text()
    (kept,) = (tmp_path / "state" / "rejected").glob("*.json")
    assert kept.read_bytes() == raw


def test_the_console_script_prints_nothing_exits_zero_and_publishes(
    stack: LocalStack, tmp_path: Path, wait_for: Callable[..., None]
) -> None:
    script = Path(sys.executable).with_name("swarmscope")
    session_id = f"cc-{uuid.uuid4().hex[:10]}"
    env = {
        "PATH": str(script.parent),
        "HOME": str(tmp_path),
        "SWARMSCOPE_NATS_URL": stack.nats_url,
        "SWARMSCOPE_HOOK_STATE_DIR": str(tmp_path / "state"),
    }
    first, second = payloads("subagent", session_id)[:2]
    for payload in (first, second):
        done = subprocess.run(
            [str(script), "hook"], input=orjson.dumps(payload), capture_output=True, env=env, timeout=60
        )
        assert (done.returncode, done.stdout) == (0, b"")
    wait_for(lambda: len(stored(stack, session_id)) == 5, timeout=60)
    assert [e["type"] for e in stored(stack, session_id)] == [
        "session_start",
        "agent_spawn",
        "task_create",
        "task_assignment",
        "task_start",
    ]
    # A mistyped hook command line does not block Claude Code either.
    done = subprocess.run(
        [str(script), "hook", "--no-such-flag"], input=b"{}", capture_output=True, env=env, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, b"")
