"""Nothing secret at rest or on the wire (issue 12 items 2 and 3), on a real stack with API keys on.

Secrets of every shape the rule knows travel in good events (raw NATS with bare ids, HTTP ingest)
and in dead letters (well formed but rejected, truncated JSON, invalid UTF-8). None of them may be
found afterwards in Postgres (every table, every column), the SSE stream, an export, the replay
state, `GET /api/v1/dlq`, TRACES_DLQ or TRACES_RAW (which holds producers' bytes only until ingest
has acknowledged them); the values around them must still be there.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from swarmscope_dev.stack import LocalStack
from swarmscope_schema.codec import dumps
from swarmscope_schema.subjects import MSG_ID_HEADER, STREAM_DLQ, STREAM_RAW, raw_subject
from swarmscope_schema.testing import make_event

SESSION = "secrets-at-rest"
AGENT = "cod-1"
KEYS = {"ingest": "agent-key-0001", "read": "viewer-key-002", "admin": "ops-key-00003"}


def _token(n: int = 24) -> str:
    return secrets.token_hex(n // 2)


def secret_set() -> dict[str, str]:
    """Distinct secret values, by where they hide; each is unique to this run."""
    hex16 = _token(16).upper()
    return {
        "password": f"pw{_token()}",
        "pwd": f"pwd{_token()}",
        "pass": f"pass{_token()}",
        "passphrase": f"phrase{_token()}",
        "auth": f"auth{_token()}",
        "credentials_user": f"creduser{_token()}",
        "password_used": f"used{_token()}",
        "bearer": f"b{_token()}.{_token(8)}",
        "pair": f"pair{_token()}",
        "header_value": f"hv{_token()}",
        "aws": f"AKIA{hex16}",
        "anthropic": f"sk-ant-api03-{_token(40)}",
        "github": f"ghp_{_token(36)}",
        "jwt": f"eyJhbGciOiJIUzI1NiJ9.eyJ{_token()}.{_token()}",
        "pem": _token(40),
        "pg": f"pg{_token()}",
        "truncated": f"trunc{_token()}",
        "utf8": f"utf{_token()}",
        "rejected": f"rej{_token()}",
        "http": f"http{_token()}",
    }


def good_data(s: dict[str, str]) -> dict[str, Any]:
    return {
        "tool": "Bash",
        "args": {
            "cmd": f"curl -H 'Authorization: Bearer {s['bearer']}' https://api.example.com",
            "headers": [["Authorization", s["pair"]], ["Accept", "application/json"]],
            "har": [{"name": "X-Api-Key", "value": s["header_value"]}],
            "dsn": f"postgres://app:{s['pg']}@db:5432/app",
        },
        "password": s["password"],
        "pwd": s["pwd"],
        "pass": s["pass"],
        "passphrase": s["passphrase"],
        "auth": s["auth"],
        "credentials": {"user": s["credentials_user"]},
        "password_used": s["password_used"],
        "result": f"found {s['aws']} and {s['anthropic']} and {s['github']} and {s['jwt']}",
        "file": f"-----BEGIN RSA PRIVATE KEY-----\n{s['pem']}\n-----END RSA PRIVATE KEY-----",
        "exit_code": 0,
        "input_tokens": 4210,
    }


def dead_letter_payloads(s: dict[str, str]) -> list[bytes]:
    rejected = make_event("agent_spawn", session_id=SESSION, agent_id=AGENT, event_id="rej-1", data={})
    rejected["data"] = {"api_key": s["rejected"], "note": "kept"}  # agent_type missing: rejected
    truncated = dumps(
        make_event(
            "tool_call",
            session_id=SESSION,
            agent_id=AGENT,
            event_id="trunc-1",
            data={"tool": "Bash", "token": s["truncated"], "padding": "x" * 200},
        )
    )[:-40]
    utf8 = (
        b'{"id":"utf-1","timestamp":1,"session_id":"'
        + SESSION.encode()
        + b'","type":"tool_call","data":{"tool":"Bash","log":"DB_PASSWORD='
        + s["utf8"].encode()
        + b' \xff\xfe"}}'
    )
    return [dumps(rejected), truncated, utf8]


@pytest.fixture
def stack(tmp_path: Path, fresh_postgres_url: str) -> Iterator[LocalStack]:
    env = {
        "SWARMSCOPE_MONITOR_ENABLED": "false",
        "SWARMSCOPE_API_KEYS": ",".join(f"{key}:{scope}" for scope, key in KEYS.items()),
        "SWARMSCOPE_GATEWAY_TOKEN_SECRET": secrets.token_hex(16),
    }
    with LocalStack(data_dir=tmp_path, database_url=fresh_postgres_url, env=env) as running:
        yield running


def _headers(scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[scope]}"}


async def _collect_sse(url: str, into: list[str], stop: asyncio.Event) -> None:
    async with (
        httpx.AsyncClient(timeout=None, headers=_headers("read")) as client,
        client.stream("GET", f"{url}/api/v1/sessions/{SESSION}/stream", params={"after_seq": 0}) as response,
    ):
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            into.append(line)
            if stop.is_set():
                return


async def _database_text(url: str) -> str:
    """Every value of every table, bytes decoded: what an attacker with the database would read."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        out: list[str] = []
        for (table,) in tables:
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                for value in row.values():
                    out.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
        return "\n".join(out)
    finally:
        await conn.close()


async def _stream_text(nats_url: str, stream: str) -> tuple[str, int]:
    """Every message a stream still holds, bodies and headers, and how many it holds."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        texts = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except nats.js.errors.NotFoundError:  # removed (an interest stream's acked message)
                continue
            texts.append((msg.data or b"").decode("utf-8", "replace"))
            texts.append(repr(msg.headers))
        return "\n".join(texts), info.state.messages
    finally:
        await nc.close()


async def _raw_stream_drained(nats_url: str) -> tuple[str, int]:
    # Ingest acks a raw message just after the store can already show its event: wait for the acks.
    for _ in range(100):
        text, count = await _stream_text(nats_url, STREAM_RAW)
        if count == 0:
            break
        await asyncio.sleep(0.1)
    return text, count


def _leaks(where: str, text: str, s: dict[str, str]) -> list[str]:
    return [f"{name} in {where}" for name, value in s.items() if value in text]


async def test_no_secret_reaches_storage_streams_exports_or_dead_letters(stack: LocalStack) -> None:
    s = secret_set()
    url = stack.gateway_url
    sse_lines: list[str] = []
    stop = asyncio.Event()
    # after_seq=0: whatever arrives before the stream is open comes as history, the rest live.
    reader = asyncio.create_task(_collect_sse(url, sse_lines, stop))

    nc = await nats.connect(str(stack.nats_url))
    try:
        js = nc.jetstream()
        subject = raw_subject(SESSION, AGENT, "tool_call")
        acks = []
        for i in range(2):
            event = make_event("tool_call", session_id=SESSION, agent_id=AGENT, event_id=f"good-{i}")
            event["data"] = good_data(s)
            event["metadata"] = {"session_token": s["auth"], "tags": ["secrets"]}
            acks.append(await js.publish_async(subject, dumps(event), headers={MSG_ID_HEADER: f"good-{i}"}))
        for payload in dead_letter_payloads(s):
            acks.append(await js.publish_async(subject, payload))
        await asyncio.gather(*acks)
    finally:
        await nc.close()

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        over_http = make_event("tool_call", session_id=SESSION, agent_id=AGENT, event_id="http-1")
        over_http["data"] = {"tool": "Bash", "args": {"env": f"OPENAI_API_KEY={s['http']} ./run"}}
        response = await http.post("/api/v1/ingest", json=over_http, headers=_headers("ingest"))
        assert response.status_code == 202, response.text

        async def settled() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            while True:
                events = await http.get(
                    f"/api/v1/sessions/{SESSION}/events", params={"limit": 100}, headers=_headers("read")
                )
                dlq = await http.get("/api/v1/dlq", params={"limit": 100}, headers=_headers("admin"))
                if events.status_code == 200 and dlq.status_code == 200:
                    items, letters = events.json()["items"], dlq.json()["items"]
                    if len(items) >= 3 and len(letters) >= 3:
                        return items, letters
                await asyncio.sleep(0.3)

        items, letters = await asyncio.wait_for(settled(), 90)
        assert len(items) == 3
        assert {letter["reason"] for letter in letters} == {
            "schema_violation",
            "invalid_json",
            "invalid_utf8",
        }
        export = await http.get(f"/api/v1/sessions/{SESSION}/export", headers=_headers("read"))
        assert export.status_code == 200
        last_seq = max(int(item["seq"]) for item in items)
        state = await http.get(
            f"/api/v1/sessions/{SESSION}/state", params={"seq": last_seq}, headers=_headers("read")
        )
        assert state.status_code == 200

    async def sse_has_all() -> None:
        while sum(line.count('"id":"good-') + line.count('"id":"http-1"') for line in sse_lines) < 3:
            await asyncio.sleep(0.1)

    await asyncio.wait_for(sse_has_all(), 30)
    stop.set()
    reader.cancel()

    database = await _database_text(str(stack.database_url))
    dlq_stream, dlq_count = await _stream_text(str(stack.nats_url), STREAM_DLQ)
    assert dlq_count == 3
    raw_stream, raw_count = await _raw_stream_drained(str(stack.nats_url))
    assert raw_count == 0, raw_stream
    places = {
        "the database": database,
        "SSE": "\n".join(sse_lines),
        "the export": export.text,
        "the replay state": state.text,
        "GET /dlq": str(letters),
        "TRACES_DLQ": dlq_stream,
        "TRACES_RAW": raw_stream,
    }
    leaks = [leak for where, text in places.items() for leak in _leaks(where, text, s)]
    assert not leaks
    # Redaction took the secrets, not the events: what is not secret is all there.
    for where in ("the database", "the export", "SSE"):
        assert "[REDACTED]" in places[where], where
        assert "4210" in places[where], where
        assert "application/json" in places[where], where
    assert "kept" in str(letters)
    assert "kept" in dlq_stream
