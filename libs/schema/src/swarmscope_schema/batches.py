"""(v1.1) Batch messages: many events of one session in one raw message (CONTRACT §3).

A batch travels on `traces.raw.<session>.<agent or _>.batch` with a body that is a JSON array of
§1 events (or NDJSON: one event per line). Producers build bodies with `batch_runs` and
`array_body`, which split a long run of events into messages of at most `MAX_BATCH_BYTES` and never
cut an event; ingest reads a body back into its members with `batch_members`, each member then
validated, deduplicated and dead-lettered on its own.

Which raw messages a run of events becomes — grouped by session, split by size, each with its
subject and `Nats-Msg-Id` — is `raw_messages`, the one plan both producers (the Python SDK's
transport and the services' `swarmscope_service.publishing`) send; they differ only in how they
wait for the acknowledgements.

Pure functions, no I/O: the Python SDK, the service publisher and ingest share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from swarmscope_schema.codec import MAX_EVENT_BYTES, DecodeError, dumps
from swarmscope_schema.subjects import raw_batch_msg_id, raw_batch_subject, raw_msg_id

# A batch body may be a little over the 1 MiB event limit, so that any event within the limit fits
# in a batch of its own; the streams accept messages of up to 1 MiB + 64 KiB (headers included).
MAX_BATCH_BYTES = MAX_EVENT_BYTES + 4096
# The most events one batch message carries: keeps what one message asks of ingest bounded.
MAX_BATCH_MEMBERS = 1000


class BatchTooLarge(ValueError):
    """An event that does not fit in a batch message even alone: refused, never cut."""

    def __init__(self, index: int, size: int, limit: int) -> None:
        super().__init__(
            f"event {index} of the batch is {size} bytes encoded; a batch message holds at most "
            f"{limit} bytes, so it cannot be sent (it is never cut)"
        )
        self.index = index
        self.size = size
        self.limit = limit


def batch_runs(
    sizes: Sequence[int], *, limit: int = MAX_BATCH_BYTES, max_members: int = MAX_BATCH_MEMBERS
) -> list[tuple[int, int]]:
    """[start, end) index runs of consecutive events whose JSON array body (`[a,b,…]`) is at most
    `limit` bytes and holds at most `max_members` events.

    Raises BatchTooLarge naming the first event that would not fit in a message even alone.
    """
    runs: list[tuple[int, int]] = []
    start = 0
    body = 2  # the brackets
    for index, size in enumerate(sizes):
        if size + 2 > limit:
            raise BatchTooLarge(index, size, limit)
        grown = body + size + (1 if index > start else 0)
        if index > start and (grown > limit or index - start >= max_members):
            runs.append((start, index))
            start = index
            grown = 2 + size
        body = grown
    if start < len(sizes):
        runs.append((start, len(sizes)))
    return runs


def array_body(payloads: Sequence[bytes]) -> bytes:
    """The body of a batch message: the events' JSON, as one JSON array."""
    return b"[" + b",".join(payloads) + b"]"


class RawItem(Protocol):
    """What a producer knows of one encoded event: its keys, its single-event subject, its bytes."""

    @property
    def session_id(self) -> str: ...
    @property
    def agent_id(self) -> str | None: ...
    @property
    def event_id(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def payload(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One TRACES_RAW message: subject, body, `Nats-Msg-Id`, and the indexes of the events it carries."""

    subject: str
    payload: bytes
    msg_id: str
    members: list[int]


def raw_messages(
    items: Sequence[RawItem],
    *,
    batches: bool = True,
    max_bytes: int = MAX_BATCH_BYTES,
    oversize: Literal["raise", "alone"] = "raise",
) -> list[RawMessage]:
    """The TRACES_RAW messages that carry `items` (CONTRACT §3, v1.1).

    With `batches`, the events of each session (in their order) go as batch messages of at most
    `max_bytes`, on `traces.raw.<session>.<agent or _>.batch` keyed `<session>:batch:<first
    id>:<count>`; a session with one event, or every event without `batches`, goes as a
    single-event message keyed `<session>:<id>`, exactly as v1. An event too big for any message
    raises BatchTooLarge (`oversize="raise"`), or sends its session's events one by one
    (`"alone"`: the stream's own limit then refuses only that event).
    """
    if not batches:
        return [
            RawMessage(item.subject, item.payload, raw_msg_id(item.session_id, item.event_id), [index])
            for index, item in enumerate(items)
        ]
    by_session: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_session.setdefault(item.session_id, []).append(index)
    out: list[RawMessage] = []
    for session_id, indexes in by_session.items():
        if len(indexes) == 1:
            only = items[indexes[0]]
            out.append(RawMessage(only.subject, only.payload, raw_msg_id(session_id, only.event_id), indexes))
            continue
        try:
            runs = batch_runs([len(items[i].payload) for i in indexes], limit=max_bytes)
        except BatchTooLarge:
            if oversize == "raise":
                raise
            out.extend(
                RawMessage(items[i].subject, items[i].payload, raw_msg_id(session_id, items[i].event_id), [i])
                for i in indexes
            )
            continue
        for start, end in runs:
            members = indexes[start:end]
            agents = {items[i].agent_id for i in members}
            agent = next(iter(agents)) if len(agents) == 1 else None
            out.append(
                RawMessage(
                    raw_batch_subject(session_id, agent),
                    array_body([items[i].payload for i in members]),
                    raw_batch_msg_id(session_id, items[members[0]].event_id, len(members)),
                    members,
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class Member:
    """One event of a batch as sent: its parsed JSON, or why it could not be parsed.

    `raw` is the member's own bytes when the body was NDJSON; for an array body it is re-encoded on
    demand (`payload`), since only a dead letter needs it.
    """

    index: int
    value: Any = None
    raw: bytes | None = None
    error: DecodeError | None = None

    def payload(self) -> bytes:
        """The member alone, as JSON bytes (what its dead letter carries)."""
        if self.raw is not None:
            return self.raw
        return dumps(self.value)

    def size(self) -> int:
        return len(self.payload())


def batch_members(data: bytes) -> list[Member]:
    """The members of a batch body (a JSON array, or NDJSON).

    Raises DecodeError (reason `invalid_utf8` / `invalid_json`) when the body as a whole cannot be
    read, so that no member can be told apart: an array that is not valid JSON. NDJSON is read line
    by line, so one bad line is that member's problem only.
    """
    start = data.lstrip()[:1]
    if start == b"[":
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise _decode_error(data, exc) from None
        if not isinstance(value, list):
            raise DecodeError("invalid_json", "batch body is not a JSON array")
        return [Member(index, item) for index, item in enumerate(value)]
    members: list[Member] = []
    index = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            members.append(Member(index, orjson.loads(line), raw=line))
        except orjson.JSONDecodeError as exc:
            members.append(Member(index, raw=line, error=_decode_error(line, exc)))
        index += 1
    return members


def _decode_error(data: bytes, exc: orjson.JSONDecodeError) -> DecodeError:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        return DecodeError("invalid_utf8", f"payload is not valid UTF-8 at byte {bad.start}")
    return DecodeError("invalid_json", f"payload is not valid JSON: {exc}")
