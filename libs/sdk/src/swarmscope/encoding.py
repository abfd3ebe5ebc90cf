"""Turning a buffered event into wire bytes, off the caller's path: encode, redact, truncate if asked.

Redaction is `swarmscope_schema.redaction`, the rule ingest applies too: the event is encoded first
and the encoded bytes decide (one prefilter scan) whether it is walked at all; a walk works on a
decoded copy, so the agent's own objects are never modified (it still needs its real key), and
whatever orjson made of them (an exception's message, a dataclass) is redacted as text like the
rest. Redaction comes before truncation, so a cut never leaves half a secret. Values are kept whole: an event is only cut when truncation was
asked for (`max_value_bytes`), and then every cut string says so (`…[truncated N bytes]`) and the
event carries `metadata.truncated = true`. Anything JSON cannot express (objects, sets, bytes, huge
integers, cycles) is encoded as its text rather than lost.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from swarmscope_schema.codec import MAX_EVENT_BYTES
from swarmscope_schema.redaction import DEFAULT_REDACT_KEYS, Redactor
from swarmscope_schema.sources import SOURCE_KEY, EventSource
from swarmscope_schema.subjects import raw_subject

TRUNCATION_MARK = "…[truncated {n} bytes]"
# Where an event came from (agreement 3, `metadata.source`): set unless the agent set its own.
SOURCE = EventSource.SDK_PYTHON.value
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_MAX_DEPTH = 200


def json_default(value: Any) -> Any:
    """orjson's fallback: a JSON-ready form of what it cannot encode by itself."""
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode("ascii")}
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, BaseException):
        return {"type": type(value).__name__, "message": str(value)}
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        try:
            return model_dump(mode="json")
        except Exception:
            return repr(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return list(value)
    return repr(value)


def _plain(value: Any, depth: int, seen: set[int]) -> Any:
    """A JSON-safe copy of a value orjson refused (a cycle, a huge integer, too deep)."""
    if depth <= 0:
        return repr(value)[:10_000]
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, (datetime.datetime, datetime.date, uuid.UUID, enum.Enum)):
        return str(value.value if isinstance(value, enum.Enum) else value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        marker = id(value)
        if marker in seen:
            return "[cycle]"
        seen.add(marker)
        try:
            if isinstance(value, dict):
                return {str(k): _plain(v, depth - 1, seen) for k, v in value.items()}
            return [_plain(v, depth - 1, seen) for v in value]
        finally:
            seen.discard(marker)
    converted = json_default(value)
    if converted is value or isinstance(converted, str):
        return converted
    return _plain(converted, depth - 1, seen)


def dumps(value: Any) -> bytes:
    """JSON bytes of anything: orjson, and a tolerant conversion when orjson refuses."""
    try:
        return orjson.dumps(value, default=json_default, option=_ORJSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return orjson.dumps(_plain(value, _MAX_DEPTH, set()), option=_ORJSON_OPTIONS)


def _truncate(value: Any, limit: int, depth: int = _MAX_DEPTH) -> tuple[Any, int]:
    """Copy on write: strings longer than `limit` UTF-8 bytes cut and marked; returns bytes cut."""
    if isinstance(value, str):
        if len(value) <= limit // 4:
            return value, 0
        raw = value.encode("utf-8", "surrogatepass")
        if len(raw) <= limit:
            return value, 0
        kept = raw[:limit].decode("utf-8", "ignore")
        cut = len(raw) - len(kept.encode("utf-8", "surrogatepass"))
        return kept + TRUNCATION_MARK.format(n=cut), cut
    if depth <= 0:
        return value, 0
    if isinstance(value, dict):
        out: dict[Any, Any] | None = None
        total = 0
        for key, child in value.items():
            if not isinstance(child, (str, dict, list, tuple)):
                continue
            new, cut = _truncate(child, limit, depth - 1)
            if cut:
                if out is None:
                    out = dict(value)
                out[key] = new
                total += cut
        return (value if out is None else out), total
    if isinstance(value, (list, tuple)):
        items: list[Any] | None = None
        total = 0
        for index, child in enumerate(value):
            if not isinstance(child, (str, dict, list, tuple)):
                continue
            new, cut = _truncate(child, limit, depth - 1)
            if cut:
                if items is None:
                    items = list(value)
                items[index] = new
                total += cut
        return (value if items is None else items), total
    return value, 0


@dataclasses.dataclass(slots=True)
class Encoded:
    """One event ready for the wire."""

    event_id: str
    subject: str
    payload: bytes
    rank: int
    event_type: str
    session_id: str = ""
    agent_id: str | None = None


class EventEncoder:
    """Redacts, optionally truncates, and encodes events; caches subjects."""

    def __init__(
        self,
        *,
        redact_keys: Iterable[str] = DEFAULT_REDACT_KEYS,
        redact_values: bool = True,
        max_value_bytes: int | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        if max_value_bytes is not None and max_value_bytes < 16:
            raise ValueError(f"max_value_bytes must be at least 16, got {max_value_bytes}")
        self.redactor = Redactor(redact_keys, values=redact_values)
        self.max_value_bytes = max_value_bytes
        self.max_event_bytes = max_event_bytes
        self._subjects: dict[tuple[str, str | None, str], str] = {}
        self.redacted = 0
        self.truncated_events = 0

    def subject(self, session_id: str, agent_id: str | None, event_type: str) -> str:
        key = (session_id, agent_id, event_type)
        subject = self._subjects.get(key)
        if subject is None:
            if len(self._subjects) > 10_000:
                self._subjects.clear()
            subject = self._subjects[key] = raw_subject(session_id, agent_id, event_type)
        return subject

    def prepare(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event as it goes on the wire: redacted and, if asked, truncated. Never mutates input."""
        return self._wire(event)[0]

    def _wire(self, event: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        payload = dumps(event)
        wire = event
        if self.redactor.may_hold_secrets(payload):
            decoded: dict[str, Any] = orjson.loads(payload)
            count = self.redactor.redact_event(decoded)
            if count:
                self.redacted += count
                wire, payload = decoded, dumps(decoded)
        if self.max_value_bytes is not None:
            data = wire.get("data")
            if data:
                new, cut = _truncate(data, self.max_value_bytes)
                if cut:
                    meta = dict(wire.get("metadata") or {})
                    meta["truncated"] = True
                    meta["truncated_bytes"] = meta.get("truncated_bytes", 0) + cut
                    wire = {**wire, "data": new, "metadata": meta}
                    payload = dumps(wire)
                    self.truncated_events += 1
        return wire, payload

    def encode(self, event: dict[str, Any], rank: int) -> Encoded:
        """Wire bytes of one event (its size is checked by the caller against `max_event_bytes`)."""
        metadata = event.get("metadata")
        if metadata is None or (isinstance(metadata, dict) and SOURCE_KEY not in metadata):
            # Copy on write, off the caller's path: the agent's own dicts stay as they were.
            event = {**event, "metadata": {**(metadata or {}), SOURCE_KEY: SOURCE}}
        wire, payload = self._wire(event)
        session_id = wire["session_id"]
        agent_id = wire.get("agent_id")
        return Encoded(
            event_id=wire["id"],
            subject=self.subject(session_id, agent_id, wire["type"]),
            payload=payload,
            rank=rank,
            event_type=wire["type"],
            session_id=session_id,
            agent_id=agent_id,
        )
