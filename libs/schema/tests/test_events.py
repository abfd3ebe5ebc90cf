"""The event contract: every type round-trips, required fields are named, inputs normalize."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from swarmscope_schema.codec import DecodeError, encode_event, loads
from swarmscope_schema.events import StoredEvent, TraceEvent, canonical_event_dict
from swarmscope_schema.taxonomy import PAYLOAD_MODELS, REQUIRED_FIELDS, EventType
from swarmscope_schema.testing import every_type_events, make_event, sample_payload


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_type_round_trips_through_json(event_type: EventType) -> None:
    raw = make_event(event_type, data={**sample_payload(event_type), "vendor_extra": {"kept": [1, 2]}})
    event = TraceEvent.model_validate(raw)
    again = TraceEvent.model_validate(loads(encode_event(event)))
    assert again == event
    assert again.type == event_type.value
    assert again.data["vendor_extra"] == {"kept": [1, 2]}
    assert again.span_id == raw["id"]  # span defaults to the event id


def test_every_type_has_a_payload_model_and_a_factory() -> None:
    assert set(PAYLOAD_MODELS) == {t.value for t in EventType}
    assert len(list(every_type_events())) == len(EventType)


REQUIRED_CASES = [(t, f) for t, fields in REQUIRED_FIELDS.items() for f in fields]


@pytest.mark.parametrize(("event_type", "field"), REQUIRED_CASES)
def test_missing_required_payload_field_is_named(event_type: str, field: str) -> None:
    data = sample_payload(event_type)
    data.pop(field, None)
    with pytest.raises(ValidationError) as info:
        TraceEvent.model_validate(make_event(event_type, data=data))
    locations = [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]
    assert f"data.{field}" in locations


def test_required_fields_match_the_contract_table() -> None:
    assert REQUIRED_FIELDS["task_create"] == ("task_id",)
    assert REQUIRED_FIELDS["task_assignment"] == ("task_id", "agent_id")
    assert REQUIRED_FIELDS["communication"] == ("message",)
    assert REQUIRED_FIELDS["memory_write"] == ("key", "value")
    assert REQUIRED_FIELDS["performance_alert"] == ("metric", "value", "threshold")
    assert REQUIRED_FIELDS["agent_spawn"] == ("agent_type",)


def test_nested_message_fields_are_required_and_named() -> None:
    event = make_event("communication", data={"message": {"id": "m1", "to": ["a"]}})
    with pytest.raises(ValidationError) as info:
        TraceEvent.model_validate(event)
    assert "data.message.from" in [".".join(map(str, e["loc"])) for e in info.value.errors()]


@pytest.mark.parametrize("field", ["id", "timestamp", "session_id", "type"])
def test_missing_envelope_field_is_named(field: str) -> None:
    event = make_event("tool_call")
    del event[field]
    with pytest.raises(ValidationError) as info:
        TraceEvent.model_validate(event)
    assert (field,) in [e["loc"] for e in info.value.errors()]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "has space"),
        ("id", "x" * 129),
        ("session_id", "a.b"),
        ("session_id", ""),
        ("agent_id", "bad/agent"),
        ("phase", "finished"),
        ("type", "not_a_type"),
        ("type", "custom."),
        ("timestamp", "yesterday"),
    ],
)
def test_invalid_envelope_values_are_rejected_naming_the_field(field: str, value: Any) -> None:
    event = make_event("tool_call", **{field: value})
    with pytest.raises(ValidationError) as info:
        TraceEvent.model_validate(event)
    assert field in [e["loc"][0] for e in info.value.errors()]


def test_custom_types_are_accepted_and_payload_free() -> None:
    event = TraceEvent.model_validate(make_event("custom.deploy", data={"anything": [1, {"x": None}]}))
    assert event.type == "custom.deploy"
    assert event.data == {"anything": [1, {"x": None}]}


def test_seed_camelcase_example_is_accepted_and_normalized() -> None:
    seed_event = {
        "id": "01JDX3Q8Z5ABC",
        "timestamp": 1752300000000.5,
        "sessionId": "swarm-demo-01",
        "agentId": "coder-1",
        "type": "task_start",
        "phase": "start",
        "data": {"task_id": "T2", "attempt": 1},
        "metadata": {
            "parentId": "sp_root",
            "causationId": "01JDX3",
            "correlationId": "T2",
            "tags": ["coding"],
            "priority": "normal",
            "retention": 24,
        },
        "performance": {"duration": 12.5, "memoryUsage": 1048576, "tokenCount": 5390, "cpuTime": 3.1},
    }
    event = TraceEvent.model_validate(seed_event)
    assert event.session_id == "swarm-demo-01"
    assert event.agent_id == "coder-1"
    assert event.metadata.parent_id == "sp_root"
    assert event.metadata.causation_id == "01JDX3"
    assert event.metadata.correlation_id == "T2"
    assert event.performance is not None
    assert event.performance.memory_usage == 1048576
    assert event.performance.token_count == 5390
    assert event.performance.cpu_time == 3.1
    dumped = canonical_event_dict(event)
    assert "sessionId" not in dumped
    assert "parentId" not in dumped["metadata"]


def test_contract_example_is_accepted_as_is() -> None:
    example = {
        "id": "01JDX3Q8Z5",
        "timestamp": 1752300000000.5,
        "session_id": "swarm-demo-01",
        "agent_id": "coder-1",
        "type": "task_start",
        "phase": "start",
        "span_id": "sp_T2_a1",
        "data": {"task_id": "T2", "attempt": 1},
        "metadata": {
            "parent_id": "sp_root",
            "causation_id": "01JDX3",
            "correlation_id": "T2",
            "tags": ["coding"],
            "priority": "normal",
            "retention": 24,
        },
        "performance": {
            "duration": 12.5,
            "memory_usage": 1048576,
            "cpu_time": 3.1,
            "token_count": 5390,
            "input_tokens": 4210,
            "output_tokens": 1180,
            "cost_usd": 0.02,
        },
        "agent_seq": 17,
    }
    event = TraceEvent.model_validate(example)
    assert event.span_id == "sp_T2_a1"
    assert event.agent_seq == 17
    assert canonical_event_dict(event)["performance"]["input_tokens"] == 4210


def test_integer_ids_in_payloads_become_text() -> None:
    event = TraceEvent.model_validate(make_event("task_assignment", data={"task_id": 7, "agent_id": "a"}))
    assert event.data["task_id"] == "7"


def test_stored_event_requires_a_positive_seq() -> None:
    base = make_event("error", data={"message": "x"})
    assert StoredEvent.model_validate({**base, "seq": 3, "received_at": 1.0}).seq == 3
    with pytest.raises(ValidationError):
        StoredEvent.model_validate({**base, "seq": 0})


def test_codec_names_the_dead_letter_reason() -> None:
    with pytest.raises(DecodeError) as bad_utf8:
        loads(b'{"id": "\xff"}')
    assert bad_utf8.value.reason == "invalid_utf8"
    with pytest.raises(DecodeError) as bad_json:
        loads(b'{"id": ')
    assert bad_json.value.reason == "invalid_json"
    assert loads(json.dumps({"a": "é"}).encode()) == {"a": "é"}
