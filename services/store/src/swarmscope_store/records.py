"""From JetStream deliveries to rows: canonical events and dead letters as the store keeps them.

Canonical events were validated by ingest, so they are decoded with orjson only (no pydantic on the
hot path); this module checks just what the store itself relies on (the envelope keys and their
types) and reports anything else as unprocessable. The stored body is the canonical JSON with the
stream sequence spliced in front (`{"seq":N,…}`), so a query returns stored bytes unchanged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import orjson

from swarmscope_schema.codec import dumps
from swarmscope_schema.subjects import (
    DLQ_ERROR_HEADER,
    DLQ_PREFIX,
    DLQ_REASON_HEADER,
    DLQ_SOURCE_HEADER,
    DLQ_SUBJECT_HEADER,
)
from swarmscope_service.consumer import Delivery

HOUR_MS = 3_600_000.0
# Year 9999: an absurd retention must still fit a bigint and a partition bound.
MAX_EXPIRES_AT = 253_402_300_799_000


class InvalidEvent(ValueError):
    """A canonical event the store cannot take (never expected after ingest): dead-lettered."""


def clean_text(value: str) -> str:
    """Text as a database column can hold it: Postgres text rejects NUL characters."""
    return value.replace("\x00", "") if "\x00" in value else value


def text_or_none(value: Any, limit: int = 512) -> str | None:
    """A short text of a scalar payload value (ids, names, statuses); None for anything else."""
    if isinstance(value, str):
        text = clean_text(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = str(value)
    else:
        return None
    return text[:limit] if text else None


def number_or_none(value: Any) -> float | None:
    """A finite number as float; None for anything else (booleans included)."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    if kind is bool or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(slots=True)
class EventRecord:
    """One canonical event with the columns the store indexes and the keys projections need."""

    seq: int
    session_id: str
    event_id: str
    agent_id: str | None
    type: str
    phase: str
    span_id: str
    ts: float
    received_at: float | None
    expires_at: int
    body: bytes
    event: dict[str, Any]
    parent_id: str | None
    causation_id: str | None
    message_id: str | None
    reply_to: str | None
    parent_agent_id: str | None

    @property
    def data(self) -> dict[str, Any]:
        data = self.event.get("data")
        return data if isinstance(data, dict) else {}

    def stage_row(self) -> tuple[Any, ...]:
        """The row of the per-batch staging table (column order of STAGE_COLUMNS)."""
        return (
            self.seq,
            self.session_id,
            self.event_id,
            self.agent_id,
            self.type,
            self.phase,
            self.span_id,
            self.ts,
            self.expires_at,
            self.body,
            self.parent_id,
            self.causation_id,
            self.message_id,
            self.reply_to,
            self.parent_agent_id,
        )


STAGE_COLUMNS: tuple[str, ...] = (
    "seq",
    "session_id",
    "event_id",
    "agent_id",
    "type",
    "phase",
    "span_id",
    "ts",
    "expires_at",
    "body",
    "parent_id",
    "causation_id",
    "message_id",
    "reply_to",
    "parent_agent_id",
)


_NO_METADATA: dict[str, Any] = {}


def _required_text(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"canonical event has no text {key!r}")
    return clean_text(value)


def _optional_id(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return clean_text(value)[:512]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def expiry(event: dict[str, Any], received_at: float | None, default_hours: float, now_ms: float) -> int:
    """Epoch ms after which the event may be deleted: metadata.retention hours, else the default."""
    hours = default_hours
    metadata = event.get("metadata")
    if isinstance(metadata, dict):
        stated = number_or_none(metadata.get("retention"))
        if stated is not None and stated > 0:
            hours = stated
    base = received_at if received_at is not None else now_ms
    return int(min(base + hours * HOUR_MS, MAX_EXPIRES_AT))


def decode_event(
    delivery: Delivery, default_retention_hours: float, now_ms: float | None = None
) -> EventRecord:
    """An EventRecord from a delivery on TRACES; raises InvalidEvent naming what is wrong."""
    try:
        # orjson checks UTF-8 itself; canonical events need no separate validation pass.
        event = orjson.loads(delivery.data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"payload is not valid UTF-8 JSON: {exc}") from None
    if type(event) is not dict:
        raise InvalidEvent("canonical event is not a JSON object")
    get = event.get
    session_id = get("session_id")
    event_id = get("id")
    event_type = get("type")
    ts = get("timestamp")
    # The common case (ingest's canonical form) passes these type checks at once; anything else
    # goes through the careful path that names what is wrong.
    if not (
        type(session_id) is str
        and type(event_id) is str
        and type(event_type) is str
        and session_id
        and event_id
        and event_type
    ):
        session_id = _required_text(event, "session_id")
        event_id = _required_text(event, "id")
        event_type = _required_text(event, "type")
    if "\x00" in session_id or "\x00" in event_id:
        session_id, event_id = clean_text(session_id), clean_text(event_id)
    if type(ts) is not float or not math.isfinite(ts):
        ts = number_or_none(ts)
        if ts is None:
            raise InvalidEvent("canonical event has no numeric 'timestamp'")
    raw = delivery.data
    if "seq" in event:
        # The stream sequence is the event's seq (StoredEvent.seq); a producer's own top-level
        # "seq" would collide with it, so the stored body carries the store's one only.
        del event["seq"]
        raw = dumps(event)
    if raw[:1] != b"{":
        raw = raw.lstrip()
        if not raw.startswith(b"{"):
            raise InvalidEvent("canonical event is not a JSON object")
    seq = delivery.stream_seq
    body = b'{"seq":%d,%b' % (seq, raw[1:])
    received_at = get("received_at")
    if type(received_at) is not float:
        received_at = number_or_none(received_at)
    agent = get("agent_id")
    agent_id = (clean_text(agent) if "\x00" in agent else agent) if type(agent) is str and agent else None
    phase = get("phase")
    span = get("span_id")
    metadata = get("metadata")
    if type(metadata) is not dict:
        metadata = _NO_METADATA
    message_id = reply_to = parent_agent_id = None
    if event_type == "communication" or event_type == "agent_spawn":
        data = get("data")
        data = data if isinstance(data, dict) else {}
        if event_type == "communication":
            message = data.get("message")
            if isinstance(message, dict):
                message_id = _optional_id(message.get("id"))
                reply_to = _optional_id(message.get("in_reply_to"))
        else:
            parent_agent_id = _optional_id(data.get("parent_agent_id"))
    parent = metadata.get("parent_id")
    causation = metadata.get("causation_id")
    current = time.time() * 1000 if now_ms is None else now_ms
    return EventRecord(
        seq=seq,
        session_id=session_id,
        event_id=event_id,
        agent_id=agent_id,
        type=event_type,
        phase=phase if phase in ("start", "progress", "complete", "error") else "complete",
        span_id=(span if len(span) <= 256 and "\x00" not in span else clean_text(span)[:256])
        if type(span) is str and span
        else event_id,
        ts=ts,
        received_at=received_at,
        expires_at=expiry(event, received_at, default_retention_hours, current),
        body=body,
        event=event,
        parent_id=None if parent is None else _optional_id(parent),
        causation_id=None if causation is None else _optional_id(causation),
        message_id=message_id,
        reply_to=reply_to,
        parent_agent_id=parent_agent_id,
    )


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One message of TRACES_DLQ, kept whole."""

    seq: int
    reason: str
    subject: str | None
    error: str | None
    source: str | None
    received_at: float
    size: int
    payload: bytes

    def row(self) -> tuple[Any, ...]:
        return (
            self.seq,
            self.reason,
            self.subject,
            self.error,
            self.source,
            self.received_at,
            self.size,
            self.payload,
        )


DEAD_LETTER_COLUMNS = ("seq", "reason", "subject", "error", "source", "received_at", "size", "payload")


def decode_dead_letter(delivery: Delivery, now_ms: float | None = None) -> DeadLetterRecord:
    """A dead letter from a delivery on TRACES_DLQ: the reason from its header or its subject."""
    headers = delivery.headers
    reason = headers.get(DLQ_REASON_HEADER)
    if not reason:
        prefix = DLQ_PREFIX + "."
        reason = delivery.subject[len(prefix) :] if delivery.subject.startswith(prefix) else "unknown"
    if delivery.timestamp_ns:
        received_at = delivery.timestamp_ns / 1e6
    else:
        received_at = time.time() * 1000 if now_ms is None else now_ms
    return DeadLetterRecord(
        seq=delivery.stream_seq,
        reason=clean_text(reason)[:128] or "unknown",
        subject=_header(headers, DLQ_SUBJECT_HEADER),
        error=_header(headers, DLQ_ERROR_HEADER),
        source=_header(headers, DLQ_SOURCE_HEADER),
        received_at=received_at,
        size=len(delivery.data),
        payload=bytes(delivery.data),
    )


def _header(headers: dict[str, str], name: str) -> str | None:
    value = headers.get(name)
    return clean_text(value) if value else None
