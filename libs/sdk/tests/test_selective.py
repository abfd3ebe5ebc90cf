"""Selective tracing (seed §7.1): levels, per-trace sampling, per-agent rate limits, pressure."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from swarmscope import TraceLevel, Tracer


def test_levels_keep_the_skeleton() -> None:
    minimal = Tracer("sess-lvl", transport="memory", level=TraceLevel.MINIMAL)
    standard = Tracer("sess-lvl", transport="memory", level="standard")
    for tracer in (minimal, standard):
        tracer.emit("task_start", {"task_id": "T1"}, phase="start")
        tracer.emit("tool_call", {"tool": "Bash"})
        tracer.emit("agent_method", {"method": "m"})
        tracer.emit("memory_read", {"key": "k"})
        tracer.emit("custom.debug", {})
        tracer.emit("agent_method", {"method": "m"}, phase="error")  # errors always pass
        tracer.emit("memory_read", {"key": "k"}, priority="high")  # so does high priority
    assert [e["type"] for e in minimal.events] == ["task_start", "agent_method", "memory_read"]
    assert [e["type"] for e in standard.events] == [
        "task_start",
        "tool_call",
        "custom.debug",
        "agent_method",
        "memory_read",
    ]
    assert minimal.stats()["dropped"] == {"level": {"normal": 4}}
    assert minimal.stats()["filtered"] == 4
    assert minimal.stats()["lost"] == 0


def test_a_level_filtered_span_is_transparent() -> None:
    tracer = Tracer("sess-lvl2", transport="memory", level="standard")
    with tracer.span("tool_call", {"tool": "outer"}) as outer:
        with tracer.span("agent_method", {"method": "hidden"}) as hidden:
            tracer.emit("llm_call", {"model": "m"})
        assert not hidden.traced
    llm = next(e for e in tracer.events if e["type"] == "llm_call")
    assert llm["metadata"]["parent_id"] == outer.span_id


def test_sampling_keeps_or_drops_whole_traces() -> None:
    tracer = Tracer("sess-sample", transport="memory", sample_rate=0.5, rng=random.Random(7))
    roots = []
    for i in range(200):
        with tracer.span("agent_method", {"method": f"root-{i}"}) as root:
            with tracer.span("tool_call", {"tool": "Bash"}):
                tracer.emit("custom.leaf", {"i": i})
            tracer.emit("custom.error", {"i": i}, phase="error")
        roots.append(root)
    kept = [r for r in roots if r.traced]
    assert 60 < len(kept) < 140
    by_parent = Counter(e.get("metadata", {}).get("parent_id") for e in tracer.events)
    for root in kept:
        # start + complete of the child span, and the error, hang under each kept root.
        assert by_parent[root.span_id] == 3
    errors = [e for e in tracer.events if e["type"] == "custom.error"]
    assert len(errors) == 200  # error phases pass even inside a dropped trace
    leaves = [e for e in tracer.events if e["type"] == "custom.leaf"]
    assert len(leaves) == len(kept)
    # Per dropped trace: the root and child starts and the leaf (ends of untraced spans are never made).
    assert tracer.stats()["dropped"]["sampled"]["normal"] == (200 - len(kept)) * 3


def test_rate_limit_per_agent_with_burst() -> None:
    tracer = Tracer("sess-rate", transport="memory", rate_limit=1.0, rate_burst=5)
    chatty, quiet = tracer.agent("cod-1"), tracer.agent("rev-1")
    sent = [chatty.emit("custom.tick", {"i": i}) for i in range(20)]
    assert sum(1 for s in sent if s is not None) in (5, 6)  # the burst (and a refill at most)
    assert quiet.emit("custom.tick", {}) is not None  # another agent has its own bucket
    assert chatty.emit("custom.alarm", {}, priority="critical") is not None
    dropped: dict[str, Any] = tracer.stats()["dropped"]
    assert dropped["rate_limited"]["normal"] == sum(1 for s in sent if s is None)


def test_pressure_keeps_essential_events_only() -> None:
    tracer = Tracer("sess-pressure", transport="memory")
    tracer._core.set_pressure(True)
    assert tracer.emit("agent_method", {"method": "m"}) is None
    assert tracer.emit("task_complete", {"task_id": "T1"}) is not None
    assert tracer.emit("agent_spawn", {"agent_type": "coder"}, agent_id="cod-1") is not None
    assert tracer.emit("custom.x", {}, priority="high") is not None
    tracer._core.set_pressure(False)
    assert tracer.emit("agent_method", {"method": "m"}) is not None
    assert tracer.stats()["dropped"] == {"pressure": {"normal": 1}}
