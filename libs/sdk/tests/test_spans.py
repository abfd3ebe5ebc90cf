"""Spans against a real NATS: one span id for start and end, parents across threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from swarmscope import Tracer, current_span_id, propagate
from swarmscope.testing import published_messages, read_raw_messages
from swarmscope_schema.events import TraceEvent
from swarmscope_schema.subjects import MSG_ID_HEADER, raw_msg_id, raw_subject


def by_span(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    spans: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        spans.setdefault(event.get("span_id", event["id"]), []).append(event)
    return spans


def parent(event: dict[str, Any]) -> str | None:
    return event.get("metadata", {}).get("parent_id")


def test_spans_nest_across_threads(js_url: str, session_id: str) -> None:
    tracer = Tracer(session_id, js_url, agent_id="coord-1")

    def worker(n: int) -> str | None:
        with tracer.span("agent_method", {"method": f"work-{n}"}, agent_id=f"wrk-{n}"):
            tracer.emit("tool_call", {"tool": "Bash", "args": {"n": n}})
            return current_span_id()

    with tracer.span("agent_method", {"method": "plan"}) as root:
        threads = [threading.Thread(target=propagate(worker), args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with ThreadPoolExecutor(2) as pool:
            inner = list(pool.map(propagate(worker), range(3, 6)))
        # A thread started without propagate has no parent: contexts do not leak into threads.
        orphan = threading.Thread(target=worker, args=(6,))
        orphan.start()
        orphan.join()
    assert tracer.flush(10)
    tracer.close()

    messages = published_messages(js_url, session_id)
    events = [m.event for m in messages]
    for message in messages:
        TraceEvent.model_validate(message.event)
        if message.member is None:
            assert message.headers[MSG_ID_HEADER] == raw_msg_id(session_id, message.event["id"])
            assert message.subject == raw_subject(
                session_id, message.event.get("agent_id"), message.event["type"]
            )
        else:
            # Batch messages by default (v1.1): keyed by session, first member and size.
            assert message.headers[MSG_ID_HEADER].startswith(f"{session_id}:batch:")
            assert message.subject.startswith(f"traces.raw.{session_id}.")
            assert message.subject.endswith(".batch")
    assert any(m.member is not None for m in messages)
    spans = by_span(events)
    assert [e["phase"] for e in spans[root.span_id or ""]] == ["start", "complete"]
    workers = [
        e
        for e in events
        if e["type"] == "agent_method" and e["phase"] == "start" and e["agent_id"] != "coord-1"
    ]
    assert len(workers) == 7
    nested = {e["data"]["method"]: parent(e) for e in workers}
    assert all(nested[f"work-{n}"] == root.span_id for n in range(6))
    assert nested["work-6"] is None
    for start in workers:
        tool = next(e for e in events if e["type"] == "tool_call" and parent(e) == start["span_id"])
        assert tool["agent_id"] == start["agent_id"]  # the span's agent is inherited
    assert set(inner) <= set(spans)


async def test_spans_nest_across_asyncio_tasks(js_url: str, session_id: str) -> None:
    tracer = Tracer(session_id, js_url, agent_id="coord-1")

    async def step(n: int) -> None:
        async with tracer.span("agent_method", {"method": f"step-{n}"}):
            await asyncio.sleep(0.01 * (3 - n))  # interleave: each task keeps its own parent
            tracer.emit("custom.tick", {"n": n})

    async with tracer.span("agent_method", {"method": "gather"}) as root:
        await asyncio.gather(*(step(n) for n in range(3)))
        task = asyncio.create_task(step(9))
    await task
    assert await tracer.aflush(10)
    await tracer.aclose()

    events = [m.event for m in await read_raw_messages(js_url, session_id)]
    starts = {e["data"]["method"]: e for e in events if e["type"] == "agent_method" and e["phase"] == "start"}
    assert all(parent(starts[f"step-{n}"]) == root.span_id for n in (0, 1, 2, 9))
    for n in (0, 1, 2, 9):
        tick = next(e for e in events if e["type"] == "custom.tick" and e["data"]["n"] == n)
        assert parent(tick) == starts[f"step-{n}"]["span_id"]


def test_a_failing_span_reports_the_error_and_re_raises_it(js_url: str, session_id: str) -> None:
    tracer = Tracer(session_id, js_url, agent_id="cod-1")
    error = KeyError("missing")
    with pytest.raises(KeyError) as raised, tracer.tool_call("Read", {"file_path": "x.py"}):
        raise error
    assert raised.value is error
    with tracer.tool_call("Bash", {"command": "pytest"}) as call:
        call.fail("3 tests failed", exit_code=1)
    with tracer.span("agent_method", {"method": "measure"}) as span:
        sum(range(100_000))
        span.set(result=42).set_performance(token_count=7)
    assert tracer.flush(10)
    tracer.close()

    events = [m.event for m in published_messages(js_url, session_id)]
    read_start, read_error, _, bash_error, start, done = events
    assert read_error["phase"] == "error"
    assert read_error["span_id"] == read_start["id"] == read_start["span_id"]
    assert read_error["data"]["error"]["type"] == "KeyError"
    assert "raise error" in read_error["data"]["error"]["stack"]
    assert read_error["metadata"]["priority"] == "high"
    assert bash_error["phase"] == "error"
    assert bash_error["data"]["error"] == {"message": "3 tests failed"}
    assert bash_error["data"]["exit_code"] == 1
    assert done["data"]["result"] == 42
    performance = done["performance"]
    assert performance["duration"] > 0
    assert performance["cpu_time"] >= 0
    assert performance["memory_usage"] > 0
    assert performance["token_count"] == 7
    assert start["phase"] == "start"


def test_task_span_lifecycle(js_url: str, session_id: str) -> None:
    tracer = Tracer(session_id, js_url, agent_id="tst-1")
    first = tracer.task("T3", attempt=1).retry()
    with pytest.raises(ConnectionError), first:
        raise ConnectionError("redis refused")
    with tracer.task("T3", attempt=2) as second:
        second.progress(0.5, "half")
        tracer.emit("tool_call", {"tool": "Bash", "args": "pytest", "exit_code": 0})
        second.set(result={"passed": 12})
    assert tracer.flush(10)
    tracer.close()
    events = [m.event for m in published_messages(js_url, session_id)]
    assert [(e["type"], e["phase"], e.get("span_id")) for e in events] == [
        ("task_start", "start", "sp_T3_a1"),
        ("task_fail", "error", "sp_T3_a1"),
        ("task_start", "start", "sp_T3_a2"),
        ("task_progress", "progress", "sp_T3_a2"),
        ("tool_call", "complete", None),
        ("task_complete", "complete", "sp_T3_a2"),
    ]
    assert events[1]["data"]["will_retry"] is True
    assert events[1]["data"]["error"] == "redis refused"
    assert events[4]["metadata"]["parent_id"] == "sp_T3_a2"
    assert events[4]["metadata"]["correlation_id"] == "T3"
    assert events[5]["data"]["result"] == {"passed": 12}
    for event in events:
        TraceEvent.model_validate(event)
