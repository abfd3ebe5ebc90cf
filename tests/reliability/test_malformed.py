"""Malformed messages of every kind interleaved with valid ones: each lands in the DLQ with its reason.

1,000 messages of each kind, except `too_large`: scaled down to 25 (each a
little over 1 MiB, so 25 MiB through TRACES_RAW, TRACES_DLQ and the dead_letters table), with
10,000 valid events, and valid events carrying hostile strings (NUL, SQL, HTML, bidi overrides),
which must be stored intact, not rejected.
"""

from __future__ import annotations

import random
from typing import Any

import asyncpg
import orjson
from swarmscope_reliability_support import Message, PublishLog, publish, valid_events

from swarmscope_schema.codec import MAX_EVENT_BYTES
from swarmscope_schema.subjects import raw_subject
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event

VALID = 10_000
PER_KIND = 1_000
TOO_LARGE = 25
HOSTILE = [
    "nul\u0000byte",
    "'; DROP TABLE events; --",
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "\u202egnp.exe",
    "zero\u200bwidth",
    "emoji \U0001f41d",
    "\\u0000 escaped text",
    "x" * 100_000,
]


def hostile(i: int, text: str) -> Message:
    session = "rel-hostile"
    event = make_event(
        EventType.TOOL_CALL,
        session_id=session,
        event_id=f"hostile-{i}",
        data={"tool": text, "args": {text: text}},
    )
    return Message(
        subject=raw_subject(session, event["agent_id"], EventType.TOOL_CALL),
        payload=orjson.dumps(event),
        msg_id=f"hostile:{i}",
        session_id=session,
        event_id=event["id"],
    )


def malformed(kind: str, i: int, session: str) -> Message:
    subject = f"traces.raw.{session}.agent-1.task_start"
    if kind == "invalid_json":
        payload = b'{"id": "bad-json-%d", "timestamp": ' % i
    elif kind == "invalid_utf8":
        payload = b'{"id": "bad-utf8-%d", "text": "\xff\xfe"}' % i
    elif kind == "schema_violation":
        payload = orjson.dumps(
            make_event(
                EventType.TASK_START, session_id=session, event_id=f"bad-schema-{i}", data={"attempt": i}
            )
        )
    elif kind == "too_large":
        event = make_event(EventType.TASK_START, session_id=session, event_id=f"bad-size-{i}")
        event["data"]["blob"] = ""
        event["data"]["blob"] = "x" * (MAX_EVENT_BYTES + 1 - len(orjson.dumps(event)))
        payload = orjson.dumps(event)
        assert len(payload) == MAX_EVENT_BYTES + 1
    else:
        # A valid body on a subject that names another session.
        payload = orjson.dumps(
            make_event(EventType.TASK_START, session_id=session, event_id=f"bad-subject-{i}")
        )
        subject = "traces.raw.someone-else.agent-1.task_start"
    return Message(
        subject=subject,
        payload=payload,
        msg_id=f"bad:{kind}:{i}",
        session_id=session,
        event_id=None,
        reason=kind,
    )


async def test_malformed_of_every_kind_interleaved_with_valid(
    start_pipeline: Any, fresh_postgres_url: str
) -> None:
    pipeline = await start_pipeline(fresh_postgres_url)
    valid = valid_events(VALID)
    session = valid[0].session_id
    bad = [
        malformed(kind, i, session)
        for kind in ("invalid_json", "invalid_utf8", "schema_violation", "invalid_subject")
        for i in range(PER_KIND)
    ] + [malformed("too_large", i, session) for i in range(TOO_LARGE)]
    odd = [hostile(i, text) for i, text in enumerate(HOSTILE)]
    messages = valid + bad + odd
    random.Random(7).shuffle(messages)
    log = PublishLog()
    nc = await pipeline.connect()
    try:
        await publish(nc, messages, log)
    finally:
        await nc.close()
    assert len(log.acked) == len(messages)
    audit = await pipeline.audit(log, timeout=180)
    assert audit.stored_rows == VALID + len(HOSTILE)
    conn = await asyncpg.connect(pipeline.database_url)
    try:
        rows = await conn.fetch("SELECT event_id, body FROM events WHERE session_id = 'rel-hostile'")
    finally:
        await conn.close()
    stored = {r["event_id"]: orjson.loads(r["body"]) for r in rows}
    for i, text in enumerate(HOSTILE):
        assert stored[f"hostile-{i}"]["data"] == {"tool": text, "args": {text: text}}
    reasons: dict[str, int] = {}
    for message in bad:
        reasons[audit.dead_reasons[message.payload]] = reasons.get(audit.dead_reasons[message.payload], 0) + 1
    assert reasons == {
        "invalid_json": PER_KIND,
        "invalid_utf8": PER_KIND,
        "schema_violation": PER_KIND,
        "invalid_subject": PER_KIND,
        "too_large": TOO_LARGE,
    }
