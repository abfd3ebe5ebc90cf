"""The trace event (CONTRACT §1): the wire form producers send and the stored form the API returns.

`TraceEvent.model_validate` accepts the canonical snake_case form, the seed design's camelCase
TypeScript form and Claude-Flow's event names, and always yields the canonical form. Validation
errors name the field that is wrong (pydantic's `loc`), so a dead letter says what to fix.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from swarmscope_schema.aliases import resolve_alias, unwrap_envelope
from swarmscope_schema.taxonomy import (
    PAYLOAD_MODELS,
    Phase,
    Priority,
    is_custom_type,
)

EVENT_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"
NAME_PATTERN = r"^[A-Za-z0-9_\-]{1,128}$"
CUSTOM_TYPE_PATTERN = re.compile(r"^custom\.[A-Za-z0-9_.:\-]{1,120}$")

EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]
SessionId = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
AgentId = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]

# Seed design camelCase → canonical snake_case, per object. Only keys the contract names; other keys
# pass through unchanged.
_TOP_LEVEL_KEYS = {
    "sessionId": "session_id",
    "agentId": "agent_id",
    "spanId": "span_id",
    "agentSeq": "agent_seq",
}
_METADATA_KEYS = {
    "parentId": "parent_id",
    "causationId": "causation_id",
    "correlationId": "correlation_id",
}
_PERFORMANCE_KEYS = {
    "memoryUsage": "memory_usage",
    "cpuTime": "cpu_time",
    "tokenCount": "token_count",
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "costUsd": "cost_usd",
}


def _rename(obj: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    if not any(k in obj for k in names):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        canonical = names.get(key, key)
        # An explicit snake_case key wins over its camelCase twin.
        if canonical != key and canonical in obj:
            continue
        out[canonical] = value
    return out


class EventMetadata(BaseModel):
    """Causality and handling hints. Unknown keys are kept."""

    model_config = ConfigDict(extra="allow")

    parent_id: str | None = Field(default=None, max_length=256)
    causation_id: str | None = Field(default=None, max_length=256)
    correlation_id: str | None = Field(default=None, max_length=256)
    tags: list[str] = Field(default_factory=list)
    priority: Priority = "normal"
    retention: float | None = Field(default=None, gt=0, description="hours to keep")


class Performance(BaseModel):
    """Measured cost of the unit of work. Unknown keys are kept."""

    model_config = ConfigDict(extra="allow")

    duration: float | None = Field(default=None, description="milliseconds")
    memory_usage: float | None = Field(default=None, description="bytes")
    cpu_time: float | None = Field(default=None, description="milliseconds")
    token_count: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


class TraceEvent(BaseModel):
    """A trace event in canonical form, as ingest publishes it to TRACES."""

    model_config = ConfigDict(extra="allow")

    id: EventId
    timestamp: float = Field(description="producer clock, epoch milliseconds")
    session_id: SessionId
    agent_id: AgentId | None = None
    type: str = Field(min_length=1, max_length=160)
    phase: Phase = "complete"
    span_id: str = Field(default="", max_length=256, description="defaults to the event id")
    data: dict[str, Any] = Field(default_factory=dict)
    metadata: EventMetadata = Field(default_factory=EventMetadata)
    performance: Performance | None = None
    agent_seq: int | None = None
    received_at: float | None = Field(default=None, description="epoch ms, stamped by ingest")

    @model_validator(mode="before")
    @classmethod
    def _normalize_shape(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        event = _rename(unwrap_envelope(raw), _TOP_LEVEL_KEYS)
        metadata = event.get("metadata")
        if isinstance(metadata, dict):
            metadata = _rename(metadata, _METADATA_KEYS)
        performance = event.get("performance")
        if isinstance(performance, dict):
            performance = _rename(performance, _PERFORMANCE_KEYS)
        data = event.get("data")
        if data is None:
            data = {}
        event_type = event.get("type")
        if isinstance(event_type, str) and isinstance(data, dict):
            canonical, adapt = resolve_alias(event_type)
            if canonical != event_type:
                data = adapt(data)
                event_type = canonical
            # Claude-Flow payloads name the agent inside data; lift it when the envelope has none.
            if event.get("agent_id") is None:
                agent = data.get("agentId")
                if isinstance(agent, str):
                    event = {**event, "agent_id": agent}
        return {
            **event,
            "type": event_type,
            "data": data,
            **({"metadata": metadata} if metadata is not None else {}),
            **({"performance": performance} if performance is not None else {}),
        }

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value in PAYLOAD_MODELS:
            return value
        if is_custom_type(value):
            if not CUSTOM_TYPE_PATTERN.match(value):
                raise ValueError("custom type names match custom.[A-Za-z0-9_.:-]{1,120}")
            return value
        raise ValueError(
            f"unknown event type {value!r}: use a type of the taxonomy, a Claude-Flow alias, or custom.<name>"
        )

    @field_validator("data")
    @classmethod
    def _payload(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        event_type = info.data.get("type")
        model = PAYLOAD_MODELS.get(event_type) if isinstance(event_type, str) else None
        if model is None:
            return value
        # Validate, then dump by alias: coerced values (e.g. integer ids) come out canonical and
        # unknown keys (extra="allow") are kept.
        return model.model_validate(value).model_dump(by_alias=True, exclude_unset=True)

    @model_validator(mode="after")
    def _default_span(self) -> TraceEvent:
        if not self.span_id:
            self.span_id = self.id
        return self


class StoredEvent(TraceEvent):
    """An event as the store and the API return it: the canonical event plus its place in the log."""

    seq: int = Field(ge=1, description="TRACES stream sequence: the total order")
    received_at: float | None = Field(default=None, description="epoch ms, stamped by ingest")


def canonical_event_dict(event: TraceEvent) -> dict[str, Any]:
    """The canonical JSON-ready dict of an event; empty optional envelope fields are left out.

    Only the envelope is pruned: a `None` inside `data` is the producer's value and is kept.
    """
    dumped = event.model_dump(mode="json")
    return {k: v for k, v in dumped.items() if v is not None}
