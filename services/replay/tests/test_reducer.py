"""The reducer: every taxonomy type, explicit statuses, purity, and fold == reduce one by one."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmscope_dev.replay import stored
from swarmscope_dev.story import story_session
from swarmscope_replay.reducer import COUNTER_KEYS, HANDLED_TYPES, fold, initial_state, reduce_event
from swarmscope_schema.api import SystemState
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import every_type_events, make_event

CONTRACT_KEYS = {
    "session_id",
    "seq",
    "timestamp",
    "session",
    "agents",
    "tasks",
    "memory",
    "communications",
    "open_spans",
    "counters",
}


def ev(
    event_type: str, agent: str | None = "a1", data: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    return make_event(event_type, session_id="s", agent_id=agent, data=data, **fields)


def run(*events: dict[str, Any]) -> dict[str, Any]:
    return fold(initial_state("s"), stored(events))


def test_every_taxonomy_type_is_handled_and_gives_a_valid_system_state() -> None:
    assert set(HANDLED_TYPES) == {t.value for t in EventType}
    events = stored(every_type_events("s"))
    state = initial_state("s")
    for event in events:
        state = reduce_event(state, event)
        assert set(state) == CONTRACT_KEYS
        SystemState.model_validate(state)
    assert state["seq"] == events[-1]["seq"]
    assert state["counters"]["events"] == len(events)


def test_reduce_never_changes_its_input_and_shares_what_it_does_not_change() -> None:
    events = stored(story_session("s"))
    state = initial_state("s")
    for event in events:
        frozen = copy.deepcopy(state)
        event_copy = copy.deepcopy(event)
        new = reduce_event(state, event)
        assert state == frozen, f"input state changed by {event['type']}"
        assert event == event_copy
        assert new is not state
        for key in ("agents", "tasks", "memory", "communications"):
            if new[key] == state[key]:
                assert new[key] is state[key], f"{key} copied although {event['type']} did not change it"
        state = new


def test_task_lifecycle_and_agent_status_inference() -> None:
    state = run(
        ev("agent_spawn", "cod-1", {"agent_type": "coder"}),
        ev("task_create", "coord", {"task_id": "T1", "dependencies": ["T0"], "priority": "high"}),
    )
    assert state["tasks"]["T1"]["status"] == "created"
    assert state["tasks"]["T1"]["dependencies"] == ["T0"]
    state = fold(
        state, stored([ev("task_assignment", "coord", {"task_id": "T1", "agent_id": "cod-1"})], start=3)
    )
    assert state["tasks"]["T1"]["status"] == "assigned"
    assert state["agents"]["cod-1"]["status"] == "busy"
    assert state["agents"]["cod-1"]["current_task"] == "T1"
    state = fold(state, stored([ev("task_start", "cod-1", {"task_id": "T1"})], start=4))
    assert (state["tasks"]["T1"]["status"], state["tasks"]["T1"]["attempts"]) == ("running", 1)
    state = fold(state, stored([ev("task_progress", "cod-1", {"task_id": "T1", "progress": 0.5})], start=5))
    assert state["tasks"]["T1"]["progress"] == 0.5
    retry = fold(
        state,
        stored([ev("task_fail", "cod-1", {"task_id": "T1", "error": "x", "will_retry": True})], start=6),
    )
    assert retry["tasks"]["T1"]["status"] == "retrying"
    assert retry["tasks"]["T1"]["error"] == "x"
    assert retry["agents"]["cod-1"]["status"] == "idle"
    assert retry["agents"]["cod-1"]["current_task"] is None
    assert retry["counters"]["task_failures"] == 1
    failed = fold(state, stored([ev("task_fail", "cod-1", {"task_id": "T1", "error": "x"})], start=6))
    assert failed["tasks"]["T1"]["status"] == "failed"
    done = fold(state, stored([ev("task_complete", "cod-1", {"task_id": "T1", "result": 42})], start=6))
    assert (done["tasks"]["T1"]["status"], done["tasks"]["T1"]["result"]) == ("completed", 42)
    # A coordinator ending a worker's task names the worker (data.agent_id): the worker is freed.
    cancelled = fold(
        state,
        stored(
            [ev("task_cancel", "coord", {"task_id": "T1", "reason": "moot", "agent_id": "cod-1"})], start=6
        ),
    )
    assert cancelled["tasks"]["T1"]["status"] == "cancelled"
    assert cancelled["agents"]["cod-1"]["status"] == "idle"
    assert cancelled["agents"]["cod-1"]["current_task"] is None


def test_agent_effects_are_stateless_the_latest_statement_wins() -> None:
    # semantics.py: an effect depends on the event alone (the store merges agent rows by seq and
    # cannot look at the previous status), so an old task's ending frees the agent it names, and a
    # terminated agent is made busy by a later assignment; data.agent_status states anything else.
    state = run(
        ev("task_assignment", "c", {"task_id": "T1", "agent_id": "a1"}),
        ev("task_assignment", "c", {"task_id": "T2", "agent_id": "a1"}),
        ev("task_cancel", "c", {"task_id": "T1", "agent_id": "a1"}),
    )
    assert (state["agents"]["a1"]["status"], state["agents"]["a1"]["current_task"]) == ("idle", None)
    # A cancel that names no worker speaks of the agent that sent it.
    state = run(
        ev("task_assignment", "c", {"task_id": "T1", "agent_id": "a1"}),
        ev("task_cancel", "c", {"task_id": "T1"}),
    )
    assert (state["agents"]["a1"]["status"], state["agents"]["a1"]["current_task"]) == ("busy", "T1")
    assert (state["agents"]["c"]["status"], state["agents"]["c"]["current_task"]) == ("idle", None)


def test_explicit_statuses_win_over_inference() -> None:
    state = run(
        ev("task_assignment", "c", {"task_id": "T1", "agent_id": "a1", "task_status": "queued"}),
        ev("task_complete", "a1", {"task_id": "T1", "task_status": "timeout", "agent_status": "paused"}),
    )
    assert state["tasks"]["T1"]["status"] == "timeout"
    assert state["agents"]["a1"]["status"] == "paused"
    state = run(ev("tool_call", "a1", {"tool": "Bash", "agent_status": "blocked"}))
    assert state["agents"]["a1"]["status"] == "blocked"


def test_agent_statuses() -> None:
    state = run(
        ev(
            "agent_spawn",
            "a1",
            {"agent_type": "tester", "name": "T", "capabilities": ["py"], "parent_agent_id": "c"},
        ),
        ev("agent_status", "a1", {"status": "paused", "from": "idle", "reason": "quota"}),
    )
    agent = state["agents"]["a1"]
    assert (agent["agent_type"], agent["status"], agent["parent_agent_id"]) == ("tester", "paused", "c")
    assert agent["capabilities"] == ["py"]
    state = fold(state, stored([ev("task_start", "a1", {"task_id": "T8"})], start=3))
    assert (state["agents"]["a1"]["status"], state["agents"]["a1"]["current_task"]) == ("busy", "T8")
    state = fold(state, stored([ev("agent_terminate", "a1", {"reason": "done"})], start=4))
    # Terminating ends the current task (the store's agent rows say the same).
    assert (state["agents"]["a1"]["status"], state["agents"]["a1"]["current_task"]) == ("terminated", None)
    assert state["agents"]["a1"]["terminated_reason"] == "done"
    state = run(ev("error", "a1", {"message": "crashed", "scope": "agent"}))
    assert state["agents"]["a1"]["status"] == "error"
    assert state["agents"]["a1"]["last_error"]["message"] == "crashed"
    state = run(ev("error", "a1", {"message": "retrying", "scope": "agent", "recoverable": True}))
    assert state["agents"]["a1"]["status"] == "idle"


def test_memory_versions_reads_and_deletes() -> None:
    state = run(
        ev("memory_write", "a1", {"namespace": "swarm", "key": "k", "value": {"v": 1}}),
        ev("memory_write", "a2", {"namespace": "swarm", "key": "k", "value": {"v": 2}}),
        ev("memory_read", "a3", {"namespace": "swarm", "key": "k", "hit": True}),
        ev("memory_write", "a1", {"key": "bare", "value": None, "version": 7}),
    )
    entry = state["memory"]["swarm/k"]
    assert (entry["value"], entry["version"], entry["agent_id"], entry["seq"]) == ({"v": 2}, 2, "a2", 2)
    assert (entry["reads"], entry["last_read_by"]) == (1, "a3")
    assert state["memory"]["bare"]["version"] == 7
    state = fold(state, stored([ev("memory_delete", "a1", {"namespace": "swarm", "key": "k"})], start=5))
    assert "swarm/k" not in state["memory"]
    assert state["counters"]["memory_writes"] == 3


def test_communications_keep_messages_whole_and_merge_their_deliveries() -> None:
    message = {
        "id": "m1",
        "from": "a1",
        "to": ["a2", "a3"],
        "type": "query",
        "content": "?",
        "in_reply_to": None,
    }
    state = run(
        ev("communication", "a1", {"message": message, "direction": "sent"}),
        ev("communication", "a2", {"message": message, "direction": "received"}),
        ev("communication", "a3", {"message": message, "direction": "received"}),
        ev(
            "communication",
            "a2",
            {"message": {**message, "id": "m2", "in_reply_to": "m1"}, "direction": "sent"},
        ),
    )
    assert [c["message_id"] for c in state["communications"]] == ["m1", "m2"]
    first = state["communications"][0]
    assert (first["from"], first["to"], first["seq"], first["received_seq"]) == ("a1", ["a2", "a3"], 1, 2)
    assert first["delivered_to"] == ["a2", "a3"]
    assert state["communications"][1]["in_reply_to"] == "m1"
    assert state["counters"]["messages"] == 2


def test_open_spans_open_on_start_and_progress_and_close_on_complete_and_error() -> None:
    state = run(
        ev("tool_call", "a1", {"tool": "Bash"}, phase="start", span_id="sp1", metadata={"parent_id": "root"}),
        ev("task_progress", "a1", {"task_id": "T1", "progress": 0.1}, phase="progress", span_id="sp2"),
    )
    assert set(state["open_spans"]) == {"sp1", "sp2"}
    assert state["open_spans"]["sp1"]["parent_id"] == "root"
    assert state["open_spans"]["sp1"]["label"] == "tool Bash"
    state = fold(
        state, stored([ev("tool_call", "a1", {"tool": "Bash"}, phase="error", span_id="sp1")], start=3)
    )
    assert set(state["open_spans"]) == {"sp2"}
    state = fold(
        state,
        stored([ev("task_complete", "a1", {"task_id": "T1"}, phase="complete", span_id="sp2")], start=4),
    )
    assert state["open_spans"] == {}


def test_counters_count_calls_once_tokens_and_cost() -> None:
    state = run(
        ev("llm_call", "a1", {"model": "m"}, phase="start", span_id="l1"),
        ev(
            "llm_call",
            "a1",
            {"model": "m", "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.5},
            span_id="l1",
        ),
        ev("llm_call", "a1", {"model": "m", "input_tokens": 1, "output_tokens": 2}),
        ev("tool_call", "a1", {"tool": "t"}, phase="start", span_id="t1"),
        ev("tool_call", "a1", {"tool": "t"}, phase="progress", span_id="t1"),
        ev("tool_call", "a1", {"tool": "t"}, phase="complete", span_id="t1"),
        ev("custom.thing", "a1", {"x": 1}, performance={"input_tokens": 5, "cost_usd": 0.25}),
        ev("error", "a1", {"message": "boom"}),
        ev("agent_method", "a1", {"method": "plan"}, phase="error"),
    )
    counters = state["counters"]
    assert (counters["llm_calls"], counters["tool_calls"]) == (2, 1)
    assert (counters["input_tokens"], counters["output_tokens"], counters["tokens"]) == (106, 22, 128)
    assert counters["cost_usd"] == pytest.approx(0.75)
    assert counters["errors"] == 2
    assert counters["events"] == 9
    assert set(counters) >= set(COUNTER_KEYS)


def test_custom_and_unknown_types_change_only_counters_and_make_their_agent_known() -> None:
    base = run(ev("agent_spawn", "a1", {"agent_type": "coder"}))
    for event_type in ("custom.deploy", "no_such_type"):
        # An unknown type never passes ingest; replay must still not trip over one.
        template = ev(
            "tool_call",
            "zz",
            {"tool": "t", "task_id": "T1", "task_status": "x", "agent_status": "y"},
            phase="start",
        )
        event = {**stored([template], start=2)[0], "type": event_type}
        after = fold(base, [event])
        assert after["counters"]["events"] == 2
        for key in ("session", "tasks", "memory", "communications", "open_spans"):
            assert after[key] == base[key], key
        # The agent is known (the store gives it a row too) but no status is stated, not even the
        # explicit data.agent_status of a type that is not canonical.
        assert after["agents"] == {**base["agents"], "zz": {**after["agents"]["zz"], "status": "idle"}}
        assert after["agents"]["zz"]["current_task"] is None
        assert after["seq"] == 2


def test_session_start_and_end_and_logs() -> None:
    state = run(
        ev("session_start", None, {"objective": "o", "name": "n", "topology": "mesh", "strategy": "s"}),
        ev("decision", "c", {"kind": "plan", "chosen": "a", "options": ["a", "b"]}),
        ev("coordination", "c", {"kind": "resource_acquired", "details": {"resource_id": "db"}}),
        ev("performance_alert", "c", {"metric": "latency", "value": 9.0, "threshold": 1.0}),
        ev("context_update", None, {"key": "phase", "value": "build"}),
    )
    session = state["session"]
    assert (session["status"], session["objective"], session["topology"]) == ("active", "o", "mesh")
    assert session["decisions"][0]["chosen"] == "a"
    assert session["resources"] == {"db": "c"}
    assert session["alerts"][0]["metric"] == "latency"
    assert session["context"] == {"phase": "build"}
    state = fold(
        state,
        stored(
            [
                ev("coordination", "c", {"kind": "resource_released", "details": {"resource_id": "db"}}),
                ev("session_end", None, {"status": "failed", "reason": "r"}),
            ],
            start=6,
        ),
    )
    assert state["session"]["resources"] == {}
    assert (state["session"]["status"], state["session"]["end_seq"]) == ("failed", 7)


event_types = st.sampled_from([t.value for t in EventType] + ["custom.x"])
phases = st.sampled_from(["start", "progress", "complete", "error"])
ids = st.sampled_from(["a", "b", "c"])


@st.composite
def random_events(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=40))
    events = []
    for i in range(count):
        event_type = draw(event_types)
        data: dict[str, Any] = {
            "task_id": draw(ids),
            "agent_id": draw(ids),
            "key": draw(ids),
            "value": draw(st.integers()),
            "status": draw(st.sampled_from(["idle", "busy", "completed"])),
            "message": {"id": draw(ids), "from": "a", "to": ["b"]},
            "direction": draw(st.sampled_from(["sent", "received"])),
        }
        if draw(st.booleans()):
            data["task_status"] = "blocked"
        events.append(
            {
                "id": f"e{i}",
                "seq": i + 1,
                "timestamp": 1000.0 + i,
                "session_id": "s",
                "agent_id": draw(ids),
                "type": event_type,
                "phase": draw(phases),
                "span_id": draw(st.sampled_from(["s1", "s2", "s3"])),
                "metadata": {"parent_id": draw(st.sampled_from([None, "s1"]))},
                "data": data,
            }
        )
    return events


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_events())
def test_fold_equals_reducing_one_by_one_and_never_changes_the_input(events: list[dict[str, Any]]) -> None:
    start = initial_state("s")
    one_by_one = start
    for event in events:
        before = copy.deepcopy(one_by_one)
        new = reduce_event(one_by_one, event)
        assert one_by_one == before
        one_by_one = new
    pristine = copy.deepcopy(start)
    folded = fold(start, events)
    assert start == pristine
    assert folded == one_by_one
    SystemState.model_validate(folded)
