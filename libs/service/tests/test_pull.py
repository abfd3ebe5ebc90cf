"""PullFetcher against a real nats-server: fetch's semantics, request ends told apart, prefetch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from swarmscope_dev.nats_server import start_nats_server
from swarmscope_service.pull import PullError, PullFetcher

STREAM = "PULLTEST"


@pytest.fixture
async def nc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsClient]:
    server = start_nats_server(tmp_path_factory.mktemp("nats-pull"))
    client = await nats.connect(server.url)
    try:
        await client.jetstream().add_stream(StreamConfig(name=STREAM, subjects=["pull.>"]))
        yield client
    finally:
        await client.close()
        server.stop()


async def durable(js: JetStreamContext, name: str) -> str:
    await js.add_consumer(STREAM, ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT))
    return name


async def publish(js: JetStreamContext, start: int, count: int) -> None:
    acks = [await js.publish_async(f"pull.s.{i % 3}", f"m{i}".encode()) for i in range(start, start + count)]
    await asyncio.gather(*acks)


async def test_returns_what_is_available_without_waiting_for_a_full_batch(nc: NatsClient) -> None:
    js = nc.jetstream()
    await publish(js, 0, 7)
    fetcher = PullFetcher(nc, STREAM, await durable(js, "d1"))
    await fetcher.start()
    # A fetch that waited for 100 messages would take its whole 60 s wait; the guard is far below.
    async with asyncio.timeout(20):
        msgs = await fetcher.fetch(100, timeout=60)
    assert [m.data for m in msgs] == [f"m{i}".encode() for i in range(7)]
    assert await fetcher.stop() == []


async def test_an_empty_stream_gives_an_empty_batch_then_waits_for_new_messages(nc: NatsClient) -> None:
    js = nc.jetstream()
    fetcher = PullFetcher(nc, STREAM, await durable(js, "d2"))
    await fetcher.start()
    assert await fetcher.fetch(10, timeout=0.2) == []
    waiting = asyncio.create_task(fetcher.fetch(5, timeout=30))
    await asyncio.sleep(0.3)  # the waiting request is at the server before the messages come
    await publish(js, 0, 5)
    async with asyncio.timeout(20):
        msgs = await waiting
    assert [m.data for m in msgs] == [f"m{i}".encode() for i in range(5)]
    # Many fetches in a row (each a new request and reply subject) lose and repeat nothing.
    await publish(js, 5, 95)
    seen = [m.data for m in msgs]
    for m in msgs:
        await m.ack()
    async with asyncio.timeout(30):
        while len(seen) < 100:
            batch = await fetcher.fetch(7, timeout=0.2)
            for m in batch:
                await m.ack()
            seen += [m.data for m in batch]
    assert seen == [f"m{i}".encode() for i in range(100)]
    await fetcher.stop()


async def test_a_refused_request_raises(nc: NatsClient) -> None:
    js = nc.jetstream()
    await publish(js, 0, 3)
    # nats-py's ConsumerConfig has no `max_batch`: the consumer is created through the API itself.
    config = {"durable_name": "d3", "ack_policy": "explicit", "max_batch": 10}
    reply = await nc.request(
        f"$JS.API.CONSUMER.CREATE.{STREAM}.d3", json.dumps({"stream_name": STREAM, "config": config}).encode()
    )
    assert "error" not in json.loads(reply.data)
    fetcher = PullFetcher(nc, STREAM, "d3")
    await fetcher.start()
    with pytest.raises(PullError, match="409"):
        await fetcher.fetch(50, timeout=5)
    assert [m.data for m in await fetcher.fetch(10, timeout=5)] == [b"m0", b"m1", b"m2"]
    await fetcher.stop()


async def test_prefetch_brings_the_next_batch_in_and_stop_hands_back_what_was_not_fetched(
    nc: NatsClient,
) -> None:
    js = nc.jetstream()
    await publish(js, 0, 25)
    fetcher = PullFetcher(nc, STREAM, await durable(js, "d4"), prefetch=True)
    await fetcher.start()
    first = await fetcher.fetch(10, timeout=5)
    assert [m.data for m in first] == [f"m{i}".encode() for i in range(10)]
    async with asyncio.timeout(20):
        while len(fetcher.buffered()) < 10:  # the prefetch request delivers while we "work"
            await asyncio.sleep(0.02)
    second = await fetcher.fetch(10, timeout=5)
    assert [m.data for m in second] == [f"m{i}".encode() for i in range(10, 20)]
    async with asyncio.timeout(20):
        while len(fetcher.buffered()) < 5:
            await asyncio.sleep(0.02)
    left = await fetcher.stop()
    assert [m.data for m in left] == [f"m{i}".encode() for i in range(20, 25)]
