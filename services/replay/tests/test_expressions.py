"""The CEL sandbox: limits, hostile expressions (too slow, too hungry, malformed), projection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from swarmscope_replay.expressions import ExpressionError, ExpressionPool, check_expressions
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.projection import project, referenced_paths
from swarmscope_schema.requests import MAX_EXPRESSION_CHARS, MAX_EXPRESSIONS

NUMBERS = "[" + ",".join(str(i) for i in range(100)) + "]"
# A million evaluations: minutes of work for the evaluator, if nothing stopped it.
HUGE_COMPREHENSION = f"{NUMBERS}.map(a, {NUMBERS}.map(b, {NUMBERS}.map(c, a * b * c))).size() > 0"


@pytest.fixture
async def pool(metrics: ReplayMetrics) -> AsyncIterator[ExpressionPool]:
    pool = ExpressionPool(1, timeout=0.5, memory_mb=256, metrics=metrics)
    try:
        yield pool
    finally:
        await pool.close()


STATE = {
    "tasks": {"T1": {"status": "running", "attempts": 1}, "T2": {"status": "failed"}},
    "counters": {"events": 7, "errors": 1},
    "memory": {"swarm/notes": {"value": {"a": 1}, "version": 2}},
    "session": {"status": "active"},
}


async def test_watch_values_errors_and_conversions(pool: ExpressionPool) -> None:
    expressions = [
        'state.tasks["T1"].status',
        "state.counters.events + 1",
        'state.memory["swarm/notes"].value',
        "state.tasks.exists(t, state.tasks[t].status == 'failed')",
        "size(state.tasks)",
        "state.nope.deeper",
        'timestamp("2020-01-01T00:00:00Z")',
        'duration("90s")',
        "1 +",
    ]
    async with pool.session() as session:
        values = await session.watch(expressions, STATE)
    assert values[:5] == [("running", None), (8, None), ({"a": 1}, None), (True, None), (2, None)]
    assert values[5] == (None, "no such key: 'nope'")
    assert values[6] == ("2020-01-01T00:00:00+00:00", None)
    assert values[7] == (90.0, None)
    assert values[8][0] is None
    assert values[8][1] is not None
    assert values[8][1].startswith("does not compile")


async def test_a_slow_expression_is_stopped_with_a_clear_error_and_others_still_answer(
    pool: ExpressionPool, metrics: ReplayMetrics
) -> None:
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    try:
        async with pool.session() as session:
            values = await session.watch(
                ["state.session.status", HUGE_COMPREHENSION, "state.counters.errors"], STATE
            )
    finally:
        beat.cancel()
    assert values[0] == ("active", None)
    assert values[1] == (None, "evaluation exceeded the 0.5 s time limit and was stopped")
    assert values[2] == (1, None)
    # The service's event loop kept running while the evaluation ran in the sandbox.
    assert ticks >= 20
    assert metrics.expression_failures.labels("timeout")._value.get() == 1
    # The pool replaced the killed worker: the next request works.
    async with pool.session() as session:
        assert await session.watch(["1 + 1"], STATE) == [(2, None)]


async def test_an_expression_that_eats_memory_kills_only_its_sandbox(metrics: ReplayMetrics) -> None:
    pool = ExpressionPool(1, timeout=20.0, memory_mb=256, metrics=metrics)
    try:
        state = {"big": "x" * 4_000_000}
        async with pool.session() as session:
            values = await session.watch(
                [f"{NUMBERS}.map(a, state.big + state.big).size()", "size(state.big)"], state
            )
        assert values[0][1] is not None
        assert "sandbox died" in values[0][1]
        assert values[1] == (4_000_000, None)
        assert metrics.expression_failures.labels("crash")._value.get() == 1
    finally:
        await pool.close()


async def test_large_results_are_refused(pool: ExpressionPool) -> None:
    async with pool.session() as session:
        values = await session.watch(["state.big"], {"big": "y" * 300_000})
    assert values[0][1] is not None
    assert "more than the 262144 allowed" in values[0][1]


def test_limits_on_count_length_and_emptiness() -> None:
    check_expressions(["true"] * MAX_EXPRESSIONS)
    with pytest.raises(ExpressionError, match="at most"):
        check_expressions(["true"] * (MAX_EXPRESSIONS + 1))
    with pytest.raises(ExpressionError, match="characters"):
        check_expressions(["1" + " " * MAX_EXPRESSION_CHARS])
    with pytest.raises(ExpressionError, match="empty"):
        check_expressions(["  "])
    with pytest.raises(ExpressionError, match="at least one"):
        check_expressions([])


async def test_malformed_and_deeply_nested_expressions_compile_to_errors_in_the_sandbox(
    pool: ExpressionPool,
) -> None:
    nasty = ["(" * 999 + "1" + ")" * 999, "[" * 1000, '"unterminated', "state.", "\x00", "🙂 == 🙂"]
    async with pool.session() as session:
        errors = await session.compile(nasty)
    assert all(error is not None for error in errors)


def test_projection_keeps_exactly_what_an_expression_can_read() -> None:
    assert referenced_paths(['state.tasks["T3"].status == "x"'], "state") == [("tasks", "T3", "status")]
    assert referenced_paths(["state.tasks.exists(t, true)"], "state") == [("tasks",)]
    assert referenced_paths(["size(state.tasks) > 1 && state.counters.errors > 0"], "state") == [
        ("tasks",),
        ("counters", "errors"),
    ]
    assert referenced_paths(["state.a.b", "state.a"], "state") == [("a",)]
    assert referenced_paths(["event.type"], "state") == []
    # Whole variable: used bare, indexed by a non-literal, shadowed by a comprehension variable.
    assert referenced_paths(["state"], "state") is None
    assert referenced_paths(["state[k]"], "state") is None
    assert referenced_paths(["[1].exists(state, state > 0)"], "state") is None
    assert referenced_paths(["state.tasks[event.data.task_id].status"], "state") == [("tasks",)]
    assert referenced_paths(["mystate.x || state_2.y"], "state") == []
    assert project(STATE, [("tasks", "T1", "status"), ("tasks", "T9")]) == {
        "tasks": {"T1": {"status": "running"}}
    }
    assert project(STATE, None) is STATE
    assert project(STATE, []) == {}
