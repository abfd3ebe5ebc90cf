"""The source of an event as a session summary reports it (agreement 3, CONTRACT v1.1)."""

from __future__ import annotations

from typing import Any

import pytest

from swarmscope_schema.sources import DEFAULT_SESSION_SOURCE, MAX_SOURCE_LENGTH, EventSource, event_source


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"metadata": {"source": "otlp"}}, "otlp"),
        ({"metadata": {"source": " sdk-python "}}, "sdk-python"),
        ({"metadata": {"source": "my-own-bridge"}}, "my-own-bridge"),
        ({"metadata": {}}, DEFAULT_SESSION_SOURCE),
        ({}, DEFAULT_SESSION_SOURCE),
        ({"metadata": {"source": ""}}, DEFAULT_SESSION_SOURCE),
        ({"metadata": {"source": 7}}, DEFAULT_SESSION_SOURCE),
        ({"metadata": "otlp"}, DEFAULT_SESSION_SOURCE),
    ],
)
def test_event_source(event: dict[str, Any], expected: str) -> None:
    assert event_source(event) == expected


def test_a_long_source_is_cut_to_a_label() -> None:
    assert event_source({"metadata": {"source": "x" * 500}}) == "x" * MAX_SOURCE_LENGTH


def test_the_agreed_tokens() -> None:
    assert {s.value for s in EventSource} == {"sdk-python", "sdk-ts", "otlp", "claude-code", "http", "import"}
