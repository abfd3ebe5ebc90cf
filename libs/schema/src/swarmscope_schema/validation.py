"""Checks a raw event must pass before it becomes a canonical event (CONTRACT §1, §3): the one
validator of the contract, run by ingest on every raw message and by the edges that take events
over HTTP before they publish them, so both say the same thing about the same event.

In order, cheapest first, each failure naming its dead-letter reason:
size (`too_large`, before any parsing) → UTF-8 (`invalid_utf8`) → JSON (`invalid_json`) → a JSON
object that is a valid TraceEvent (`schema_violation`, naming the field path) → the raw subject
agrees with the body (`invalid_subject`). A batch message (v1.1) is read into its members
(`batches.batch_members`) and each member goes through the same checks, its subject rule being the
batch subject's session (and agent, unless `_`).

Pure functions: no I/O, no clock, so every rule is unit-tested without NATS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from swarmscope_schema.batches import MAX_BATCH_BYTES, Member, batch_members
from swarmscope_schema.codec import MAX_EVENT_BYTES, DecodeError, loads
from swarmscope_schema.events import TraceEvent, canonical_event_dict
from swarmscope_schema.fastpath import fast_canonical
from swarmscope_schema.subjects import (
    BATCH_TYPE_TOKEN,
    NO_AGENT_TOKEN,
    RAW_PREFIX,
    DlqReason,
    SubjectParts,
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
    return check_object(value)


def check_object(value: Any) -> dict[str, Any] | Rejected:
    """A parsed JSON value that must be an object (an event)."""
    if not isinstance(value, dict):
        return Rejected(
            DlqReason.SCHEMA_VIOLATION,
            f"event must be a JSON object, got {_json_kind(value)}",
        )
    return value


def validate_batch(data: bytes, subject: str) -> list[tuple[Member, dict[str, Any] | Rejected]] | Rejected:
    """(v1.1) The members of a batch message, each with its canonical event dict or why it is
    rejected; or why the message as a whole is (too large, unreadable, empty, a bad subject).

    Each member passes exactly the checks a single-event message does; its subject rule is the
    batch subject's session, and its agent unless the subject says `_`.
    """
    size = len(data)
    if size > MAX_BATCH_BYTES:
        return Rejected(
            DlqReason.TOO_LARGE,
            f"batch message is {size} bytes; the limit is {MAX_BATCH_BYTES} bytes",
        )
    parts = raw_subject_parts(subject)
    if isinstance(parts, Rejected):
        return parts
    try:
        members = batch_members(data)
    except DecodeError as exc:
        return Rejected(DlqReason(exc.reason), f"batch body: {exc}")
    if not members:
        return Rejected(DlqReason.SCHEMA_VIOLATION, "batch message holds no events")
    # Only a body over the event limit can hold a member over it.
    sizes_matter = size > MAX_EVENT_BYTES
    out: list[tuple[Member, dict[str, Any] | Rejected]] = []
    for member in members:
        result: dict[str, Any] | Rejected
        if member.error is not None:
            result = Rejected(DlqReason(member.error.reason), str(member.error))
        elif sizes_matter and (member_size := member.size()) > MAX_EVENT_BYTES:
            result = Rejected(
                DlqReason.TOO_LARGE,
                f"event is {member_size} bytes; the limit is {MAX_EVENT_BYTES} bytes (1 MiB)",
            )
        else:
            raw = check_object(member.value)
            result = raw if isinstance(raw, Rejected) else validate_event(raw, parts)
        out.append((member, result))
    return out


def validate_event(raw: dict[str, Any], subject: str | SubjectParts) -> dict[str, Any] | Rejected:
    """Schema and subject checks of a parsed JSON object; returns the canonical event dict.

    `subject` is the raw subject it came on (already parsed when many events share it, as the
    members of a batch do). Events already in canonical form take the fast path (fastpath.py);
    everything else, and every error, goes through `TraceEvent.model_validate`.
    """
    body = check_schema(raw)
    if isinstance(body, Rejected):
        return body
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


def check_schema(raw: dict[str, Any]) -> dict[str, Any] | Rejected:
    """The schema check alone: the canonical event dict, or why the object is not a TraceEvent."""
    body = fast_canonical(raw)
    if body is None:
        try:
            event = TraceEvent.model_validate(raw)
        except ValidationError as exc:
            return Rejected(DlqReason.SCHEMA_VIOLATION, schema_detail(exc))
        except RecursionError:
            return Rejected(DlqReason.SCHEMA_VIOLATION, "event is nested too deeply to validate")
        body = canonical_event_dict(event)
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
    subject: str | SubjectParts, session_id: str, agent_id: str | None, event_type: str, sent_type: str
) -> str | None:
    """Why the raw subject disagrees with the event, or None when it agrees.

    The subject must be `traces.raw.<session_id>.<agent_id or _>.<type token>` where the type token
    is that of the type as sent (`agent_spawned` for `agent:spawned`) or of its canonical type, or
    `batch` for a member of a batch message.
    """
    if isinstance(subject, SubjectParts):
        parts = subject
    else:
        try:
            parts = parse_event_subject(subject)
        except ValueError as exc:
            return str(exc)
    if parts.prefix != RAW_PREFIX:
        return f"subject {_subject_text(parts)!r} is not a raw event subject ({RAW_PREFIX}.<session>.<agent>.<type>)"
    if parts.session_id != session_id:
        return f"subject session token {parts.session_id!r} does not match session_id {session_id!r}"
    if parts.agent_id is not None and parts.agent_id != agent_id:
        expected = agent_id if agent_id is not None else NO_AGENT_TOKEN
        return f"subject agent token {parts.agent_id!r} does not match agent_id (expected {expected!r})"
    if parts.type_token == BATCH_TYPE_TOKEN:
        return None
    allowed = {subject_token(sent_type), subject_token(event_type)}
    if parts.type_token not in allowed:
        return (
            f"subject type token {parts.type_token!r} does not match type {sent_type!r} "
            f"(expected {' or '.join(repr(t) for t in sorted(allowed))})"
        )
    return None


def raw_subject_parts(subject: str) -> SubjectParts | Rejected:
    """The parts of a raw subject, or `invalid_subject` naming what is wrong with it."""
    try:
        parts = parse_event_subject(subject)
    except ValueError as exc:
        return Rejected(DlqReason.INVALID_SUBJECT, str(exc))
    if parts.prefix != RAW_PREFIX:
        return Rejected(
            DlqReason.INVALID_SUBJECT,
            f"subject {subject!r} is not a raw event subject ({RAW_PREFIX}.<session>.<agent>.<type>)",
        )
    return parts


def _subject_text(parts: SubjectParts) -> str:
    agent = parts.agent_id if parts.agent_id is not None else NO_AGENT_TOKEN
    return f"{parts.prefix}.{parts.session_id}.{agent}.{parts.type_token}"


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
