"""Agent-side sanitizing: redaction as ingest does it, values kept whole, truncation only when asked."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from swarmscope import TRUNCATION_MARK, Tracer
from swarmscope_schema.codec import MAX_EVENT_BYTES
from swarmscope_schema.events import TraceEvent
from swarmscope_schema.redaction import DEFAULT_REDACT_KEYS, KeyMatcher

KEYS = [
    "password",
    "db_password",
    "passwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refreshToken",
    "X-Auth-Token",
    "api_key",
    "apiKey",
    "OPENAI_API_KEY",
    "x-api-key",
    "apikey",
    "authorization",
    "Authorization",
    "cookie",
    "Set-Cookie",
    "cookies",
    "private_key",
    "input_tokens",
    "output_tokens",
    "max_tokens",
    "token_count",
    "tokenizer",
    "password_length",
    "keyboard",
    "monkey",
    "secretary_name",
    "tool",
    "args",
]


def test_sdk_and_ingest_agree_on_what_is_a_secret() -> None:
    """One rule, two places that apply it: the agent and ingest must not drift apart."""
    ingest = importlib.import_module("swarmscope_ingest.redaction")
    ingest_config = importlib.import_module("swarmscope_ingest.config")
    assert tuple(ingest_config.DEFAULT_REDACT_KEYS) == DEFAULT_REDACT_KEYS
    sdk_rule = KeyMatcher(DEFAULT_REDACT_KEYS)
    ingest_rule = ingest.Redactor(DEFAULT_REDACT_KEYS)
    assert {k: sdk_rule.is_secret(k) for k in KEYS} == {k: ingest_rule.is_secret(k) for k in KEYS}


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
    off = Tracer("sess-r3", transport="memory", redact_keys=[])
    off.emit("custom.x", {"password": "p"})
    assert off.events[0]["data"] == {"password": "p"}


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
