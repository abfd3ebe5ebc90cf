"""The same event id published again, inside and after JetStream's duplicate window: stored once."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from swarmscope_reliability_support import PublishLog, publish, valid_events, wait_stored

from swarmscope_schema.subjects import STREAM_EVENTS, STREAM_RAW

WINDOW_SECONDS = 2


async def test_same_id_inside_and_after_the_duplicate_window(
    start_pipeline: Any, fresh_postgres_url: str
) -> None:
    pipeline = await start_pipeline(
        fresh_postgres_url,
        # The stream counts below are exact: no performance alert of a loaded machine may join them.
        env={"SWARMSCOPE_DEDUP_WINDOW_SECONDS": str(WINDOW_SECONDS), "SWARMSCOPE_MONITOR_ENABLED": "false"},
    )
    messages = valid_events(300)
    sessions = sorted({m.session_id for m in messages})
    log = PublishLog()
    nc = await pipeline.connect()
    try:
        js = nc.jetstream()
        assert (await js.stream_info(STREAM_EVENTS)).config.duplicate_window == WINDOW_SECONDS
        await publish(nc, messages, log)
        # Inside the window, the same raw message id: TRACES drops the second canonical event (v1.1:
        # TRACES_RAW keeps no window, so a bare id can never hide another session's event).
        await publish(nc, messages, log)
        # Inside the window, a new raw id (a producer retrying differently): ingest republishes the
        # canonical event and TRACES drops it by its `<session>:<id>` message id.
        retried = [dataclasses.replace(m, msg_id=m.msg_id + ":retry") for m in messages]
        await publish(nc, retried, log)
        await wait_stored(pipeline, sessions, len(messages))
        # TRACES_RAW forgets what ingest acked (interest retention): count what it received by seq.
        raw_before = (await js.stream_info(STREAM_RAW)).state.last_seq
        events_before = (await js.stream_info(STREAM_EVENTS)).state.messages
        assert events_before == len(messages)
        # After the window on both streams: everything passes JetStream again; the store's own
        # idempotency (same id, same session) is what keeps it single.
        await asyncio.sleep(WINDOW_SECONDS + 1.5)
        await publish(nc, messages, log)
        await pipeline.wait_until_settled(log)
        assert (await js.stream_info(STREAM_RAW)).state.last_seq == raw_before + len(messages)
        assert (await js.stream_info(STREAM_EVENTS)).state.messages == events_before + len(messages)
    finally:
        await nc.close()
    audit = await pipeline.audit(log)
    assert audit.stored_rows == len(messages)
