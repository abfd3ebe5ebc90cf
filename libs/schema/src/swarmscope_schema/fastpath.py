"""A compiled fast path past pydantic for events that arrive already in canonical form.

`TraceEvent.model_validate` + `canonical_event_dict` cost about 20 µs an event, a quarter of
ingest's CPU. Most producers (the SDK, the gateway) send the canonical snake_case form with values
of exactly the declared types, for which validation changes nothing but the defaults it adds. For
those, `fast_canonical` runs one compiled pydantic-core validator (a strict typed-dict schema per
event type: no coercion, unknown keys kept) and builds the identical canonical dict.

It is deliberately narrow: anything it is not sure of (camelCase keys, Claude-Flow aliases, extra
top-level keys, a value pydantic would coerce such as `"5"` for an int, a field type it does not
know) returns None, and the caller takes the pydantic path, which stays the one authority for
errors. The schemas are derived from the contract models themselves (field annotations, lengths,
defaults), so a change there cannot silently diverge; a field shape this module does not know
turns its whole type over to pydantic. tests/test_fastpath.py compares both paths on generated
events.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any

from annotated_types import Gt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import CoreSchema, SchemaValidator, ValidationError, core_schema

from swarmscope_schema.events import (
    CUSTOM_TYPE_PATTERN,
    EVENT_ID_PATTERN,
    NAME_PATTERN,
    EventMetadata,
    Performance,
    TraceEvent,
)
from swarmscope_schema.taxonomy import PAYLOAD_MODELS, PHASES, Ident

_ABSENT: Any = object()


class _Refused:
    """Of which no JSON value is an instance: the schema of a key that must not come."""


_REFUSED = core_schema.is_instance_schema(_Refused)
# The validators the fast path knows leave text unchanged (they only turn integer ids into text).
_TEXT_PRESERVING = frozenset(getattr(m, "func", None) for m in typing.get_args(Ident)[1:]) - {None}


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


def _schema_for(annotation: Any, metadata: list[Any]) -> CoreSchema:
    """The strict schema of a field: what it accepts needs no coercion, and comes out as it went in
    (an int for a float aside, which becomes a float as pydantic's dump has it)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return core_schema.any_schema()
    if origin is typing.Annotated:
        return _schema_for(args[0], [*metadata, *args[1:]])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) != 1 or len(args) != 2:
            raise UnsupportedField(repr(annotation))
        return core_schema.nullable_schema(_schema_for(members[0], metadata))
    if origin is typing.Literal:
        if not all(type(a) is str for a in args):
            raise UnsupportedField(repr(annotation))
        return core_schema.literal_schema(list(args))
    if origin is list:
        if metadata:
            raise UnsupportedField(repr(annotation))
        item = _schema_for(args[0], []) if args else core_schema.any_schema()
        return core_schema.list_schema(item, strict=True)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _typed_dict(annotation, with_defaults=False)
    if annotation is str:
        low, high = _length_bounds(metadata)
        unknown = [m for m in metadata if not isinstance(m, (MinLen, MaxLen, FieldInfo))]
        if any(getattr(m, "func", None) not in _TEXT_PRESERVING for m in unknown):
            raise UnsupportedField(repr(metadata))
        return core_schema.str_schema(min_length=low or None, max_length=high, strict=True)
    if metadata and not (annotation is float and all(isinstance(m, Gt) for m in metadata)):
        raise UnsupportedField(repr(metadata))
    if annotation is int:
        return core_schema.int_schema(strict=True)
    if annotation is bool:
        return core_schema.bool_schema(strict=True)
    if annotation is float:
        bounds = [float(typing.cast(float, m.gt)) for m in metadata if isinstance(m, Gt)]
        return core_schema.float_schema(gt=max(bounds) if bounds else None, strict=True)
    raise UnsupportedField(repr(annotation))


def _typed_dict(model: type[BaseModel], *, with_defaults: bool) -> CoreSchema:
    """A model's fields as a strict typed dict that keeps unknown keys; `with_defaults` fills the
    defaults of absent fields (a dump of every field) instead of leaving them out (exclude_unset).

    A field known under an alias fails the validator when it comes under its Python name (`from_`
    for `from`), which pydantic would take as the field."""
    fields: dict[str, core_schema.TypedDictField] = {}
    for name, info in model.model_fields.items():
        if info.alias not in (None, name):
            fields[name] = core_schema.typed_dict_field(_REFUSED, required=False)
        schema = _schema_for(info.annotation, list(info.metadata))
        required = info.is_required()
        if with_defaults and not required:
            default = info.get_default(call_default_factory=True)
            if isinstance(default, list):
                schema = core_schema.with_default_schema(schema, default_factory=list)
            else:
                schema = core_schema.with_default_schema(schema, default=default)
        fields[info.alias or name] = core_schema.typed_dict_field(schema, required=required)
    return core_schema.typed_dict_schema(fields, extra_behavior="allow", strict=True)


def _refused_keys(models: Iterable[type[BaseModel]]) -> frozenset[str]:
    # Python names of aliased fields (`from_` for `from`): pydantic takes them as the field.
    return frozenset(
        name
        for model in models
        for name, info in model.model_fields.items()
        if info.alias not in (None, name)
    )


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [
            annotation,
            *(m for f in annotation.model_fields.values() for m in _nested_models(f.annotation)),
        ]
    return [m for arg in typing.get_args(annotation) for m in _nested_models(arg)]


def _envelope(payload: CoreSchema) -> SchemaValidator:
    """The validator of a whole event whose `data` has the given schema: the envelope's fields
    strictly, with their defaults; an unknown top-level key fails it."""

    def optional(schema: CoreSchema, default: Any = None) -> core_schema.TypedDictField:
        return core_schema.typed_dict_field(
            core_schema.with_default_schema(schema, default=default), required=False
        )

    def text(pattern: str | None = None, max_length: int | None = None) -> CoreSchema:
        return core_schema.str_schema(pattern=pattern, max_length=max_length, strict=True)

    metadata = core_schema.with_default_schema(
        _typed_dict(EventMetadata, with_defaults=True), default_factory=_metadata_defaults
    )
    fields = {
        "id": core_schema.typed_dict_field(text(EVENT_ID_PATTERN)),
        "timestamp": core_schema.typed_dict_field(core_schema.float_schema(strict=True)),
        "session_id": core_schema.typed_dict_field(text(NAME_PATTERN)),
        "agent_id": optional(core_schema.nullable_schema(text(NAME_PATTERN))),
        "type": core_schema.typed_dict_field(text()),  # checked before: a known or custom type
        "phase": optional(core_schema.literal_schema(list(PHASES)), "complete"),
        "span_id": optional(text(max_length=_SPAN_MAX), ""),
        "data": core_schema.typed_dict_field(
            core_schema.with_default_schema(payload, default_factory=dict), required=False
        ),
        "metadata": core_schema.typed_dict_field(metadata, required=False),
        "performance": optional(core_schema.nullable_schema(_typed_dict(Performance, with_defaults=True))),
        "agent_seq": optional(core_schema.nullable_schema(core_schema.int_schema(strict=True))),
        "received_at": optional(core_schema.nullable_schema(core_schema.float_schema(strict=True))),
    }
    if fields.keys() != TraceEvent.model_fields.keys():
        # A new envelope field must be given its schema here (and a case in tests/test_fastpath.py).
        raise UnsupportedField(f"envelope fields {sorted(TraceEvent.model_fields)} are not {sorted(fields)}")
    return SchemaValidator(core_schema.typed_dict_schema(fields, extra_behavior="forbid", strict=True))


def _metadata_defaults() -> dict[str, Any]:
    return EventMetadata().model_dump()


_FREE_PAYLOAD = core_schema.dict_schema(strict=True)


def _payload_validators() -> dict[str, SchemaValidator]:
    validators = {}
    for event_type, model in PAYLOAD_MODELS.items():
        try:
            validators[event_type] = _envelope(_typed_dict(model, with_defaults=False))
        except UnsupportedField:
            continue  # pydantic handles this type
    return validators


def _custom_validator() -> SchemaValidator:
    return _envelope(_FREE_PAYLOAD)


_TYPE_MAX = 160
_SPAN_MAX = 256
_PAYLOADS = _payload_validators()
_CUSTOM = _custom_validator()
_METADATA_FIELDS = frozenset(EventMetadata.model_fields)
_PERFORMANCE_FIELDS = frozenset(Performance.model_fields)
# Both come out with every field (defaults filled): a longer one holds unknown keys.
_METADATA_COUNT = len(_METADATA_FIELDS)
_PERFORMANCE_COUNT = len(_PERFORMANCE_FIELDS)
_OMITTED_WHEN_NONE = ("agent_id", "performance", "agent_seq", "received_at")


def _camel_extras(obj: dict[str, Any], known: frozenset[str]) -> bool:
    # The envelope's sub-objects rename camelCase keys (`parentId` → `parent_id`): an unknown key
    # that is not all lower case is pydantic's to judge.
    return any(not key.islower() for key in obj.keys() - known)


def fast_canonical(raw: dict[str, Any]) -> dict[str, Any] | None:
    """`canonical_event_dict(TraceEvent.model_validate(raw))` for a canonical-form event, else None.

    None means "ask pydantic": the event may be valid in another form, or invalid.
    """
    event_type = raw.get("type")
    if type(event_type) is not str:
        return None
    validator = _PAYLOADS.get(event_type)
    if validator is None and len(event_type) <= _TYPE_MAX and CUSTOM_TYPE_PATTERN.fullmatch(event_type):
        validator = _CUSTOM
    if validator is None:
        return None  # an alias, an unknown type, or a type whose payload pydantic checks
    if raw.get("data", {}) is None:
        raw = {**raw, "data": {}}  # the model reads a null payload as an empty one
    try:
        out: dict[str, Any] = validator.validate_python(raw)
    except ValidationError:
        return None
    data = out["data"]
    for key in _OMITTED_WHEN_NONE:
        if out.get(key, _ABSENT) is None:
            del out[key]
    if "agent_id" not in out and "agentId" in data:
        return None  # the model lifts a Claude-Flow `data.agentId` into the envelope
    metadata = out["metadata"]
    if len(metadata) > _METADATA_COUNT and _camel_extras(metadata, _METADATA_FIELDS):
        return None
    performance = out.get("performance")
    if (
        performance is not None
        and len(performance) > _PERFORMANCE_COUNT
        and _camel_extras(performance, _PERFORMANCE_FIELDS)
    ):
        return None
    if not out["span_id"]:
        out["span_id"] = out["id"]
    return out
