"""The batch publisher against a real nats-server: acks in order, duplicates, refusals, timeouts."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import StreamConfig

from swarmscope_ingest.publisher import BatchPublisher
from swarmscope_schema.subjects import MSG_ID_HEADER, STREAM_EVENTS
from swarmscope_service.publishing import PublishError


async def test_acks_come_back_in_order_with_duplicates_marked(nc: NatsClient) -> None:
    publisher = BatchPublisher(nc, timeout=5)
    try:
        first = await publisher.publish(
            [(f"traces.events.pub.a.x{i}", b"{}", {MSG_ID_HEADER: f"pub:{i}"}) for i in range(300)],
            stream=STREAM_EVENTS,
        )
        assert [a.duplicate for a in first] == [False] * 300
        seqs = [a.seq for a in first]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 300
        again = await publisher.publish(
            [(f"traces.events.pub.a.x{i}", b"{}", {MSG_ID_HEADER: f"pub:{i}"}) for i in (5, 300)],
            stream=STREAM_EVENTS,
        )
        assert [a.duplicate for a in again] == [True, False]
        assert again[0].seq == seqs[5]
        assert await publisher.publish([], stream=STREAM_EVENTS) == []
    finally:
        await publisher.close()


async def test_a_subject_no_stream_listens_on_is_an_error(nc: NatsClient) -> None:
    publisher = BatchPublisher(nc, timeout=5)
    try:
        with pytest.raises(PublishError, match="no acknowledgement"):
            await publisher.publish([("nowhere.at.all", b"{}", {})], stream=STREAM_EVENTS)
    finally:
        await publisher.close()


async def test_the_wrong_stream_is_refused(nc: NatsClient) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="OTHER_PUB", subjects=["other.pub.>"]))
    publisher = BatchPublisher(nc, timeout=5)
    try:
        with pytest.raises(PublishError, match="stream refused"):
            await publisher.publish([("other.pub.x", b"{}", {})], stream=STREAM_EVENTS)
    finally:
        await publisher.close()
        await js.delete_stream("OTHER_PUB")


async def test_a_missing_acknowledgement_times_out(nc: NatsClient) -> None:
    # A plain subscriber answers nothing: the wait is bounded and the batch fails as a whole.
    sub = await nc.subscribe("silent.>")
    publisher = BatchPublisher(nc, timeout=0.3)
    try:
        with pytest.raises(PublishError, match="not acknowledged within"):
            await publisher.publish([("silent.x", b"{}", {}), ("silent.y", b"{}", {})], stream=STREAM_EVENTS)
    finally:
        await publisher.close()
        await sub.unsubscribe()


async def test_a_closed_connection_is_a_publish_error(nc: NatsClient) -> None:
    import nats

    other = await nats.connect(nc.connected_url.geturl() if nc.connected_url else "")
    publisher = BatchPublisher(other, timeout=1)
    await publisher.publish([("traces.events.pub.b.y", b"{}", {})], stream=STREAM_EVENTS)
    await other.close()
    with pytest.raises(PublishError):
        await publisher.publish([("traces.events.pub.b.z", b"{}", {})], stream=STREAM_EVENTS)
