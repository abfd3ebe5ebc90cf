"""The OTLP/HTTP receiver against the official OpenTelemetry SDK and exporters (protobuf and
JSON), the real ingest, store and replay: GenAI spans become a session with its agents, call tree,
tool calls and tokens; retries store nothing twice; bad bodies are refused and counted; a big
export is stored whole."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry import context as otel_context
from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode

from swarmscope_dev.gateway import RunningGateway, stored_events, wait_stored
from swarmscope_dev.nats_server import free_port, start_nats_server
from swarmscope_gateway.config import GatewaySettings
from swarmscope_schema.subjects import STREAM_RAW

PROTOBUF = "application/x-protobuf"


def new_conversation() -> str:
    return f"conv-{uuid.uuid4().hex[:12]}"


def record(build: Any) -> list[ReadableSpan]:
    """The finished spans of `build(tracer)`, made by the real SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "agents-under-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    build(provider.get_tracer("swarmscope.tests.genai"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def genai_run(conversation: str) -> list[ReadableSpan]:
    """A planner agent that asks a model, calls a tool and hands work to a coder agent
    (OpenTelemetry GenAI semantic conventions)."""

    def build(tracer: Any) -> None:
        planner = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "planner",
            "gen_ai.agent.id": "planner-1",
            "gen_ai.conversation.id": conversation,
        }
        with tracer.start_as_current_span("invoke_agent planner", attributes=planner):
            with tracer.start_as_current_span(
                "chat gpt-4o",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 30,
                    "gen_ai.conversation.id": conversation,
                },
            ):
                pass
            with tracer.start_as_current_span(
                "execute_tool search",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "search",
                    "gen_ai.tool.call.arguments": '{"q": "token bucket"}',
                    "gen_ai.tool.call.result": "3 results",
                },
            ):
                pass
            coder = {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "coder",
                "gen_ai.agent.id": "coder-1",
            }
            tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "write_file"}
            with (
                tracer.start_as_current_span("invoke_agent coder", attributes=coder),
                tracer.start_as_current_span("execute_tool write_file", attributes=tool) as failing,
            ):
                failing.set_status(Status(StatusCode.ERROR, "disk full"))

    return record(build)


def hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


async def export(exporter: SpanExporter, spans: Sequence[ReadableSpan]) -> SpanExportResult:
    # The exporter is synchronous (requests) and the gateway runs in this event loop.
    return await asyncio.to_thread(exporter.export, spans)


async def wait_until_stored(http: httpx.AsyncClient, session_id: str, count: int) -> list[dict[str, Any]]:
    await wait_stored(http, session_id, count)
    return await stored_events(http, session_id)


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
async def test_genai_spans_become_a_session_with_agents_tree_tools_and_tokens(
    gateway: RunningGateway, client: httpx.AsyncClient, encoding: str
) -> None:
    conversation = new_conversation()
    spans = genai_run(conversation)
    endpoint = f"{gateway.url}/v1/traces"
    exporter: SpanExporter = (
        OTLPSpanExporter(endpoint=endpoint, compression=Compression.Gzip)
        if encoding == "protobuf"
        else JsonSpanExporter(endpoint=endpoint, compression=JsonCompression.DEFLATE)
    )
    assert await export(exporter, spans) is SpanExportResult.SUCCESS
    # 5 spans x (start, end) + 2 agent spawns + 1 hand-off
    events = await wait_until_stored(client, conversation, 13)
    assert len(events) == 13
    assert {e["metadata"]["source"] for e in events} == {"otlp"}

    summary = (await client.get(f"/api/v1/sessions/{conversation}")).json()
    assert (summary["source"], summary["agent_count"], summary["tokens"]) == ("otlp", 2, 150)
    assert summary["error_count"] == 1

    agents = {
        a["agent_id"]: a
        for a in (await client.get(f"/api/v1/sessions/{conversation}/agents")).json()["items"]
    }
    assert set(agents) == {"planner-1", "coder-1"}
    assert agents["coder-1"]["parent_agent_id"] == "planner-1"
    assert (agents["planner-1"]["tool_calls"], agents["planner-1"]["llm_calls"]) == (1, 1)
    assert agents["coder-1"]["tool_calls"] == 1

    by_name = {s.name: s for s in spans}
    starts = {e["data"]["otel"]["name"]: e for e in events if e.get("phase") == "start"}
    # The call tree is the OTel tree: span and parent ids are the spans' own (hex).
    for name, span in by_name.items():
        assert starts[name]["span_id"] == hex_span(span)
        parent = format(span.parent.span_id, "016x") if span.parent else None
        assert starts[name]["metadata"].get("parent_id") == parent
    tool = starts["execute_tool search"]
    assert (tool["type"], tool["data"]["tool"], tool["data"]["args"]) == (
        "tool_call",
        "search",
        {"q": "token bucket"},
    )
    ends = {e["span_id"]: e for e in events if e.get("phase") in ("complete", "error")}
    failed = ends[hex_span(by_name["execute_tool write_file"])]
    assert (failed["phase"], failed["data"]["error"], failed["agent_id"]) == ("error", "disk full", "coder-1")
    chat = ends[hex_span(by_name["chat gpt-4o"])]
    assert (chat["type"], chat["data"]["model"], chat["data"]["input_tokens"]) == ("llm_call", "gpt-4o", 120)
    # OTel timestamps: the duration is the span's own.
    span = by_name["chat gpt-4o"]
    assert span.end_time is not None
    assert span.start_time is not None
    assert chat["performance"]["duration"] == pytest.approx((span.end_time - span.start_time) / 1e6)
    handoff = next(e for e in events if e["type"] == "communication")
    assert (handoff["agent_id"], handoff["data"]["message"]["to"]) == ("planner-1", ["coder-1"])

    graph = (await client.get(f"/api/v1/sessions/{conversation}/graph")).json()
    nodes = {n["id"]: n for n in graph["nodes"] if n["kind"] == "span"}
    assert nodes[hex_span(by_name["chat gpt-4o"])]["parent_id"] == hex_span(by_name["invoke_agent planner"])

    state = (
        await client.get(f"/api/v1/sessions/{conversation}/state", params={"seq": events[-1]["seq"]})
    ).json()
    assert set(state["agents"]) == {"planner-1", "coder-1"}
    assert state["counters"]["tool_calls"] == 2
    assert state["counters"]["input_tokens"] == 120


async def test_a_retried_export_stores_each_span_once(
    gateway: RunningGateway, client: httpx.AsyncClient
) -> None:
    conversation = new_conversation()
    spans = genai_run(conversation)
    exporter = OTLPSpanExporter(endpoint=f"{gateway.url}/v1/traces")
    assert await export(exporter, spans) is SpanExportResult.SUCCESS
    await wait_until_stored(client, conversation, 13)
    assert await export(exporter, spans) is SpanExportResult.SUCCESS  # the exporter's retry
    assert await export(exporter, list(reversed(spans))) is SpanExportResult.SUCCESS

    def one_more(tracer: Any) -> None:
        with tracer.start_as_current_span("marker", attributes={"gen_ai.conversation.id": conversation}):
            pass

    # Events are stored in publish order: once the marker is in, the retries have been handled.
    assert await export(exporter, record(one_more)) is SpanExportResult.SUCCESS
    events = await wait_until_stored(client, conversation, 15)
    assert len(events) == 15
    assert len({e["id"] for e in events}) == 15


async def test_the_standard_endpoint_variable_works_unchanged(
    gateway: RunningGateway, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", gateway.url)
    conversation = new_conversation()
    assert await export(OTLPSpanExporter(), genai_run(conversation)) is SpanExportResult.SUCCESS
    await wait_until_stored(client, conversation, 13)


async def test_malformed_bodies_are_400_counted_and_dead_lettered(
    gateway: RunningGateway, client: httpx.AsyncClient
) -> None:
    before = await gateway.metric(
        "swarmscope_gateway_otlp_requests_total", encoding="protobuf", outcome="bad_request"
    )
    garbage = b"\x0a\xff\xff\xff\xff\x0f not protobuf " + uuid.uuid4().hex.encode()
    response = await client.post("/v1/traces", content=garbage, headers={"Content-Type": PROTOBUF})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROTOBUF
    status = status_pb2.Status.FromString(response.content)
    assert status.code == 3
    assert "protobuf" in status.message
    after = await gateway.metric(
        "swarmscope_gateway_otlp_requests_total", encoding="protobuf", outcome="bad_request"
    )
    assert after == before + 1

    marker = uuid.uuid4().hex
    bad_json = await client.post(
        "/v1/traces",
        content=b'{"resourceSpans": [' + marker.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["code"] == 3

    for _ in range(200):
        letters = (await client.get("/api/v1/dlq", params={"limit": 50})).json()["items"]
        if any(marker in letter["payload_preview"] for letter in letters):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the malformed JSON body was not dead-lettered")
    letter = next(letter for letter in letters if marker in letter["payload_preview"])
    assert letter["reason"] == "invalid_json"

    wrong_type = await client.post("/v1/traces", content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    bad_gzip = await client.post(
        "/v1/traces", content=b"not gzip", headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert bad_gzip.status_code == 400
    assert status_pb2.Status.FromString(bad_gzip.content).message


async def test_an_empty_export_succeeds(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/traces", content=b"", headers={"Content-Type": PROTOBUF})
    assert response.status_code == 200
    assert ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans == 0
    as_json = await client.post("/v1/traces", json={}, headers={"Content-Type": "application/json"})
    assert (as_json.status_code, as_json.json()) == (200, {})


async def test_a_5_mib_export_is_stored_whole_and_an_oversized_span_refused_whole(
    gateway: RunningGateway, client: httpx.AsyncClient
) -> None:
    conversation = new_conversation()
    blob = "x" * (100 * 1024)

    def build(tracer: Any) -> None:
        with tracer.start_as_current_span("big run", attributes={"gen_ai.conversation.id": conversation}):
            for i in range(52):
                with tracer.start_as_current_span(f"step {i}", attributes={"payload": blob, "index": i}):
                    pass
            with tracer.start_as_current_span("huge", attributes={"payload": "y" * (2 * 1024 * 1024)}):
                pass

    spans = record(build)
    body = encode_spans(spans).SerializeToString()  # what the exporter sends
    assert len(body) > 7 * 1024 * 1024  # 5 MiB of storable spans and one of 2 MiB
    response = await client.post(
        "/v1/traces",
        content=gzip.compress(body),
        headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "too_large" in partial.error_message
    assert "huge" in partial.error_message
    events = await wait_until_stored(client, conversation, 2 * 53)
    assert len(events) == 2 * 53
    assert not [
        e
        for e in events
        if e["data"].get("otel", {}).get("name") == "huge" or e["data"].get("name") == "huge"
    ]
    rejected = await gateway.metric("swarmscope_gateway_otlp_spans_rejected_total", reason="too_large")
    assert rejected >= 1


async def test_exports_need_a_key_with_the_ingest_scope(gateway_factory: Any) -> None:
    writer, reader = f"otlp-w-{uuid.uuid4().hex}", f"otlp-r-{uuid.uuid4().hex}"
    gateway: RunningGateway = await gateway_factory(api_keys=f"{writer}:ingest,{reader}:read")
    conversation = new_conversation()
    spans = genai_run(conversation)
    endpoint = f"{gateway.url}/v1/traces"
    assert await export(OTLPSpanExporter(endpoint=endpoint), spans) is SpanExportResult.FAILURE
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        refused = await http.post("/v1/traces", content=b"", headers={"Content-Type": PROTOBUF})
        assert refused.status_code == 401
        assert status_pb2.Status.FromString(refused.content).code == 16
        read_only = await http.post(
            "/v1/traces", content=b"", headers={"Content-Type": PROTOBUF, "Authorization": f"Bearer {reader}"}
        )
        assert read_only.status_code == 403
        assert status_pb2.Status.FromString(read_only.content).code == 7
        authorized = OTLPSpanExporter(endpoint=endpoint, headers={"Authorization": f"Bearer {writer}"})
        assert await export(authorized, spans) is SpanExportResult.SUCCESS
        http.headers["Authorization"] = f"Bearer {reader}"
        await wait_stored(http, conversation, 13)


async def test_an_export_the_broker_cannot_take_is_503_with_retry_after(tmp_path: Any) -> None:
    """A NATS without TRACES_RAW refuses the publishes: the exporter is told to back off and retry."""
    import nats

    server = start_nats_server(tmp_path)
    gateway = RunningGateway(
        GatewaySettings(
            nats_url=server.url,
            gateway_port=free_port(),
            gateway_frontend_dist="/nonexistent",
            gateway_publish_timeout_seconds=2.0,
        ),
        ready_checks=("nats", "live"),  # no store or replay: the export never reaches them
    )
    try:
        await gateway.start()
        nc = await nats.connect(server.url)
        try:
            await nc.jetstream().delete_stream(STREAM_RAW)
        finally:
            await nc.close()
        spans = genai_run(new_conversation())
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            response = await http.post(
                "/v1/traces",
                content=encode_spans(spans).SerializeToString(),
                headers={"Content-Type": PROTOBUF},
            )
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        status = status_pb2.Status.FromString(response.content)
        assert status.code == 14
        assert "retry" in status.message
        unavailable = await gateway.metric(
            "swarmscope_gateway_otlp_requests_total", encoding="protobuf", outcome="unavailable"
        )
        assert unavailable == 1
    finally:
        await gateway.close()
        server.stop()


async def test_a_linked_trace_joins_its_cause(gateway: RunningGateway, client: httpx.AsyncClient) -> None:
    """A sub-agent run started as a trace of its own, linked to the span that started it: one
    session (the same conversation), the link kept and drawn as a callback edge."""
    conversation = new_conversation()
    ids: dict[str, str] = {}

    def build(tracer: Any) -> None:
        convo = {"gen_ai.conversation.id": conversation}
        with tracer.start_as_current_span(
            "invoke_agent lead", attributes={**convo, "gen_ai.agent.name": "lead"}
        ) as lead:
            context = lead.get_span_context()
            ids["lead"] = format(context.span_id, "016x")
        with tracer.start_as_current_span(
            "invoke_agent helper",
            context=otel_context.Context(),  # a new trace
            links=[Link(context, {"link.kind": "spawned_by"})],
            attributes={**convo, "gen_ai.agent.name": "helper"},
        ):
            pass

    spans = record(build)
    assert len({s.context.trace_id for s in spans if s.context}) == 2
    assert (
        await export(OTLPSpanExporter(endpoint=f"{gateway.url}/v1/traces"), spans) is SpanExportResult.SUCCESS
    )
    events = await wait_until_stored(client, conversation, 6)
    helper = next(e for e in events if e.get("phase") == "start" and e["agent_id"] == "helper")
    assert helper["data"]["links"][0]["span_id"] == ids["lead"]
    assert helper["data"]["links"][0]["attributes"] == {"link.kind": "spawned_by"}
    graph = (await client.get(f"/api/v1/sessions/{conversation}/graph")).json()
    callbacks = {(e["source"], e["target"]) for e in graph["edges"] if e["type"] == "callback"}
    assert (helper["span_id"], ids["lead"]) in callbacks
