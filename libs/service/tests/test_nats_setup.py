"""Stream and durable provisioning against a real nats-server (2.15 from the wheel)."""

from __future__ import annotations

import asyncio

import nats
from nats.js.api import DeliverPolicy, RetentionPolicy, StorageType, StreamConfig, StreamSource

from swarmscope_dev.nats_server import start_nats_server
from swarmscope_schema.subjects import (
    DURABLE_INGEST,
    DURABLES,
    MSG_ID_HEADER,
    STREAM_EVENTS,
    STREAM_NO_DEDUPE_ANCHOR,
    STREAM_RAW,
    STREAM_SUBJECTS,
    raw_subject,
)
from swarmscope_service.nats_setup import (
    STREAM_MAX_MSG_SIZE,
    StreamSettings,
    ensure_replica_durable,
    provision,
)


async def test_provision_creates_streams_and_durables_and_is_idempotent(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        settings = StreamSettings(duplicate_window_seconds=150)
        await provision(js, settings)
        await provision(js, settings)  # a second run changes nothing and raises nothing
        for name, subject in STREAM_SUBJECTS.items():
            info = await js.stream_info(name)
            assert info.config.subjects == [subject]
            assert info.config.max_msg_size == STREAM_MAX_MSG_SIZE
            assert info.config.storage in (StorageType.FILE, "file")
            if name == STREAM_RAW:
                # No window at all: it would be keyed by bare ids across sessions (v1.1).
                assert not info.config.duplicate_window
            else:
                assert info.config.duplicate_window == 150
        for stream, durable in DURABLES:
            consumer = await js.consumer_info(stream, durable)
            assert consumer.config.durable_name == durable
        # A wider window on a later release updates the existing stream in place.
        await provision(js, StreamSettings(duplicate_window_seconds=300))
        assert (await js.stream_info("TRACES")).config.duplicate_window == 300
    finally:
        await nc.close()


async def test_traces_raw_never_drops_an_id_another_session_used(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    server = start_nats_server(tmp_path / "nats")
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        # A stream as an earlier release provisioned it: a 2-minute window on TRACES_RAW too.
        for name, subject in STREAM_SUBJECTS.items():
            await js.add_stream(StreamConfig(name=name, subjects=[subject], duplicate_window=120))
        await provision(js)
        info = await js.stream_info(STREAM_RAW)
        assert not info.config.duplicate_window
        assert [s.name for s in info.config.sources or []] == [STREAM_NO_DEDUPE_ANCHOR]
        assert (await js.stream_info(STREAM_EVENTS)).config.duplicate_window == 120
        # Bare ids (CONTRACT v1) repeat across sessions; every publish is kept.
        acks = [
            await js.publish(
                raw_subject(f"s{i}", None, "tool_call"), b"{}", headers={MSG_ID_HEADER: "step-1"}
            )
            for i in range(3)
        ]
        assert [bool(a.duplicate) for a in acks] == [False, False, False]
        assert len({a.seq for a in acks}) == 3
        # Provisioning again (another service starting) leaves it so.
        await provision(js)
        assert not (await js.stream_info(STREAM_RAW)).config.duplicate_window
        assert StreamSource(name=STREAM_NO_DEDUPE_ANCHOR) in (
            (await js.stream_info(STREAM_RAW)).config.sources or []
        )
    finally:
        await nc.close()
        server.stop()


async def test_traces_raw_keeps_a_message_only_until_ingest_acknowledged_it(tmp_path: object) -> None:
    """Producers' bytes are not yet redacted: TRACES_RAW is an interest stream (v1.1), so what
    ingest acked (published, or dead-lettered and terminated) is gone, what it has not stays."""
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    server = start_nats_server(tmp_path / "nats")
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        # TRACES_RAW as an earlier release provisioned it: limits retention, holding a message.
        for name, subject in STREAM_SUBJECTS.items():
            await js.add_stream(StreamConfig(name=name, subjects=[subject], duplicate_window=120))
        subject = raw_subject("s1", None, "tool_call")
        await js.publish(subject, b'{"password":"hunter2"}', headers={MSG_ID_HEADER: "s1:old"})
        await provision(js)
        info = await js.stream_info(STREAM_RAW)
        assert RetentionPolicy(info.config.retention) is RetentionPolicy.INTEREST
        assert info.state.messages == 1  # nothing un-acked is lost by the change
        assert (
            RetentionPolicy((await js.stream_info(STREAM_EVENTS)).config.retention) is RetentionPolicy.LIMITS
        )
        for i in range(2):
            await js.publish(subject, b"{}", headers={MSG_ID_HEADER: f"s1:{i}"})
        sub = await js.pull_subscribe("", durable=DURABLE_INGEST, stream=STREAM_RAW)
        acked, termed, nakked = await sub.fetch(3, timeout=5)
        await acked.ack_sync()
        await termed.term()
        await nakked.nak(delay=60)
        await nc.flush()

        async def messages() -> int:
            return int((await js.stream_info(STREAM_RAW)).state.messages or 0)

        for _ in range(50):
            if await messages() == 1:
                break
            await asyncio.sleep(0.1)
        assert await messages() == 1
        left = await js.get_msg(STREAM_RAW, (await js.stream_info(STREAM_RAW)).state.last_seq)
        assert left.data == b"{}"
        assert (left.headers or {}).get(MSG_ID_HEADER) == "s1:1"
        await provision(js)  # idempotent: stays interest, keeps the un-acked message
        assert await messages() == 1
    finally:
        await nc.close()
        server.stop()


async def test_after_provisioning_a_raw_publish_waits_for_ingest(
    nats_url: str,
) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await provision(js)
        info = await js.stream_info(STREAM_RAW)
        assert RetentionPolicy(info.config.retention) is RetentionPolicy.INTEREST
        assert (await js.consumer_info(STREAM_RAW, DURABLE_INGEST)).config.durable_name == DURABLE_INGEST
        before = info.state.messages
        await js.publish(raw_subject("s-new", None, "tool_call"), b"{}", headers={MSG_ID_HEADER: "s-new:1"})
        assert (await js.stream_info(STREAM_RAW)).state.messages == before + 1
    finally:
        await nc.close()


async def test_provision_sets_and_updates_the_durables_ack_wait(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await provision(js, StreamSettings(ack_wait_seconds=30.0))
        for stream, durable in DURABLES:
            assert (await js.consumer_info(stream, durable)).config.ack_wait == 30.0
        # A release with a shorter ack wait changes the existing durables in place, keeping
        # their position and their other settings.
        await js.publish(raw_subject("s-ack", None, "tool_call"), b"{}", headers={MSG_ID_HEADER: "s-ack:1"})
        before = await js.consumer_info(STREAM_RAW, DURABLE_INGEST)
        await provision(js, StreamSettings(ack_wait_seconds=4.0))
        await provision(js, StreamSettings(ack_wait_seconds=4.0))  # idempotent
        for stream, durable in DURABLES:
            assert (await js.consumer_info(stream, durable)).config.ack_wait == 4.0
        after = await js.consumer_info(STREAM_RAW, DURABLE_INGEST)
        assert after.num_pending == before.num_pending
        assert after.config.deliver_policy == before.config.deliver_policy
        assert after.config.max_ack_pending == before.config.max_ack_pending
        # A replica durable (deliver new, idle threshold) keeps both while its ack wait changes.
        await ensure_replica_durable(js, STREAM_EVENTS, "replay-7", idle_seconds=3600, ack_wait=9.0)
        await ensure_replica_durable(js, STREAM_EVENTS, "replay-7", idle_seconds=3600, ack_wait=3.0)
        replica = (await js.consumer_info(STREAM_EVENTS, "replay-7")).config
        assert (replica.ack_wait, replica.inactive_threshold) == (3.0, 3600)
        assert replica.deliver_policy in (DeliverPolicy.NEW, "new")
    finally:
        await nc.close()
