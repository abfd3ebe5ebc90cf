"""The OTel → contract mapping (CONTRACT §1b): kinds, sessions, agents, the call tree, hand-offs,
ids that make a retry harmless, and nothing dropped."""

from __future__ import annotations

from typing import Any

import pytest

from swarmscope_schema.events import TraceEvent
from swarmscope_schema.otel import (
    OTEL_SPAN_TYPE,
    MappedSpan,
    OtelSpan,
    SpanEvent,
    SpanKind,
    SpanLink,
    map_spans,
    ordered_events,
    safe_name,
    span_kind,
)

TRACE = "0af7651916cd43dd8448eb211c80319c"
MS = 1_000_000
T0 = 1_752_300_000_000 * MS


def span(span_id: str, name: str, start: int, end: int, parent: str | None = None, **kw: Any) -> OtelSpan:
    return OtelSpan(
        trace_id=kw.pop("trace_id", TRACE),
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        start_ns=T0 + start * MS,
        end_ns=T0 + end * MS,
        **kw,
    )


def genai_run() -> list[OtelSpan]:
    """An agent that calls a model, then a tool: GenAI semantic conventions."""
    agent = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "planner",
        "gen_ai.agent.id": "pl-1",
    }
    convo = {"gen_ai.conversation.id": "conv-42"}
    return [
        span("a000000000000001", "invoke_agent planner", 0, 100, attributes={**agent, **convo}),
        span(
            "a000000000000002",
            "chat gpt-4o",
            10,
            40,
            "a000000000000001",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
                "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
                "gen_ai.provider.name": "openai",
            },
        ),
        span(
            "a000000000000003",
            "execute_tool search",
            50,
            90,
            "a000000000000001",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": '{"q": "rate limits"}',
                "gen_ai.tool.call.result": "3 hits",
            },
        ),
    ]


def events_of(mapped: list[MappedSpan]) -> list[dict[str, Any]]:
    events = ordered_events(mapped)
    for event in events:
        TraceEvent.model_validate(event)  # every mapped event is a valid contract event
    return events


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in events}


def test_genai_spans_become_a_call_tree_of_contract_events() -> None:
    events = events_of(map_spans(genai_run()))
    assert [(e["type"], e.get("phase"), e.get("agent_id")) for e in events] == [
        ("agent_spawn", None, "pl-1"),
        ("agent_method", "start", "pl-1"),
        ("llm_call", "start", "pl-1"),
        ("llm_call", "complete", "pl-1"),
        ("tool_call", "start", "pl-1"),
        ("tool_call", "complete", "pl-1"),
        ("agent_method", "complete", "pl-1"),
    ]
    assert {e["session_id"] for e in events} == {"conv-42"}
    assert all(e["metadata"]["source"] == "otlp" for e in events)
    ids = by_id(events)
    llm_end = ids[f"otel:{TRACE}:a000000000000002:end"]
    assert llm_end["span_id"] == "a000000000000002"
    assert llm_end["metadata"]["parent_id"] == "a000000000000001"
    assert llm_end["timestamp"] == (T0 + 40 * MS) / MS
    assert llm_end["data"]["model"] == "gpt-4o-2024-08-06"
    assert (llm_end["data"]["input_tokens"], llm_end["data"]["output_tokens"]) == (120, 30)
    assert llm_end["performance"] == {"duration": 30.0, "input_tokens": 120, "output_tokens": 30}
    llm_start = ids[f"otel:{TRACE}:a000000000000002:start"]
    assert llm_start["data"]["prompt"] == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert llm_start["data"]["provider"] == "openai"
    # Lifted attributes are not stored twice; the others are all kept.
    assert "gen_ai.input.messages" not in llm_start["data"]["attributes"]
    assert llm_start["data"]["attributes"]["gen_ai.request.model"] == "gpt-4o"
    tool_start = ids[f"otel:{TRACE}:a000000000000003:start"]
    assert tool_start["data"]["tool"] == "search"
    assert tool_start["data"]["args"] == {"q": "rate limits"}
    assert tool_start["data"]["call_id"] == "call_1"
    assert ids[f"otel:{TRACE}:a000000000000003:end"]["data"]["result"] == "3 hits"
    root = ids[f"otel:{TRACE}:a000000000000001:start"]
    assert "parent_id" not in root["metadata"]
    assert root["metadata"]["correlation_id"] == TRACE
    # What the span did not carry is absent, not null.
    assert ids[f"otel:{TRACE}:a000000000000001:end"]["data"] == {"method": "invoke_agent planner"}
    spawn = ids["otel:agent:pl-1"]
    assert spawn["data"]["agent_type"] == "planner"
    assert spawn["data"]["name"] == "planner"


def test_mapping_is_deterministic_so_a_retry_repeats_the_same_ids() -> None:
    first = events_of(map_spans(genai_run()))
    again = events_of(map_spans(list(reversed(genai_run()))))
    assert first == again
    assert len({e["id"] for e in first}) == len(first)


def test_openinference_llm_chain_and_session() -> None:
    spans = [
        span(
            "b000000000000001",
            "LangGraph",
            0,
            50,
            attributes={
                "openinference.span.kind": "CHAIN",
                "session.id": "thread-7",
                "input.value": '{"x": 1}',
            },
        ),
        span(
            "b000000000000002",
            "FakeChatModel",
            5,
            20,
            "b000000000000001",
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "fake-model",
                "llm.token_count.prompt": 11,
                "llm.token_count.completion": 4,
                "llm.input_messages.0.message.role": "system",
                "llm.input_messages.0.message.content": "be brief",
                "llm.input_messages.1.message.role": "user",
                "llm.input_messages.1.message.content": "2+2?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "add",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"a": 2}',
                "llm.invocation_parameters": '{"temperature": 0}',
            },
        ),
    ]
    events = by_id(events_of(map_spans(spans)))
    chain = events[f"otel:{TRACE}:b000000000000001:start"]
    assert (chain["type"], chain["data"]["method"], chain["data"]["args"]) == (
        "agent_method",
        "LangGraph",
        {"x": 1},
    )
    assert "agent_id" not in chain
    start = events[f"otel:{TRACE}:b000000000000002:start"]
    assert start["session_id"] == "thread-7"
    assert start["data"]["prompt"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "2+2?"},
    ]
    end = events[f"otel:{TRACE}:b000000000000002:end"]
    assert end["data"]["response"] == [
        {"role": "assistant", "tool_calls": [{"function": {"name": "add", "arguments": '{"a": 2}'}}]}
    ]
    assert (end["data"]["input_tokens"], end["data"]["output_tokens"]) == (11, 4)
    assert not any(k.startswith("llm.input_messages") for k in start["data"]["attributes"])
    assert start["data"]["attributes"]["llm.invocation_parameters"] == '{"temperature": 0}'


def test_unknown_spans_keep_every_attribute() -> None:
    attrs = {"http.method": "GET", "http.url": "https://x/y", "retries": [1, 2], "ok": True}
    retriever = {"openinference.span.kind": "RETRIEVER", "retrieval.documents.0.document.content": "doc"}
    spans = [
        span(
            "c000000000000001", "GET /y", 0, 5, attributes=attrs, kind="client", scope="opentelemetry.httpx"
        ),
        span("c000000000000002", "retrieve", 6, 9, attributes=retriever),
    ]
    events = by_id(events_of(map_spans(spans)))
    http = events[f"otel:{TRACE}:c000000000000001:start"]
    assert http["type"] == OTEL_SPAN_TYPE
    assert http["data"]["attributes"] == attrs
    assert http["data"]["otel"] == {
        "trace_id": TRACE,
        "span_id": "c000000000000001",
        "name": "GET /y",
        "kind": "client",
        "scope": "opentelemetry.httpx",
    }
    assert events[f"otel:{TRACE}:c000000000000002:start"]["data"]["attributes"] == retriever


def test_a_failed_span_ends_in_an_error_event() -> None:
    failed = span(
        "d000000000000001",
        "execute_tool shell",
        0,
        5,
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "shell",
            "error.type": "Timeout",
        },
        status="error",
        events=[SpanEvent("exception", T0 + 4 * MS, {"exception.message": "timed out after 5s"})],
    )
    end = by_id(events_of(map_spans([failed])))[f"otel:{TRACE}:d000000000000001:end"]
    assert end["phase"] == "error"
    assert end["data"]["error"] == "timed out after 5s"
    assert end["data"]["span_events"] == [
        {
            "name": "exception",
            "timestamp": (T0 + 4 * MS) / MS,
            "attributes": {"exception.message": "timed out after 5s"},
        }
    ]
    with_message = span("d000000000000002", "x", 0, 1, status="error", status_message="boom")
    assert (
        by_id(events_of(map_spans([with_message])))[f"otel:{TRACE}:d000000000000002:end"]["data"]["error"]
        == "boom"
    )


def test_a_span_of_another_agent_is_a_handoff() -> None:
    spans = [
        span("e000000000000001", "supervisor", 0, 100, attributes={"openinference.span.kind": "AGENT"}),
        span(
            "e000000000000002",
            "route",
            1,
            2,
            "e000000000000001",
            attributes={"openinference.span.kind": "CHAIN"},
        ),
        span(
            "e000000000000003",
            "research_agent",
            5,
            60,
            "e000000000000002",
            attributes={"openinference.span.kind": "AGENT", "input.value": "find papers"},
        ),
        span(
            "e000000000000004",
            "search",
            10,
            20,
            "e000000000000003",
            attributes={"openinference.span.kind": "TOOL", "tool.name": "search"},
        ),
        # The same agent again later: no second spawn, and no hand-off to itself.
        span(
            "e000000000000005",
            "research_agent",
            70,
            80,
            "e000000000000001",
            attributes={"openinference.span.kind": "AGENT"},
        ),
        span(
            "e000000000000006",
            "research_agent",
            72,
            78,
            "e000000000000005",
            attributes={"openinference.span.kind": "AGENT"},
        ),
    ]
    events = events_of(map_spans(spans))
    spawns = [e for e in events if e["type"] == "agent_spawn"]
    assert [(e["agent_id"], e["data"].get("parent_agent_id")) for e in spawns] == [
        ("supervisor", None),
        ("research_agent", "supervisor"),
    ]
    handoffs = [e for e in events if e["type"] == "communication"]
    assert [
        (h["agent_id"], h["data"]["message"]["to"], h["data"]["message"]["content"]) for h in handoffs
    ] == [
        ("supervisor", ["research_agent"], "find papers"),
        ("supervisor", ["research_agent"], "research_agent"),
    ]
    tool = by_id(events)[f"otel:{TRACE}:e000000000000004:start"]
    assert (tool["agent_id"], tool["metadata"]["parent_id"]) == ("research_agent", "e000000000000003")
    route = by_id(events)[f"otel:{TRACE}:e000000000000002:start"]
    assert route["agent_id"] == "supervisor"


def test_sessions_fall_back_to_ancestors_the_trace_and_the_trace_id() -> None:
    other = "1" * 32
    spans = [
        span("f000000000000001", "root", 0, 10, attributes={"session.id": "s-1"}),
        span("f000000000000002", "child", 1, 2, "f000000000000001"),
        # Its parent is not in this request, but a span of its trace names the session.
        span("f000000000000003", "orphan", 3, 4, "ffffffffffffffff"),
        span("f000000000000004", "lonely", 0, 1, trace_id=other),
    ]
    sessions = {e["span_id"]: e["session_id"] for e in events_of(map_spans(spans))}
    assert sessions == {
        "f000000000000001": "s-1",
        "f000000000000002": "s-1",
        "f000000000000003": "s-1",
        "f000000000000004": other,
    }


def test_foreign_ids_are_made_safe() -> None:
    assert safe_name("user@example.com/conv 1") == "user_example_com_conv_1"
    long_a, long_b = "a" * 200 + "1", "a" * 200 + "2"
    assert len(safe_name(long_a)) == 128
    assert safe_name(long_a) != safe_name(long_b)
    spans = [
        span(
            "9000000000000001",
            "invoke_agent Writer Bot",
            0,
            1,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "Writer Bot",
                "gen_ai.conversation.id": "c:1",
            },
        )
    ]
    events = events_of(map_spans(spans))
    assert {(e["session_id"], e["agent_id"]) for e in events} == {("c_1", "Writer_Bot")}
    assert by_id(events)["otel:agent:Writer_Bot"]["data"]["name"] == "Writer Bot"


@pytest.mark.parametrize(
    ("name", "attributes", "kind"),
    [
        ("chat gpt-4", {"gen_ai.request.model": "gpt-4"}, SpanKind.LLM),
        ("chat", {}, SpanKind.OTHER),  # a name alone, with no gen_ai attribute, proves nothing
        ("x", {"gen_ai.operation.name": "create_agent"}, SpanKind.AGENT),
        ("x", {"gen_ai.operation.name": "invoke_workflow"}, SpanKind.WORKFLOW),
        ("x", {"gen_ai.operation.name": "embeddings"}, SpanKind.OTHER),
        ("x", {"openinference.span.kind": "tool"}, SpanKind.TOOL),
        ("x", {"openinference.span.kind": "EMBEDDING"}, SpanKind.OTHER),
    ],
)
def test_span_kinds(name: str, attributes: dict[str, Any], kind: SpanKind) -> None:
    assert span_kind(span("7000000000000001", name, 0, 1, attributes=attributes)) == kind


def test_an_llm_span_without_a_model_is_named_by_its_span() -> None:
    llm = {"openinference.span.kind": "LLM"}
    events = events_of(map_spans([span("6000000000000001", "ChatOpenAI", 0, 1, attributes=llm)]))
    assert {e["data"]["model"] for e in events} == {"ChatOpenAI"}


def test_genai_span_events_carry_the_prompt_and_response() -> None:
    spans = [
        span(
            "5000000000000001",
            "chat m",
            0,
            5,
            attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"},
            events=[
                SpanEvent("gen_ai.user.message", T0, {"content": "hello"}),
                SpanEvent("gen_ai.choice", T0 + 4 * MS, {"message": '{"content": "hi!"}', "index": 0}),
            ],
        )
    ]
    events = by_id(events_of(map_spans(spans)))
    assert events[f"otel:{TRACE}:5000000000000001:start"]["data"]["prompt"] == [
        {"event": "gen_ai.user.message", "content": "hello"}
    ]
    assert events[f"otel:{TRACE}:5000000000000001:end"]["data"]["response"] == [
        {"event": "gen_ai.choice", "message": {"content": "hi!"}, "index": 0}
    ]


def test_links_are_kept_and_the_first_is_the_cause() -> None:
    other = "2" * 32
    linked = span(
        "4000000000000001",
        "invoke_agent sub",
        0,
        5,
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "sub"},
        links=[SpanLink(other, "4000000000000009", {"reason": "spawned"})],
    )
    start = by_id(events_of(map_spans([linked])))[f"otel:{TRACE}:4000000000000001:start"]
    assert start["data"]["links"] == [
        {"trace_id": other, "span_id": "4000000000000009", "attributes": {"reason": "spawned"}}
    ]
    assert start["metadata"]["causation_id"] == f"otel:{other}:4000000000000009:start"
