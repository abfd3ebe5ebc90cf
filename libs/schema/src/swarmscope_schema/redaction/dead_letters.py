"""What a dead letter may keep of a rejected message: its payload, redacted like a good event.

A dead letter is read by operators (`GET /api/v1/dlq`, the UI) and kept for days, so it must not be
where a secret survives because its event was bad. Its payload becomes:
- JSON (an event with an unknown type, a batch, anything that parses): the structure redacted as an
  event is (objects as events, arrays member by member), re-encoded only when something changed, so a
  clean payload stays byte for byte what the producer sent;
- JSON Lines: each line on its own, as above or as text;
- anything else (truncated JSON, invalid UTF-8, not JSON at all): the value rules over its bytes,
  `key: value` fragments included (`"password": "…"` of a cut-off event). Best effort: the bytes are
  kept as they were, but for the secrets the rules find.
"""

from __future__ import annotations

from typing import Any

from swarmscope_schema.codec import DecodeError, dumps, loads
from swarmscope_schema.redaction.redactor import Redactor


def redact_payload(redactor: Redactor, payload: bytes) -> tuple[bytes, int]:
    """The payload of a rejected message with its secrets replaced; and how many were replaced."""
    if not redactor.enabled or not payload:
        return payload, 0
    parsed = _parsed(payload)
    if parsed is not _UNPARSED:
        return _redact_json(redactor, payload, parsed)
    if b"\n" in payload.strip():
        return _redact_lines(redactor, payload)
    return redactor.redact_bytes(payload)


_UNPARSED: Any = object()


def _parsed(payload: bytes) -> Any:
    try:
        return loads(payload)
    except (DecodeError, RecursionError):
        return _UNPARSED


def _redact_json(redactor: Redactor, payload: bytes, value: Any) -> tuple[bytes, int]:
    if isinstance(value, dict):
        count = redactor.redact_event(value)
    elif isinstance(value, list):
        count = sum(
            redactor.redact_event(member) if isinstance(member, dict) else redactor.redact([member])
            for member in value
        )
    elif isinstance(value, str):
        value, count = redactor.redact_text(value)
    else:
        count = 0
    return (dumps(value), count) if count else (payload, 0)


def _redact_lines(redactor: Redactor, payload: bytes) -> tuple[bytes, int]:
    lines: list[bytes] = []
    total = 0
    for line in payload.split(b"\n"):
        parsed = _parsed(line) if line.strip() else _UNPARSED
        if parsed is not _UNPARSED:
            new, count = _redact_json(redactor, line, parsed)
        else:
            new, count = redactor.redact_bytes(line)
        lines.append(new)
        total += count
    return (b"\n".join(lines), total) if total else (payload, 0)
