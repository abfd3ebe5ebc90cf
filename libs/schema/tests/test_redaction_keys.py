"""The key rule: whole key parts, camelCase aware, quantities kept, recursive, envelope untouched."""

from __future__ import annotations

from typing import Any

import pytest

from swarmscope_schema.redaction import DEFAULT_REDACT_KEYS, REDACTED, Redactor, key_parts


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(DEFAULT_REDACT_KEYS)


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("api_key", ("api", "key")),
        ("x-api-key", ("x", "api", "key")),
        ("apiKey", ("api", "key")),
        ("APIKey", ("api", "key")),
        ("XAuthToken", ("x", "auth", "token")),
        ("HTTP_AUTHORIZATION", ("http", "authorization")),
        ("db.password", ("db", "password")),
        ("token2", ("token", "2")),
        ("set cookie", ("set", "cookie")),
        ("__", ()),
    ],
)
def test_key_parts(key: str, parts: tuple[str, ...]) -> None:
    assert key_parts(key) == parts


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        "PASSWORD",
        "db_password",
        "userPassword",
        "passwd",
        "secret",
        "client_secret",
        "clientSecret",
        "secret_key",
        "aws_secret_access_key",
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
        "proxy-authorization",
        "cookie",
        "Set-Cookie",
        "cookies",
        "private_key",
        "privateKey",
        # Widened in v1.1 (issue 12).
        "pwd",
        "PWD",
        "pass",
        "db_pass",
        "passphrase",
        "ssh-passphrase",
        "auth",
        "basic_auth",
        "Proxy-Auth",
        "credentials",
        "aws.credentials",
        "credential",
        "password_used",
        "passwordUsed",
    ],
)
def test_secret_keys(redactor: Redactor, key: str) -> None:
    assert redactor.is_secret(key)


@pytest.mark.parametrize(
    "key",
    [
        "input_tokens",
        "output_tokens",
        "inputTokens",
        "token_count",
        "tokenCount",
        "max_tokens",
        "maxTokens",
        "max_token",
        "total_tokens",
        "tokens",
        "tokenizer",
        "password_length",
        "secret_count",
        "cookie_size",
        "keyword",
        "key",
        "monkey",
        "api",
        "author",
        "authority",
        "authors",
        "oauth",
        "passenger",
        "bypass",
        "passed",
        "compass",
        "pwdx",
        "credentialing",
        "description",
        "task_id",
        "",
    ],
)
def test_keys_that_are_not_secrets(redactor: Redactor, key: str) -> None:
    assert not redactor.is_secret(key)


def test_redacts_recursively_through_objects_and_arrays(redactor: Redactor) -> None:
    event: dict[str, Any] = {
        "id": "e1",
        "session_id": "s",
        "type": "tool_call",
        "data": {
            "tool": "http",
            "args": {
                "url": "https://example.test",
                "headers": {"Authorization": "Bearer abc", "Accept": "json"},
                "accounts": [{"password": "hunter2", "user": "bob"}, {"nested": [{"api_key": {"k": 1}}]}],
            },
            "usage": {"input_tokens": 10, "output_tokens": 5, "token_count": 15},
        },
        "metadata": {"tags": ["x"], "session_token": "t0k"},
        "performance": {"token_count": 15},
        "client_secret": "top-level extra",
    }
    assert redactor.redact_event(event) == 5
    assert event["data"]["args"]["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert event["data"]["args"]["accounts"][0] == {"password": REDACTED, "user": "bob"}
    assert event["data"]["args"]["accounts"][1]["nested"][0]["api_key"] == REDACTED
    assert event["data"]["usage"] == {"input_tokens": 10, "output_tokens": 5, "token_count": 15}
    assert event["metadata"]["session_token"] == REDACTED
    assert event["performance"] == {"token_count": 15}
    assert event["client_secret"] == REDACTED


def test_envelope_fields_are_never_redacted() -> None:
    # Even with patterns that would match them, the envelope is the event's identity.
    redactor = Redactor(["id", "type", "session", "data"])
    event = {"id": "e1", "session_id": "s", "type": "x", "data": {"id": 1, "kind": 2}}
    assert redactor.redact_event(event) == 1
    assert event == {"id": "e1", "session_id": "s", "type": "x", "data": {"id": REDACTED, "kind": 2}}


def test_no_patterns_redacts_nothing_by_key() -> None:
    off = Redactor([], values=False)
    event = {"data": {"password": "p"}}
    assert not off.enabled
    assert not off.may_hold_secrets(b'{"password":"p"}')
    assert off.redact_event(event) == 0
    assert event == {"data": {"password": "p"}}
    values_only = Redactor([])
    event = {"data": {"password": "p", "dsn": "postgres://u:pw@h/db", "log": "password=p"}}
    assert values_only.redact_event(event) == 1
    assert event == {"data": {"password": "p", "dsn": "postgres://u:[REDACTED]@h/db", "log": "password=p"}}


def test_custom_patterns_replace_the_defaults() -> None:
    redactor = Redactor(["ssn", "creditCard"])
    assert redactor.is_secret("user_ssn")
    assert redactor.is_secret("credit_card")
    assert redactor.is_secret("CREDIT-CARD-number")
    assert not redactor.is_secret("password")


def test_deep_nesting_does_not_recurse(redactor: Redactor) -> None:
    deep: dict[str, Any] = {"password": "p"}
    for _ in range(5000):
        deep = {"inner": [deep]}
    event = {"data": deep}
    assert redactor.redact_event(event) == 1


def test_memo_stays_bounded(redactor: Redactor) -> None:
    for i in range(60_000):
        redactor.is_secret(f"key_{i}")
    assert len(redactor.keys._memo) <= 50_000
    assert redactor.is_secret("password")
