"""Run to breakpoint (forward, backward) and watch, through the sandbox, over real snapshots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from swarmscope_dev.replay import Engine, stored, synthetic_session
from swarmscope_dev.story import after, find, story_session
from swarmscope_replay.breakpoints import Breakpoints
from swarmscope_replay.expressions import ExpressionError, ExpressionPool
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_schema.requests import BreakpointQuery, CompileQuery, WatchQuery
from swarmscope_service.request_reply import ServiceError

HUGE = "[" + ",".join(str(i) for i in range(100)) + "]"
HUGE_COMPREHENSION = f"{HUGE}.map(a, {HUGE}.map(b, {HUGE}.map(c, a * b * c))).size() > 0"


@pytest.fixture
async def pool(metrics: ReplayMetrics) -> AsyncIterator[ExpressionPool]:
    pool = ExpressionPool(1, timeout=1.0, memory_mb=512, metrics=metrics)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def cf(engine: Engine) -> list[dict[str, Any]]:
    events = stored(story_session("cf"))
    await engine.consume(events, batch=7)
    return events


async def run(bp: Breakpoints, **fields: Any) -> dict[str, Any]:
    return await bp.run(BreakpointQuery(session_id=fields.pop("session_id", "cf"), **fields))


async def test_forward_and_backward_over_events_and_state(
    engine: Engine, pool: ExpressionPool, cf: list[dict[str, Any]]
) -> None:
    bp = Breakpoints(engine.source, engine.states, pool, scan_timeout=30)
    error = find(cf, "error")  # the tester's, when the first test run failed: the story's only one
    hit = await run(bp, conditions=['event.type == "error"'])
    assert (hit["hit"], hit["event"]["id"], hit["condition_index"]) == (True, error["id"], 0)
    assert hit["scanned"] == error["seq"]
    again = await run(bp, from_seq=error["seq"], conditions=['event.type == "error"'])
    assert again["hit"] is False
    assert again["scanned"] == len(cf) - error["seq"]
    hit = await run(bp, conditions=['state.tasks["T3"].status == "retrying"'])
    assert hit["event"]["id"] == find(cf, "task_fail", task_id="T3")["id"]
    hit = await run(bp, conditions=["state.counters.llm_calls >= 3", 'event.type == "decision"'])
    assert (hit["event"]["type"], hit["condition_index"], hit["condition"]) == (
        "decision",
        1,
        'event.type == "decision"',
    )
    # Backward from the end, and from a seq: the last task to complete is T5, after T3's retry.
    t5_done = find(cf, "task_complete", task_id="T5")
    hit = await run(bp, direction="backward", conditions=['event.type == "task_complete"'])
    assert hit["event"]["id"] == t5_done["id"]
    hit = await run(
        bp, direction="backward", from_seq=t5_done["seq"], conditions=['event.type == "task_complete"']
    )
    assert hit["event"]["id"] == find(cf, "task_complete", task_id="T3")["id"]
    hit = await run(
        bp,
        direction="backward",
        from_seq=find(cf, "tool_call", agent_id="tst-1", phase="error")["seq"],
        conditions=['state.agents["tst-1"].status == "idle"'],
    )
    # tst-1 is idle until T3 is assigned to it.
    assert hit["event"]["id"] == after(cf, find(cf, "task_assignment", task_id="T3"), -1)["id"]
    miss = await run(bp, direction="backward", from_seq=3, conditions=['event.type == "task_complete"'])
    assert (miss["hit"], miss["scanned"]) == (False, 2)


async def test_failing_evaluations_are_counted_and_max_events_bounds_the_search(
    engine: Engine, pool: ExpressionPool, cf: list[dict[str, Any]]
) -> None:
    bp = Breakpoints(engine.source, engine.states, pool, scan_timeout=30)
    hit = await run(bp, conditions=['event.data.task_id == "T3"'])
    assert hit["event"]["data"]["task_id"] == "T3"
    assert hit["evaluation_errors"] > 0
    assert "task_id" in hit["first_error"]
    not_bool = await run(bp, conditions=["event.type"], max_events=5)
    assert (not_bool["hit"], not_bool["scanned"], not_bool["evaluation_errors"]) == (False, 5, 5)
    assert "not bool" in not_bool["first_error"]


async def test_bad_and_hostile_conditions_end_with_expression_errors(
    engine: Engine, pool: ExpressionPool, cf: list[dict[str, Any]]
) -> None:
    bp = Breakpoints(engine.source, engine.states, pool, scan_timeout=30)
    with pytest.raises(ExpressionError, match="condition 1 does not compile"):
        await run(bp, conditions=["true", "1 +"])
    with pytest.raises(ExpressionError, match="time limit"):
        await run(bp, conditions=[HUGE_COMPREHENSION])
    with pytest.raises(ExpressionError, match="characters"):
        await run(bp, conditions=["x" * 3000])
    with pytest.raises(ServiceError) as excinfo:
        await run(bp, session_id="nobody", conditions=["true"])
    assert excinfo.value.code.value == "not_found"
    # The pool survived: a sane breakpoint still runs.
    assert (await run(bp, conditions=["true"]))["event"]["seq"] == 1


async def test_the_whole_search_is_bounded_in_time(
    engine: Engine, metrics: ReplayMetrics, cf: list[dict[str, Any]]
) -> None:
    pool = ExpressionPool(1, timeout=30.0, memory_mb=512, metrics=metrics)
    try:
        bp = Breakpoints(engine.source, engine.states, pool, scan_timeout=0.5)
        with pytest.raises(ServiceError) as excinfo:
            await run(bp, conditions=[HUGE_COMPREHENSION])
        assert excinfo.value.code.value == "timeout"
    finally:
        await pool.close()


async def test_breakpoints_agree_with_brute_force_over_many_snapshots(
    engine: Engine, pool: ExpressionPool
) -> None:
    events = stored(synthetic_session("syn", 400, seed=11))
    await engine.consume(events, batch=64)  # snapshots every 10 events
    bp = Breakpoints(engine.source, engine.states, pool, scan_timeout=30)
    states = []
    state = initial_state("syn")
    for event in events:
        state = fold(state, [event])
        states.append(state)

    def first(predicate: Any, lo: int) -> int | None:
        return next(
            (e["seq"] for e, s in zip(events, states, strict=True) if e["seq"] > lo and predicate(e, s)), None
        )

    def last(predicate: Any, hi: int) -> int | None:
        found = [e["seq"] for e, s in zip(events, states, strict=True) if e["seq"] < hi and predicate(e, s)]
        return found[-1] if found else None

    checks = [
        ("state.counters.tool_calls == 17", lambda e, s: s["counters"]["tool_calls"] == 17),
        (
            'event.type == "communication" && state.counters.messages > 5',
            lambda e, s: e["type"] == "communication" and s["counters"]["messages"] > 5,
        ),
        ("size(state.open_spans) >= 5", lambda e, s: len(s["open_spans"]) >= 5),
    ]
    for condition, predicate in checks:
        for lo in (0, 57, 203):
            hit = await run(bp, session_id="syn", from_seq=lo, conditions=[condition])
            assert (hit["event"]["seq"] if hit["hit"] else None) == first(predicate, lo), (condition, lo)
        for hi in (0, 333, 128):
            hit = await run(bp, session_id="syn", from_seq=hi, direction="backward", conditions=[condition])
            assert (hit["event"]["seq"] if hit["hit"] else None) == last(predicate, hi or 10**9), (
                condition,
                hi,
            )


async def test_watch_over_the_state_at_a_seq(
    engine: Engine, pool: ExpressionPool, cf: list[dict[str, Any]]
) -> None:
    bp = Breakpoints(engine.source, engine.states, pool, scan_timeout=30)
    failed_run = find(cf, "tool_call", agent_id="tst-1", phase="error")  # T3's first test run
    result = await bp.watch(
        WatchQuery(
            session_id="cf",
            seq=failed_run["seq"],
            expressions=[
                'state.tasks["T3"].status',
                'state.agents["tst-1"].current_task',
                "state.nope",
                HUGE_COMPREHENSION,
            ],
        )
    )
    values = result["values"]
    assert result["seq"] == failed_run["seq"]
    assert [v["value"] for v in values[:2]] == ["running", "T3"]
    assert values[2]["error"] == "no such key: 'nope'"
    assert "time limit" in values[3]["error"]


async def test_compile_checks_expressions_without_running_them(engine: Engine, pool: ExpressionPool) -> None:
    bp = Breakpoints(engine.source, engine.states, pool, scan_timeout=30)
    answer = await bp.compile(
        CompileQuery(
            expressions=[
                'event.type == "error" && event.agent_id == "tst-1"',
                "event.type ==== 3",
                'evnt.type == "error"',
                'state.tasks.exists(t, state.tasks[t].status == "failed")',
                "[1, 2].all(i, v, v > event.seq)",
            ]
        )
    )
    ok, syntax, typo, comprehension, two_vars = answer["results"]
    assert (ok["ok"], ok["error"], ok["variables"]) == (True, None, ["event"])
    assert syntax["ok"] is False
    assert syntax["error"].startswith("Syntax error")
    # The parser's caret lines survive, and the column points at the second `==`.
    assert "| event.type ==== 3" in syntax["error"]
    assert syntax["column"] == 14
    assert "event.type ==== 3"[syntax["column"] - 1 :].startswith("==")
    assert typo["ok"] is False
    assert typo["error"] == "unknown variable 'evnt': a condition can read event and state"
    assert typo["column"] == 1
    assert comprehension["ok"] is True
    assert two_vars["ok"] is True
    # A watch reads the state only.
    watch = await bp.compile(CompileQuery(expressions=['event.type == "x"', "state.counters"], use="watch"))
    assert [r["ok"] for r in watch["results"]] == [False, True]
    assert watch["results"][0]["error"] == "unknown variable 'event': a watch can read state"


async def test_compile_refuses_what_run_would_refuse(engine: Engine, pool: ExpressionPool) -> None:
    bp = Breakpoints(engine.source, engine.states, pool, scan_timeout=30)
    with pytest.raises(ExpressionError):
        await bp.compile(CompileQuery(expressions=["   "]))
    with pytest.raises(ExpressionError):
        await bp.compile(CompileQuery(expressions=["x" * 3000]))
