"""Stream and durable provisioning against a real nats-server (2.15 from the wheel)."""

from __future__ import annotations

import nats
from nats.js.api import StorageType

from swarmscope_schema.subjects import DURABLES, STREAM_SUBJECTS
from swarmscope_service.nats_setup import STREAM_MAX_MSG_SIZE, StreamSettings, provision


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
            assert info.config.duplicate_window == 150
            assert info.config.max_msg_size == STREAM_MAX_MSG_SIZE
            assert info.config.storage in (StorageType.FILE, "file")
        for stream, durable in DURABLES:
            consumer = await js.consumer_info(stream, durable)
            assert consumer.config.durable_name == durable
        # A wider window on a later release updates the existing stream in place.
        await provision(js, StreamSettings(duplicate_window_seconds=300))
        assert (await js.stream_info("TRACES")).config.duplicate_window == 300
    finally:
        await nc.close()
