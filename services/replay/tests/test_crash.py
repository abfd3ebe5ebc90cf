"""kill -9 of the replay service mid-stream, then a restart: every state is still exact."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx
import nats

from swarmscope_dev.replay import publish_to_traces, stored, synthetic_session, wait_for_durable
from swarmscope_dev.stack import LocalStack
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_schema.subjects import DURABLE_REPLAY, DURABLE_STORE, STREAM_EVENTS, replay_request_subject
from swarmscope_service.request_reply import RequestClient


async def replay_floor(js: Any) -> int:
    info = await js.consumer_info(STREAM_EVENTS, DURABLE_REPLAY)
    return int(info.ack_floor.stream_seq) if info.ack_floor is not None else 0


def progress_row(stack: LocalStack, session_id: str) -> tuple[int, int] | None:
    with sqlite3.connect(stack.data_dir / "replay.db") as conn:
        row = conn.execute(
            "SELECT applied_seq, snapshot_seq FROM replay_sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else None


async def test_kill_9_mid_stream_and_restart_keeps_every_state_exact(
    store_stack: LocalStack, session_prefix: str
) -> None:
    sid = f"{session_prefix}-crash"
    events = stored(synthetic_session(sid, 2400, seed=21))
    saved_env = store_stack.env
    store_stack.env = {
        **saved_env,
        "SWARMSCOPE_REPLAY_SNAPSHOT_EVERY": "50",
        "SWARMSCOPE_BATCH_SIZE": "64",
        "SWARMSCOPE_REPLAY_EXPRESSION_WORKERS": "1",
    }
    nc = await nats.connect(str(store_stack.nats_url))
    try:
        js = nc.jetstream()
        store_stack.start_service("replay")
        await asyncio.to_thread(store_stack.wait_service_ready, "replay")
        start_floor = await replay_floor(js)
        published: list[dict[str, Any]] = []

        async def publish() -> None:
            for start in range(0, len(events), 100):
                published.extend(await publish_to_traces(js, events[start : start + 100]))
                await asyncio.sleep(0.02)

        publisher = asyncio.create_task(publish())
        while await replay_floor(js) < start_floor + 700 and not publisher.done():
            await asyncio.sleep(0.01)
        store_stack.kill_service("replay")
        killed_at = await replay_floor(js)
        await publisher
        last = published[-1]["seq"]
        assert killed_at < last, "the kill came after the stream ended; nothing was tested"
        row = progress_row(store_stack, sid)
        store_stack.start_service("replay")
        await asyncio.to_thread(store_stack.wait_service_ready, "replay")
        await wait_for_durable(js, DURABLE_STORE, last)
        # Not the durable's ack floor: messages the killed process held come back only after the
        # ack wait (30 s); the restarted consumer reads them from the stream instead. Its progress
        # row says when it has applied everything.
        for _ in range(1200):
            row_now = progress_row(store_stack, sid)
            if row_now is not None and row_now[0] == last:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"replay did not apply the session up to {last}: {row_now}")

        client = RequestClient(nc, timeout=20)
        state = initial_state(sid)
        truth: dict[int, dict[str, Any]] = {}
        for event in published:
            state = fold(state, [event])
            truth[event["seq"]] = state
        checked = [e["seq"] for e in published[::97]] + [killed_at, killed_at + 1, last]
        for seq in checked:
            if seq not in truth:
                continue
            got = await client.call(
                replay_request_subject("state"), {"session_id": sid, "seq": seq, "full": True}
            )
            assert got == truth[seq], f"state differs at seq {seq}"
        final = await client.call(
            replay_request_subject("state"), {"session_id": sid, "seq": last, "full": True}
        )
        assert final["counters"]["events"] == len(events)
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"{store_stack.url('replay')}/metrics")).text
        if row is not None and row[0] > row[1]:
            # The service died holding events past its last snapshot: it reloaded and caught up.
            assert "swarmscope_replay_catch_ups_total 1.0" in metrics
    finally:
        store_stack.stop_service("replay")
        store_stack.env = saved_env
        await nc.close()
