"""Agent-side sanitizing: redaction as ingest does it, values kept whole, truncation only when asked."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from swarmscope import TRUNCATION_MARK, Tracer
from swarmscope_schema.codec import MAX_EVENT_BYTES
from swarmscope_schema.events import TraceEvent
from swarmscope_schema.redaction.cases import CASES


def _as_data(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"value": value}


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "value"], ids=lambda c: c["name"])
def test_the_sdk_gives_the_written_outputs(case: dict[str, Any]) -> None:
    """The contract's cases (docs/contract/redaction-cases.json), through the SDK's own encoder."""
    tracer = Tracer("sess-cases", transport="memory")
    given = copy.deepcopy(case["input"])
    tracer.emit("custom.case", _as_data(given))
    assert tracer.events[0]["data"] == _as_data(case["output"])
    assert tracer.stats()["redacted_values"] == case["count"]
    assert given == case["input"]  # the agent's own objects are never modified
    tracer.close()


def test_an_event_case_through_the_sdk() -> None:
    (case,) = [c for c in CASES if c["kind"] == "event"]
    tracer = Tracer(case["input"]["session_id"], agent_id=case["input"]["agent_id"], transport="memory")
    tracer.emit(
        case["input"]["type"],
        case["input"]["data"],
        metadata=case["input"]["metadata"],
        span_id=case["input"]["span_id"],
    )
    event = tracer.events[0]
    assert event["data"] == case["output"]["data"]
    assert event["metadata"]["session_token"] == "[REDACTED]"
    tracer.close()


def test_secrets_orjson_finds_in_objects_are_redacted_too() -> None:
    """An exception (or any object) is encoded as its text; the text is redacted like any string."""
    tracer = Tracer("sess-objects", transport="memory")
    tracer.emit("custom.failure", {"error": ConnectionError("cannot reach postgres://app:s3cr3t@db/app")})
    assert tracer.events[0]["data"]["error"]["message"] == "cannot reach postgres://app:[REDACTED]@db/app"
    tracer.close()


def test_redaction_comes_before_truncation() -> None:
    """A cut must not leave the first half of a key where no rule recognises it any more."""
    tracer = Tracer("sess-order", transport="memory", max_value_bytes=24)
    tracer.emit("custom.x", {"log": "key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 end"})
    assert tracer.events[0]["data"]["log"].startswith("key [REDACTED] end")
    tracer.close()


def test_secrets_are_redacted_on_the_wire_and_the_agent_keeps_its_own_values() -> None:
    tracer = Tracer("sess-redact", transport="memory")
    config: dict[str, Any] = {
        "api_key": "sk-live-123",
        "nested": [{"password": "hunter2", "user": "ann"}, ("cookie", {"Set-Cookie": "a=b"})],
        "input_tokens": 4210,
        "token_count": 5390,
    }
    tracer.emit("custom.config", config, metadata={"authorization": "Bearer xyz"})
    event = tracer.events[0]
    assert event["data"] == {
        "api_key": "[REDACTED]",
        "nested": [{"password": "[REDACTED]", "user": "ann"}, ["cookie", {"Set-Cookie": "[REDACTED]"}]],
        "input_tokens": 4210,
        "token_count": 5390,
    }
    assert event["metadata"]["authorization"] == "[REDACTED]"
    # The agent's own objects are untouched: it still needs its real key.
    assert config["api_key"] == "sk-live-123"
    assert config["nested"][0]["password"] == "hunter2"
    assert tracer.stats()["redacted_values"] == 4
    tracer.close()


def test_redaction_can_be_configured_or_switched_off() -> None:
    custom = Tracer("sess-r2", transport="memory", redact_keys=["ssn"])
    custom.emit("custom.x", {"ssn": "123", "password": "p"})
    assert custom.events[0]["data"] == {"ssn": "[REDACTED]", "password": "p"}
    off = Tracer("sess-r3", transport="memory", redact_keys=[], redact_values=False)
    off.emit("custom.x", {"password": "p", "dsn": "postgres://u:pw@h/db"})
    assert off.events[0]["data"] == {"password": "p", "dsn": "postgres://u:pw@h/db"}


def test_values_are_kept_whole_up_to_the_event_limit() -> None:
    tracer = Tracer("sess-whole", transport="memory")
    big = "x" * (MAX_EVENT_BYTES - 4096)
    tracer.emit("llm_call", {"model": "m", "response": big})
    event = tracer.events[0]
    assert event["data"]["response"] == big
    assert "truncated" not in event.get("metadata", {})


def test_truncation_only_when_asked_and_marked() -> None:
    tracer = Tracer("sess-trunc", transport="memory", max_value_bytes=100)
    prompt = "é" * 300  # 600 bytes: the cut must not split a character
    tracer.emit("llm_call", {"model": "m", "prompt": prompt, "short": "ok", "nested": {"log": "y" * 150}})
    event = tracer.events[0]
    TraceEvent.model_validate(event)
    assert event["data"]["prompt"] == "é" * 50 + TRUNCATION_MARK.format(n=500)
    assert event["data"]["nested"]["log"] == "y" * 100 + TRUNCATION_MARK.format(n=50)
    assert event["data"]["short"] == "ok"
    assert event["metadata"]["truncated"] is True
    assert event["metadata"]["truncated_bytes"] == 550
    assert prompt == "é" * 300
    assert tracer.stats()["truncated_events"] == 1


def test_truncation_limit_is_checked() -> None:
    with pytest.raises(ValueError, match="max_value_bytes"):
        Tracer("s", transport="memory", max_value_bytes=3)
