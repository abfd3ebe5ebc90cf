"""Event ids are unique only within a session (CONTRACT §1): the same id in many sessions is stored
in every one, whoever sends it (raw NATS with bare ids as v1 said, the Python SDK, HTTP ingest); a
true repeat within a session is stored once, and folded once by replay, inside and after any
duplicate window (v1.1, §3)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import nats
import orjson
import pytest

from swarmscope import Tracer
from swarmscope_dev.stack import LocalStack
from swarmscope_schema.subjects import MSG_ID_HEADER, raw_subject
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event

WINDOW_SECONDS = 1  # TRACES's duplicate window, short so a repeat can arrive after it
SESSIONS = 50
PER_SESSION = 200
TYPES = [EventType.TOOL_CALL, EventType.LLM_CALL, EventType.DECISION, EventType.CONTEXT_UPDATE]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[LocalStack]:
    """ingest, store, replay and gateway on a NATS and a Postgres database of their own."""
    name = f"swarmscope_ids_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(postgres_admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    database_url = postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    running = LocalStack(
        data_dir=tmp_path_factory.mktemp("ids-across-sessions"),
        database_url=database_url,
        env={
            "SWARMSCOPE_DEDUP_WINDOW_SECONDS": str(WINDOW_SECONDS),
            "SWARMSCOPE_FETCH_WAIT_SECONDS": "0.1",
            "SWARMSCOPE_LOG_LEVEL": "WARNING",
        },
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _event(session: str, step: int, **data: Any) -> dict[str, Any]:
    event_type = TYPES[step % len(TYPES)]
    event = make_event(
        event_type, session_id=session, agent_id=f"agent-{step % 3}", event_id=f"step-{step:04d}"
    )
    event["data"].update(data)
    return event


async def _stored(stack: LocalStack, sessions: list[str]) -> dict[str, dict[str, bytes]]:
    """session → event id → the stored body, read from the database itself."""
    assert stack.database_url is not None
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT session_id, event_id, body FROM events WHERE session_id = ANY($1::text[])", sessions
        )
    finally:
        await conn.close()
    out: dict[str, dict[str, bytes]] = {s: {} for s in sessions}
    for row in rows:
        assert row["event_id"] not in out[row["session_id"]], f"stored twice: {row['event_id']}"
        out[row["session_id"]][row["event_id"]] = bytes(row["body"])
    return out


async def _wait_stored(
    stack: LocalStack, sessions: list[str], per_session: int, timeout: float = 180.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stored = await _stored(stack, sessions)
        short = {s: len(ids) for s, ids in stored.items() if len(ids) < per_session}
        if not short:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(short)} sessions not fully stored, e.g. {next(iter(short.items()))}")
        await asyncio.sleep(0.25)


async def _state(client: httpx.AsyncClient, session: str, seq: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/sessions/{session}/state", params={"seq": seq})
    assert response.status_code == 200, response.text
    body = response.json()
    return body.get("state", body) if isinstance(body, dict) else body


async def test_the_same_ids_in_many_sessions_are_all_stored(stack: LocalStack) -> None:
    tag = uuid.uuid4().hex[:6]
    raw_sessions = [f"ids-{tag}-raw-{i}" for i in range(SESSIONS)]
    sdk_sessions = [f"ids-{tag}-sdk-{i}" for i in range(5)]
    http_sessions = [f"ids-{tag}-http-{i}" for i in range(5)]

    # 1. Raw NATS, bare ids as CONTRACT v1 said (`Nats-Msg-Id: step-0001` in every session), the
    #    sessions interleaved so equal ids travel within milliseconds of each other.
    nc = await nats.connect(str(stack.nats_url))
    try:
        js = nc.jetstream()
        for step in range(PER_SESSION):
            futures = []
            for session in raw_sessions:
                event = _event(session, step)
                futures.append(
                    await js.publish_async(
                        raw_subject(session, event["agent_id"], event["type"]),
                        orjson.dumps(event),
                        headers={MSG_ID_HEADER: event["id"]},
                    )
                )
            acks = await asyncio.gather(*futures)
            assert not any(a.duplicate for a in acks)
        # A true repeat within a session, at once (inside every window) and with the bare id.
        repeat = _event(raw_sessions[0], 7, note="sent twice")
        await js.publish(
            raw_subject(raw_sessions[0], repeat["agent_id"], repeat["type"]),
            orjson.dumps(repeat),
            headers={MSG_ID_HEADER: repeat["id"]},
        )
    finally:
        await nc.close()

    # 2. The Python SDK with explicit ids (batch messages by default), each event emitted twice.
    def sdk() -> None:
        for session in sdk_sessions:
            tracer = Tracer(session, str(stack.nats_url), agent_id="agent-0")
            for _ in range(2):
                for step in range(PER_SESSION):
                    event = _event(session, step)
                    tracer.emit(
                        event["type"], event["data"], event_id=event["id"], agent_id=event["agent_id"]
                    )
            assert tracer.flush(60)
            tracer.close()

    await asyncio.to_thread(sdk)

    # 3. HTTP ingest, arrays of the same ids per session, the whole body sent twice.
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        for session in http_sessions:
            body = [_event(session, step) for step in range(PER_SESSION)]
            for _ in range(2):
                response = await client.post("/api/v1/ingest", json=body)
                assert response.status_code == 202, response.text
                assert response.json()["accepted"] == PER_SESSION

    sessions = raw_sessions + sdk_sessions + http_sessions
    await _wait_stored(stack, sessions, PER_SESSION)
    stored = await _stored(stack, sessions)
    expected = {f"step-{step:04d}" for step in range(PER_SESSION)}
    for session in sessions:
        assert set(stored[session]) == expected, session
    # The repeat is stored once, as its first copy.
    assert b"sent twice" not in stored[raw_sessions[0]]["step-0007"]
    assert sum(len(ids) for ids in stored.values()) == len(sessions) * PER_SESSION

    # Replay folded every session's events once each.
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        for session in (raw_sessions[0], raw_sessions[-1], sdk_sessions[0], http_sessions[0]):
            last = max(orjson.loads(b)["seq"] for b in stored[session].values())
            deadline = time.monotonic() + 60
            while True:
                state = await _state(client, session, last)
                if state["counters"]["events"] >= PER_SESSION or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.25)
            assert state["counters"]["events"] == PER_SESSION, session


async def test_a_repeat_after_the_duplicate_window_is_stored_and_folded_once(stack: LocalStack) -> None:
    session = f"ids-late-{uuid.uuid4().hex[:6]}"
    first = [_event(session, step, copy="first") for step in range(20)]
    nc = await nats.connect(str(stack.nats_url))
    try:
        js = nc.jetstream()

        async def send(events: list[dict[str, Any]]) -> None:
            for event in events:
                await js.publish(
                    raw_subject(session, event["agent_id"], event["type"]),
                    orjson.dumps(event),
                    headers={MSG_ID_HEADER: f"{session}:{event['id']}"},
                )

        await send(first)
        await _wait_stored(stack, [session], 20)
        # Past TRACES's window: the repeats get new seqs in TRACES; only the store and replay can
        # tell them for what they are.
        await asyncio.sleep(WINDOW_SECONDS + 1.5)
        await send([_event(session, step, copy="repeat") for step in range(0, 20, 4)])
        marker = _event(session, 20, copy="first")
        await send([marker])
    finally:
        await nc.close()
    await _wait_stored(stack, [session], 21)
    await asyncio.sleep(1.0)  # the repeats were published before the marker: long since handled
    stored = await _stored(stack, [session])
    assert len(stored[session]) == 21
    assert not any(b"repeat" in body for body in stored[session].values())
    last = orjson.loads(stored[session]["step-0020"])["seq"]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        deadline = time.monotonic() + 60
        while True:
            state = await _state(client, session, last)
            if state.get("seq") == last or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
    assert state["counters"]["events"] == 21
