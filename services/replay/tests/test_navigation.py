"""Step into / over / out / back and the call stack on hand-made span trees, edge cases included."""

from __future__ import annotations

from typing import Any

import pytest

from swarmscope_dev.replay import Engine, stored
from swarmscope_replay.navigation import Navigator
from swarmscope_service.request_reply import ServiceError


def span_event(
    event_id: str,
    event_type: str,
    span: str,
    phase: str,
    parent: str | None = None,
    agent: str = "a1",
    **data: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": event_id,
        "timestamp": 1000.0 + 10 * int(event_id.lstrip("e")),
        "session_id": "nav",
        "agent_id": agent,
        "type": event_type,
        "phase": phase,
        "span_id": span,
        "data": {"tool": "t", "task_id": span, "method": "m", **data},
    }
    if parent is not None:
        event["metadata"] = {"parent_id": parent}
    return event


# R ─┬─ A ─┬─ A1            (seq 3, one event)
#    │     └─ A2 ── A2a     (seq 4..6)
#    └─ B                   (seq 8..9)
# then a lone root event (seq 11). Closing events state no parent: it comes from their start.
TREE = [
    span_event("e1", "agent_method", "R", "start"),
    span_event("e2", "task_start", "A", "start", "R"),
    span_event("e3", "tool_call", "A1", "complete", "A"),
    span_event("e4", "agent_method", "A2", "start", "A"),
    span_event("e5", "tool_call", "A2a", "complete", "A2"),
    span_event("e6", "agent_method", "A2", "complete"),
    span_event("e7", "task_complete", "A", "complete"),
    span_event("e8", "task_start", "B", "start", "R", agent="a2"),
    span_event("e9", "task_complete", "B", "complete", "R", agent="a2"),
    span_event("e10", "agent_method", "R", "complete"),
    span_event("e11", "tool_call", "e11", "complete"),
]


@pytest.fixture
async def nav(engine: Engine) -> Navigator:
    engine.source.add(stored(TREE))
    return Navigator(engine.source, engine.states)


async def target(nav: Navigator, event_id: str, direction: str) -> str | None:
    outcome = await nav.step("nav", event_id, direction)
    return outcome.event["id"] if outcome.event else outcome.reason


@pytest.mark.parametrize(
    ("start", "direction", "expected"),
    [
        # over: same span, a sibling, or shallower; never into a child's events.
        ("e2", "over", "e7"),
        ("e4", "over", "e6"),
        ("e5", "over", "e6"),
        ("e3", "over", "e4"),
        ("e7", "over", "e8"),
        ("e10", "over", "e11"),
        ("e1", "over", "e10"),
        ("e11", "over", "end_of_session"),
        # into: the first event of the first child span; none left → like over.
        ("e1", "into", "e2"),
        ("e2", "into", "e3"),
        ("e4", "into", "e5"),
        ("e3", "into", "e4"),
        ("e6", "into", "e7"),
        ("e11", "into", "end_of_session"),
        # out: the next event after the end of the innermost open span enclosing the event (its
        # own span while open, else the nearest open ancestor), at that span's level.
        ("e5", "out", "e7"),
        ("e3", "out", "e8"),
        ("e4", "out", "e7"),
        ("e2", "out", "e8"),
        ("e9", "out", "e11"),
        ("e1", "out", "e11"),
        ("e11", "out", "no_enclosing_span"),
        # back: the previous event.
        ("e5", "back", "e4"),
        ("e1", "back", "start_of_session"),
    ],
)
async def test_steps_on_a_span_tree(nav: Navigator, start: str, direction: str, expected: str) -> None:
    assert await target(nav, start, direction) == expected


async def test_out_of_a_span_whose_parent_never_ends(engine: Engine) -> None:
    engine.source.add(
        stored(
            [
                span_event("e1", "task_start", "S", "start"),
                span_event("e2", "tool_call", "C", "start", "S"),
                span_event("e3", "tool_call", "C", "complete", "S"),
                span_event("e4", "task_progress", "S", "progress", progress=0.5),
            ]
        )
    )
    nav = Navigator(engine.source, engine.states)
    # Out of the tool call (it ends), then out of S, which never ends.
    assert await target(nav, "e2", "out") == "e4"
    assert await target(nav, "e4", "out") == "enclosing_span_unfinished"
    assert await target(nav, "e1", "out") == "enclosing_span_unfinished"
    assert await target(nav, "e2", "over") == "e3"
    assert await target(nav, "e3", "over") == "e4"
    assert await target(nav, "e4", "over") == "end_of_session"


async def test_over_skips_other_branches_deeper_events(engine: Engine) -> None:
    # Two agents work in parallel under R; the tester's tool calls are cousins of the coder's task.
    engine.source.add(
        stored(
            [
                span_event("e1", "agent_method", "R", "start"),
                span_event("e2", "task_start", "C", "start", "R", agent="cod"),
                span_event("e3", "task_start", "T", "start", "R", agent="tst"),
                span_event("e4", "tool_call", "T1", "complete", "T", agent="tst"),
                span_event("e5", "tool_call", "C1", "complete", "C", agent="cod"),
                span_event("e6", "tool_call", "T2", "complete", "T", agent="tst"),
                span_event("e7", "task_complete", "C", "complete", "R", agent="cod"),
            ]
        )
    )
    nav = Navigator(engine.source, engine.states)
    # From the coder's task start, e3 (the sibling task's start) is at the same depth.
    assert await target(nav, "e2", "over") == "e3"
    assert await target(nav, "e5", "over") == "e7"
    assert await target(nav, "e2", "into") == "e5"


# The demo's failing test run (issue 17 #1): execute() → task T3 → tool_call Bash, which fails;
# the tester reports the error, the task attempt fails (task_fail, phase error), execute() ends in
# error. Another agent's events interleave.
FAILING = [
    span_event("e1", "agent_method", "X", "start", method="execute"),
    span_event("e2", "task_start", "T3", "start", "X"),
    span_event("e3", "tool_call", "B", "start", "T3", tool="Bash"),
    span_event("e4", "llm_call", "L", "start", agent="cod", model="m"),
    span_event("e5", "tool_call", "B", "error", "T3", tool="Bash"),
    span_event("e6", "error", "e6", "complete", "T3", message="connection refused"),
    span_event("e7", "llm_call", "L", "complete", agent="cod", model="m"),
    span_event("e8", "task_fail", "T3", "error", "X"),
    span_event("e9", "agent_method", "X", "error", method="execute"),
    span_event("e10", "agent_status", "e10", "complete", status="idle"),
]


async def test_step_out_leaves_the_innermost_open_span_whatever_ends_it(engine: Engine) -> None:
    engine.source.add(stored(FAILING))
    nav = Navigator(engine.source, engine.states)
    # From the tool call's start: out of the tool call (ended by an error), not out of its task.
    assert await target(nav, "e3", "out") == "e6"
    # From the error report inside the task: out of the task (ended by task_fail).
    assert await target(nav, "e6", "out") == "e9"
    # From the task's start: out of the task itself.
    assert await target(nav, "e2", "out") == "e9"
    # From execute()'s start (a root span, open): out of it, to the next root event.
    assert await target(nav, "e1", "out") == "e10"
    # At execute()'s failed end nothing encloses the cursor any more.
    assert await target(nav, "e9", "out") == "no_enclosing_span"


@pytest.mark.parametrize("events", [TREE, FAILING], ids=["tree", "failing"])
async def test_step_out_leaves_the_innermost_open_frame_of_the_stack(
    engine: Engine, events: list[dict[str, Any]]
) -> None:
    engine.source.add(stored(events))
    nav = Navigator(engine.source, engine.states)
    log = stored(events)
    for event in log:
        frames = (await nav.stack("nav", event["id"]))["frames"]
        innermost_open = next((f["span_id"] for f in frames if f["open"]), None)
        outcome = await nav.step("nav", event["id"], "out")
        if innermost_open is None:
            assert outcome.reason == "no_enclosing_span", event["id"]
            continue
        end = next(
            e["seq"]
            for e in log
            if e["seq"] > event["seq"]
            and e["span_id"] == innermost_open
            and e["phase"] in ("complete", "error")
        )
        assert outcome.event is not None, event["id"]
        assert outcome.event["seq"] > end, event["id"]
        # Nothing at that span's level came between its end and the step's target.
        assert outcome.event["span_id"] != innermost_open


async def test_unknown_events_are_not_found(nav: Navigator) -> None:
    with pytest.raises(ServiceError) as excinfo:
        await nav.step("nav", "nope", "over")
    assert excinfo.value.code.value == "not_found"
    with pytest.raises(ServiceError):
        await nav.stack("nav", "nope")


async def test_call_stack_innermost_first_with_open_and_closed_frames(nav: Navigator) -> None:
    stack = await nav.stack("nav", "e5")
    frames = stack["frames"]
    assert [f["span_id"] for f in frames] == ["A2a", "A2", "A", "R"]
    assert [f["open"] for f in frames] == [False, True, True, True]
    assert frames[1]["start_seq"] == 4
    assert frames[1]["start_event_id"] == "e4"
    assert frames[1]["duration_so_far_ms"] == pytest.approx(10.0)
    assert frames[3]["duration_so_far_ms"] == pytest.approx(40.0)
    assert frames[0]["label"] == "tool t"
    assert frames[2]["type"] == "task_start"
    assert frames[2]["agent_id"] == "a1"
    # At a closing event its own span is a closed frame with its full duration.
    frames = (await nav.stack("nav", "e6"))["frames"]
    assert [(f["span_id"], f["open"]) for f in frames] == [("A2", False), ("A", True), ("R", True)]
    assert frames[0]["duration_so_far_ms"] == pytest.approx(20.0)
    # A root event on its own.
    frames = (await nav.stack("nav", "e11"))["frames"]
    assert [(f["span_id"], f["open"]) for f in frames] == [("e11", False)]
    # After the whole tree closed, the stack at B's end holds B and R (closed later, still open).
    frames = (await nav.stack("nav", "e9"))["frames"]
    assert [(f["span_id"], f["open"]) for f in frames] == [("B", False), ("R", True)]


async def test_stack_of_an_event_whose_parent_already_ended(engine: Engine) -> None:
    engine.source.add(
        stored(
            [
                span_event("e1", "task_start", "P", "start"),
                span_event("e2", "task_complete", "P", "complete"),
                span_event("e3", "tool_call", "late", "complete", "P"),
            ]
        )
    )
    nav = Navigator(engine.source, engine.states)
    frames = (await nav.stack("nav", "e3"))["frames"]
    assert [(f["span_id"], f["open"]) for f in frames] == [("late", False), ("P", False)]
    assert frames[1]["duration_so_far_ms"] == pytest.approx(10.0)
