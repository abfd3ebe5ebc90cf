"""The replay service end to end over NATS, with the real store: every op on the demo's Claude-Flow
story (swarmscope_dev.story: coordinator, researcher, coder, tester, reviewer; a task DAG; a failed
test retried), checked at several points of it, each found by what happens there."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient

from swarmscope_dev.replay import publish_to_traces, stored, wait_for_durable
from swarmscope_dev.stack import LocalStack
from swarmscope_dev.story import after, find, story_session
from swarmscope_replay import app
from swarmscope_replay.config import ReplaySettings
from swarmscope_schema.api import (
    BreakpointHit,
    CallStack,
    ReplayStarted,
    SessionComparison,
    StateDiff,
    StepResult,
    SystemState,
    WatchResult,
)
from swarmscope_schema.requests import ReplayOp
from swarmscope_schema.subjects import DURABLE_STORE, STREAM_RAW, raw_msg_id, replay_request_subject
from swarmscope_service.request_reply import RequestClient, ServiceError


class Replay:
    def __init__(self, nc: NatsClient, http_port: int, db_path: Path) -> None:
        self.client = RequestClient(nc, timeout=20.0)
        self.nc = nc
        self.http_port = http_port
        self.db_path = db_path

    async def __call__(self, op: ReplayOp, **body: Any) -> Any:
        return await self.client.call(replay_request_subject(op.value), body)


@pytest.fixture
async def replay(store_stack: LocalStack, tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[Replay]:
    settings = ReplaySettings(
        nats_url=str(store_stack.nats_url),
        replay_database_url=f"sqlite:///{tmp_path / 'replay.db'}",
        replay_snapshot_every=10,
        replay_expression_timeout_seconds=1.0,
        replay_expression_workers=1,
        log_level="WARNING",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(app.main(stop, settings=settings, http_port=unused_tcp_port))
    nc = await nats.connect(str(store_stack.nats_url))
    try:
        client = Replay(nc, unused_tcp_port, tmp_path / "replay.db")
        for _ in range(200):
            with contextlib.suppress(ServiceError):
                await client(ReplayOp.PING)
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        yield client
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await nc.close()


async def applied_seq(db_path: Path, session_id: str) -> int:
    def read() -> int:
        with sqlite3.connect(db_path) as conn:
            row = conn.execute(
                "SELECT applied_seq FROM replay_sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    return await asyncio.to_thread(read)


async def load(replay: Replay, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Publishes as ingest would; returns when the store holds every event and replay applied them."""
    js = replay.nc.jetstream()
    published = await publish_to_traces(js, stored(events))
    last = max(e["seq"] for e in published)
    await wait_for_durable(js, DURABLE_STORE, last)
    # Replay's own progress, not its durable's ack floor: the floor can wait on messages another
    # replay process held when it was killed (they come back only after the ack wait).
    for session_id in {e["session_id"] for e in published}:
        session_last = max(e["seq"] for e in published if e["session_id"] == session_id)
        for _ in range(1200):
            if await applied_seq(replay.db_path, session_id) >= session_last:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"replay did not apply {session_id} up to {session_last}")
    return published


async def test_states_of_a_claude_flow_run_at_several_points(replay: Replay, session_prefix: str) -> None:
    sid = f"{session_prefix}-cf"
    events = await load(replay, story_session(sid))

    async def state(point: dict[str, Any]) -> dict[str, Any]:
        result = await replay(ReplayOp.STATE, session_id=sid, seq=point["seq"])
        SystemState.model_validate(result)
        assert result["seq"] == point["seq"]
        return result

    a = await state(find(events, "task_complete", task_id="T1"))  # research done, coding not started
    assert {t: v["status"] for t, v in a["tasks"].items()} == {
        "T1": "completed",
        "T2": "created",
        "T3": "created",
        "T4": "created",
        "T5": "created",
    }
    assert {k: v["status"] for k, v in a["agents"].items()}["res-1"] == "idle"
    assert a["memory"]["swarm/research/rate-limit"]["version"] == 1
    # The coordinator's health-check broadcast (to nobody), then T1's assignment, delivered.
    health, assigned = a["communications"]
    assert (health["from"], health["to"]) == ("coord-1", [])
    received = find(events, "communication", agent_id="res-1", direction="received")
    assert (assigned["message_id"], assigned["from"], assigned["to"], assigned["delivered_to"]) == (
        received["data"]["message"]["id"],
        "coord-1",
        ["res-1"],
        ["res-1"],
    )
    b = await state(find(events, "task_complete", task_id="T2"))
    code = b["memory"]["swarm/code/src/api/ratelimit.py"]
    assert (code["version"], code["value"]["status"]) == (1, "draft")
    assert b["agents"]["cod-1"]["context"] == {
        "focus": {"file": "src/api/ratelimit.py", "approach": "token bucket"}
    }
    # Test and review run in parallel; the first test run just failed and the tester said so.
    c = await state(find(events, "error", agent_id="tst-1"))
    running = {t for t, v in c["tasks"].items() if v["status"] == "running"}
    busy = {k for k, v in c["agents"].items() if v["status"] == "busy"}
    assert (running, busy) == ({"T3", "T4"}, {"tst-1", "rev-1"})
    assert c["counters"]["errors"] == 2  # the failed tool call and the error event
    retry = await state(find(events, "task_fail", task_id="T3"))
    assert retry["tasks"]["T3"]["status"] == "retrying"
    # The retry runs with the redis the coordinator took for it; the tester gives it back.
    rerun = await state(find(events, "task_start", task_id="T3", attempt=2))
    assert rerun["session"]["resources"] == {"redis-test": "coord-1"}
    t3_done = find(events, "task_complete", task_id="T3")
    d = await state(t3_done)
    assert {t: v["status"] for t, v in d["tasks"].items() if v["status"] != "completed"} == {
        "T5": "created",
        "T3b": "created",  # the fallback planned at the failure, cancelled at the end
    }
    assert d["tasks"]["T3"]["attempts"] == 2
    sent = [
        e["data"]["message"]["id"]
        for e in events
        if e["type"] == "communication" and e["data"]["direction"] == "sent" and e["seq"] <= t3_done["seq"]
    ]
    assert [c["message_id"] for c in d["communications"]] == sent  # each message once, sent and received
    assert d["session"]["resources"] == {}
    end = events[-1]
    e = await state(end)
    assert e["session"]["status"] == "completed"
    assert {v["status"] for v in e["agents"].values()} == {"terminated"}
    assert (e["tasks"]["T5"]["status"], e["tasks"]["T3b"]["status"]) == ("completed", "cancelled")
    assert e["session"]["resources"] == {}
    assert e["counters"]["llm_calls"] == 5
    assert (e["counters"]["input_tokens"], e["counters"]["output_tokens"]) == (16744, 2695)
    assert e["counters"]["tokens"] == end["data"]["tokens"]  # the demo's own tally
    # By timestamp: the last event at or before it.
    ts = events[20]["timestamp"] + 1
    at_ts = await replay(ReplayOp.STATE, session_id=sid, ts=ts)
    assert at_ts["seq"] == max(e["seq"] for e in events if e["timestamp"] <= ts)
    before = await replay(ReplayOp.STATE, session_id=sid, ts=1.0)
    assert (before["seq"], before["tasks"]) == (0, {})


async def test_debugging_operations_over_nats(replay: Replay, session_prefix: str) -> None:
    sid = f"{session_prefix}-dbg"
    events = await load(replay, story_session(sid))
    t1_done = find(events, "task_complete", task_id="T1")
    t2_done = find(events, "task_complete", task_id="T2")
    diff = await replay(ReplayOp.DIFF, session_id=sid, from_seq=t1_done["seq"], to_seq=t2_done["seq"])
    StateDiff.model_validate(diff)
    assert ["tasks", "T2", "status"] in [c["path"] for c in diff["changes"]]
    # Into T3's first attempt: its first child, the tester reading the code from memory.
    t3_start = find(events, "task_start", task_id="T3", attempt=1)
    step = await replay(ReplayOp.STEP, session_id=sid, event_id=t3_start["id"], direction="into")
    StepResult.model_validate(step)
    assert step["event"]["id"] == find(events, "memory_read", agent_id="tst-1")["id"]
    # Over T1's start: past its WebSearch and Read calls to T1's own progress report.
    t1_start = find(events, "task_start", task_id="T1")
    step = await replay(ReplayOp.STEP, session_id=sid, event_id=t1_start["id"], direction="over")
    assert step["event"]["id"] == find(events, "task_progress", task_id="T1")["id"]
    # Out of the failing pytest call: the first event after it ended (the tester's error report).
    pytest_run = find(events, "tool_call", agent_id="tst-1", phase="start")
    error = find(events, "error", agent_id="tst-1")
    step = await replay(ReplayOp.STEP, session_id=sid, event_id=pytest_run["id"], direction="out")
    assert step["event"]["id"] == error["id"]
    # Out of the error: past the end of T3's first attempt (its task_fail).
    step = await replay(ReplayOp.STEP, session_id=sid, event_id=error["id"], direction="out")
    assert step["event"]["id"] == after(events, find(events, "task_fail", task_id="T3"))["id"]
    step = await replay(ReplayOp.STEP, session_id=sid, event_id=events[0]["id"], direction="back")
    assert (step["event"], step["reason"]) == (None, "start_of_session")
    stack = await replay(ReplayOp.STACK, session_id=sid, event_id=error["id"])
    CallStack.model_validate(stack)
    assert [(f["span_id"], f["open"]) for f in stack["frames"]] == [
        (error["id"], False),
        ("sp_T3_a1", True),
        (t3_start["metadata"]["parent_id"], True),  # the tester's execute() method
    ]
    assert stack["frames"][1]["label"] == "start T3"
    hit = await replay(
        ReplayOp.BREAKPOINT, session_id=sid, conditions=['event.type == "error" && event.agent_id == "tst-1"']
    )
    BreakpointHit.model_validate(hit)
    assert hit["event"]["id"] == error["id"]
    hit = await replay(
        ReplayOp.BREAKPOINT,
        session_id=sid,
        direction="backward",
        conditions=['state.tasks["T3"].status == "running"'],
    )
    # The retry's last step (the tester releasing redis), just before T3 completed.
    assert hit["event"]["id"] == after(events, find(events, "task_complete", task_id="T3"), -1)["id"]
    watch = await replay(
        ReplayOp.WATCH,
        session_id=sid,
        seq=error["seq"],
        expressions=['state.tasks["T3"].status', "state.counters.tokens", "state.nope"],
    )
    WatchResult.model_validate(watch)
    assert [v["value"] for v in watch["values"]] == ["running", 13626, None]  # plan, research, code
    assert watch["values"][2]["error"] == "no such key: 'nope'"
    with pytest.raises(ServiceError) as excinfo:
        await replay(ReplayOp.WATCH, session_id=sid, seq=1, expressions=["1 +"] * 21)
    assert excinfo.value.code.value == "bad_request"
    with pytest.raises(ServiceError) as excinfo:
        await replay(ReplayOp.BREAKPOINT, session_id=sid, conditions=["x" * 2001])
    assert excinfo.value.code.value == "expression_error"
    with pytest.raises(ServiceError) as excinfo:
        await replay(ReplayOp.BREAKPOINT, session_id=sid, conditions=["1 +"])
    assert excinfo.value.code.value == "expression_error"


async def test_compare_errors_ping_and_metrics(replay: Replay, session_prefix: str) -> None:
    a, b = f"{session_prefix}-a", f"{session_prefix}-b"
    await load(replay, story_session(a) + story_session(b))
    result = await replay(ReplayOp.COMPARE, a=a, b=b)
    SessionComparison.model_validate(result)
    assert result["summary"]["same"] == len(story_session(a))
    assert result["task_differences"] == []
    for op, body in (
        (ReplayOp.STATE, {"session_id": "nobody", "seq": 5}),
        (ReplayOp.STEP, {"session_id": a, "event_id": "nope", "direction": "over"}),
        (ReplayOp.COMPARE, {"a": a, "b": "nobody"}),
        (ReplayOp.REPLAY, {"session_id": "nobody"}),
    ):
        with pytest.raises(ServiceError) as excinfo:
            await replay(op, **body)
        assert excinfo.value.code.value == "not_found", op
    with pytest.raises(ServiceError) as excinfo:
        await replay(ReplayOp.STATE, session_id=a, seq=1, ts=5)
    assert excinfo.value.code.value == "bad_request"
    pong = await replay(ReplayOp.PING)
    assert pong["service"] == "replay"
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://127.0.0.1:{replay.http_port}/metrics")).text
        ready = await http.get(f"http://127.0.0.1:{replay.http_port}/readyz")
    assert ready.status_code == 200
    for name in (
        "swarmscope_replay_state_seconds",
        "swarmscope_replay_snapshots_total",
        "swarmscope_replay_snapshot_bytes_total",
        "swarmscope_replay_cache_hits_total",
        "swarmscope_replay_cache_misses_total",
        "swarmscope_replay_events_applied_total",
    ):
        assert name in metrics
    assert a not in metrics  # no session ids as labels


async def test_replay_as_live_republishes_under_a_new_session(replay: Replay, session_prefix: str) -> None:
    sid = f"{session_prefix}-orig"
    events = await load(replay, story_session(sid))
    received: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def collect(msg: Any) -> None:
        received.append(
            {"subject": msg.subject, "body": orjson.loads(msg.data), "msg_id": msg.headers.get("Nats-Msg-Id")}
        )
        if len(received) == len(events):
            done.set()

    sub = await replay.nc.subscribe(f"traces.raw.{sid}-live.>", cb=collect)
    try:
        started = await replay(ReplayOp.REPLAY, session_id=sid, new_session_id=f"{sid}-live", speed=500)
        ReplayStarted.model_validate(started)
        assert (started["events"], started["new_session_id"]) == (len(events), f"{sid}-live")
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await sub.unsubscribe()
    bodies = [r["body"] for r in received]
    assert [b["metadata"]["replay_of"]["event_id"] for b in bodies] == [e["id"] for e in events]
    assert {b["session_id"] for b in bodies} == {f"{sid}-live"}
    assert len({b["id"] for b in bodies}) == len(events)
    assert all(r["msg_id"] == raw_msg_id(f"{sid}-live", r["body"]["id"]) for r in received)
    assert [b["type"] for b in bodies] == [e["type"] for e in events]
    # The recorded pace divided by the speed (the longest pause: the coder's LLM call).
    gaps = [b2["timestamp"] - b1["timestamp"] for b1, b2 in itertools.pairwise(bodies)]
    recorded = [e2["timestamp"] - e1["timestamp"] for e1, e2 in itertools.pairwise(events)]
    assert max(gaps) == pytest.approx(max(recorded) / 500, abs=0.01)  # (epoch-ms floats: ~1e-4 ms apart)
    assert max(recorded) > 10_000
    js = replay.nc.jetstream()
    info = await js.stream_info(STREAM_RAW)
    assert info.state.last_seq >= len(events)
    with pytest.raises(ServiceError) as excinfo:
        await replay(ReplayOp.REPLAY, session_id=sid, new_session_id=sid)
    assert excinfo.value.code.value == "bad_request"
