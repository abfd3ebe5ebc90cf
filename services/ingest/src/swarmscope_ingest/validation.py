"""Checks a raw message must pass before it becomes a canonical event (CONTRACT §1, §3).

In order, cheapest first, each failure naming its dead-letter reason:
size (`too_large`, before any parsing) → UTF-8 (`invalid_utf8`) → JSON (`invalid_json`) → a JSON
object that is a valid TraceEvent (`schema_violation`, naming the field path) → the raw subject
agrees with the body (`invalid_subject`).

Pure functions: no I/O, no clock, so every rule is unit-tested without NATS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from swarmscope_ingest.fastpath import fast_canonical
from swarmscope_schema.codec import MAX_EVENT_BYTES, DecodeError, loads
from swarmscope_schema.events import TraceEvent, canonical_event_dict
from swarmscope_schema.subjects import (
    NO_AGENT_TOKEN,
    RAW_PREFIX,
    DlqReason,
    parse_event_subject,
    subject_token,
)

# How many field errors a dead letter lists; the rest are counted.
MAX_LISTED_ERRORS = 5


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that can never become an event: dead-letter it with this reason and detail."""

    reason: DlqReason
    detail: str


def parse_payload(data: bytes) -> dict[str, Any] | Rejected:
    """Size, UTF-8 and JSON checks; returns the parsed JSON object."""
    size = len(data)
    if size > MAX_EVENT_BYTES:
        return Rejected(
            DlqReason.TOO_LARGE,
            f"payload is {size} bytes; the limit is {MAX_EVENT_BYTES} bytes (1 MiB)",
        )
    try:
        value = loads(data)
    except DecodeError as exc:
        return Rejected(DlqReason(exc.reason), str(exc))
    if not isinstance(value, dict):
        return Rejected(
            DlqReason.SCHEMA_VIOLATION,
            f"event must be a JSON object, got {_json_kind(value)}",
        )
    return value


def validate_event(raw: dict[str, Any], subject: str) -> dict[str, Any] | Rejected:
    """Schema and subject checks of a parsed JSON object; returns the canonical event dict.

    Events already in canonical form take the fast path (fastpath.py); everything else, and every
    error, goes through `TraceEvent.model_validate`.
    """
    body = fast_canonical(raw)
    if body is None:
        try:
            event = TraceEvent.model_validate(raw)
        except ValidationError as exc:
            return Rejected(DlqReason.SCHEMA_VIOLATION, schema_detail(exc))
        except RecursionError:
            return Rejected(DlqReason.SCHEMA_VIOLATION, "event is nested too deeply to validate")
        body = canonical_event_dict(event)
    sent_type = raw.get("type")
    mismatch = subject_mismatch(
        subject,
        body["session_id"],
        body.get("agent_id"),
        body["type"],
        sent_type if isinstance(sent_type, str) else body["type"],
    )
    if mismatch is not None:
        return Rejected(DlqReason.INVALID_SUBJECT, mismatch)
    return body


def schema_detail(exc: ValidationError) -> str:
    """`data.task_id: Field required; timestamp: Input should be a valid number` (and how many more)."""
    errors = exc.errors(include_url=False, include_input=False)
    parts = []
    for error in errors[:MAX_LISTED_ERRORS]:
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    if len(errors) > MAX_LISTED_ERRORS:
        parts.append(f"(+{len(errors) - MAX_LISTED_ERRORS} more)")
    return "; ".join(parts)


def subject_mismatch(
    subject: str, session_id: str, agent_id: str | None, event_type: str, sent_type: str
) -> str | None:
    """Why the raw subject disagrees with the event, or None when it agrees.

    The subject must be `traces.raw.<session_id>.<agent_id or _>.<type token>` where the type token
    is that of the type as sent (`agent_spawned` for `agent:spawned`) or of its canonical type.
    """
    try:
        parts = parse_event_subject(subject)
    except ValueError as exc:
        return str(exc)
    if parts.prefix != RAW_PREFIX:
        return f"subject {subject!r} is not a raw event subject ({RAW_PREFIX}.<session>.<agent>.<type>)"
    if parts.session_id != session_id:
        return f"subject session token {parts.session_id!r} does not match session_id {session_id!r}"
    if parts.agent_id is not None and parts.agent_id != agent_id:
        expected = agent_id if agent_id is not None else NO_AGENT_TOKEN
        return f"subject agent token {parts.agent_id!r} does not match agent_id (expected {expected!r})"
    allowed = {subject_token(sent_type), subject_token(event_type)}
    if parts.type_token not in allowed:
        return (
            f"subject type token {parts.type_token!r} does not match type {sent_type!r} "
            f"(expected {' or '.join(repr(t) for t in sorted(allowed))})"
        )
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
