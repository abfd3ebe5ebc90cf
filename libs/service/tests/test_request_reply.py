"""Request-reply over a real nats-server: answers of any size travel as chunks with flow control,
callers that do not ask for chunks keep the v1 behaviour, and broken streams fail loudly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from swarmscope_schema.requests import ErrorCode, Request
from swarmscope_service.reply_chunks import DEFAULT_WINDOW, Streamed, chunk_size
from swarmscope_service.request_reply import Operation, RequestClient, RequestServer, ServiceError


class Size(Request):
    items: int = 1
    item_bytes: int = 100


def big_answer(query: Size) -> dict[str, Any]:
    return {"items": [{"n": n, "text": chr(97 + n % 26) * query.item_bytes} for n in range(query.items)]}


class Served:
    """A RequestServer on a fresh prefix with a few ops, and what its streaming op produced."""

    def __init__(self, nc: NatsClient) -> None:
        self.prefix = f"test.rr.{uuid.uuid4().hex[:8]}"
        self.registry = CollectorRegistry()
        self.produced = 0
        self.gate = asyncio.Event()

        async def whole(query: Size) -> Any:
            return big_answer(query)

        async def streamed(query: Size) -> Streamed:
            async def pieces() -> AsyncIterator[bytes]:
                yield b"["
                for n in range(query.items):
                    self.produced += 1
                    yield (b"," if n else b"") + orjson.dumps({"n": n, "text": "z" * query.item_bytes})
                yield b"]"

            return Streamed(pieces())

        async def failing(query: Size) -> Streamed:
            async def pieces() -> AsyncIterator[bytes]:
                yield b"["
                for n in range(query.items):
                    yield (b"," if n else b"") + orjson.dumps({"n": n, "text": "y" * query.item_bytes})
                raise ServiceError(ErrorCode.UNAVAILABLE, "the store went away mid-answer")

            return Streamed(pieces())

        self.server = RequestServer(
            nc,
            self.prefix,
            {
                "whole": Operation(Size, whole),
                "streamed": Operation(Size, streamed),
                "failing": Operation(Size, failing),
            },
            self.registry,
            queue="test",
        )

    def subject(self, op: str) -> str:
        return f"{self.prefix}.{op}"

    def outcomes(self, op: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == "swarmscope_request_seconds_count" and sample.labels["op"] == op:
                    out[sample.labels["outcome"]] = sample.value
        return out


@pytest.fixture
async def connections(nats_url: str) -> AsyncIterator[tuple[NatsClient, NatsClient]]:
    server_nc = await nats.connect(nats_url)
    client_nc = await nats.connect(nats_url)
    try:
        yield server_nc, client_nc
    finally:
        await client_nc.close()
        await server_nc.close()


@pytest.fixture
async def served(connections: tuple[NatsClient, NatsClient]) -> AsyncIterator[Served]:
    served = Served(connections[0])
    await served.server.start()
    try:
        yield served
    finally:
        await served.server.stop()


async def test_a_small_answer_is_one_message(
    served: Served, connections: tuple[NatsClient, NatsClient]
) -> None:
    client = RequestClient(connections[1])
    reply = await client.open(served.subject("whole"), Size(items=3))
    assert not reply.chunked
    assert await reply.result() == big_answer(Size(items=3))


async def test_an_answer_many_times_the_max_payload_arrives_whole(
    served: Served, connections: tuple[NatsClient, NatsClient]
) -> None:
    nc = connections[1]
    query = Size(items=40, item_bytes=512 * 1024)  # 20 MiB: several max payloads of this server
    assert len(orjson.dumps(big_answer(query))) > 2 * nc.max_payload
    result = await RequestClient(nc, timeout=30).call(served.subject("whole"), query)
    assert result == big_answer(query)


async def test_a_streamed_answer_that_fits_is_one_ordinary_message(
    served: Served, connections: tuple[NatsClient, NatsClient]
) -> None:
    # A caller from before v1.1 (plain request, no chunk header) reads it as any other answer.
    msg = await connections[1].request(served.subject("streamed"), b'{"items": 5}', timeout=10)
    reply = orjson.loads(msg.data)
    assert reply["ok"] is True
    assert [item["n"] for item in reply["result"]] == [0, 1, 2, 3, 4]


async def test_a_caller_that_does_not_take_chunks_gets_payload_too_large(
    served: Served, connections: tuple[NatsClient, NatsClient]
) -> None:
    nc = connections[1]
    body = Size(items=20, item_bytes=1024 * 1024).model_dump_json().encode()
    reply = orjson.loads((await nc.request(served.subject("whole"), body, timeout=30)).data)
    assert reply["ok"] is False
    assert reply["error"]["code"] == "payload_too_large"


async def test_pieces_arrive_in_order_and_join_to_the_answer(
    served: Served, connections: tuple[NatsClient, NatsClient]
) -> None:
    client = RequestClient(connections[1], timeout=30)
    reply = await client.open(served.subject("streamed"), Size(items=3000, item_bytes=4000))
    assert reply.chunked
    body = b"".join([piece async for piece in client.stream(reply)])
    items = orjson.loads(body)
    assert [item["n"] for item in items] == list(range(3000))


async def test_a_slow_caller_holds_the_sender_to_a_window(
    served: Served, connections: tuple[NatsClient, NatsClient]
) -> None:
    nc = connections[1]
    client = RequestClient(nc, timeout=30)
    item_bytes = 64 * 1024
    items = 400  # 25 MiB
    reply = await client.open(served.subject("streamed"), Size(items=items, item_bytes=item_bytes))
    stream = client.stream(reply)
    await anext(stream)
    # Give the sender every chance to run ahead: it may not, beyond the windows of credit.
    await asyncio.sleep(1.0)
    per_chunk = chunk_size(connections[0].max_payload) / item_bytes
    assert served.produced <= (2 * DEFAULT_WINDOW + 2) * per_chunk + 2
    assert served.produced < items
    rest = [piece async for piece in stream]
    assert rest
    assert served.produced == items


async def test_a_caller_that_stops_reading_cancels_the_answer(
    served: Served, connections: tuple[NatsClient, NatsClient]
) -> None:
    client = RequestClient(connections[1], timeout=30)
    reply = await client.open(served.subject("streamed"), Size(items=400, item_bytes=64 * 1024))
    stream = client.stream(reply)
    await anext(stream)
    await stream.aclose()
    for _ in range(200):
        if served.outcomes("streamed").get("cancelled"):
            break
        await asyncio.sleep(0.05)
    assert served.outcomes("streamed").get("cancelled") == 1
    assert served.produced < 400


async def test_a_failure_part_way_ends_the_stream_with_its_error(
    served: Served, connections: tuple[NatsClient, NatsClient]
) -> None:
    client = RequestClient(connections[1], timeout=30)
    with pytest.raises(ServiceError) as failed:
        await client.call(served.subject("failing"), Size(items=100, item_bytes=256 * 1024))
    assert failed.value.code is ErrorCode.UNAVAILABLE
    assert "mid-answer" in failed.value.message


async def test_an_error_before_any_chunk_is_raised_by_open(
    served: Served, connections: tuple[NatsClient, NatsClient]
) -> None:
    client = RequestClient(connections[1])
    with pytest.raises(ServiceError) as failed:
        await client.open(served.subject("whole"), {"items": "many"})
    assert failed.value.code is ErrorCode.BAD_REQUEST


async def test_a_server_answers_from_the_moment_start_returns(
    connections: tuple[NatsClient, NatsClient],
) -> None:
    # nats-py's flush() lets its PING overtake a SUB still in the pending buffer; with start()
    # ending on flush() about 1 in 20 of these first requests met "no responders" (issue 15).
    server_nc, client_nc = connections
    client = RequestClient(client_nc)
    for _ in range(100):
        served = Served(server_nc)
        await served.server.start()
        try:
            assert await client.call(served.subject("whole"), Size(items=1)) == big_answer(Size(items=1))
        finally:
            await served.server.stop()


async def test_nobody_answering_is_unavailable(connections: tuple[NatsClient, NatsClient]) -> None:
    client = RequestClient(connections[1], timeout=2)
    with pytest.raises(ServiceError) as failed:
        await client.call(f"test.rr.{uuid.uuid4().hex}.nothing", {})
    assert failed.value.code is ErrorCode.UNAVAILABLE
