"""Two replay replicas share 20 sessions by partition; kill -9 of one mid-stream: the other takes its
partitions over and every state afterwards, and every snapshot written, equals the fold from zero."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import nats
import orjson

from swarmscope_dev.replay import (
    publish_to_traces,
    snapshot_state,
    stored,
    synthetic_session,
    wait_for_durable,
)
from swarmscope_dev.stack import LocalStack
from swarmscope_replay.chunked import decode_manifest
from swarmscope_replay.ownership import partition_of
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.snapshot_database import open_snapshot_store
from swarmscope_replay.state_views import bounded_view
from swarmscope_schema.subjects import (
    DURABLE_STORE,
    REPLAY_LEASES_BUCKET,
    STREAM_EVENTS,
    replay_request_subject,
)
from swarmscope_service.request_reply import RequestClient

PARTITIONS = 16


async def owners(js: Any) -> dict[int, str]:
    """partition -> replica holding its lease now."""
    try:
        kv = await js.key_value(REPLAY_LEASES_BUCKET)
        keys = await kv.keys()
    except Exception:
        return {}
    out: dict[int, str] = {}
    for key in keys:
        if key.startswith("p."):
            try:
                entry = await kv.get(key)
            except Exception:
                continue
            out[int(key[2:])] = orjson.loads(entry.value)["replica"]
    return out


async def applied(url: str, sessions: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT session_id, applied_seq FROM replay_sessions WHERE session_id = ANY($1::text[])", sessions
        )
    finally:
        await conn.close()
    return {r["session_id"]: int(r["applied_seq"]) for r in rows}


async def test_kill_9_of_one_of_two_replicas_keeps_every_state_exact(
    store_stack: LocalStack, session_prefix: str, fresh_postgres_url: str
) -> None:
    ids = [f"{session_prefix}-so{i:02}" for i in range(20)]
    per_session = [stored(synthetic_session(sid, 240, seed=100 + i)) for i, sid in enumerate(ids)]
    interleaved = [e for batch in zip(*per_session, strict=True) for e in batch]
    common = {
        "SWARMSCOPE_REPLAY_DATABASE_URL": fresh_postgres_url,
        "SWARMSCOPE_REPLAY_PARTITIONS": str(PARTITIONS),
        "SWARMSCOPE_REPLAY_LEASE_SECONDS": "2",
        "SWARMSCOPE_REPLAY_SNAPSHOT_EVERY": "40",
        "SWARMSCOPE_BATCH_SIZE": "64",
        "SWARMSCOPE_REPLAY_EXPRESSION_WORKERS": "1",
        "SWARMSCOPE_LOG_LEVEL": "INFO",
    }
    store_stack.add_instance(
        "replay-a",
        "replay",
        {**common, "SWARMSCOPE_REPLAY_REPLICA_ID": "a"},
    )
    store_stack.add_instance(
        "replay-b",
        "replay",
        {**common, "SWARMSCOPE_REPLAY_REPLICA_ID": "b"},
    )
    nc = await nats.connect(str(store_stack.nats_url))
    try:
        js = nc.jetstream()
        # Ordinals are leased: a (started first) reads through `replay`, b through `replay-1`.
        for name in ("replay-a", "replay-b"):
            store_stack.start_service(name)
            await asyncio.to_thread(store_stack.wait_service_ready, name)
        for _ in range(300):
            held = await owners(js)
            if len(held) == PARTITIONS and set(held.values()) == {"a", "b"}:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the replicas did not share the partitions: {held}")
        await js.consumer_info(STREAM_EVENTS, "replay-1")  # b's own durable
        b_sessions = [sid for sid in ids if held[partition_of(sid, PARTITIONS)] == "b"]
        assert b_sessions, "replica b holds no session of the test"

        published: list[dict[str, Any]] = []

        async def publish() -> None:
            for start in range(0, len(interleaved), 200):
                published.extend(await publish_to_traces(js, interleaved[start : start + 200]))
                await asyncio.sleep(0.05)

        publisher = asyncio.create_task(publish())
        # Kill b once it has applied a good part of its sessions, well before the stream ends.
        for _ in range(1200):
            done = await applied(fresh_postgres_url, b_sessions)
            if sum(done.values()) and len(published) > len(interleaved) // 3:
                break
            await asyncio.sleep(0.05)
        store_stack.kill_service("replay-b")
        killed_after = len(published)
        await publisher
        assert killed_after < len(interleaved), "the kill came after the stream ended; nothing was tested"
        last = {sid: max(e["seq"] for e in published if e["session_id"] == sid) for sid in ids}
        await wait_for_durable(js, DURABLE_STORE, max(last.values()), timeout=120)
        # a takes b's partitions once their leases expire, and folds every session to its end.
        for _ in range(2400):
            done = await applied(fresh_postgres_url, ids)
            if all(done.get(sid) == last[sid] for sid in ids):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(
                f"not every session was applied to its end: {done} vs {last}; leases: {await owners(js)}"
            )
        assert set((await owners(js)).values()) == {"a"}

        client = RequestClient(nc, timeout=30)
        rng = random.Random(5)
        by_session = {sid: [e for e in published if e["session_id"] == sid] for sid in ids}
        for sid in ids:
            events = by_session[sid]
            state = initial_state(sid)
            truth: dict[int, dict[str, Any]] = {}
            for event in events:
                state = fold(state, [event])
                truth[event["seq"]] = state
            for seq in [*rng.sample(sorted(truth), 6), last[sid]]:
                got = await client.call(
                    replay_request_subject("state"), {"session_id": sid, "seq": seq, "full": True}
                )
                assert got == truth[seq], f"{sid} differs at seq {seq}"
            view = await client.call(
                replay_request_subject("state"), {"session_id": sid, "seq": last[sid], "limit": 10}
            )
            assert view == orjson.loads(orjson.dumps(bounded_view(truth[last[sid]], 10)))
        # Every snapshot either replica wrote (b's before it died, a's after) is exact.
        store = open_snapshot_store(fresh_postgres_url)
        await store.open()
        try:
            checked = 0
            for sid in ids:
                newest = await store.nearest(sid, 10**12)
                assert newest is not None
                assert newest.seq == last[sid]  # session_end is always snapshotted
                seq = last[sid]
                while True:
                    snapshot = await store.nearest(sid, seq)
                    if snapshot is None:
                        break
                    assert snapshot.chunked
                    decode_manifest(snapshot.raw())
                    expected = fold(
                        initial_state(sid), [e for e in by_session[sid] if e["seq"] <= snapshot.seq]
                    )
                    assert await snapshot_state(store, snapshot) == expected, f"{sid}@{snapshot.seq}"
                    checked += 1
                    seq = snapshot.seq - 1
            assert checked >= 2 * len(ids)
        finally:
            await store.close()
    finally:
        for name in ("replay-a", "replay-b"):
            if name in store_stack.processes:
                store_stack.stop_service(name)
        await nc.close()
