"""Unit tests of the gateway's small parts: the client queue, frames, origins, line
splitting, parameter checks and the OpenAPI helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from pydantic import BaseModel

from swarmscope_gateway.client_queue import ClientQueue, QueueClosed
from swarmscope_gateway.edges import Reject, _lines, line_event, to_raw
from swarmscope_gateway.errors import ApiError
from swarmscope_gateway.frames import Frame, FrameKind, Transport, encode_events, sse_control, ws_history
from swarmscope_gateway.live_event import LiveFilter, exact_dumps, from_stream_message
from swarmscope_gateway.openapi import _strip_null
from swarmscope_gateway.origins import origin_allowed
from swarmscope_gateway.params import MAX_INT, check_ranges
from swarmscope_schema.codec import MAX_EVENT_BYTES
from swarmscope_schema.subjects import raw_subject
from swarmscope_schema.testing import make_event
from swarmscope_schema.validation import Rejected, validate_event
from swarmscope_service.publishing import RawEvent


def live(seq: int, session: str = "s", agent: str | None = "a", event_type: str = "tool_call"):
    event = make_event(event_type, session_id=session, agent_id=agent)
    return from_stream_message(orjson.dumps(event), seq)


def frame(size: int, kind: FrameKind = FrameKind.EVENTS) -> Frame:
    return Frame(data=b"x" * size, size=size, kind=kind, last_seq=size)


# ----------------------------------------------------------------------------------- queue --


async def test_queue_refuses_live_frames_when_full_and_always_takes_one() -> None:
    queue: ClientQueue[None] = ClientQueue(max_frames=2, max_bytes=100)
    assert queue.offer(frame(1000), None)  # one frame always fits, however big
    assert not queue.offer(frame(1), None)
    await queue.get()
    assert queue.offer(frame(10), None)
    assert queue.offer(frame(10), None)
    assert not queue.offer(frame(10), None)  # frame count bound
    queue.put_control(frame(5, FrameKind.CONTROL), None)  # control frames always go in
    assert len(queue) == 3
    dropped = queue.drop_events()
    assert len(dropped) == 2
    assert len(queue) == 1
    assert queue.bytes == 5


async def test_queue_put_waits_for_room_and_close_ends_readers() -> None:
    import asyncio

    queue: ClientQueue[None] = ClientQueue(max_frames=1, max_bytes=1000)
    await queue.put(frame(10), None)
    waiting = asyncio.create_task(queue.put(frame(20), None))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    first, _ = await queue.get()
    await asyncio.wait_for(waiting, 5)
    second, _ = await queue.get()
    assert (first.size, second.size) == (10, 20)
    queue.close()
    with pytest.raises(QueueClosed):
        await queue.get()
    with pytest.raises(QueueClosed):
        await queue.put(frame(1), None)


# ---------------------------------------------------------------------------------- frames --


def test_frames_cut_runs_per_session_and_carry_the_last_seq() -> None:
    events = [live(1, "a"), live(2, "a"), live(3, "b"), live(4, "a"), live(5, "a"), live(6, "a")]
    frames = encode_events(Transport.SSE, events, max_batch=2, live=True)
    assert [(f.first_seq, f.last_seq, f.count) for f in frames] == [
        (1, 2, 2),
        (3, 3, 1),
        (4, 5, 2),
        (6, 6, 1),
    ]
    first = frames[0].data
    assert isinstance(first, bytes)
    head, _, data = first.partition(b"\ndata: ")
    assert head == b"event: batch_events\nid: 2"
    body = orjson.loads(data)
    assert body["session_id"] == "a"
    assert [e["seq"] for e in body["events"]] == [1, 2]
    assert first.endswith(b"\n\n")
    assert frames[0].oldest_ts > 0

    ws = encode_events(Transport.WS, events[:3], max_batch=50, live=False)
    assert [orjson.loads(f.data)["type"] for f in ws] == ["batch_events", "trace_event"]
    assert orjson.loads(ws[1].data)["event"]["seq"] == 3
    assert ws[0].oldest_ts == 0.0


def test_control_frames() -> None:
    resync = sse_control("resync", {"session_id": "s", "after_seq": 7}, final=True)
    assert resync.kind is FrameKind.FINAL
    assert resync.data == b'event: resync\ndata: {"session_id":"s","after_seq":7}\n\n'
    history = orjson.loads(ws_history("s", [live(1), live(2)], done=True, request_id="r").data)
    assert history["type"] == "history"
    assert history["request_id"] == "r"
    assert history["done"] is True
    assert [e["seq"] for e in history["events"]] == [1, 2]


def test_live_events_take_the_log_seq_and_filters_match() -> None:
    event = make_event("tool_call", session_id="s", agent_id="a")
    event["seq"] = 999  # a producer's seq is not the log's
    parsed = from_stream_message(orjson.dumps(event), 5)
    assert orjson.loads(parsed.body)["seq"] == 5
    assert LiveFilter().matches(parsed)
    assert LiveFilter(session_id="s", agents=frozenset({"a", "b"}), types=frozenset({"tool_call"})).matches(
        parsed
    )
    assert not LiveFilter(session_id="t").matches(parsed)
    assert not LiveFilter(agents=frozenset({"b"})).matches(parsed)
    assert not LiveFilter(types=frozenset({"error"})).matches(parsed)
    session_level = live(6, agent=None)
    assert not LiveFilter(agents=frozenset({"a"})).matches(session_level)


def test_exact_dumps_sizes_its_bytes() -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [exact_dumps({"k": "v" * 100}) for _ in range(100)]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(kept) == 100
    assert grown < 100 * 400  # not 100 x 4 KiB


# ------------------------------------------------------------------------------------ origin --


def test_origin_allowlist() -> None:
    allowed = ("https://ui.example.com",)
    assert origin_allowed(None, host="gw:8000", scheme="ws", allowed=allowed)
    assert origin_allowed("https://ui.example.com", host="gw:8000", scheme="ws", allowed=allowed)
    assert origin_allowed("https://UI.example.com:443", host="gw:8000", scheme="ws", allowed=allowed)
    assert origin_allowed("http://gw:8000", host="gw:8000", scheme="ws", allowed=())  # same origin
    assert origin_allowed("https://gw", host="gw", scheme="wss", allowed=())
    assert not origin_allowed("http://gw:8000", host="gw:8000", scheme="wss", allowed=())
    assert not origin_allowed("https://evil.example.com", host="gw:8000", scheme="ws", allowed=allowed)
    assert not origin_allowed("null", host="gw:8000", scheme="ws", allowed=allowed)
    assert not origin_allowed("https://ui.example.com.evil.com", host="gw", scheme="ws", allowed=allowed)
    assert origin_allowed("https://anything.example", host="gw", scheme="ws", allowed=("*",))


# -------------------------------------------------------------------------------- edges --


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_lines_split_across_chunks_and_skip_overlong_ones() -> None:
    long = b"x" * (MAX_EVENT_BYTES + 70 * 1024)
    got = [
        item
        async for item in _lines(_chunks(b"a\nb", b"c\n", long[:500_000], long[500_000:] + b"\nd\n", b"tail"))
    ]
    assert got == [(1, b"a"), (2, b"bc"), (3, None), (4, b"d"), (5, b"tail")]
    got = [item async for item in _lines(_chunks(long))]
    assert got == [(1, None)]


def test_edge_checks_are_ingests_own() -> None:
    ok = to_raw(
        {
            "id": "e1",
            "timestamp": 1.0,
            "sessionId": "s1",
            "agentId": "a1",
            "type": "agent:spawned",
            "data": {"agentType": "coder"},
            "seq": 4,
            "received_at": 1,
        }
    )
    assert isinstance(ok, RawEvent), ok
    assert (ok.session_id, ok.agent_id, ok.event_id, ok.event_type) == ("s1", "a1", "e1", "agent:spawned")
    assert b'"seq"' not in ok.payload
    assert b"received_at" not in ok.payload

    def code(event: object) -> str:
        result = to_raw(event)
        assert isinstance(result, Reject), result
        return result.code

    assert code("x") == "schema_violation"
    assert code({"id": "e", "type": "t"}) == "schema_violation"
    assert code({"id": "a\r\nb", "session_id": "s", "type": "agent_spawn"}) == "schema_violation"
    # What the old minimal checks let through and ingest then dead-lettered.
    assert code(make_event(session_id="s" * 300)) == "schema_violation"
    unknown = make_event()
    unknown["type"] = "not_a_type"
    assert code(unknown) == "schema_violation"
    big = make_event(data={"x": "x" * MAX_EVENT_BYTES})
    assert code(big) == "too_large"
    # Exactly what ingest says of the same body: reason and detail.
    wrong = make_event("agent_spawn", data={"agent_type": 5})
    rejected = to_raw(dict(wrong))
    assert isinstance(rejected, Reject)
    expected = validate_event(dict(wrong), raw_subject(wrong["session_id"], wrong["agent_id"], wrong["type"]))
    assert isinstance(expected, Rejected)
    assert (rejected.code, rejected.message) == (expected.reason.value, expected.detail)
    camel = make_event(session_id="old")
    camel["sessionId"] = camel.pop("session_id")
    moved = to_raw(camel, session_override="new")
    assert isinstance(moved, RawEvent)
    assert moved.session_id == "new"
    assert orjson.loads(moved.payload)["session_id"] == "new"
    assert "sessionId" not in orjson.loads(moved.payload)
    # A lifted agent id (Claude-Flow's data.agentId) addresses the message as ingest will read it.
    lifted = to_raw(
        {
            "id": "e",
            "timestamp": 1,
            "session_id": "s",
            "type": "agent:spawned",
            "data": {"agentId": "cf-a", "agentType": "coder"},
        }
    )
    assert isinstance(lifted, RawEvent)
    assert lifted.agent_id == "cf-a"


def test_import_lines_name_ingests_decode_reasons() -> None:
    assert line_event(b'{"a": 1}') == {"a": 1}
    not_json = line_event(b"{nope")
    assert isinstance(not_json, Reject)
    assert not_json.code == "invalid_json"
    not_utf8 = line_event(b'{"a": "\xff"}')
    assert isinstance(not_utf8, Reject)
    assert not_utf8.code == "invalid_utf8"


# ------------------------------------------------------------------------------- params --


def test_ranges_refuse_numbers_no_backend_holds() -> None:
    class Numbers(BaseModel):
        n: int | None = None
        f: float | None = None
        b: bool = True

    check_ranges(Numbers(n=MAX_INT, f=1e300))
    for bad in (
        Numbers(n=MAX_INT + 1),
        Numbers(n=-MAX_INT - 1),
        Numbers(f=float("inf")),
        Numbers(f=float("nan")),
    ):
        with pytest.raises(ApiError):
            check_ranges(bad)


def test_optional_query_schemas_drop_null() -> None:
    assert _strip_null(
        {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}], "default": None, "title": "X"}
    ) == {
        "type": "integer",
        "minimum": 0,
        "title": "X",
    }
    assert _strip_null({"type": "string", "default": None}) == {"type": "string"}
