"""The consumer lag poller against a real nats-server: the gauges say what JetStream says."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from prometheus_client import CollectorRegistry

from swarmscope_dev.nats_server import start_nats_server
from swarmscope_service.lag import LagPoller


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def _stream_with_durable(js: JetStreamContext) -> tuple[str, str, str]:
    """A stream and durable of this test alone (the session NATS is shared by every test)."""
    tag = uuid.uuid4().hex[:10]
    stream, durable, subject = f"LAG_{tag}", f"lag-{tag}", f"lagtest.{tag}"
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{subject}.>"]))
    await js.add_consumer(
        stream, ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    )
    return stream, durable, subject


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_gauges_follow_pending_ack_pending_and_redeliveries(js: JetStreamContext) -> None:
    stream, durable, subject = await _stream_with_durable(js)
    registry = CollectorRegistry()
    poller = LagPoller.for_registry(js, [(stream, durable)], registry)
    try:
        for i in range(30):
            await js.publish(f"{subject}.x", f"m{i}".encode())
        await poller.poll_once()
        labels = {"stream": stream, "durable": durable}
        assert _value(registry, "swarmscope_consumer_pending_messages", **labels) == 30
        assert _value(registry, "swarmscope_consumer_ack_pending_messages", **labels) == 0
        assert _value(registry, "swarmscope_consumer_redelivered_messages", **labels) == 0
        assert _value(registry, "swarmscope_stream_messages", stream=stream) == 30
        assert _value(registry, "swarmscope_stream_last_sequence", stream=stream) == 30
        assert (_value(registry, "swarmscope_stream_bytes", stream=stream) or 0) > 0

        sub = await js.pull_subscribe_bind(durable, stream=stream)
        try:
            msgs = await sub.fetch(10, timeout=2)
            assert len(msgs) == 10
            await poller.poll_once()
            assert _value(registry, "swarmscope_consumer_pending_messages", **labels) == 20
            assert _value(registry, "swarmscope_consumer_ack_pending_messages", **labels) == 10

            for msg in msgs[:4]:
                await msg.nak()
            for msg in msgs[4:]:
                await msg.ack_sync()
            again = await sub.fetch(4, timeout=2)
            assert all(m.metadata.num_delivered == 2 for m in again)
            await poller.poll_once()
            assert _value(registry, "swarmscope_consumer_redelivered_messages", **labels) == 4
            assert _value(registry, "swarmscope_consumer_ack_pending_messages", **labels) == 4
            for msg in again:
                await msg.ack_sync()
            rest = await sub.fetch(20, timeout=2)
            for msg in rest:
                await msg.ack_sync()
        finally:
            await sub.unsubscribe()
        await poller.poll_once()
        assert _value(registry, "swarmscope_consumer_pending_messages", **labels) == 0
        assert _value(registry, "swarmscope_consumer_ack_pending_messages", **labels) == 0
        assert _value(registry, "swarmscope_consumer_redelivered_messages", **labels) == 0
        assert _value(registry, "swarmscope_consumer_lag_poll_errors_total", **labels) is None
    finally:
        await js.delete_stream(stream)


async def test_a_deleted_durable_loses_its_series_and_counts_an_error(js: JetStreamContext) -> None:
    stream, durable, subject = await _stream_with_durable(js)
    registry = CollectorRegistry()
    poller = LagPoller.for_registry(js, [(stream, durable)], registry)
    labels = {"stream": stream, "durable": durable}
    try:
        await js.publish(f"{subject}.x", b"one")
        await poller.poll_once()
        assert _value(registry, "swarmscope_consumer_pending_messages", **labels) == 1
        await js.delete_consumer(stream, durable)
        await poller.poll_once()
        # A stale figure for a durable that is gone would keep a lag alert firing for ever.
        assert _value(registry, "swarmscope_consumer_pending_messages", **labels) is None
        assert _value(registry, "swarmscope_consumer_lag_poll_errors_total", **labels) == 1
        assert _value(registry, "swarmscope_stream_messages", stream=stream) == 1
    finally:
        await js.delete_stream(stream)
    await poller.poll_once()
    assert _value(registry, "swarmscope_stream_messages", stream=stream) is None


async def test_run_polls_periodically_and_stops_when_cancelled(js: JetStreamContext) -> None:
    stream, durable, subject = await _stream_with_durable(js)
    registry = CollectorRegistry()
    poller = LagPoller.for_registry(js, [(stream, durable)], registry, interval=0.05)
    labels = {"stream": stream, "durable": durable}
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(poller.wait_first_poll(), 10)
        await js.publish(f"{subject}.x", b"later")
        # The next rounds pick the new message up without anyone calling poll_once.
        async with asyncio.timeout(10):
            while _value(registry, "swarmscope_consumer_pending_messages", **labels) != 1:
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await js.delete_stream(stream)
    assert task.cancelled()


async def test_nats_down_keeps_last_figures_counts_errors_and_never_raises(tmp_path: Path) -> None:
    server = start_nats_server(tmp_path / "nats")
    nc: NatsClient | None = None
    try:
        nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        js = nc.jetstream()
        stream, durable, subject = await _stream_with_durable(js)
        await js.publish(f"{subject}.x", b"one")
        registry = CollectorRegistry()
        poller = LagPoller.for_registry(js, [(stream, durable)], registry)
        poller.request_timeout = 0.3
        labels = {"stream": stream, "durable": durable}
        await poller.poll_once()
        assert _value(registry, "swarmscope_consumer_pending_messages", **labels) == 1
        server.kill()
        await poller.poll_once()
        await poller.poll_once()
        assert _value(registry, "swarmscope_consumer_pending_messages", **labels) == 1
        assert (_value(registry, "swarmscope_consumer_lag_poll_errors_total", **labels) or 0) >= 2
        assert (
            _value(registry, "swarmscope_consumer_lag_poll_errors_total", stream=stream, durable="") or 0
        ) >= 2
    finally:
        if nc is not None:
            # Closing a client whose server is gone may fail flushing its buffer; it is closed anyway.
            with contextlib.suppress(Exception):
                await nc.close()
        server.stop()
