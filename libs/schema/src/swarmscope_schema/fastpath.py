"""A fast path past pydantic for events that arrive already in canonical form.

`TraceEvent.model_validate` + `canonical_event_dict` cost about 20 µs an event, a quarter of
ingest's CPU. Most producers (the SDK, the gateway) send the canonical snake_case form with values
of exactly the declared types, for which validation changes nothing but the defaults it adds. For
those, `fast_canonical` checks the same rules directly and builds the identical canonical dict.

It is deliberately narrow: anything it is not sure of (camelCase keys, Claude-Flow aliases, extra
top-level keys, a value pydantic would coerce such as `"5"` for an int, a field type it does not
know) returns None, and the caller takes the pydantic path, which stays the one authority for
errors. The checks are derived from the contract models themselves (field annotations, lengths,
defaults), so a change there cannot silently diverge; a field shape this module does not know
turns its whole type over to pydantic. tests/test_fastpath.py compares both paths on generated
events.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from annotated_types import Gt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from swarmscope_schema.events import (
    CUSTOM_TYPE_PATTERN,
    EVENT_ID_PATTERN,
    NAME_PATTERN,
    EventMetadata,
    Performance,
)
from swarmscope_schema.taxonomy import PAYLOAD_MODELS, PHASES, Ident, is_custom_type

_FAIL: Any = object()

Check = Callable[[Any], Any]  # returns the canonical value, or _FAIL


def _fullmatch(pattern: str) -> Callable[[str], re.Match[str] | None]:
    # The contract's patterns are anchored with ^…$; fullmatch is the same test without Python's
    # `$` also accepting a trailing newline.
    return re.compile(pattern.removeprefix("^").removesuffix("$")).fullmatch


_id_ok = _fullmatch(EVENT_ID_PATTERN)
_name_ok = _fullmatch(NAME_PATTERN)
_custom_ok = _fullmatch(CUSTOM_TYPE_PATTERN.pattern)

_ENVELOPE = frozenset(
    {
        "id",
        "timestamp",
        "session_id",
        "agent_id",
        "type",
        "phase",
        "span_id",
        "data",
        "metadata",
        "performance",
        "agent_seq",
        "received_at",
    }
)
# The validators the fast path knows leave text unchanged (they only turn integer ids into text).
_TEXT_PRESERVING = frozenset(getattr(m, "func", None) for m in typing.get_args(Ident)[1:]) - {None}
_SPAN_MAX = 256
_TYPE_MAX = 160


class UnsupportedField(Exception):
    """A field shape this module does not check; its model is left to pydantic."""


def _length_bounds(metadata: list[Any]) -> tuple[int, int | None]:
    low, high = 0, None
    for item in metadata:
        if isinstance(item, MinLen):
            low = item.min_length
        elif isinstance(item, MaxLen):
            high = item.max_length
        elif isinstance(item, FieldInfo):
            inner_low, inner_high = _length_bounds(item.metadata)
            low, high = max(low, inner_low), inner_high if inner_high is not None else high
    return low, high


def _check_for(annotation: Any, metadata: list[Any]) -> Check:
    """A check returning the canonical form of a value that needs no coercion, else _FAIL."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return lambda value: value
    if origin is typing.Annotated:
        return _check_for(args[0], [*metadata, *args[1:]])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) != 1 or len(args) != 2:
            raise UnsupportedField(repr(annotation))
        inner = _check_for(members[0], metadata)
        return lambda value: None if value is None else inner(value)
    if origin is typing.Literal:
        allowed = frozenset(args)
        if not all(type(a) is str for a in allowed):
            raise UnsupportedField(repr(annotation))
        return lambda value: value if type(value) is str and value in allowed else _FAIL
    if origin is list:
        item = _check_for(args[0], []) if args else _check_for(Any, [])
        if metadata:
            raise UnsupportedField(repr(annotation))

        def check_list(value: Any) -> Any:
            if type(value) is not list:
                return _FAIL
            out = [item(v) for v in value]
            return _FAIL if any(v is _FAIL for v in out) else out

        return check_list
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        spec = _spec(annotation, exclude_unset=True)
        return lambda value: spec.canonical(value) if type(value) is dict else _FAIL
    if annotation is str:
        low, high = _length_bounds(metadata)
        unknown = [m for m in metadata if not isinstance(m, (MinLen, MaxLen, FieldInfo))]
        if any(getattr(m, "func", None) not in _TEXT_PRESERVING for m in unknown):
            raise UnsupportedField(repr(metadata))
        if high is None:
            return lambda value: value if type(value) is str and len(value) >= low else _FAIL
        return lambda value: value if type(value) is str and low <= len(value) <= high else _FAIL
    if metadata and not (annotation is float and all(isinstance(m, Gt) for m in metadata)):
        raise UnsupportedField(repr(metadata))
    if annotation is int:
        return lambda value: value if type(value) is int else _FAIL
    if annotation is bool:
        return lambda value: value if type(value) is bool else _FAIL
    if annotation is float:
        bounds: list[Any] = [m.gt for m in metadata if isinstance(m, Gt)]

        def check_float(value: Any) -> Any:
            if type(value) is not float and type(value) is not int:
                return _FAIL
            if any(not value > bound for bound in bounds):
                return _FAIL
            return float(value)

        return check_float
    raise UnsupportedField(repr(annotation))


@dataclass(frozen=True)
class ModelSpec:
    """What `model.model_validate(d).model_dump(...)` does to a dict needing no coercion."""

    checks: Mapping[str, Check]  # by wire name (alias)
    required: frozenset[str]
    defaults: Mapping[str, Any]  # wire name → default, for a dump that includes unset fields
    refused_keys: frozenset[str]  # keys pydantic would treat specially (python names of aliases)
    exclude_unset: bool
    # The envelope's sub-objects rename camelCase keys (`parentId` → `parent_id`): any key with a
    # capital letter goes to pydantic.
    refuse_capitals: bool = False

    def canonical(self, value: dict[str, Any]) -> Any:
        if not self.required <= value.keys():
            return _FAIL
        out: dict[str, Any] = {}
        for key, item in value.items():
            check = self.checks.get(key)
            if check is None:
                if key in self.refused_keys or (self.refuse_capitals and not key.islower()):
                    return _FAIL
                out[key] = item  # unknown keys are kept as sent
                continue
            canonical = check(item)
            if canonical is _FAIL:
                return _FAIL
            out[key] = canonical
        if not self.exclude_unset:
            for key, default in self.defaults.items():
                if key not in out:
                    out[key] = list(default) if isinstance(default, list) else default
        return out


def _spec(model: type[BaseModel], *, exclude_unset: bool, refuse_capitals: bool = False) -> ModelSpec:
    checks: dict[str, Check] = {}
    required: set[str] = set()
    defaults: dict[str, Any] = {}
    python_names: set[str] = set()
    for name, info in model.model_fields.items():
        wire = info.alias or name
        if wire != name:
            python_names.add(name)
        checks[wire] = _check_for(info.annotation, list(info.metadata))
        if info.is_required():
            required.add(wire)
        else:
            defaults[wire] = info.get_default(call_default_factory=True)
    return ModelSpec(
        checks=checks,
        required=frozenset(required),
        defaults=defaults,
        refused_keys=frozenset(python_names),
        exclude_unset=exclude_unset,
        refuse_capitals=refuse_capitals,
    )


def _payload_specs() -> dict[str, ModelSpec]:
    specs = {}
    for event_type, model in PAYLOAD_MODELS.items():
        try:
            specs[event_type] = _spec(model, exclude_unset=True)
        except UnsupportedField:
            continue  # pydantic handles this type
    return specs


_PAYLOADS: dict[str, ModelSpec] = _payload_specs()
_METADATA = _spec(EventMetadata, exclude_unset=False, refuse_capitals=True)
_PERFORMANCE = _spec(Performance, exclude_unset=False, refuse_capitals=True)
_ABSENT: Any = object()


def fast_canonical(raw: dict[str, Any]) -> dict[str, Any] | None:
    """`canonical_event_dict(TraceEvent.model_validate(raw))` for a canonical-form event, else None.

    None means "ask pydantic": the event may be valid in another form, or invalid.
    """
    # Extra top-level keys (camelCase ones among them) are pydantic's to judge.
    if not raw.keys() <= _ENVELOPE:
        return None
    event_id = raw.get("id")
    session_id = raw.get("session_id")
    event_type = raw.get("type")
    timestamp = raw.get("timestamp")
    if (
        type(event_id) is not str
        or not _id_ok(event_id)
        or type(session_id) is not str
        or not _name_ok(session_id)
        or type(event_type) is not str
        or (type(timestamp) is not float and type(timestamp) is not int)
    ):
        return None
    out: dict[str, Any] = {
        "id": event_id,
        "timestamp": float(timestamp),
        "session_id": session_id,
        "type": event_type,
    }
    data = raw.get("data")
    if data is None:
        data = {}
    elif type(data) is not dict:
        return None
    agent_id = raw.get("agent_id")
    if agent_id is None:
        # The model lifts a Claude-Flow `data.agentId` into the envelope.
        if "agentId" in data:
            return None
    elif type(agent_id) is not str or not _name_ok(agent_id):
        return None
    else:
        out["agent_id"] = agent_id
    payload = _PAYLOADS.get(event_type)
    if payload is not None:
        data = payload.canonical(data)
        if data is _FAIL:
            return None
    elif not (is_custom_type(event_type) and len(event_type) <= _TYPE_MAX and _custom_ok(event_type)):
        return None  # an alias, an unknown type, or a type whose payload pydantic checks
    out["data"] = data
    phase = raw.get("phase", "complete")
    if type(phase) is not str or phase not in PHASES:
        return None
    out["phase"] = phase
    span_id = raw.get("span_id", "")
    if type(span_id) is not str or len(span_id) > _SPAN_MAX:
        return None
    out["span_id"] = span_id or event_id
    metadata = raw.get("metadata", _ABSENT)
    if metadata is _ABSENT:
        metadata = {}
    elif type(metadata) is not dict:
        return None
    metadata = _METADATA.canonical(metadata)
    if metadata is _FAIL:
        return None
    out["metadata"] = metadata
    performance = raw.get("performance")
    if performance is not None:
        if type(performance) is not dict:
            return None
        performance = _PERFORMANCE.canonical(performance)
        if performance is _FAIL:
            return None
        out["performance"] = performance
    agent_seq = raw.get("agent_seq")
    if agent_seq is not None:
        if type(agent_seq) is not int:
            return None
        out["agent_seq"] = agent_seq
    received_at = raw.get("received_at")
    if received_at is not None:
        if type(received_at) is not float and type(received_at) is not int:
            return None
        out["received_at"] = float(received_at)
    return out
