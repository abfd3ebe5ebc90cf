"""From a validated event to the message ingest publishes on TRACES.

Normalized (the model's canonical dump), stamped with `received_at`, redacted, encoded with orjson,
addressed to `traces.events.<session>.<agent or _>.<canonical type>` and keyed for JetStream's
duplicate window by `<session>:<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmscope_ingest.redaction import Redactor
from swarmscope_ingest.validation import Rejected
from swarmscope_schema.codec import dumps
from swarmscope_schema.events import TraceEvent, canonical_event_dict
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


def canonicalize(event: TraceEvent, received_at_ms: float, redactor: Redactor) -> CanonicalEvent | Rejected:
    """The canonical message of an event; too_large if normalization grew it past the stream limit."""
    body = canonical_event_dict(event)
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
    return CanonicalEvent(
        msg_id=canonical_msg_id(event.session_id, event.id),
        subject=event_subject(event.session_id, event.agent_id, event.type),
        payload=payload,
        timestamp_ms=event.timestamp,
        redacted=redacted,
    )
