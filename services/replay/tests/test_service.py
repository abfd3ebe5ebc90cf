"""The replay service end to end over NATS, with the real store: every op on a realistic
Claude-Flow run (coordinator, researcher, coder, tester, reviewer; a task DAG; a failed test
retried), checked at several points."""

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

from swarmscope_dev.replay import claude_flow_session, publish_to_traces, stored, wait_for_durable
from swarmscope_dev.stack import LocalStack
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
    events = await load(replay, claude_flow_session(sid))
    seq = {e["id"]: e["seq"] for e in events}

    async def state(point: str) -> dict[str, Any]:
        result = await replay(ReplayOp.STATE, session_id=sid, seq=seq[point])
        SystemState.model_validate(result)
        assert result["seq"] == seq[point]
        return result

    a = await state("cp-A")  # research done, coding not started
    assert {t: v["status"] for t, v in a["tasks"].items()} == {
        "T1": "completed",
        "T2": "created",
        "T3": "created",
        "T4": "created",
    }
    assert {k: v["status"] for k, v in a["agents"].items()}["res-1"] == "idle"
    assert a["memory"]["swarm/research/rate-limit"]["version"] == 1
    assert [(c["message_id"], c["from"], c["to"], c["delivered_to"]) for c in a["communications"]] == [
        ("m1", "res-1", ["cod-1"], ["cod-1"])
    ]
    b = await state("cp-B")
    assert b["memory"]["swarm/code/limiter"]["version"] == 2
    assert b["memory"]["swarm/code/limiter"]["value"] == "v2 source"
    assert b["agents"]["cod-1"]["context"] == {"focus": "limiter.py"}
    c = await state("cp-C")  # test and review run in parallel; the first test run just failed
    running = {t for t, v in c["tasks"].items() if v["status"] == "running"}
    busy = {k for k, v in c["agents"].items() if v["status"] == "busy"}
    assert (running, busy) == ({"T3", "T4"}, {"tst-1", "rev-1"})
    assert c["counters"]["errors"] == 2  # the error event and the failed tool call
    retry = await replay(ReplayOp.STATE, session_id=sid, seq=seq["t3-fail"])
    assert retry["tasks"]["T3"]["status"] == "retrying"
    d = await state("cp-D")
    assert {v["status"] for v in d["tasks"].values()} == {"completed"}
    assert d["tasks"]["T3"]["attempts"] == 2
    assert [c["message_id"] for c in d["communications"]] == ["m1", "m2"]
    assert d["session"]["resources"] == {"redis": "tst-1"}
    e = await state("cp-E")
    assert e["session"]["status"] == "completed"
    assert {v["status"] for v in e["agents"].values()} == {"terminated", "idle"}
    assert e["session"]["resources"] == {}
    assert e["counters"]["llm_calls"] == 3
    assert (e["counters"]["input_tokens"], e["counters"]["output_tokens"]) == (6210, 1780)
    # By timestamp: the last event at or before it.
    at_ts = await replay(ReplayOp.STATE, session_id=sid, ts=events[20]["timestamp"] + 1)
    assert at_ts["seq"] == events[20]["seq"]
    before = await replay(ReplayOp.STATE, session_id=sid, ts=1.0)
    assert (before["seq"], before["tasks"]) == (0, {})


async def test_debugging_operations_over_nats(replay: Replay, session_prefix: str) -> None:
    sid = f"{session_prefix}-dbg"
    events = await load(replay, claude_flow_session(sid))
    seq = {e["id"]: e["seq"] for e in events}
    diff = await replay(ReplayOp.DIFF, session_id=sid, from_seq=seq["cp-A"], to_seq=seq["cp-B"])
    StateDiff.model_validate(diff)
    assert ["tasks", "T2", "status"] in [c["path"] for c in diff["changes"]]
    step = await replay(ReplayOp.STEP, session_id=sid, event_id="t3a1-start", direction="into")
    StepResult.model_validate(step)
    assert step["event"]["id"] == "pytest1-start"
    step = await replay(ReplayOp.STEP, session_id=sid, event_id="pytest1-start", direction="over")
    assert step["event"]["id"] == "cp-C"
    step = await replay(ReplayOp.STEP, session_id=sid, event_id="err1", direction="out")
    assert step["event"]["id"] == "t3-fail"
    step = await replay(ReplayOp.STEP, session_id=sid, event_id=events[0]["id"], direction="back")
    assert (step["event"], step["reason"]) == (None, "start_of_session")
    stack = await replay(ReplayOp.STACK, session_id=sid, event_id="err1")
    CallStack.model_validate(stack)
    assert [(f["span_id"], f["open"]) for f in stack["frames"]] == [
        ("err1", False),
        ("sp_T3_bash1", True),
        ("sp_T3_a1", True),
        ("sp_root", True),
    ]
    assert stack["frames"][2]["label"] == "start T3"
    hit = await replay(
        ReplayOp.BREAKPOINT, session_id=sid, conditions=['event.type == "error" && event.agent_id == "tst-1"']
    )
    BreakpointHit.model_validate(hit)
    assert hit["event"]["id"] == "err1"
    hit = await replay(
        ReplayOp.BREAKPOINT,
        session_id=sid,
        direction="backward",
        conditions=['state.tasks["T3"].status == "running"'],
    )
    assert hit["event"]["id"] == "e0046"  # the retry's test run, just before T3 completed
    watch = await replay(
        ReplayOp.WATCH,
        session_id=sid,
        seq=seq["cp-C"],
        expressions=['state.tasks["T3"].status', "state.counters.tokens", "state.nope"],
    )
    WatchResult.model_validate(watch)
    assert [v["value"] for v in watch["values"]] == ["running", 7990, None]
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
    await load(replay, claude_flow_session(a) + claude_flow_session(b))
    result = await replay(ReplayOp.COMPARE, a=a, b=b)
    SessionComparison.model_validate(result)
    assert result["summary"]["same"] == len(claude_flow_session(a))
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
    events = await load(replay, claude_flow_session(sid))
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
    # The recorded pace (100 ms between most events) divided by the speed.
    gaps = [b2["timestamp"] - b1["timestamp"] for b1, b2 in itertools.pairwise(bodies)]
    assert max(gaps) == pytest.approx(2000 / 500)
    js = replay.nc.jetstream()
    info = await js.stream_info(STREAM_RAW)
    assert info.state.last_seq >= len(events)
    with pytest.raises(ServiceError) as excinfo:
        await replay(ReplayOp.REPLAY, session_id=sid, new_session_id=sid)
    assert excinfo.value.code.value == "bad_request"
