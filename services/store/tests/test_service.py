"""The store service against a real nats-server: canonical events published to TRACES are
stored and answered over request-reply; redeliveries change nothing; dead letters are kept."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from prometheus_client.parser import text_string_to_metric_families

from swarmscope_dev.in_process import wait_stopped
from swarmscope_dev.nats_server import NatsServer, free_port
from swarmscope_schema.requests import ErrorCode, StoreOp
from swarmscope_schema.subjects import (
    DURABLE_STORE,
    DURABLE_STORE_DLQ,
    STREAM_DLQ,
    STREAM_EVENTS,
    canonical_msg_id,
    event_subject,
    store_request_subject,
)
from swarmscope_schema.testing import every_type_events, make_event
from swarmscope_service.request_reply import RequestClient, ServiceError
from swarmscope_store import app
from swarmscope_store.config import StoreSettings

from .conftest import canonical


class RunningStore:
    """The store service as a task of the test's event loop."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.store_port}"

    async def start(self) -> None:
        self.task = asyncio.create_task(app.main(self.stop, self.settings))
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                if self.task.done():
                    self.task.result()
                try:
                    if (await client.get(self.url + "/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError("store did not become ready")

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await wait_stopped(self.task, "the store")


@pytest.fixture
async def store(store_nats: NatsServer, backend_url: str) -> AsyncIterator[RunningStore]:
    settings = StoreSettings(
        nats_url=store_nats.url,
        database_url=backend_url,
        store_port=free_port(),
        fetch_wait_seconds=0.05,
        retention_interval_seconds=3600,
        store_lag_interval_seconds=0.2,
        store_pool_size=3,
    )
    running = RunningStore(settings)
    await running.start()
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def nc(store_nats: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(store_nats.url)
    try:
        yield client
    finally:
        await client.close()


async def publish(
    nc: NatsClient,
    events: Sequence[dict[str, Any]],
    *,
    msg_id_suffix: str = "",
    acked: list[int] | None = None,
) -> list[int]:
    """Publishes the events to TRACES; returns (and appends to `acked` as they come) their seqs."""
    js = nc.jetstream()
    seqs = acked if acked is not None else []
    for event in events:
        body = canonical(event)
        ack = await js.publish(
            event_subject(body["session_id"], body.get("agent_id"), body["type"]),
            orjson.dumps(body),
            headers={"Nats-Msg-Id": canonical_msg_id(body["session_id"], body["id"]) + msg_id_suffix},
        )
        seqs.append(ack.seq)
    return seqs


async def drained(nc: NatsClient, stream: str, durable: str) -> None:
    """Waits until the durable has every message of its stream acknowledged."""
    js = nc.jetstream()
    for _ in range(400):
        info = await js.consumer_info(stream, durable)
        if not info.num_pending and not info.num_ack_pending:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{durable} did not drain")


async def call(nc: NatsClient, op: StoreOp, body: dict[str, Any]) -> Any:
    return await RequestClient(nc).call(store_request_subject(op.value), body)


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except (AssertionError, ServiceError):
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def test_published_events_are_stored_once_and_served(store: RunningStore, nc: NatsClient) -> None:
    session = f"svc-{store.settings.store_port}"
    events = list(every_type_events(session))
    await publish(nc, events)

    async def stored() -> dict[str, Any]:
        summary: dict[str, Any] = await call(nc, StoreOp.SESSION, {"session_id": session})
        assert summary["event_count"] == len(events)
        return summary

    summary = await eventually(stored)
    assert summary["status"] == "completed"
    # the same events again under new message ids: new stream seqs, same event ids
    await publish(nc, events, msg_id_suffix=":again")
    await drained(nc, STREAM_EVENTS, DURABLE_STORE)
    assert await call(nc, StoreOp.SESSION, {"session_id": session}) == summary

    page = await call(nc, StoreOp.EVENTS, {"session_id": session, "limit": 5})
    assert len(page["items"]) == 5
    assert page["next_cursor"] == str(page["items"][-1]["seq"])
    rest = await call(
        nc, StoreOp.EVENTS, {"session_id": session, "cursor": page["next_cursor"], "limit": 500}
    )
    assert len(rest["items"]) == len(events) - 5
    assert rest["next_cursor"] is None
    one = await call(nc, StoreOp.EVENT, {"session_id": session, "event_id": events[3]["id"]})
    assert one["id"] == events[3]["id"]
    assert one["seq"] == page["items"][3]["seq"]
    sessions = await call(nc, StoreOp.SESSIONS, {"q": session})
    assert [s["id"] for s in sessions["items"]] == [session]
    agents = await call(nc, StoreOp.AGENTS, {"session_id": session})
    assert {a["agent_id"] for a in agents} >= {"agent-1"}
    graph = await call(nc, StoreOp.GRAPH, {"session_id": session, "layout": "force"})
    assert graph["layout"] == "force"
    report = await call(nc, StoreOp.PERFORMANCE, {"session_id": session})
    assert sum(w["events"] for w in report["windows"]) == len(events)
    assert (await call(nc, StoreOp.PING, {}))["status"] == "ok"
    with pytest.raises(ServiceError) as info:
        await call(nc, StoreOp.EVENTS, {"session_id": "bad id!", "limit": 0})
    assert info.value.code.value == "bad_request"
    with pytest.raises(ServiceError) as info:
        await call(nc, StoreOp.SESSION, {"session_id": "no-such-session"})
    assert info.value.code.value == "not_found"

    async with httpx.AsyncClient() as client:
        ready = await client.get(store.url + "/readyz")
        assert ready.json() == {"status": "ready", "checks": {"nats": True, "database": True, "schema": True}}
        text = (await client.get(store.url + "/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("swarmscope_store_rows_committed_total", (("table", "events"),))] >= len(events)
    assert samples[("swarmscope_store_duplicates_skipped_total", (("table", "events"),))] >= len(events)
    assert samples[("swarmscope_store_stored_latency_seconds_count", ())] >= len(events)
    assert any(name == "swarmscope_request_seconds_count" for name, _ in samples)


async def test_progress_never_runs_ahead_of_what_can_be_read(store: RunningStore, nc: NatsClient) -> None:
    session = f"progress-{store.settings.store_port}"
    events = [make_event("tool_call", session_id=session, agent_id="a1") for _ in range(300)]
    acked: list[int] = []
    publishing = asyncio.create_task(publish(nc, events, acked=acked))
    checks = 0
    while not publishing.done() or checks == 0:
        known = list(acked)  # taken before asking: each of these, if at or below the answer, is readable
        progress = await call(nc, StoreOp.PROGRESS, {})
        assert progress["stream"] == STREAM_EVENTS
        committed = progress["committed_seq"]
        try:
            page = await call(
                nc, StoreOp.EVENTS, {"session_id": session, "until_seq": committed, "limit": 500}
            )
        except ServiceError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:  # NOT_FOUND: nothing of the session committed yet
                raise
            page = {"items": []}
        readable = {item["seq"] for item in page["items"]}
        assert {seq for seq in known if seq <= committed} <= readable
        checks += 1
    seqs = await publishing

    async def caught_up() -> int:
        committed: int = (await call(nc, StoreOp.PROGRESS, {}))["committed_seq"]
        assert committed >= max(seqs)
        return committed

    committed = await eventually(caught_up)
    page = await call(nc, StoreOp.EVENTS, {"session_id": session, "until_seq": committed, "limit": 500})
    assert sorted(item["seq"] for item in page["items"]) == sorted(seqs)
    with pytest.raises(ServiceError) as info:
        await call(nc, StoreOp.PROGRESS, {"stream": "TRACES_RAW"})
    assert info.value.code is ErrorCode.BAD_REQUEST


async def test_undecodable_canonical_events_end_in_the_dead_letters(
    store: RunningStore, nc: NatsClient
) -> None:
    js = nc.jetstream()
    session = f"dead-{store.settings.store_port}"
    await js.publish(f"traces.events.{session}._.tool_call", b"this is not json")
    await js.publish("traces.dlq.too_large", b"x" * 3000, headers={"Swarmscope-Dlq-Reason": "too_large"})
    await publish(nc, [make_event("tool_call", session_id=session)])

    async def letters() -> list[dict[str, Any]]:
        page = await call(nc, StoreOp.DLQ, {"limit": 1000})
        mine = [d for d in page["items"] if d["subject"] == f"traces.events.{session}._.tool_call"]
        assert mine
        # The two letters may be committed by different batches: wait for both.
        assert any(d["reason"] == "too_large" and d["size"] == 3000 for d in page["items"])
        items: list[dict[str, Any]] = page["items"]
        return items

    items = await eventually(letters)
    mine = next(d for d in items if d["subject"] == f"traces.events.{session}._.tool_call")
    assert mine["reason"] == "unprocessable"
    assert mine["payload_preview"] == "this is not json"
    assert any(d["reason"] == "too_large" and d["size"] == 3000 for d in items)
    await eventually(lambda: call(nc, StoreOp.SESSION, {"session_id": session}))
    await drained(nc, STREAM_DLQ, DURABLE_STORE_DLQ)


async def test_not_ready_until_the_schema_is_migrated(store_nats: NatsServer, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'later.db'}"
    settings = StoreSettings(
        nats_url=store_nats.url,
        database_url=url,
        store_port=free_port(),
        store_migrate_on_start=False,
        fetch_wait_seconds=0.05,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(app.main(stop, settings))
    try:
        async with httpx.AsyncClient() as client:

            async def readiness() -> httpx.Response:
                try:
                    return await client.get(f"http://127.0.0.1:{settings.store_port}/readyz")
                except httpx.HTTPError as exc:
                    raise AssertionError("not listening yet") from exc

            first = await eventually(readiness)
            assert first.status_code == 503
            assert first.json()["checks"]["schema"] is False
            result = await asyncio.to_thread(_run_store, ["migrate"], {"SWARMSCOPE_DATABASE_URL": url})
            assert result.returncode == 0, result.stderr
            assert (await readiness()).status_code == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def _run_store(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarmscope_store", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_command_is_idempotent(backend_url: str) -> None:
    env = {"SWARMSCOPE_DATABASE_URL": backend_url, "SWARMSCOPE_LOG_FORMAT": "text"}
    first = _run_store(["migrate"], env)
    assert first.returncode == 0, first.stderr
    assert "0001_init.sql" in first.stdout
    second = _run_store(["migrate"], env)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    wrong = _run_store(["frobnicate"], env)
    assert wrong.returncode == 2
    bad = _run_store(["migrate"], {"SWARMSCOPE_DATABASE_URL": "mysql://x"})
    assert bad.returncode == 2
    assert "SWARMSCOPE_DATABASE_URL" in bad.stderr


def test_sqlite_directory_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'store.db'}"
    result = _run_store(["migrate"], {"SWARMSCOPE_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "deep" / "er" / "store.db").exists()


BAD_QUERIES: list[tuple[StoreOp, dict[str, Any], str]] = [
    (StoreOp.SESSIONS, {"q": "\x00"}, "q"),
    (StoreOp.SESSIONS, {"q": "ab\x00cd"}, "q"),
    (StoreOp.SESSIONS, {"status": "\x00"}, "status"),
    (StoreOp.SESSIONS, {"tool": "\x00"}, "tool"),
    (StoreOp.SESSIONS, {"cursor": "\x00"}, "cursor"),
    (StoreOp.SESSIONS, {"from_ts": 5.0, "to_ts": 1.0}, "to_ts"),
    (StoreOp.SESSIONS, {"min_cost": 5.0, "max_cost": 1.0}, "max_cost"),
    (StoreOp.EVENTS, {"q": "\x00"}, "q"),
    (StoreOp.EVENTS, {"agent": "a\x00"}, "agent"),
    (StoreOp.EVENTS, {"type": "\x00,tool_call"}, "type"),
    (StoreOp.EVENTS, {"span_id": "\x00"}, "span_id"),
    (StoreOp.EVENTS, {"cursor": "12\x00"}, "cursor"),
    (StoreOp.EVENTS, {"cursor": "-1"}, "cursor"),
    (StoreOp.EVENTS, {"from_ts": 5.0, "to_ts": 1.0}, "to_ts"),
    (StoreOp.EVENT, {"event_id": "e\x00"}, "event_id"),
    (StoreOp.DLQ, {"reason": "\x00"}, "reason"),
]


@pytest.mark.parametrize(("op", "body", "parameter"), BAD_QUERIES)
async def test_unusable_query_parameters_are_bad_requests(
    store: RunningStore, nc: NatsClient, op: StoreOp, body: dict[str, Any], parameter: str
) -> None:
    """Issue 12 finding 5: `?q=%00` answered 500 (Postgres text cannot hold NUL); every unusable
    search parameter is a bad request naming it, on both backends."""
    session = f"bad-{store.settings.store_port}"
    await publish(nc, [make_event("tool_call", session_id=session, data={"tool": "grep"})])
    await eventually(lambda: call(nc, StoreOp.SESSION, {"session_id": session}))
    if op in (StoreOp.EVENTS, StoreOp.EVENT):
        body = {"session_id": session, **body}
    with pytest.raises(ServiceError) as refused:
        await call(nc, op, body)
    assert refused.value.code.value == "bad_request", refused.value.message
    assert refused.value.message.startswith(parameter), refused.value.message
    # The store answers the next request as ever.
    assert (await call(nc, StoreOp.SESSION, {"session_id": session}))["event_count"] == 1
