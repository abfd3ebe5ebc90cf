"""The checks of a raw message, as pure functions: each reason, its detail, and the subject rules."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from swarmscope_schema.codec import MAX_EVENT_BYTES
from swarmscope_schema.events import TraceEvent, canonical_event_dict
from swarmscope_schema.subjects import DlqReason, raw_subject
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event
from swarmscope_schema.validation import Rejected, parse_payload, validate_event


def _subject(event: dict[str, Any]) -> str:
    return raw_subject(event["session_id"], event.get("agent_id"), event["type"])


def test_parse_accepts_a_json_object() -> None:
    event = make_event()
    assert parse_payload(orjson.dumps(event)) == event


def test_too_large_is_checked_before_parsing() -> None:
    # Not even JSON: the size alone decides, without spending a parse on it.
    rejected = parse_payload(b"x" * (MAX_EVENT_BYTES + 1))
    assert isinstance(rejected, Rejected)
    assert rejected.reason is DlqReason.TOO_LARGE
    assert str(MAX_EVENT_BYTES + 1) in rejected.detail


def test_exactly_the_limit_is_not_too_large() -> None:
    event = make_event(EventType.CONTEXT_UPDATE, data={"key": "k", "value": ""})
    base = len(orjson.dumps(event))
    event["data"]["value"] = "a" * (MAX_EVENT_BYTES - base)
    payload = orjson.dumps(event)
    assert len(payload) == MAX_EVENT_BYTES
    assert parse_payload(payload) == event


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (b'{"id": "\xff\xfe"}', DlqReason.INVALID_UTF8, "not valid UTF-8 at byte 8"),
        (b"\xc3\x28", DlqReason.INVALID_UTF8, "UTF-8"),
        (b'{"id": "a",', DlqReason.INVALID_JSON, "not valid JSON"),
        (b"", DlqReason.INVALID_JSON, "not valid JSON"),
        (b"NaN", DlqReason.INVALID_JSON, "not valid JSON"),
        (b'{"a": 1}{"b": 2}', DlqReason.INVALID_JSON, "not valid JSON"),
        (b'{"a": "\\ud800"}', DlqReason.INVALID_JSON, "surrogate"),
        (b"[1, 2]", DlqReason.SCHEMA_VIOLATION, "must be a JSON object, got an array"),
        (b'"text"', DlqReason.SCHEMA_VIOLATION, "got a string"),
        (b"null", DlqReason.SCHEMA_VIOLATION, "got null"),
        (b"12", DlqReason.SCHEMA_VIOLATION, "got a number"),
        (b"true", DlqReason.SCHEMA_VIOLATION, "got a boolean"),
    ],
)
def test_parse_rejections(payload: bytes, reason: DlqReason, detail: str) -> None:
    rejected = parse_payload(payload)
    assert isinstance(rejected, Rejected)
    assert rejected.reason is reason
    assert detail in rejected.detail


def test_deep_nesting_beyond_the_parser_limit_is_invalid_json() -> None:
    payload = b'{"data": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    rejected = parse_payload(payload)
    assert isinstance(rejected, Rejected)
    assert rejected.reason is DlqReason.INVALID_JSON


@pytest.mark.parametrize("event_type", [*list(EventType), "custom.deploy"])
def test_every_type_validates(event_type: str) -> None:
    event = make_event(event_type)
    result = validate_event(event, _subject(event))
    assert isinstance(result, dict)
    assert result == canonical_event_dict(TraceEvent.model_validate(event))


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        (lambda e: e["data"].pop("task_id"), "data.task_id: Field required"),
        (lambda e: e.pop("id"), "id: Field required"),
        (lambda e: e.pop("timestamp"), "timestamp: Field required"),
        (lambda e: e.update(timestamp="yesterday"), "timestamp: Input should be a valid number"),
        (lambda e: e.update(id="has space"), "id: String should match pattern"),
        (lambda e: e.update(phase="middle"), "phase: Input should be 'start', 'progress'"),
        (lambda e: e.update(type="no_such_type"), "type: Value error, unknown event type 'no_such_type'"),
        (lambda e: e.update(data=[1]), "data: Input should be a valid dictionary"),
        (lambda e: e["data"].update(attempt="first"), "data.attempt: Input should be a valid integer"),
        (lambda e: e.update(metadata={"priority": "urgent"}), "metadata.priority: Input should be"),
    ],
)
def test_schema_violations_name_the_field(mutate: Any, detail: str) -> None:
    event = make_event(EventType.TASK_START)
    mutate(event)
    result = validate_event(event, "traces.raw.sess-test.agent-1.task_start")
    assert isinstance(result, Rejected)
    assert result.reason is DlqReason.SCHEMA_VIOLATION
    assert detail in result.detail


def test_nested_payload_paths_are_named() -> None:
    event = make_event(EventType.COMMUNICATION, data={"message": {"id": "m1", "from": "a"}})
    result = validate_event(event, _subject(event))
    assert isinstance(result, Rejected)
    assert result.detail == "data.message.to: Field required"


def test_many_errors_are_listed_up_to_a_bound() -> None:
    event = {"data": [], "metadata": [], "performance": [], "agent_seq": "x", "phase": 3}
    result = validate_event(event, "traces.raw.s._.x")
    assert isinstance(result, Rejected)
    assert result.detail.count(";") == 5
    assert result.detail.endswith("more)")


def test_camel_case_and_alias_normalize() -> None:
    raw = {
        "id": "cf-1",
        "timestamp": 1752300000000,
        "sessionId": "swarm-1",
        "type": "agent:spawned",
        "data": {"agentId": "coder-1", "agentType": "coder", "name": "Coder"},
        "metadata": {"parentId": "sp-root", "causationId": "cf-0"},
        "performance": {"tokenCount": 12, "memoryUsage": 1024},
    }
    result = validate_event(raw, "traces.raw.swarm-1.coder-1.agent_spawned")
    assert isinstance(result, dict)
    assert result["type"] == "agent_spawn"
    assert result["session_id"] == "swarm-1"
    assert result["agent_id"] == "coder-1"
    assert result["data"]["agent_type"] == "coder"
    assert result["metadata"]["parent_id"] == "sp-root"
    assert result["performance"]["token_count"] == 12


@pytest.mark.parametrize(
    "subject",
    [
        "traces.raw.swarm-1.coder-1.agent_spawned",  # token of the type as sent
        "traces.raw.swarm-1.coder-1.agent_spawn",  # token of the canonical type
        "traces.raw.swarm-1._.agent_spawn",  # no agent in the subject
    ],
)
def test_subjects_that_agree(subject: str) -> None:
    raw = make_event("agent:spawned", session_id="swarm-1", agent_id="coder-1", data={"agentType": "c"})
    assert isinstance(validate_event(raw, subject), dict)


@pytest.mark.parametrize(
    ("subject", "detail"),
    [
        ("traces.raw.other.coder-1.agent_spawn", "session token 'other' does not match session_id 'swarm-1'"),
        ("traces.raw.swarm-1.tester-1.agent_spawn", "agent token 'tester-1' does not match agent_id"),
        ("traces.raw.swarm-1.coder-1.task_start", "type token 'task_start' does not match type"),
        ("traces.raw.swarm-1.coder-1", "exactly three tokens"),
        ("traces.raw.swarm-1.coder-1.agent_spawn.extra", "exactly three tokens"),
        ("traces.events.swarm-1.coder-1.agent_spawn", "is not a raw event subject"),
        ("elsewhere.swarm-1.coder-1.agent_spawn", "not under traces.raw"),
    ],
)
def test_subjects_that_disagree(subject: str, detail: str) -> None:
    raw = make_event("agent:spawned", session_id="swarm-1", agent_id="coder-1", data={"agentType": "c"})
    result = validate_event(raw, subject)
    assert isinstance(result, Rejected)
    assert result.reason is DlqReason.INVALID_SUBJECT
    assert detail in result.detail


def test_agent_token_without_agent_in_body_disagrees() -> None:
    raw = make_event(EventType.SESSION_START, session_id="s1", agent_id=None)
    result = validate_event(raw, "traces.raw.s1.coder-1.session_start")
    assert isinstance(result, Rejected)
    assert result.reason is DlqReason.INVALID_SUBJECT
    assert "expected '_'" in result.detail


def test_custom_type_token_is_made_safe() -> None:
    raw = make_event("custom.deploy.started", session_id="s1", agent_id=None)
    assert isinstance(validate_event(raw, "traces.raw.s1._.custom_deploy_started"), dict)


def test_schema_is_checked_before_the_subject() -> None:
    raw = make_event(EventType.TASK_START, session_id="s1", data={})
    result = validate_event(raw, "traces.raw.other._.task_start")
    assert isinstance(result, Rejected)
    assert result.reason is DlqReason.SCHEMA_VIOLATION
