"""From a canonical event dict to the message ingest publishes on TRACES.

Stamped with `received_at`, redacted, encoded with orjson,
addressed to `traces.events.<session>.<agent or _>.<canonical type>` and keyed for JetStream's
duplicate window by `<session>:<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swarmscope_ingest.redaction import Redactor
from swarmscope_ingest.validation import Rejected
from swarmscope_schema.codec import dumps
from swarmscope_schema.subjects import DlqReason, canonical_msg_id, event_subject
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


def canonicalize(
    body: dict[str, Any], received_at_ms: float, redactor: Redactor
) -> CanonicalEvent | Rejected:
    """The message of a canonical event dict (which it stamps and redacts in place).

    too_large if normalization grew the event past the stream's message limit.
    """
    body["received_at"] = received_at_ms
    redacted = redactor.redact_event(body)
    payload = dumps(body)
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
    )
