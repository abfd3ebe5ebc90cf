"""One raw message → canonical event or rejection, without NATS: normalization, stamping, encoding."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmscope_ingest.canonical import MAX_CANONICAL_BYTES, CanonicalEvent, canonicalize
from swarmscope_ingest.config import IngestSettings
from swarmscope_ingest.handler import prepare
from swarmscope_schema.codec import MAX_EVENT_BYTES
from swarmscope_schema.events import StoredEvent, TraceEvent, canonical_event_dict
from swarmscope_schema.redaction import DEFAULT_REDACT_KEYS, REDACTED, Redactor
from swarmscope_schema.subjects import DlqReason, raw_subject
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event
from swarmscope_schema.validation import Rejected
from swarmscope_service.consumer import Delivery

REDACTOR = Redactor(DEFAULT_REDACT_KEYS)


def _delivery(event: dict[str, Any] | bytes, subject: str | None = None, timestamp_ns: int = 0) -> Delivery:
    if isinstance(event, dict):
        subject = subject or raw_subject(event["session_id"], event.get("agent_id"), event["type"])
        data = orjson.dumps(event)
    else:
        data = event
    return Delivery(
        subject=subject or "traces.raw.s._.x",
        data=data,
        headers={},
        stream_seq=1,
        num_delivered=1,
        timestamp_ns=timestamp_ns,
    )


@pytest.mark.parametrize("event_type", [*list(EventType), "custom.build"])
def test_canonical_event_of_every_type(event_type: str) -> None:
    event = make_event(event_type, session_id="s-1", agent_id="a-1", event_id=f"id-{event_type}")
    result = prepare(_delivery(event, timestamp_ns=1_752_300_000_123_456_789), REDACTOR, 1.0)
    assert isinstance(result, CanonicalEvent)
    assert result.msg_id == f"s-1:id-{event_type}"
    assert result.subject == f"traces.events.s-1.a-1.{event_type.replace('.', '_')}"
    body = orjson.loads(result.payload)
    expected = canonical_event_dict(TraceEvent.model_validate(event))
    expected["received_at"] = 1_752_300_000_123.456789
    assert body == expected
    # What ingest publishes is what the store and the API read back.
    StoredEvent.model_validate({**body, "seq": 1})


def test_defaults_are_filled_in() -> None:
    event = make_event(EventType.TOOL_CALL, session_id="s", agent_id=None, event_id="e1")
    result = prepare(_delivery(event), REDACTOR, 5_000.0)
    assert isinstance(result, CanonicalEvent)
    body = orjson.loads(result.payload)
    assert body["phase"] == "complete"
    assert body["span_id"] == "e1"
    assert body["metadata"]["tags"] == []
    assert body["metadata"]["priority"] == "normal"
    assert "agent_id" not in body
    assert result.subject == "traces.events.s._.tool_call"
    # No JetStream timestamp (a test delivery): the handler's clock stands in.
    assert body["received_at"] == 5_000.0


def test_a_producer_received_at_is_overwritten() -> None:
    event = make_event(received_at=1.0)
    result = prepare(_delivery(event, timestamp_ns=2_000_000), REDACTOR, 9.0)
    assert isinstance(result, CanonicalEvent)
    assert orjson.loads(result.payload)["received_at"] == 2.0


def test_claude_flow_event_becomes_canonical() -> None:
    raw = {
        "id": "cf-7",
        "timestamp": 1752300000000,
        "sessionId": "swarm-9",
        "type": "task:completed",
        "data": {"taskId": 42, "agentId": "coder-2", "result": {"ok": True}},
        "metadata": {"correlationId": "T42"},
    }
    result = prepare(_delivery(raw, subject="traces.raw.swarm-9._.task_completed"), REDACTOR, 0.0)
    assert isinstance(result, CanonicalEvent)
    body = orjson.loads(result.payload)
    assert result.subject == "traces.events.swarm-9.coder-2.task_complete"
    assert body["type"] == "task_complete"
    assert body["session_id"] == "swarm-9"
    assert body["agent_id"] == "coder-2"
    assert body["data"]["task_id"] == "42"
    assert body["data"]["taskId"] == 42  # the producer's own keys are kept
    assert body["metadata"]["correlation_id"] == "T42"


def test_secrets_are_redacted_before_encoding() -> None:
    event = make_event(
        EventType.LLM_CALL,
        data={"model": "m", "input_tokens": 3, "api_key": "sk-live", "headers": {"Cookie": "c=1"}},
    )
    result = prepare(_delivery(event), REDACTOR, 0.0)
    assert isinstance(result, CanonicalEvent)
    assert result.redacted == 2
    body = orjson.loads(result.payload)
    assert body["data"]["api_key"] == REDACTED
    assert body["data"]["headers"] == {"Cookie": REDACTED}
    assert body["data"]["input_tokens"] == 3
    assert b"sk-live" not in result.payload


def test_an_event_near_one_mib_passes() -> None:
    event = make_event(EventType.TOOL_CALL, data={"tool": "cat", "result": ""})
    event["data"]["result"] = "é" * ((MAX_EVENT_BYTES - len(orjson.dumps(event)) - 64) // 2)
    assert MAX_EVENT_BYTES - 128 < len(orjson.dumps(event)) <= MAX_EVENT_BYTES
    result = prepare(_delivery(event), REDACTOR, 0.0)
    assert isinstance(result, CanonicalEvent)
    assert orjson.loads(result.payload)["data"]["result"] == event["data"]["result"]


def test_canonical_form_past_the_stream_limit_is_too_large() -> None:
    # `1e5` is 3 bytes on the wire and `100000.0` once normalized: under 1 MiB in, far over out.
    body = b'{"id":"big","timestamp":1,"session_id":"s","type":"custom.x","data":{"v":['
    count = (MAX_EVENT_BYTES - len(body) - 8) // 4
    payload = body + b",".join([b"1e5"] * count) + b"]}}"
    assert len(payload) <= MAX_EVENT_BYTES
    result = prepare(_delivery(payload, subject="traces.raw.s._.custom_x"), REDACTOR, 0.0)
    assert isinstance(result, Rejected)
    assert result.reason is DlqReason.TOO_LARGE
    assert "canonical form" in result.detail
    assert str(MAX_CANONICAL_BYTES) in result.detail


def test_a_flaw_in_normalization_dead_letters_as_unprocessable() -> None:
    class BrokenRedactor(Redactor):
        def redact_encoded(self, event: dict[str, Any], encoded: bytes) -> tuple[bytes, int]:
            raise KeyError("boom")

    result = prepare(_delivery(make_event()), BrokenRedactor([]), 0.0)
    assert isinstance(result, Rejected)
    assert result.reason is DlqReason.UNPROCESSABLE
    assert "KeyError" in result.detail


def test_canonicalize_keeps_unknown_fields() -> None:
    event = canonical_event_dict(TraceEvent.model_validate(make_event(extra_field={"x": 1}, data=None)))
    result = canonicalize(event, 1.0, REDACTOR)
    assert isinstance(result, CanonicalEvent)
    assert orjson.loads(result.payload)["extra_field"] == {"x": 1}


def test_redact_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMSCOPE_REDACT_KEYS", " ssn, credit_card ,,")
    assert IngestSettings().redact_keys == ("ssn", "credit_card")
    monkeypatch.setenv("SWARMSCOPE_REDACT_KEYS", "")
    assert IngestSettings().redact_keys == ()
    monkeypatch.delenv("SWARMSCOPE_REDACT_KEYS")
    assert IngestSettings().redact_keys == DEFAULT_REDACT_KEYS


def test_port_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert IngestSettings().ingest_port == 8101
    monkeypatch.setenv("SWARMSCOPE_INGEST_PORT", "9191")
    assert IngestSettings().ingest_port == 9191


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_envelope = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=10), st.integers(), st.just("ok-id")),
        "timestamp": st.one_of(st.floats(allow_nan=False), st.text(max_size=5), st.integers()),
        "session_id": st.one_of(st.just("s"), st.text(max_size=5), st.none()),
        "sessionId": st.just("s"),
        "agent_id": st.one_of(st.just("a"), st.none(), st.integers()),
        "type": st.one_of(
            st.sampled_from([*list(EventType), "agent:spawned", "task:failed"]), st.text(max_size=8)
        ),
        "phase": st.one_of(st.just("start"), st.text(max_size=5)),
        "data": _json,
        "metadata": _json,
        "performance": _json,
        "agent_seq": _json,
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=_envelope, subject=st.sampled_from(["traces.raw.s.a.tool_call", "traces.raw.s._.x", "bad"]))
def test_prepare_never_raises_on_any_json(event: dict[str, Any], subject: str) -> None:
    # The standard library encodes what orjson refuses (integers past 64 bits, Infinity).
    result = prepare(_delivery(json.dumps(event).encode(), subject=subject), REDACTOR, 0.0)
    assert isinstance(result, (CanonicalEvent, Rejected))
    if isinstance(result, Rejected):
        assert result.reason is not DlqReason.UNPROCESSABLE, result.detail


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=200))
def test_prepare_never_raises_on_any_bytes(payload: bytes) -> None:
    result = prepare(_delivery(payload), REDACTOR, 0.0)
    assert isinstance(result, Rejected)
