"""A real LangGraph multi-agent graph, traced by openinference-instrumentation-langchain and sent by
the stock OTLP/HTTP exporter, through the real gateway, ingest, store and replay.

The graph: a supervisor agent whose tools hand tasks to two worker agents (each a compiled LangGraph
graph with a model node and a ToolNode); the workers call tools of their own. The chat models are
langchain-core's fake chat model with scripted answers (tool calls, token usage): no network, no keys.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool, tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from openinference.instrumentation.langchain import LangChainInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from swarmscope_dev.gateway import RunningGateway, stored_events, wait_stored


class ScriptedChatModel(FakeMessagesListChatModel):
    """The fake chat model of langchain-core, answering tool calls from its script."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}


def call(name: str, args: dict[str, Any], call_id: str, tokens: tuple[int, int]) -> AIMessage:
    return AIMessage(
        "", tool_calls=[{"name": name, "args": args, "id": call_id}], usage_metadata=usage(*tokens)
    )


def agent_graph(name: str, script: list[BaseMessage], tools: list[BaseTool]) -> CompiledStateGraph[Any]:
    """An agent as LangGraph builds one: a model node and a ToolNode in a loop."""
    model = ScriptedChatModel(responses=script)

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("call_model", call_model)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "call_model")
    builder.add_conditional_edges("call_model", tools_condition)
    builder.add_edge("tools", "call_model")
    return builder.compile(name=name)


def build_swarm() -> CompiledStateGraph[Any]:
    @tool
    def search(query: str) -> str:
        """Search the literature."""
        return f"3 papers about {query}"

    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    research = agent_graph(
        "research_agent",
        [
            call("search", {"query": "token buckets"}, "call_s1", (50, 10)),
            AIMessage("Found 3 papers.", usage_metadata=usage(70, 5)),
        ],
        [search],
    )
    math = agent_graph(
        "math_agent",
        [
            call("add", {"a": 2, "b": 2}, "call_a1", (40, 8)),
            AIMessage("2 + 2 = 4", usage_metadata=usage(60, 4)),
        ],
        [add],
    )

    @tool
    def delegate_research(task: str) -> str:
        """Hand a research task to the research agent."""
        return str(research.invoke({"messages": [HumanMessage(task)]})["messages"][-1].content)

    @tool
    def delegate_math(task: str) -> str:
        """Hand a calculation to the math agent."""
        return str(math.invoke({"messages": [HumanMessage(task)]})["messages"][-1].content)

    return agent_graph(
        "supervisor_agent",
        [
            call("delegate_research", {"task": "find papers on token buckets"}, "call_d1", (100, 20)),
            call("delegate_math", {"task": "what is 2 + 2"}, "call_d2", (130, 20)),
            AIMessage("Done: 3 papers; 2 + 2 = 4.", usage_metadata=usage(160, 12)),
        ],
        [delegate_research, delegate_math],
    )


INPUT_TOKENS = 100 + 50 + 70 + 130 + 40 + 60 + 160
OUTPUT_TOKENS = 20 + 10 + 5 + 20 + 8 + 4 + 12
SPANS = 32  # what openinference makes of this run (every LangChain run is a span)


def run_traced(endpoint: str, session_id: str) -> str:
    """Runs the swarm under the OpenInference instrumentor with the stock OTLP exporter."""
    provider = TracerProvider(resource=Resource.create({"service.name": "langgraph-swarm"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        answer = build_swarm().invoke(
            {"messages": [HumanMessage("research token buckets, then add 2 and 2")]},
            config={"metadata": {"session_id": session_id}},
        )
    finally:
        instrumentor.uninstrument()
        assert provider.force_flush(30_000)
        provider.shutdown()
    return str(answer["messages"][-1].content)


@pytest.fixture
async def swarm_session(
    gateway: RunningGateway, client: httpx.AsyncClient
) -> tuple[str, list[dict[str, Any]]]:
    session_id = f"lg-{uuid.uuid4().hex[:12]}"
    answer = await asyncio.to_thread(run_traced, f"{gateway.url}/v1/traces", session_id)
    assert answer == "Done: 3 papers; 2 + 2 = 4."
    # every span's start and end, 3 agent spawns, 2 hand-offs
    expected = 2 * SPANS + 3 + 2
    await wait_stored(client, session_id, expected)
    events = await stored_events(client, session_id)
    assert len(events) == expected
    return session_id, events


async def test_the_session_shows_its_agents_tree_tools_and_tokens(
    client: httpx.AsyncClient, swarm_session: tuple[str, list[dict[str, Any]]]
) -> None:
    session_id, events = swarm_session
    summary = (await client.get(f"/api/v1/sessions/{session_id}")).json()
    assert summary["source"] == "otlp"
    assert summary["agent_count"] == 3
    assert summary["tokens"] == INPUT_TOKENS + OUTPUT_TOKENS
    assert summary["error_count"] == 0

    agents = {
        a["agent_id"]: a for a in (await client.get(f"/api/v1/sessions/{session_id}/agents")).json()["items"]
    }
    assert set(agents) == {"supervisor_agent", "research_agent", "math_agent"}
    assert agents["research_agent"]["parent_agent_id"] == "supervisor_agent"
    assert agents["math_agent"]["parent_agent_id"] == "supervisor_agent"
    assert (agents["supervisor_agent"]["tool_calls"], agents["supervisor_agent"]["llm_calls"]) == (2, 3)
    assert (agents["research_agent"]["tool_calls"], agents["research_agent"]["llm_calls"]) == (1, 2)
    assert (agents["math_agent"]["tool_calls"], agents["math_agent"]["llm_calls"]) == (1, 2)
    assert agents["math_agent"]["tokens"] == 40 + 8 + 60 + 4

    # The call tree is the graph's: each worker runs inside the supervisor's hand-off tool.
    starts = {e["span_id"]: e for e in events if e.get("phase") == "start"}

    def parent_of(span_id: str) -> dict[str, Any]:
        return starts[starts[span_id]["metadata"]["parent_id"]]

    def named(name: str) -> list[dict[str, Any]]:
        return [e for e in starts.values() if e["data"]["otel"]["name"] == name]

    (research,) = named("research_agent")
    assert (parent_of(research["span_id"])["type"], parent_of(research["span_id"])["data"]["tool"]) == (
        "tool_call",
        "delegate_research",
    )
    (add,) = named("add")
    assert add["data"]["args"] == {"a": 2, "b": 2}
    assert add["agent_id"] == "math_agent"
    add_end = next(e for e in events if e["span_id"] == add["span_id"] and e["phase"] == "complete")
    assert add_end["data"]["result"]["data"]["content"] == "4"  # the ToolMessage LangChain returned
    (search,) = named("search")
    assert search["agent_id"] == "research_agent"
    llm_ends = [e for e in events if e["type"] == "llm_call" and e["phase"] == "complete"]
    assert len(llm_ends) == 7
    assert sum(e["data"]["input_tokens"] for e in llm_ends) == INPUT_TOKENS
    assert sum(e["data"]["output_tokens"] for e in llm_ends) == OUTPUT_TOKENS
    first_prompt = min(
        (e for e in events if e["type"] == "llm_call" and e["phase"] == "start"), key=lambda e: e["seq"]
    )
    assert first_prompt["data"]["prompt"][0]["content"] == "research token buckets, then add 2 and 2"

    handoffs = [e for e in events if e["type"] == "communication"]
    assert sorted((h["data"]["message"]["from"], h["data"]["message"]["to"][0]) for h in handoffs) == [
        ("supervisor_agent", "math_agent"),
        ("supervisor_agent", "research_agent"),
    ]
    graph = (await client.get(f"/api/v1/sessions/{session_id}/graph", params={"layout": "force"})).json()
    spawn_edges = {(e["source"], e["target"]) for e in graph["edges"] if e["type"] == "spawn"}
    assert spawn_edges == {("supervisor_agent", "research_agent"), ("supervisor_agent", "math_agent")}
    message_edges = {(e["source"], e["target"]) for e in graph["edges"] if e["type"] == "message"}
    assert message_edges == {("supervisor_agent", "research_agent"), ("supervisor_agent", "math_agent")}


async def test_replay_state_stepping_and_stack_work_on_it(
    client: httpx.AsyncClient, swarm_session: tuple[str, list[dict[str, Any]]]
) -> None:
    session_id, events = swarm_session
    base = f"/api/v1/sessions/{session_id}"
    final = (await client.get(f"{base}/state", params={"seq": events[-1]["seq"]})).json()
    assert set(final["agents"]) == {"supervisor_agent", "research_agent", "math_agent"}
    assert final["agents"]["math_agent"]["parent_agent_id"] == "supervisor_agent"
    assert final["counters"]["tool_calls"] == 4
    assert final["counters"]["llm_calls"] == 7
    assert final["counters"]["input_tokens"] == INPUT_TOKENS
    assert final["open_spans"] == {}
    assert [c["to"] for c in final["communications"]] == [["research_agent"], ["math_agent"]]

    # Mid-run: while the research agent searches, its spans are open and the math agent unborn.
    search_start = next(e for e in events if e["type"] == "tool_call" and e["data"]["tool"] == "search")
    mid = (await client.get(f"{base}/state", params={"seq": search_start["seq"]})).json()
    assert "math_agent" not in mid["agents"]
    assert {s["type"] for s in mid["open_spans"].values()} >= {"tool_call", "agent_method"}

    stack = (await client.get(f"{base}/events/{search_start['id']}/stack")).json()
    labels = [(f["type"], f["agent_id"]) for f in stack["frames"]]
    assert labels[0] == ("tool_call", "research_agent")
    assert ("tool_call", "supervisor_agent") in labels  # the delegate_research hand-off tool
    assert labels[-1] == ("agent_method", "supervisor_agent")

    delegate = next(
        e for e in events if e["type"] == "tool_call" and e["data"]["tool"] == "delegate_research"
    )
    over = (await client.get(f"{base}/events/{delegate['id']}/step", params={"direction": "over"})).json()
    assert over["event"]["span_id"] == delegate["span_id"]
    assert over["event"]["phase"] == "complete"
    into = (await client.get(f"{base}/events/{delegate['id']}/step", params={"direction": "into"})).json()
    assert into["event"]["metadata"]["parent_id"] == delegate["span_id"]
    assert into["event"]["agent_id"] == "research_agent"
