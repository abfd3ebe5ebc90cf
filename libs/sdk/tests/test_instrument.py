"""Traced code keeps its behaviour: instrumented objects, @trace, and traced event buses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from swarmscope import Tracer, uninstrument
from swarmscope.testing import published_events
from swarmscope_schema.events import TraceEvent


class Boom(Exception):
    pass


class Agent:
    """A small agent with every kind of method."""

    label = "not a method"

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self.calls: list[str] = []

    @property
    def busy(self) -> bool:
        return False

    def plan(self, goal: str, *, depth: int = 1) -> list[str]:
        self.calls.append("plan")
        return [self.step(goal, i) for i in range(depth)]

    def step(self, goal: str, i: int) -> str:
        return f"{goal}:{i}"

    def explode(self) -> None:
        raise Boom("kaboom")

    async def think(self, prompt: str) -> str:
        await asyncio.sleep(0)
        return prompt.upper()

    def stream(self, n: int) -> Iterator[int]:
        for i in range(n):
            got = yield i
            if got:
                self.calls.append(f"sent {got}")
        return n

    async def astream(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @staticmethod
    def helper(x: int) -> int:
        return x * 2

    @classmethod
    def kind(cls) -> str:
        return cls.__name__

    def _private(self) -> str:
        return "hidden"


@pytest.fixture
def tracer() -> Any:
    t = Tracer("sess-instr", transport="memory")
    yield t
    t.close()


def starts(tracer: Tracer) -> list[dict[str, Any]]:
    return [e for e in tracer.events if e["phase"] == "start"]


def test_instrumented_object_keeps_behaviour_and_exceptions(tracer: Tracer) -> None:
    agent = tracer.instrument(Agent("cod-1"))
    assert isinstance(agent, Agent)
    assert agent.plan("x", depth=2) == ["x:0", "x:1"]
    assert agent.calls == ["plan"]
    assert agent.helper(4) == 8
    assert agent.kind() == "Agent"
    assert agent.busy is False
    assert agent.label == "not a method"
    assert agent._private() == "hidden"
    with pytest.raises(Boom, match="kaboom"):
        agent.explode()
    assert asyncio.run(agent.think("hi")) == "HI"
    gen = agent.stream(3)
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert list(gen) == [2]
    assert agent.calls == ["plan", "sent a"]

    async def collect() -> list[int]:
        return [i async for i in agent.astream(3)]

    assert asyncio.run(collect()) == [0, 1, 2]
    assert agent.plan.__name__ == "plan"

    methods = [e["data"]["method"] for e in starts(tracer)]
    assert methods == ["plan", "step", "step", "helper", "kind", "explode", "think", "stream", "astream"]
    assert all(e["agent_id"] == "cod-1" and e["type"] == "agent_method" for e in tracer.events)
    plan_start = starts(tracer)[0]
    assert plan_start["data"]["args"] == {"goal": "x", "depth": 2}
    assert plan_start["data"]["class"] == "Agent"
    step_starts = [e for e in starts(tracer) if e["data"]["method"] == "step"]
    assert all(e["metadata"]["parent_id"] == plan_start["span_id"] for e in step_starts)
    ends = {e["span_id"]: e for e in tracer.events if e["phase"] != "start"}
    assert ends[plan_start["span_id"]]["data"]["result"] == ["x:0", "x:1"]
    explode = next(e for e in starts(tracer) if e["data"]["method"] == "explode")
    assert ends[explode["span_id"]]["phase"] == "error"
    assert ends[explode["span_id"]]["data"]["error"]["message"] == "kaboom"
    stream = next(e for e in starts(tracer) if e["data"]["method"] == "stream")
    assert ends[stream["span_id"]]["data"]["result"] == 3
    assert ends[stream["span_id"]]["data"]["items"] == 3
    for event in tracer.events:
        TraceEvent.model_validate(event)

    uninstrument(agent)
    before = len(tracer.events)
    agent.plan("y")
    assert len(tracer.events) == before


def test_generator_spans_do_not_leak_into_the_consumer(tracer: Tracer) -> None:
    @tracer.trace
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            tracer.emit("custom.inside", {"i": i})
            yield i

    with tracer.span("agent_method", {"method": "consumer"}) as consumer:
        first, second = numbers(2), numbers(2)
        for a, b in zip(first, second, strict=True):
            tracer.emit("custom.outside", {"pair": [a, b]})
    gens = [e for e in starts(tracer) if e["data"]["method"].endswith("numbers")]
    assert all(e["metadata"]["parent_id"] == consumer.span_id for e in gens)
    for event in tracer.events:
        if event["type"] == "custom.outside":
            assert event["metadata"]["parent_id"] == consumer.span_id
    inside = [e for e in tracer.events if e["type"] == "custom.inside"]
    assert {e["metadata"]["parent_id"] for e in inside} == {g["span_id"] for g in gens}


def test_a_generator_closed_early_completes_its_span(tracer: Tracer) -> None:
    @tracer.trace
    def forever() -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    gen = forever()
    assert next(gen) == 0
    gen.close()
    end = tracer.events[-1]
    assert end["phase"] == "complete"
    assert end["data"]["closed_early"] is True


def test_trace_decorator_options(tracer: Tracer) -> None:
    @tracer.trace(type="tool_call", name="search", capture_result=False)
    def search(query: str, *extra: str, limit: int = 3) -> list[str]:
        return [query] * limit

    assert search("q", "more", limit=2) == ["q", "q"]
    start, done = tracer.events
    assert start["data"] == {"tool": "search", "args": {"query": "q", "*args": ["more"], "limit": 2}}
    assert "result" not in done["data"]
    with pytest.raises(ValueError, match="task_id"):
        tracer.trace(type="task_start")(lambda: None)


class Bus:
    """A Claude-Flow EventBus: emit(event, data), handlers get only data."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Any]] = {}

    def on(self, event: str, handler: Any) -> None:
        self.handlers.setdefault(event, []).append(handler)

    def emit(self, event: str, data: Any = None) -> int:
        for handler in self.handlers.get(event, []):
            handler(data)
        return len(self.handlers.get(event, []))


def test_event_bus_aliases_and_communication(tracer: Tracer) -> None:
    coord = tracer.agent("coord-1")
    bus = coord.trace_event_bus(Bus())
    seen: list[Any] = []
    bus.on("task:created", lambda data: (seen.append(data), coord.emit("custom.handled", {})))
    assert bus.emit("task:created", {"task": {"id": "T1", "description": "d"}}) == 1
    assert seen == [{"task": {"id": "T1", "description": "d"}}]
    bus.emit("agent:spawned", {"agentId": "cod-1", "profile": {"type": "coder"}})
    bus.emit("system:ready", {"targets": ["cod-1"]})
    bus.emit("task:failed", {"oops": True})  # an alias without its required fields
    created, handled, spawned, ready, failed = tracer.events
    assert created["type"] == "task:created"
    assert handled["metadata"]["parent_id"] == created["id"]
    assert spawned["agent_id"] == "cod-1"
    assert ready["type"] == "communication"
    assert ready["data"]["event"] == "system:ready"
    assert ready["data"]["message"]["from"] == "coord-1"
    assert ready["data"]["message"]["to"] == ["cod-1"]
    # Ingest could not normalize it as task_fail: it travels as a communication, nothing lost.
    assert failed["type"] == "communication"
    assert failed["data"]["event"] == "task:failed"
    for event in tracer.events:
        TraceEvent.model_validate(event)


def test_event_bus_communication_mode_and_async_bus(tracer: Tracer) -> None:
    class AsyncBus:
        async def emit(self, event: str, data: Any = None) -> str:
            return f"handled {event}"

    bus = tracer.trace_event_bus(AsyncBus(), mode="communication", agent_id="mon-1")
    assert asyncio.run(bus.emit("task:created", {"task": {"id": "T1"}})) == "handled task:created"
    (event,) = tracer.events
    assert event["type"] == "communication"
    assert event["agent_id"] == "mon-1"
    assert event["data"]["message"]["broadcast"] is True
    assert event["data"]["message"]["content"] == {"task": {"id": "T1"}}
    with pytest.raises(ValueError, match="mode"):
        tracer.trace_event_bus(Bus(), mode="loud")  # type: ignore[arg-type]


def test_instrumented_calls_reach_nats(js_url: str, session_id: str) -> None:
    tracer = Tracer(session_id, js_url)
    agent = tracer.instrument(Agent("res-1"), methods=["plan"])
    agent.plan("goal")
    agent.step("not traced", 0)
    assert tracer.flush(10)
    tracer.close()
    events = published_events(js_url, session_id)
    assert [(e["data"]["method"], e["phase"]) for e in events] == [("plan", "start"), ("plan", "complete")]
    with pytest.raises(TypeError, match="instance"):
        tracer.instrument(Agent)
