"""From a canonical event dict to the message ingest publishes on TRACES.

Stamped with `received_at`, redacted, encoded with orjson,
addressed to `traces.events.<session>.<agent or _>.<canonical type>` and keyed for JetStream's
duplicate window by `<session>:<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swarmscope_schema.codec import dumps
from swarmscope_schema.redaction import Redactor
from swarmscope_schema.subjects import DlqReason, canonical_msg_id, event_subject
from swarmscope_schema.taxonomy import PRIORITIES, SDK_DROPS_TYPE, SDK_FILTER_REASONS, SDK_LOSS_REASONS
from swarmscope_schema.validation import Rejected
from swarmscope_service.nats_setup import STREAM_MAX_MSG_SIZE

# Room left for the headers (message id, expected stream) inside the stream's message size limit.
HEADER_ALLOWANCE = 4096
MAX_CANONICAL_BYTES = STREAM_MAX_MSG_SIZE - HEADER_ALLOWANCE


@dataclass(frozen=True, slots=True)
class CanonicalEvent:
    """One canonical event, encoded and addressed, ready to publish."""

    msg_id: str
    subject: str
    payload: bytes
    timestamp_ms: float
    redacted: int
    # reason → priority → count, when the event is an SDK drop report (counted once accepted).
    sdk_drops: dict[str, dict[str, int]] | None = None


def canonicalize(
    body: dict[str, Any], received_at_ms: float, redactor: Redactor
) -> CanonicalEvent | Rejected:
    """The message of a canonical event dict (which it stamps and redacts in place).

    too_large if normalization grew the event past the stream's message limit.
    """
    body["received_at"] = received_at_ms
    payload, redacted = redactor.redact_encoded(body, dumps(body))
    if len(payload) > MAX_CANONICAL_BYTES:
        # A 1 MiB event can grow a little (defaults, received_at, number formats); far past the
        # stream limit JetStream would refuse it on every retry, so it is dead-lettered instead.
        return Rejected(
            DlqReason.TOO_LARGE,
            f"canonical form is {len(payload)} bytes; the stream accepts at most {MAX_CANONICAL_BYTES}",
        )
    session_id = body["session_id"]
    return CanonicalEvent(
        msg_id=canonical_msg_id(session_id, body["id"]),
        subject=event_subject(session_id, body.get("agent_id"), body["type"]),
        payload=payload,
        timestamp_ms=body["timestamp"],
        redacted=redacted,
        sdk_drops=_sdk_drops(body) if body["type"] == SDK_DROPS_TYPE else None,
    )


_DROP_REASONS = frozenset(SDK_LOSS_REASONS + SDK_FILTER_REASONS)


def _sdk_drops(body: dict[str, Any]) -> dict[str, dict[str, int]] | None:
    """The drop counts of an SDK drop report, keeping only well-formed entries (producer input).

    Reasons and priorities outside the known sets count as `other`: they become metric labels, and
    a producer must not be able to grow the label set without bound.
    """
    data = body.get("data")
    new = data.get("new") if isinstance(data, dict) else None
    if not isinstance(new, dict):
        return None
    counts: dict[str, dict[str, int]] = {}
    for reason, by_priority in new.items():
        if not isinstance(by_priority, dict):
            continue
        for priority, count in by_priority.items():
            if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                reason_label = reason if reason in _DROP_REASONS else "other"
                priority_label = priority if priority in PRIORITIES else "other"
                by = counts.setdefault(reason_label, {})
                by[priority_label] = by.get(priority_label, 0) + count
    return counts or None
