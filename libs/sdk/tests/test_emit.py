"""The caller's path: what `emit` checks, and what the events look like on the wire (memory mode)."""

from __future__ import annotations

from typing import Any

import pytest

from swarmscope import SESSION, Tracer
from swarmscope_schema.events import TraceEvent
from swarmscope_schema.subjects import raw_subject


@pytest.fixture
def tracer() -> Any:
    t = Tracer("sess-emit", agent_id="coord-1", transport="memory")
    yield t
    t.close()


def test_events_are_valid_contract_events_with_unique_sortable_ids(tracer: Tracer) -> None:
    coder = tracer.agent("cod-1")
    for i in range(50):
        (coder if i % 2 else tracer).emit("tool_call", {"tool": "Bash", "args": {"i": i}, "exit_code": 0})
    ids = [e["id"] for e in tracer.events]
    assert len(set(ids)) == 50
    assert ids == sorted(ids)
    assert all(len(i) == 25 for i in ids)
    for event in tracer.events:
        TraceEvent.model_validate(event)
    seqs: dict[str, list[int]] = {}
    for event in tracer.events:
        seqs.setdefault(event["agent_id"], []).append(event["agent_seq"])
    assert seqs == {"coord-1": list(range(1, 26)), "cod-1": list(range(1, 26))}


def test_unknown_type_is_refused_naming_it(tracer: Tracer) -> None:
    with pytest.raises(ValueError, match="tool_cal"):
        tracer.emit("tool_cal", {"tool": "x"})
    with pytest.raises(ValueError, match="custom"):
        tracer.emit("custom.", {})
    assert tracer.events == []


def test_missing_required_fields_are_named(tracer: Tracer) -> None:
    with pytest.raises(ValueError, match=r"task_assignment.*\['task_id', 'agent_id'\]"):
        tracer.emit("task_assignment", {})
    with pytest.raises(ValueError, match=r"\['tool'\]"):
        tracer.emit("tool_call")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"phase": "done"}, "phase"),
        ({"priority": "urgent"}, "priority"),
        ({"agent_id": "bad agent!"}, "agent_id"),
        ({"agent_id": "x" * 129}, "agent_id"),
    ],
)
def test_bad_envelope_values_are_refused(tracer: Tracer, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tracer.emit("custom.x", {}, **kwargs)


def test_bad_session_or_agent_at_construction() -> None:
    with pytest.raises(ValueError, match="session_id"):
        Tracer("no spaces allowed", transport="memory")
    with pytest.raises(ValueError, match="reserved"):
        Tracer("s", agent_id="_", transport="memory")
    with pytest.raises(ValueError, match="trace level"):
        Tracer("s", transport="memory", level="chatty")
    with pytest.raises(ValueError, match="sample_rate"):
        Tracer("s", transport="memory", sample_rate=1.5)


def test_custom_and_alias_types_pass_and_alias_takes_its_agent_from_the_payload(tracer: Tracer) -> None:
    tracer.emit("custom.deploy", {"target": "staging"})
    tracer.emit("task:created", {"task": {"id": "T9", "description": "x"}, "agentId": "cod-7"})
    custom, alias = tracer.events
    assert custom["type"] == "custom.deploy"
    assert alias["agent_id"] == "cod-7"  # ingest reads the agent from agentId too: subject and body agree
    assert raw_subject(alias["session_id"], alias["agent_id"], alias["type"]).endswith(".cod-7.task_created")
    normalized = TraceEvent.model_validate(alias)
    assert normalized.type == "task_create"
    assert normalized.data["task_id"] == "T9"


def test_session_level_events_have_no_agent(tracer: Tracer) -> None:
    tracer.agent("cod-1").emit("custom.note", {}, agent_id=SESSION)
    tracer.session_start("objective")
    assert all("agent_id" not in e for e in tracer.events)


def test_data_is_copied_at_emit_time(tracer: Tracer) -> None:
    data = {"tool": "Bash", "args": "ls"}
    tracer.emit("tool_call", data)
    data["tool"] = "changed"
    data["extra"] = 1
    assert tracer.events[0]["data"] == {"tool": "Bash", "args": "ls"}


def test_metadata_envelope(tracer: Tracer) -> None:
    t = Tracer("sess-meta", transport="memory", tags=["team-a"], retention=48, priority="low")
    t.emit("custom.x", {}, tags=["run-1"], correlation_id="T1", causation_id="ev-0", metadata={"note": "n"})
    t.emit("custom.y", {}, priority="critical")
    first, second = t.events
    assert first["metadata"] == {
        "note": "n",
        "correlation_id": "T1",
        "causation_id": "ev-0",
        "priority": "low",
        "tags": ["team-a", "run-1"],
        "retention": 48,
    }
    assert second["metadata"]["priority"] == "critical"
    for event in t.events:
        TraceEvent.model_validate(event)
    t.close()


def test_values_json_cannot_express_are_encoded_as_text(tracer: Tracer) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    cycle: list[Any] = []
    cycle.append(cycle)
    tracer.emit(
        "custom.odd",
        {
            "set": {3, 1, 2},
            "bytes": b"ok",
            "binary": b"\xff\x00",
            "obj": Opaque(),
            "cycle": cycle,
            "big": 2**70,
        },
    )
    data = tracer.events[0]["data"]
    assert data["set"] == [1, 2, 3]
    assert data["bytes"] == "ok"
    assert data["binary"] == {"base64": "/wA="}
    assert data["obj"] == "<Opaque>"
    assert data["big"] == str(2**70)
    assert data["cycle"] == ["[cycle]"]


def test_every_vocabulary_helper_emits_a_valid_event(tracer: Tracer) -> None:
    coord = tracer.agent("coord-1")
    coder = coord.agent_spawn("cod-1", "coder", capabilities=["python"])
    coord.session_start("objective", name="n", topology="mesh", strategy="dev")
    coder.agent_status("busy", from_="idle", reason="T1")
    coord.task_create("T1", "d", dependencies=["T0"], max_retries=2)
    coord.task_assign("T1", "cod-1")
    coder.task_start("T1")
    coder.task_progress("T1", 0.5, "half")
    coder.task_fail("T1", RuntimeError("x"), will_retry=True)
    coder.task_start("T1", attempt=2)
    coder.task_complete("T1", {"ok": True}, attempt=2)
    coord.task_cancel("T2", "superseded")
    mid = coord.send_message("cod-1", {"do": "it"}, type="task_assignment")
    coder.receive_message(mid, "coord-1", {"do": "it"})
    coder.send_message(["coord-1"], "done", in_reply_to=mid)
    coder.memory_write("k", {"v": 1}, namespace="swarm", version=1)
    coder.memory_read("k", namespace="swarm", version_read=1, hit=True)
    coder.memory_delete("k", namespace="swarm")
    coder.decision("approach", options=["a", "b"], chosen="a", rationale="r", confidence=0.9)
    coord.coordination("consensus", {"votes": 3})
    coder.context_update("focus", "tests")
    coder.error(ValueError("bad"), scope="task", recoverable=False)
    coder.performance_alert("latency_ms", 120, 50)
    with coder.tool_call("Bash", {"command": "ls"}) as call:
        call.set(exit_code=0)
    with coder.llm_call("claude-sonnet-4", "hi") as llm:
        llm.set_response("hello").set_usage(10, 5, 0.0001)
    coder.agent_terminate("done")
    coord.session_end("completed")
    types = set()
    for event in tracer.events:
        types.add(TraceEvent.model_validate(event).type)
    assert len(types) == 23  # every type but agent_method (see test_instrument)
    failed = next(e for e in tracer.events if e["type"] == "task_fail")
    assert failed["phase"] == "error"
    assert failed["data"]["error_type"] == "RuntimeError"
    assert failed["span_id"] == "sp_T1_a1"
    reply = [e for e in tracer.events if e["type"] == "communication"][-1]
    assert reply["data"]["message"]["in_reply_to"] == mid
    llm_done = [e for e in tracer.events if e["type"] == "llm_call"][-1]
    assert llm_done["performance"]["token_count"] == 15
    assert llm_done["data"]["cost_usd"] == 0.0001
    spawn = next(e for e in tracer.events if e["type"] == "agent_spawn")
    assert spawn["agent_id"] == "cod-1"
    assert spawn["data"]["parent_agent_id"] == "coord-1"


def test_data_must_be_a_mapping_and_given_ids_must_be_valid(tracer: Tracer) -> None:
    with pytest.raises(TypeError, match="mapping"):
        tracer.emit("custom.x", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="event_id"):
        tracer.emit("custom.x", {}, event_id="has spaces")
    assert tracer.emit("custom.x", {}, event_id="my-own-id.1") == "my-own-id.1"
