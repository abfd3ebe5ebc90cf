"""The one publisher against a real nats-server: acks in order, duplicates, refusals, timeouts; and
raw events framed as batch messages (v1.1), split by size, never cut."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import StreamConfig

from swarmscope_dev.nats_server import NatsServer, start_nats_server
from swarmscope_schema.batches import BatchTooLarge, batch_members
from swarmscope_schema.subjects import (
    MSG_ID_HEADER,
    STREAM_EVENTS,
    STREAM_RAW,
    raw_batch_msg_id,
    raw_batch_subject,
    raw_msg_id,
    raw_subject,
)
from swarmscope_service.nats_setup import provision
from swarmscope_service.publishing import (
    BatchPublisher,
    Outgoing,
    PublishError,
    RawEvent,
    publish_all,
    publish_raw,
    raw_messages,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    running = start_nats_server(tmp_path_factory.mktemp("nats-publishing"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def nc(server: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(server.url)
    try:
        await provision(client.jetstream())
        yield client
    finally:
        await client.close()


def _out(subject: str, msg_id: str | None = None) -> Outgoing:
    return Outgoing(subject, b"{}", {MSG_ID_HEADER: msg_id} if msg_id else None)


async def test_acks_come_back_in_order_with_duplicates_marked(nc: NatsClient) -> None:
    publisher = BatchPublisher(nc, timeout=5)
    try:
        first = await publisher.publish(
            [_out(f"traces.events.pub.a.x{i}", f"pub:{i}") for i in range(300)], stream=STREAM_EVENTS
        )
        assert [a.duplicate for a in first] == [False] * 300
        seqs = [a.seq for a in first]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 300
        again = await publisher.publish(
            [_out(f"traces.events.pub.a.x{i}", f"pub:{i}") for i in (5, 300)], stream=STREAM_EVENTS
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
            await publisher.publish([_out("nowhere.at.all")], stream=STREAM_EVENTS)
    finally:
        await publisher.close()


async def test_the_wrong_stream_is_refused(nc: NatsClient) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="OTHER_PUB", subjects=["other.pub.>"]))
    publisher = BatchPublisher(nc, timeout=5)
    try:
        with pytest.raises(PublishError, match="stream refused"):
            await publisher.publish([_out("other.pub.x")], stream=STREAM_EVENTS)
        # The stream may also be given per message.
        with pytest.raises(PublishError, match="stream refused"):
            await publisher.publish([Outgoing("other.pub.y", b"{}", stream=STREAM_EVENTS)])
    finally:
        await publisher.close()
        await js.delete_stream("OTHER_PUB")


async def test_a_missing_acknowledgement_times_out(nc: NatsClient) -> None:
    # A plain subscriber answers nothing: the wait is bounded and the batch fails as a whole.
    sub = await nc.subscribe("silent.>")
    publisher = BatchPublisher(nc, timeout=0.3)
    try:
        with pytest.raises(PublishError, match="not acknowledged within"):
            await publisher.publish([_out("silent.x"), _out("silent.y")], stream=STREAM_EVENTS)
    finally:
        await publisher.close()
        await sub.unsubscribe()


async def test_a_closed_connection_is_a_publish_error(nc: NatsClient) -> None:
    other = await nats.connect(nc.connected_url.geturl() if nc.connected_url else "")
    publisher = BatchPublisher(other, timeout=1)
    await publisher.publish([_out("traces.events.pub.b.y")], stream=STREAM_EVENTS)
    await other.close()
    with pytest.raises(PublishError):
        await publisher.publish([_out("traces.events.pub.b.z")], stream=STREAM_EVENTS)


async def test_publish_all_uses_a_publisher_of_its_own(nc: NatsClient) -> None:
    acks = await publish_all(nc.jetstream(), [_out("traces.events.pub.c.x", "pub-c:1")] * 2)
    assert [a.duplicate for a in acks] == [False, True]


def _raw(session: str, event_id: str, agent: str | None = "a1", size: int = 0) -> RawEvent:
    payload = orjson.dumps(
        {"id": event_id, "session_id": session, "agent_id": agent, "type": "tool_call", "pad": "x" * size}
    )
    return RawEvent(session, agent, event_id, "tool_call", payload)


def test_events_are_grouped_by_session_into_batch_messages() -> None:
    events = [_raw("s1", "e1"), _raw("s2", "e1"), _raw("s1", "e2", agent="a2"), _raw("s1", "e3")]
    messages = raw_messages(events)
    assert [count for _, count in messages] == [3, 1]
    batch, single = messages[0][0], messages[1][0]
    # Mixed agents: `_` in the subject; one session's id and size in the message id.
    assert batch.subject == raw_batch_subject("s1", None)
    assert batch.headers == {MSG_ID_HEADER: raw_batch_msg_id("s1", "e1", 3)}
    assert [m.value["id"] for m in batch_members(batch.payload)] == ["e1", "e2", "e3"]
    # A session with one event: a single-event message exactly as in v1, keyed by session and id.
    assert single.subject == raw_subject("s2", "a1", "tool_call")
    assert single.headers == {MSG_ID_HEADER: raw_msg_id("s2", "e1")}
    assert orjson.loads(single.payload)["session_id"] == "s2"
    one_agent = raw_messages([_raw("s3", "e1"), _raw("s3", "e2")])
    assert one_agent[0][0].subject == raw_batch_subject("s3", "a1")


def test_a_long_run_is_split_by_size_and_never_cut() -> None:
    events = [_raw("s1", f"e{i}", size=300_000) for i in range(10)]
    messages = raw_messages(events, max_bytes=1_000_000)
    assert sum(count for _, count in messages) == 10
    members = [m.value["id"] for message, _ in messages for m in batch_members(message.payload)]
    assert members == [f"e{i}" for i in range(10)]
    assert all(len(message.payload) <= 1_000_000 for message, _ in messages)
    assert len(messages) == 4  # three events of ~300 kB per message


def test_an_event_too_large_for_any_message_is_refused_with_a_clear_error() -> None:
    events = [_raw("s1", "small"), _raw("s1", "huge", size=2_000_000)]
    with pytest.raises(BatchTooLarge, match=r"event 1 of the batch is \d+ bytes.*never cut"):
        raw_messages(events)


async def test_raw_events_reach_traces_raw_as_batches(nc: NatsClient) -> None:
    js = nc.jetstream()
    before = (await js.stream_info(STREAM_RAW)).state.messages
    publisher = BatchPublisher(nc)
    try:
        sent = await publish_raw(publisher, [_raw("pub-raw", f"e{i}") for i in range(50)])
    finally:
        await publisher.close()
    assert sent == 50
    assert (await js.stream_info(STREAM_RAW)).state.messages == before + 1
