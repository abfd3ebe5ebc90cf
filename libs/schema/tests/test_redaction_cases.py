"""The rule's written cases (swarmscope_schema.redaction.cases), which the TypeScript SDK runs too."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from swarmscope_schema.redaction import Redactor
from swarmscope_schema.redaction.cases import CASES


def _apply(redactor: Redactor, kind: str, given: Any) -> tuple[Any, int]:
    value = copy.deepcopy(given)
    if kind == "event":
        return value, redactor.redact_event(value)
    if isinstance(value, str):
        return redactor.redact_text(value)
    return value, redactor.redact(value)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    output, count = _apply(Redactor(), case["kind"], case["input"])
    assert output == case["output"]
    assert count == case["count"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_prefilter_lets_every_case_with_a_secret_through(case: dict[str, Any]) -> None:
    """A clean event skips the walk; an event holding any of these secrets must not."""
    redactor = Redactor()
    hit = redactor.may_hold_secrets(orjson.dumps(case["input"]))
    if case["count"]:
        assert hit


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_redacting_the_output_again_changes_nothing(case: dict[str, Any]) -> None:
    output, count = _apply(Redactor(), case["kind"], case["output"])
    assert (output, count) == (case["output"], 0)
