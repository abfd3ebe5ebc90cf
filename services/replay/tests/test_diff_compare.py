"""Diff between two states, and the comparison of two runs."""

from __future__ import annotations

from typing import Any

from swarmscope_dev.replay import Engine, stored
from swarmscope_dev.story import find, story_session
from swarmscope_replay.compare import Comparer, align, summarize
from swarmscope_replay.diff import diff_states
from swarmscope_schema.api import SessionComparison, StateDiff
from swarmscope_schema.requests import CompareQuery


def test_diff_reports_added_removed_and_changed_paths() -> None:
    shared = {"big": list(range(1000))}
    before = {"a": 1, "b": {"x": 1, "y": [1, 2]}, "gone": True, "shared": shared, "flag": 1}
    after = {"a": 2, "b": {"x": 1, "y": [1, 3, 4], "z": None}, "shared": shared, "flag": True}
    changes, truncated = diff_states(before, after)
    assert not truncated
    assert {(tuple(c["path"]), c["op"]) for c in changes} == {
        (("a",), "changed"),
        (("b", "y", 1), "changed"),
        (("b", "y", 2), "added"),
        (("b", "z"), "added"),
        (("gone",), "removed"),
        (("flag",), "changed"),  # 1 → True is a change of type
    }
    assert next(c for c in changes if c["path"] == ["a"])["before"] == 1
    changes, truncated = diff_states({"l": []}, {"l": list(range(50))}, limit=10)
    assert truncated
    assert len(changes) == 10


async def test_diff_of_states_validates_as_the_contract_model(engine: Engine) -> None:
    events = stored(story_session("cf"))
    await engine.consume(events)
    # From research done to code done.
    t1_done = find(events, "task_complete", task_id="T1")["seq"]
    t2_done = find(events, "task_complete", task_id="T2")["seq"]
    before = await engine.states.at_seq("cf", t1_done)
    after = await engine.states.at_seq("cf", t2_done)
    changes, truncated = diff_states(before, after)
    StateDiff.model_validate(
        {
            "session_id": "cf",
            "from_seq": t1_done,
            "to_seq": t2_done,
            "changes": changes,
            "truncated": truncated,
        }
    )
    paths = {tuple(c["path"]): c for c in changes}
    assert paths[("tasks", "T2", "status")]["after"] == "completed"
    assert paths[("memory", "swarm/code/src/api/ratelimit.py")]["op"] == "added"
    assert paths[("memory", "swarm/code/src/api/ratelimit.py")]["after"]["version"] == 1


def variant(session_id: str, *, fail_twice: bool) -> list[dict[str, Any]]:
    """The story with another tester's id; in the variant T3's retry fails as well."""
    events = story_session(session_id)
    t3_done = find(events, "task_complete", task_id="T3")["id"]
    out = []
    for event in events:
        event = {**event, "id": event["id"]}
        if event.get("agent_id") == "tst-1":
            event["agent_id"] = "tester-9"
        if isinstance(event["data"].get("agent_id"), str) and event["data"]["agent_id"] == "tst-1":
            event["data"] = {**event["data"], "agent_id": "tester-9"}
        if fail_twice and event["id"] == t3_done:
            event = {
                **event,
                "type": "task_fail",
                "phase": "error",
                "data": {"task_id": "T3", "error": "still red"},
            }
        out.append(event)
    return out


async def test_compare_aligns_by_role_and_type_and_reports_differences(engine: Engine) -> None:
    a = stored(story_session("run-a"))
    b = stored(variant("run-b", fail_twice=True), start=len(a) + 1)
    await engine.consume([*a, *b])
    result = await Comparer(engine.source, engine.states, max_events=1000).compare(
        CompareQuery(a="run-a", b="run-b")
    )
    SessionComparison.model_validate(result)
    assert result["a"]["tasks"]["T3"] == "completed"
    assert result["b"]["tasks"]["T3"] == "failed"
    assert result["a"]["agents"]["tst-1"] == "tester"
    assert result["b"]["agents"]["tester-9"] == "tester"
    assert [d["task_id"] for d in result["task_differences"]] == ["T3"]
    assert "status" in result["task_differences"][0]["differs_in"]
    statuses = [step["status"] for step in result["alignment"]]
    # Different agent ids, same roles: everything lines up but the last task event of T3.
    assert statuses.count("same") == len(a) - 1
    assert statuses.count("only_a") == 1
    assert statuses.count("only_b") == 1
    assert result["summary"]["same"] == len(a) - 1
    assert result["summary"]["truncated_a"] is False
    assert result["summary"]["errors_delta"] == 1


def test_alignment_marks_changed_steps_when_the_same_step_did_something_else() -> None:
    a = [{"seq": 1, "agent_id": "x", "type": "tool_call", "data": {"tool": "Bash", "exit_code": 0}}]
    b = [{"seq": 7, "agent_id": "y", "type": "tool_call", "data": {"tool": "Bash", "exit_code": 1}}]
    agents_a = {"x": {"agent_type": "tester"}}
    agents_b = {"y": {"agent_type": "tester"}}
    (step,) = align(a, b, agents_a, agents_b)
    assert (step["key"], step["status"], step["a_seq"], step["b_seq"]) == (
        "tester/tool_call",
        "changed",
        1,
        7,
    )
    assert summarize(a[0]) == "tool Bash exit 0"
