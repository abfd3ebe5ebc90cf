"""NATS names (CONTRACT §3), defined once: subjects, streams, durables, dead-letter reasons.

Subjects are `<prefix>.<session_id>.<agent_id or _>.<type token>`. Session and agent ids are already
subject-safe by their pattern; a type such as `agent:spawned` or `custom.deploy` is made safe by
turning every character outside `[A-Za-z0-9_-]` into `_`. The body's `type` is what counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

RAW_PREFIX = "traces.raw"
EVENTS_PREFIX = "traces.events"
DLQ_PREFIX = "traces.dlq"
NO_AGENT_TOKEN = "_"
# The session swarmscope reports on itself in (performance alerts of its own services).
SYSTEM_SESSION_ID = "_system"

STREAM_RAW = "TRACES_RAW"
STREAM_EVENTS = "TRACES"
STREAM_DLQ = "TRACES_DLQ"

STREAM_SUBJECTS: dict[str, str] = {
    STREAM_RAW: f"{RAW_PREFIX}.>",
    STREAM_EVENTS: f"{EVENTS_PREFIX}.>",
    STREAM_DLQ: f"{DLQ_PREFIX}.>",
}

# (v1.1) TRACES_RAW keeps no duplicate window: JetStream's window is keyed by `Nats-Msg-Id` across
# the whole stream, and a producer's bare id (CONTRACT v1) is unique only within its session, so a
# window there would drop another session's event with the same id. Duplicates are removed
# downstream by (session_id, id): by TRACES's window (`canonical_msg_id`), then by the store and
# replay after any window. nats-server refuses a window under 100 ms but leaves a stream that
# sources another one without a default window; TRACES_RAW sources this empty stream (nothing
# publishes to its subject) for that alone.
STREAM_NO_DEDUPE_ANCHOR = "TRACES_RAW_ANCHOR"
NO_DEDUPE_ANCHOR_SUBJECT = "swarmscope.internal.raw-anchor"
STREAMS_WITHOUT_DEDUPE: frozenset[str] = frozenset({STREAM_RAW})
# (v1.1) Streams that keep a message only until every durable on it has acknowledged it (JetStream
# interest retention). TRACES_RAW holds what producers sent, before ingest's redaction: once ingest
# has published the redacted canonical event (or the redacted dead letter) and acked, the raw bytes
# are gone, so no secret a producer leaked stays at rest there. TRACES is the log that is kept.
STREAMS_KEPT_UNTIL_CONSUMED: frozenset[str] = frozenset({STREAM_RAW})

DURABLE_INGEST = "ingest"
DURABLE_STORE = "store"
DURABLE_REPLAY = "replay"
DURABLE_STORE_DLQ = "store-dlq"
# (v1.1) Replicas of replay beyond the first read TRACES through `replay-<ordinal>`, and hold their
# share of sessions through leases in this JetStream KV bucket.
REPLAY_LEASES_BUCKET = "swarmscope-replay-leases"

# (stream, durable) of every durable consumer the services use.
DURABLES: tuple[tuple[str, str], ...] = (
    (STREAM_RAW, DURABLE_INGEST),
    (STREAM_EVENTS, DURABLE_STORE),
    (STREAM_EVENTS, DURABLE_REPLAY),
    (STREAM_DLQ, DURABLE_STORE_DLQ),
)

STORE_REQUEST_PREFIX = "swarmscope.store"
REPLAY_REQUEST_PREFIX = "swarmscope.replay"

MSG_ID_HEADER = "Nats-Msg-Id"
# Headers a dead letter carries beside the original payload.
DLQ_REASON_HEADER = "Swarmscope-Dlq-Reason"
DLQ_ERROR_HEADER = "Swarmscope-Dlq-Error"
DLQ_SUBJECT_HEADER = "Swarmscope-Dlq-Subject"
DLQ_STREAM_SEQ_HEADER = "Swarmscope-Dlq-Stream-Seq"
DLQ_SOURCE_HEADER = "Swarmscope-Dlq-Source"
# (v1.1) On the dead letter of one member of a batch message: the member's 0-based index.
DLQ_MEMBER_INDEX_HEADER = "Swarmscope-Dlq-Member-Index"
# (v1.1) The type token of a batch message's subject; no taxonomy type, alias or `custom.*` type
# has this token, so a batch subject can never be mistaken for one event's.
BATCH_TYPE_TOKEN = "batch"


class DlqReason(StrEnum):
    """Why a message was dead-lettered (CONTRACT §3)."""

    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    SCHEMA_VIOLATION = "schema_violation"
    TOO_LARGE = "too_large"
    INVALID_SUBJECT = "invalid_subject"
    # A canonical event a consumer downstream of ingest could not process at all (never expected;
    # kept so a poison message cannot block a durable).
    UNPROCESSABLE = "unprocessable"


_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{1,160}$")
_TOKEN = r"([A-Za-z0-9_\-]{1,160})"
_WELL_FORMED_SUBJECT = re.compile(
    rf"({re.escape(RAW_PREFIX)}|{re.escape(EVENTS_PREFIX)})\.{_TOKEN}\.{_TOKEN}\.{_TOKEN}"
)


def subject_token(value: str) -> str:
    """A subject-safe token for a type or id: `:`, `.` and anything else unsafe become `_`."""
    return _UNSAFE.sub("_", value) or "_"


@dataclass(frozen=True, slots=True)
class SubjectParts:
    """The parts of a raw or canonical event subject."""

    prefix: str
    session_id: str
    agent_id: str | None
    type_token: str


def _event_subject(prefix: str, session_id: str, agent_id: str | None, event_type: str) -> str:
    agent = agent_id if agent_id else NO_AGENT_TOKEN
    return f"{prefix}.{subject_token(session_id)}.{subject_token(agent)}.{subject_token(event_type)}"


def raw_subject(session_id: str, agent_id: str | None, event_type: str) -> str:
    """Where producers publish: `traces.raw.<session>.<agent or _>.<type token>`."""
    return _event_subject(RAW_PREFIX, session_id, agent_id, event_type)


def raw_batch_subject(session_id: str, agent_id: str | None) -> str:
    """(v1.1) Where producers publish many events of one session in one message:
    `traces.raw.<session>.<agent or _>.batch`, the body a JSON array of events."""
    return _event_subject(RAW_PREFIX, session_id, agent_id, BATCH_TYPE_TOKEN)


def is_batch_subject(subject: str) -> bool:
    """(v1.1) True for a raw subject whose type token is `batch` (a batch message)."""
    return subject.endswith("." + BATCH_TYPE_TOKEN) and subject.startswith(RAW_PREFIX + ".")


def event_subject(session_id: str, agent_id: str | None, event_type: str) -> str:
    """Where ingest publishes canonical events: `traces.events.<session>.<agent or _>.<type>`."""
    return _event_subject(EVENTS_PREFIX, session_id, agent_id, event_type)


def session_filter(prefix: str, session_id: str) -> str:
    """A wildcard subject matching every event of one session under a prefix."""
    return f"{prefix}.{subject_token(session_id)}.>"


def dlq_subject(reason: DlqReason | str) -> str:
    """Where a dead letter goes: `traces.dlq.<reason>`."""
    return f"{DLQ_PREFIX}.{DlqReason(reason).value}"


def parse_event_subject(subject: str) -> SubjectParts:
    """Splits a raw or canonical event subject; raises ValueError naming what is wrong."""
    # One match for the common, well-formed subject (ingest parses one per message); anything it
    # does not take goes through the checks below, which name the problem.
    whole = _WELL_FORMED_SUBJECT.fullmatch(subject)
    if whole is not None:
        prefix, session, agent, type_token = whole.groups()
        return SubjectParts(
            prefix=prefix,
            session_id=session,
            agent_id=None if agent == NO_AGENT_TOKEN else agent,
            type_token=type_token,
        )
    for prefix in (RAW_PREFIX, EVENTS_PREFIX):
        if subject.startswith(prefix + "."):
            rest = subject[len(prefix) + 1 :].split(".")
            break
    else:
        raise ValueError(f"subject {subject!r} is not under {RAW_PREFIX} or {EVENTS_PREFIX}")
    if len(rest) != 3:
        raise ValueError(
            f"subject {subject!r} must have exactly three tokens after {prefix}: "
            "<session_id>.<agent_id or _>.<type>"
        )
    session, agent, type_token = rest
    for name, token in (("session", session), ("agent", agent), ("type", type_token)):
        if not _SAFE_TOKEN.match(token):
            raise ValueError(f"subject {subject!r} has an invalid {name} token {token!r}")
    return SubjectParts(
        prefix=prefix,
        session_id=session,
        agent_id=None if agent == NO_AGENT_TOKEN else agent,
        type_token=type_token,
    )


def raw_msg_id(session_id: str, event_id: str) -> str:
    """(v1.1) The `Nats-Msg-Id` every producer sends with one event: ids are unique only within a
    session, so the session joins (a bare id from a third-party producer is still accepted)."""
    return f"{session_id}:{event_id}"


def raw_batch_msg_id(session_id: str, first_event_id: str, count: int) -> str:
    """(v1.1) The `Nats-Msg-Id` of a batch message: its session, first member's id and size."""
    return f"{session_id}:batch:{first_event_id}:{count}"


def canonical_msg_id(session_id: str, event_id: str) -> str:
    """The `Nats-Msg-Id` of a canonical event on TRACES: ids are unique per session, so the session
    joins. TRACES's duplicate window, keyed by it, is the first dedupe by (session_id, id)."""
    return raw_msg_id(session_id, event_id)


def store_request_subject(op: str) -> str:
    """Request-reply subject of a store query (`swarmscope.store.<op>`)."""
    return f"{STORE_REQUEST_PREFIX}.{op}"


def replay_request_subject(op: str) -> str:
    """Request-reply subject of a replay operation (`swarmscope.replay.<op>`)."""
    return f"{REPLAY_REQUEST_PREFIX}.{op}"
