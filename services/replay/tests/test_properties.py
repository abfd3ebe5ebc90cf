"""Property: for generated sessions, the state at every seq computed from snapshots equals the fold
from zero — whatever the snapshot interval, the batch sizes, the interleaving with another session,
and a restart of the consumer at any point."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from swarmscope_dev.replay import MemoryEventSource, make_engine, synthetic_session
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.snapshot_database import open_snapshot_store
from swarmscope_schema.taxonomy import EventType


@st.composite
def chaotic_session(draw: st.DrawFn, session_id: str) -> list[dict[str, Any]]:
    """Events of random types, phases, spans and ids (stressing the reducer's edge cases)."""
    ids = st.sampled_from(["a", "b", "c"])
    events = []
    for i in range(draw(st.integers(min_value=1, max_value=40))):
        events.append(
            {
                "id": f"{session_id}-x{i}",
                "timestamp": 1000.0 + i,
                "session_id": session_id,
                "agent_id": draw(ids),
                "type": draw(st.sampled_from([t.value for t in EventType] + ["custom.x"])),
                "phase": draw(st.sampled_from(["start", "progress", "complete", "error"])),
                "span_id": draw(st.sampled_from(["s1", "s2", "s3"])),
                "metadata": {"parent_id": draw(st.sampled_from([None, "s1"]))},
                "data": {
                    "task_id": draw(ids),
                    "agent_id": draw(ids),
                    "key": draw(ids),
                    "value": draw(st.integers(min_value=-(2**40), max_value=2**40)),
                    "status": draw(st.sampled_from(["idle", "busy", "completed"])),
                    "message": {"id": draw(ids), "from": "a", "to": ["b"]},
                    "direction": draw(st.sampled_from(["sent", "received"])),
                    **({"task_status": "blocked"} if draw(st.booleans()) else {}),
                },
            }
        )
    return events


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        main = synthetic_session(
            "main", draw(st.integers(min_value=5, max_value=150)), seed=draw(st.integers(0, 10**6))
        )
    else:
        main = draw(chaotic_session("main"))
    other = synthetic_session(
        "other", draw(st.integers(min_value=0, max_value=60)), seed=draw(st.integers(0, 100))
    )
    # Interleave the two sessions at random: seq is global, each session a subsequence.
    rng = random.Random(draw(st.integers(0, 10**6)))
    merged: list[dict[str, Any]] = []
    a, b = list(main), list(other)
    while a or b:
        source = a if (a and (not b or rng.random() < 0.6)) else b
        merged.append(source.pop(0))
    log = []
    seq = 0
    for event in merged:
        seq += rng.choice((1, 1, 1, 2))  # gaps: TRACES also holds messages of no interest here
        log.append({**event, "seq": seq})
    return {
        "log": log,
        "every": draw(st.integers(min_value=1, max_value=25)),
        "batch": draw(st.integers(min_value=1, max_value=60)),
        "restart_at": draw(st.integers(min_value=0, max_value=len(log))),
        "use_tracker_state": draw(st.booleans()),
        "capacity": draw(st.sampled_from([1, 2, 256])),
    }


async def check(scenario: dict[str, Any]) -> None:
    log = scenario["log"]
    store = open_snapshot_store("sqlite:///:memory:")
    await store.open()
    try:
        metrics = ReplayMetrics.create(CollectorRegistry())
        source = MemoryEventSource()
        options = {"every": scenario["every"], "capacity": scenario["capacity"]}
        first = make_engine(store, metrics, source=source, **options)
        await first.consume(log[: scenario["restart_at"]], batch=scenario["batch"])
        # A new process over the same store and store-held events, redelivered a little.
        second = make_engine(
            store,
            metrics,
            source=source,
            position=first.position,
            use_tracker_state=scenario["use_tracker_state"],
            **options,
        )
        redeliver_from = max(scenario["restart_at"] - 3, 0)
        await second.consume(log[redeliver_from:], batch=scenario["batch"])
        main = [e for e in log if e["session_id"] == "main"]
        state = initial_state("main")
        seqs = [0, *(int(e["seq"]) for e in main), int(log[-1]["seq"]) + 5]
        by_seq = {int(e["seq"]): e for e in main}
        for seq in seqs:
            if seq in by_seq:
                state = fold(state, [by_seq[seq]])
            assert await second.states.at_seq("main", seq) == state, f"state differs at seq {seq}"
    finally:
        await store.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(scenarios())
def test_state_from_snapshots_equals_fold_from_zero_at_every_seq(scenario: dict[str, Any]) -> None:
    asyncio.run(check(scenario))
