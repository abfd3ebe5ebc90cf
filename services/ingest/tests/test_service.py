"""The ingest service against a real nats-server: raw in, canonical out, dead letters, metrics."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import StreamConfig

from swarmscope_schema.batches import MAX_BATCH_BYTES
from swarmscope_schema.codec import MAX_EVENT_BYTES
from swarmscope_schema.events import TraceEvent, canonical_event_dict
from swarmscope_schema.redaction import REDACTED
from swarmscope_schema.subjects import (
    DLQ_ERROR_HEADER,
    DLQ_MEMBER_INDEX_HEADER,
    DLQ_REASON_HEADER,
    DLQ_STREAM_SEQ_HEADER,
    DLQ_SUBJECT_HEADER,
    DURABLE_INGEST,
    EVENTS_PREFIX,
    MSG_ID_HEADER,
    STREAM_DLQ,
    STREAM_EVENTS,
    STREAM_RAW,
    raw_batch_msg_id,
    raw_batch_subject,
    raw_subject,
    session_filter,
)
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event
from swarmscope_service.nats_setup import STREAM_MAX_MSG_SIZE, StreamSettings, provision

# Fixture types (conftest cannot be imported under importlib mode).
StartIngest = Any
Collect = Any


def _session() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


async def _publish_raw(nc: NatsClient, events: list[dict[str, Any]]) -> None:
    js = nc.jetstream()
    futures = [
        await js.publish_async(
            raw_subject(e.get("session_id") or e["sessionId"], e.get("agent_id"), e["type"]),
            orjson.dumps(e),
            headers={MSG_ID_HEADER: str(e["id"])},
        )
        for e in events
    ]
    await asyncio.gather(*futures)


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _from_session(session: str) -> Any:
    def keep(msg: Msg) -> bool:
        return f".{session}." in (msg.headers or {}).get(DLQ_SUBJECT_HEADER, "")

    return keep


async def test_every_type_comes_out_canonical(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    await start_ingest()
    session = _session()
    events = [make_event(t, session_id=session) for t in [*list(EventType), "custom.deploy"]]
    events.append(make_event(EventType.SESSION_START, session_id=session, agent_id=None))
    await _publish_raw(nc, events)
    out = await collect(
        nc.jetstream(), STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), len(events), settle=0.5
    )
    assert len(out) == len(events)
    by_id = {orjson.loads(m.data)["id"]: m for m in out}
    for event in events:
        msg = by_id[event["id"]]
        body = orjson.loads(msg.data)
        expected = canonical_event_dict(TraceEvent.model_validate(event))
        received_at = body.pop("received_at")
        assert body == expected
        assert event["timestamp"] - 1000 < received_at < event["timestamp"] + 60_000
        agent = event.get("agent_id") or "_"
        assert msg.subject == f"traces.events.{session}.{agent}.{event['type'].replace('.', '_')}"
        assert msg.headers is not None
        assert msg.headers[MSG_ID_HEADER] == f"{session}:{event['id']}"


async def test_camel_case_and_claude_flow_aliases(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    await start_ingest()
    session = _session()
    js = nc.jetstream()
    seed = {
        "id": "seed-1",
        "timestamp": 1752300000000,
        "sessionId": session,
        "agentId": "coder-1",
        "type": "task_start",
        "spanId": "sp-1",
        "data": {"task_id": "T1"},
        "metadata": {"parentId": "sp-root", "causationId": "c-0", "correlationId": "T1"},
        "performance": {"memoryUsage": 10, "cpuTime": 1.5, "tokenCount": 7},
    }
    flow = {
        "id": "flow-1",
        "timestamp": 1752300000001,
        "sessionId": session,
        "type": "agent:spawned",
        "data": {"agentId": "coder-2", "profile": {"type": "coder", "name": "C2"}},
    }
    retried = {
        "id": "flow-2",
        "timestamp": 1752300000002,
        "session_id": session,
        "type": "task.retried",
        "data": {"task": {"id": "T9", "assignedAgent": "coder-2"}},
    }
    await js.publish(f"traces.raw.{session}.coder-1.task_start", orjson.dumps(seed))
    await js.publish(f"traces.raw.{session}.coder-2.agent_spawned", orjson.dumps(flow))
    await js.publish(f"traces.raw.{session}._.task_retried", orjson.dumps(retried))
    out = await collect(js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 3, settle=0.3)
    bodies = {orjson.loads(m.data)["id"]: (m.subject, orjson.loads(m.data)) for m in out}
    subject, body = bodies["seed-1"]
    assert subject == f"traces.events.{session}.coder-1.task_start"
    assert body["session_id"] == session
    assert body["agent_id"] == "coder-1"
    assert body["span_id"] == "sp-1"
    assert body["metadata"]["parent_id"] == "sp-root"
    assert body["metadata"]["causation_id"] == "c-0"
    assert body["performance"]["memory_usage"] == 10
    assert body["performance"]["token_count"] == 7
    assert "sessionId" not in body
    subject, body = bodies["flow-1"]
    assert subject == f"traces.events.{session}.coder-2.agent_spawn"
    assert body["type"] == "agent_spawn"
    assert body["data"]["agent_type"] == "coder"
    assert body["data"]["name"] == "C2"
    subject, body = bodies["flow-2"]
    assert subject == f"traces.events.{session}.coder-2.task_fail" or subject.endswith("._.task_fail")
    assert body["type"] == "task_fail"
    assert body["data"]["task_id"] == "T9"
    assert body["data"]["will_retry"] is True


async def test_each_bad_message_is_dead_lettered_with_its_reason(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    service = await start_ingest()
    session = _session()
    js = nc.jetstream()
    subject = f"traces.raw.{session}.agent-1.task_start"
    good = make_event(EventType.TASK_START, session_id=session)
    huge = make_event(
        EventType.TASK_START, session_id=session, data={"task_id": "T", "blob": "x" * MAX_EVENT_BYTES}
    )
    bad: list[tuple[str, bytes, str, str]] = [
        ("too_large", orjson.dumps(huge), subject, "the limit is 1048576 bytes"),
        ("invalid_utf8", b'{"id": "\xff"}', subject, "not valid UTF-8"),
        ("invalid_json", b'{"id": "e1", "timestamp": ', subject, "not valid JSON"),
        ("schema_violation", b"[1, 2, 3]", subject, "must be a JSON object, got an array"),
        (
            "schema_violation",
            orjson.dumps(make_event(EventType.TASK_START, session_id=session, data={"attempt": 1})),
            subject,
            "data.task_id: Field required",
        ),
        (
            "invalid_subject",
            orjson.dumps(make_event(EventType.TASK_START, session_id="someone-else")),
            subject,
            "does not match session_id 'someone-else'",
        ),
        (
            "invalid_subject",
            orjson.dumps(make_event(EventType.TASK_START, session_id=session)),
            f"traces.raw.{session}.agent-1.task_start.extra",
            "exactly three tokens",
        ),
    ]
    await js.publish(subject, orjson.dumps(good))
    for _, payload, raw_subject_, _ in bad:
        await js.publish(raw_subject_, payload)
    await js.publish(subject, orjson.dumps(make_event(EventType.TASK_START, session_id=session)))
    letters = await collect(js, STREAM_DLQ, "traces.dlq.>", len(bad), keep=_from_session(session), settle=0.5)
    assert len(letters) == len(bad)
    for letter, (reason, payload, raw_subject_, detail) in zip(letters, bad, strict=True):
        assert letter.subject == f"traces.dlq.{reason}"
        assert letter.data == payload
        assert letter.headers is not None
        assert letter.headers[DLQ_REASON_HEADER] == reason
        assert letter.headers[DLQ_SUBJECT_HEADER] == raw_subject_
        assert detail in letter.headers[DLQ_ERROR_HEADER]
    out = await collect(js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 2, settle=0.3)
    assert len(out) == 2
    text = await service.metrics()
    assert _metric(text, "swarmscope_ingest_events_accepted_total") >= 2
    for reason in ("too_large", "invalid_utf8", "invalid_json", "invalid_subject", "schema_violation"):
        assert (
            _metric(text, f'swarmscope_consumer_dead_letters_total{{durable="ingest",reason="{reason}"}}')
            >= 1
        )


async def test_secrets_are_redacted_before_publishing(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    service = await start_ingest(redact_keys=("password", "token", "authorization"))
    session = _session()
    event = make_event(
        EventType.TOOL_CALL,
        session_id=session,
        data={
            "tool": "http",
            "args": {"headers": {"Authorization": "Bearer s3cr3t"}, "password": "hunter2"},
            "input_tokens": 12,
            "token_count": 40,
        },
        metadata={"access_token": "t0k3n"},
    )
    await _publish_raw(nc, [event])
    (msg,) = await collect(nc.jetstream(), STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 1)
    body = orjson.loads(msg.data)
    assert body["data"]["args"] == {"headers": {"Authorization": REDACTED}, "password": REDACTED}
    assert body["data"]["input_tokens"] == 12
    assert body["data"]["token_count"] == 40
    assert body["metadata"]["access_token"] == REDACTED
    for secret in (b"s3cr3t", b"hunter2", b"t0k3n"):
        assert secret not in msg.data
    assert _metric(await service.metrics(), "swarmscope_ingest_redacted_values_total") == 3


async def test_duplicates_are_published_once(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    service = await start_ingest()
    session = _session()
    js = nc.jetstream()
    event = make_event(EventType.DECISION, session_id=session)
    subject = raw_subject(session, event["agent_id"], event["type"])
    payload = orjson.dumps(event)
    # Different raw message ids (a producer retrying with a fresh id), so TRACES_RAW keeps all three.
    await js.publish(subject, payload, headers={MSG_ID_HEADER: "try-1"})
    await js.publish(subject, payload, headers={MSG_ID_HEADER: "try-2"})
    await collect(js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 1)
    await js.publish(subject, payload, headers={MSG_ID_HEADER: "try-3"})
    # The same id in another session is another event.
    other = {**event, "session_id": _session()}
    await js.publish(raw_subject(other["session_id"], event["agent_id"], event["type"]), orjson.dumps(other))
    await collect(js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, other["session_id"]), 1)
    out = await collect(js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 1, settle=1.0)
    assert len(out) == 1
    for _ in range(50):
        text = await service.metrics()
        if _metric(text, "swarmscope_ingest_duplicates_dropped_total") == 2:
            break
        await asyncio.sleep(0.1)
    assert _metric(text, "swarmscope_ingest_duplicates_dropped_total") == 2
    assert _metric(text, "swarmscope_ingest_events_accepted_total") == 2


async def test_an_event_near_one_mib_passes(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    await start_ingest()
    session = _session()
    event = make_event(EventType.LLM_CALL, session_id=session, data={"model": "m", "response": ""})
    event["data"]["response"] = "r" * (MAX_EVENT_BYTES - len(orjson.dumps(event)))
    assert len(orjson.dumps(event)) == MAX_EVENT_BYTES
    await _publish_raw(nc, [event])
    (msg,) = await collect(nc.jetstream(), STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 1)
    assert orjson.loads(msg.data)["data"]["response"] == event["data"]["response"]


async def test_raw_messages_are_acked_only_after_traces_acknowledges(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    service = await start_ingest()
    js = nc.jetstream()
    await js.delete_stream(STREAM_EVENTS)
    session = _session()
    events = [make_event(EventType.TOOL_CALL, session_id=session) for _ in range(20)]
    await _publish_raw(nc, events)
    # With TRACES gone nothing can be acknowledged: the raw messages stay unacked, none is lost.
    for _ in range(100):
        text = await service.metrics()
        if _metric(text, "swarmscope_consumer_retryable_failures_total") >= 1:
            break
        await asyncio.sleep(0.05)
    assert _metric(text, "swarmscope_consumer_retryable_failures_total") >= 1
    info = await js.consumer_info(STREAM_RAW, DURABLE_INGEST)
    assert info.num_ack_pending + info.num_pending >= 20
    assert (
        _metric(text, 'swarmscope_consumer_dead_letters_total{durable="ingest",reason="unprocessable"}') == 0
    )
    await provision(js, StreamSettings())
    out = await collect(js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 20, timeout=40, settle=0.5)
    assert sorted(orjson.loads(m.data)["id"] for m in out) == sorted(e["id"] for e in events)


async def test_health_readiness_and_metrics(nc: NatsClient, start_ingest: StartIngest) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    service = await start_ingest()
    async with httpx.AsyncClient(base_url=service.url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"nats": True}
        text = (await client.get("/metrics")).text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "swarmscope_ingest_events_accepted",
        "swarmscope_ingest_duplicates_dropped",
        "swarmscope_ingest_latency_seconds",
        "swarmscope_ingest_stage_seconds",
        "swarmscope_consumer_dead_letters",
        "swarmscope_consumer_batch_size",
        "swarmscope_consumer_pending_messages",
    } <= names


async def test_replicas_share_the_durable_and_a_stop_loses_nothing(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    first = await start_ingest(batch_size=50)
    second = await start_ingest(batch_size=50)
    session = _session()
    events = [make_event(EventType.TOOL_CALL, session_id=session) for _ in range(3000)]
    await _publish_raw(nc, events[:1500])
    js = nc.jetstream()
    # Both replicas take batches from the one durable.
    counts = [0.0, 0.0]
    for _ in range(200):
        counts = [
            _metric(await r.metrics(), "swarmscope_ingest_events_accepted_total") for r in (first, second)
        ]
        if all(counts) or sum(counts) >= 1500:
            break
        await asyncio.sleep(0.02)
    assert all(counts), counts
    # A graceful stop mid-stream: the replica finishes and settles its batch, the other goes on.
    await first.close()
    await _publish_raw(nc, events[1500:])
    out = await collect(
        js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 3000, timeout=60, settle=0.5
    )
    assert sorted(orjson.loads(m.data)["id"] for m in out) == sorted(e["id"] for e in events)
    info = await js.consumer_info(STREAM_RAW, DURABLE_INGEST)
    assert info.num_ack_pending == 0
    assert info.num_pending == 0


async def test_stream_config_is_left_to_provisioning(nc: NatsClient) -> None:
    # ingest relies on TRACES keeping a duplicate window: provisioning sets one of at least 2 minutes.
    info = await nc.jetstream().stream_info(STREAM_EVENTS)
    config: StreamConfig = info.config
    assert config.duplicate_window is not None
    assert config.duplicate_window >= 120


async def test_concurrent_batch_loops_in_one_process(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    service = await start_ingest(ingest_concurrency=3, batch_size=20)
    session = _session()
    events = [make_event(EventType.TOOL_CALL, session_id=session) for _ in range(600)]
    await _publish_raw(nc, events)
    out = await collect(
        nc.jetstream(), STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 600, settle=0.5
    )
    assert sorted(orjson.loads(m.data)["id"] for m in out) == sorted(e["id"] for e in events)
    assert _metric(await service.metrics(), "swarmscope_ingest_events_accepted_total") == 600


async def test_a_batch_message_keeps_its_good_members_and_dead_letters_each_bad_one(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    service = await start_ingest()
    session = _session()
    js = nc.jetstream()
    good = [make_event(EventType.TOOL_CALL, session_id=session, agent_id="a1") for _ in range(5)]
    wrong_session = make_event(EventType.TOOL_CALL, session_id="someone-else", agent_id="a1")
    no_type = {k: v for k, v in make_event(session_id=session).items() if k != "type"}
    members = [good[0], wrong_session, good[1], no_type, "not an object", *good[2:]]
    body = orjson.dumps(members)
    subject = raw_batch_subject(session, None)
    ack = await js.publish(
        subject, body, headers={MSG_ID_HEADER: raw_batch_msg_id(session, good[0]["id"], 8)}
    )
    out = await collect(js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 5, settle=0.5)
    assert [orjson.loads(m.data)["id"] for m in out] == [e["id"] for e in good]
    letters = await collect(js, STREAM_DLQ, "traces.dlq.>", 3, keep=_from_session(session), settle=0.5)
    by_index = {int((m.headers or {})[DLQ_MEMBER_INDEX_HEADER]): m for m in letters}
    assert sorted(by_index) == [1, 3, 4]
    assert (by_index[1].headers or {})[DLQ_REASON_HEADER] == "invalid_subject"
    assert (by_index[3].headers or {})[DLQ_REASON_HEADER] == "schema_violation"
    assert (by_index[3].headers or {})[DLQ_ERROR_HEADER].startswith("batch member 3: type")
    assert (by_index[4].headers or {})[DLQ_REASON_HEADER] == "schema_violation"
    # Each dead letter carries its member alone, not the whole batch.
    assert orjson.loads(by_index[1].data) == wrong_session
    assert orjson.loads(by_index[3].data) == no_type
    assert orjson.loads(by_index[4].data) == "not an object"
    for letter in letters:
        assert (letter.headers or {})[DLQ_STREAM_SEQ_HEADER] == str(ack.seq)
    # The batch message itself was acked once all of that was done.
    for _ in range(100):
        info = await js.consumer_info(STREAM_RAW, DURABLE_INGEST)
        if not info.num_ack_pending and not info.num_pending:
            break
        await asyncio.sleep(0.05)
    assert (info.num_ack_pending, info.num_pending) == (0, 0)
    text = await service.metrics()
    assert (
        _metric(text, 'swarmscope_consumer_dead_letters_total{durable="ingest",reason="invalid_subject"}')
        >= 1
    )


async def test_ndjson_batches_and_a_bad_line_is_only_that_member(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    await start_ingest()
    session = _session()
    js = nc.jetstream()
    good = [make_event(EventType.LLM_CALL, session_id=session, agent_id="a2") for _ in range(3)]
    lines = [orjson.dumps(good[0]), b'{"id": "broken",', orjson.dumps(good[1]), b"", orjson.dumps(good[2])]
    await js.publish(raw_batch_subject(session, "a2"), b"\n".join(lines) + b"\n")
    out = await collect(js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 3, settle=0.5)
    assert sorted(orjson.loads(m.data)["id"] for m in out) == sorted(e["id"] for e in good)
    [letter] = await collect(js, STREAM_DLQ, "traces.dlq.>", 1, keep=_from_session(session), settle=0.5)
    assert (letter.headers or {})[DLQ_REASON_HEADER] == "invalid_json"
    assert (letter.headers or {})[DLQ_MEMBER_INDEX_HEADER] == "1"
    assert letter.data == b'{"id": "broken",'


async def test_an_unreadable_or_empty_batch_is_dead_lettered_whole(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    await start_ingest()
    session = _session()
    js = nc.jetstream()
    await js.publish(raw_batch_subject(session, None), b'[{"id": "a"}, {"id": ')  # truncated array
    await js.publish(raw_batch_subject(session, None), b"[]")
    letters = await collect(js, STREAM_DLQ, "traces.dlq.>", 2, keep=_from_session(session), settle=0.5)
    reasons = sorted((m.headers or {})[DLQ_REASON_HEADER] for m in letters)
    assert reasons == ["invalid_json", "schema_violation"]
    assert all(DLQ_MEMBER_INDEX_HEADER not in (m.headers or {}) for m in letters)


async def test_a_redelivered_batch_changes_nothing(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    await start_ingest()
    session = _session()
    js = nc.jetstream()
    events = [make_event(EventType.TOOL_CALL, session_id=session) for _ in range(20)]
    body = orjson.dumps([*events, {"bad": True}])
    # The same batch twice under different message ids (a producer retrying it): TRACES_RAW keeps
    # both; the second copy's events are the first's, dropped by TRACES's window.
    await js.publish(raw_batch_subject(session, None), body, headers={MSG_ID_HEADER: "try-1"})
    await js.publish(raw_batch_subject(session, None), body, headers={MSG_ID_HEADER: "try-2"})
    out = await collect(js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 20, settle=1.0)
    assert sorted(orjson.loads(m.data)["id"] for m in out) == sorted(e["id"] for e in events)


async def test_a_batch_over_the_size_limit_is_refused_whole_never_cut(
    nc: NatsClient, start_ingest: StartIngest, collect: Collect
) -> None:
    """Issue 16.3: a batch body past MAX_BATCH_BYTES (the stream still takes it, up to its own
    limit) is dead-lettered whole as too_large — none of its members is published, none cut;
    a body past the stream's limit is refused to the producer at publish."""
    await start_ingest()
    session = _session()
    js = nc.jetstream()
    pad = "x" * 20_000
    events = [
        make_event(EventType.TOOL_CALL, session_id=session, data={"tool": "t", "pad": pad}) for _ in range(53)
    ]
    body = orjson.dumps(events)
    assert MAX_BATCH_BYTES < len(body) < STREAM_MAX_MSG_SIZE
    await js.publish(raw_batch_subject(session, None), body, headers={MSG_ID_HEADER: f"{session}:big"})
    good = make_event(EventType.TOOL_CALL, session_id=session)
    await _publish_raw(nc, [good])
    letters = await collect(js, STREAM_DLQ, "traces.dlq.>", 1, keep=_from_session(session), settle=0.5)
    assert len(letters) == 1
    headers = letters[0].headers or {}
    assert headers[DLQ_REASON_HEADER] == "too_large"
    assert f"the limit is {MAX_BATCH_BYTES} bytes" in headers[DLQ_ERROR_HEADER]
    assert DLQ_MEMBER_INDEX_HEADER not in headers
    out = await collect(js, STREAM_EVENTS, session_filter(EVENTS_PREFIX, session), 1, settle=1.0)
    assert [orjson.loads(m.data)["id"] for m in out] == [good["id"]]
    with pytest.raises(Exception, match=r"maximum payload|message size|exceeded"):
        await js.publish(raw_batch_subject(session, None), b"[" + b" " * STREAM_MAX_MSG_SIZE + b"]")
