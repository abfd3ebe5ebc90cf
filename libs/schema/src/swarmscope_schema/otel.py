"""(v1.1) OpenTelemetry spans → trace events (CONTRACT §1b), defined once.

The OTLP receiver decodes an export request into `OtelSpan`s (plain values: hex ids, Python
attribute values) and `map_spans` turns them into §1 events. The mapping is a pure function of one
export request: an exporter's retry of the same batch maps to the same events with the same ids, so
it stores nothing twice, and any gateway replica maps a request the same way.

What decides what (the tables below hold the names):
- session: the span's `gen_ai.conversation.id`, else OpenInference `session.id`, else that of its
  nearest ancestor in the request, else any span of its trace in the request that has one, else the
  trace id. Made subject-safe (`[A-Za-z0-9_-]{1,128}`).
- agent: the span's `gen_ai.agent.id`, `gen_ai.agent.name` or `agent.name`; for an agent span
  without either, its name; else the agent of the nearest ancestor that has one.
- kind: `gen_ai.operation.name`, else `openinference.span.kind`, else (when any `gen_ai.*`
  attribute is present) the first word of the span name; see SPAN_KINDS.
- each span → a start event (its start time) and a complete or error event (its end time, error
  when its status is ERROR), both with span_id = the OTel span id and parent_id = its parent's.
- the first sight of an agent → `agent_spawn`; an agent span under a span of another agent → a
  `communication` hand-off from that agent to this one.
Ids: `otel:<trace id>:<span id>:<start|end|handoff>` and `otel:agent:<agent id>` (unique within the
session; the store and ingest deduplicate by (session_id, id)).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import orjson

from swarmscope_schema.sources import SOURCE_KEY, EventSource
from swarmscope_schema.taxonomy import EventType

OTEL_SPAN_TYPE = "custom.otel_span"

StatusCode = Literal["unset", "ok", "error"]


class SpanKind(StrEnum):
    """What a span is, as far as the contract cares."""

    AGENT = "agent"
    TOOL = "tool"
    LLM = "llm"
    WORKFLOW = "workflow"
    OTHER = "other"


# `gen_ai.operation.name` (OTel GenAI conventions) → kind.
GENAI_OPERATIONS: dict[str, SpanKind] = {
    "invoke_agent": SpanKind.AGENT,
    "create_agent": SpanKind.AGENT,
    "execute_tool": SpanKind.TOOL,
    "chat": SpanKind.LLM,
    "text_completion": SpanKind.LLM,
    "generate_content": SpanKind.LLM,
    "invoke_workflow": SpanKind.WORKFLOW,
    "plan": SpanKind.WORKFLOW,
}

# `openinference.span.kind` (OpenInference) → kind. RETRIEVER, EMBEDDING, RERANKER, GUARDRAIL,
# EVALUATOR, PROMPT and what comes later stay `custom.otel_span` with every attribute.
OPENINFERENCE_KINDS: dict[str, SpanKind] = {
    "AGENT": SpanKind.AGENT,
    "TOOL": SpanKind.TOOL,
    "LLM": SpanKind.LLM,
    "CHAIN": SpanKind.WORKFLOW,
}

# kind → the contract type of its start and complete/error events.
KIND_TYPES: dict[SpanKind, str] = {
    SpanKind.AGENT: EventType.AGENT_METHOD,
    SpanKind.TOOL: EventType.TOOL_CALL,
    SpanKind.LLM: EventType.LLM_CALL,
    SpanKind.WORKFLOW: EventType.AGENT_METHOD,
    SpanKind.OTHER: OTEL_SPAN_TYPE,
}

OPERATION_NAME = "gen_ai.operation.name"
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
SESSION_KEYS = ("gen_ai.conversation.id", "session.id")
AGENT_ID_KEYS = ("gen_ai.agent.id", "gen_ai.agent.name", "agent.name")
AGENT_NAME_KEYS = ("gen_ai.agent.name", "agent.name", "gen_ai.agent.id")
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "embedding.model_name")
TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool.name")
INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
COST_KEYS = ("llm.cost.total", "gen_ai.usage.cost")
TOOL_ARGS_KEYS = ("gen_ai.tool.call.arguments", "tool.parameters", "input.value")
TOOL_RESULT_KEYS = ("gen_ai.tool.call.result", "output.value")
PROMPT_KEYS = ("gen_ai.input.messages", "gen_ai.prompt")
RESPONSE_KEYS = ("gen_ai.output.messages", "gen_ai.completion")
# OpenInference flattens message lists into `<prefix>.<i>.message.<field>` attributes.
INPUT_MESSAGES_PREFIX = "llm.input_messages."
OUTPUT_MESSAGES_PREFIX = "llm.output_messages."
# Attributes lifted into the event's own fields; every other attribute stays in data.attributes.
LIFTED_KEYS = frozenset(
    {
        "input.value",
        "output.value",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    }
)
LIFTED_PREFIXES = (INPUT_MESSAGES_PREFIX, OUTPUT_MESSAGES_PREFIX)
# Span events that carry a prompt message or a response (GenAI conventions, older and newer).
PROMPT_EVENTS = frozenset(
    {"gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message"}
)
RESPONSE_EVENTS = frozenset({"gen_ai.choice"})
UNKNOWN_MODEL = "unknown"

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_\-]")
_MAX_NAME = 128


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """An event recorded on a span (an exception, a GenAI message, …)."""

    name: str
    time_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanLink:
    """A link from a span to another (often a sub-agent's run started as a trace of its own)."""

    trace_id: str
    span_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OtelSpan:
    """One span as decoded from OTLP: hex ids, nanosecond times, plain attribute values."""

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str | None = None
    kind: str = "internal"
    attributes: Mapping[str, Any] = field(default_factory=dict)
    status: StatusCode = "unset"
    status_message: str = ""
    events: Sequence[SpanEvent] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)
    scope: str | None = None
    links: Sequence[SpanLink] = ()


@dataclass(slots=True)
class MappedSpan:
    """The events one span yields, in log order (a span is published whole or not at all)."""

    span: OtelSpan
    events: list[dict[str, Any]]


def safe_name(value: str) -> str:
    """A session or agent id from a foreign one: unsafe characters become `_`; one too long keeps
    a readable head and a digest of the whole, so distinct long ids stay distinct."""
    cleaned = _UNSAFE_NAME.sub("_", value.strip()) or "_"
    if len(cleaned) <= _MAX_NAME:
        return cleaned
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    return f"{cleaned[: _MAX_NAME - 17]}-{digest}"


def span_kind(span: OtelSpan) -> SpanKind:
    """The kind of a span (see GENAI_OPERATIONS and OPENINFERENCE_KINDS)."""
    attrs = span.attributes
    operation = attrs.get(OPERATION_NAME)
    if isinstance(operation, str) and operation in GENAI_OPERATIONS:
        return GENAI_OPERATIONS[operation]
    oi_kind = attrs.get(OPENINFERENCE_SPAN_KIND)
    if isinstance(oi_kind, str) and oi_kind.upper() in OPENINFERENCE_KINDS:
        return OPENINFERENCE_KINDS[oi_kind.upper()]
    if any(key.startswith("gen_ai.") for key in attrs):
        first = span.name.split(" ", 1)[0]
        if first in GENAI_OPERATIONS:
            return GENAI_OPERATIONS[first]
    return SpanKind.OTHER


def _text(attrs: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    return None


def _int(attrs: Mapping[str, Any], keys: Iterable[str]) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value >= 0:
            return value
        if isinstance(value, float) and value >= 0 and value.is_integer():
            return int(value)
    return None


def _float(attrs: Mapping[str, Any], keys: Iterable[str]) -> float | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None


def _maybe_json(value: Any) -> Any:
    """Instrumentations send structured values as JSON text; show them as structure."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _first_value(attrs: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in attrs and attrs[key] is not None:
            return _maybe_json(attrs[key])
    return None


def _unflatten(attrs: Mapping[str, Any], prefix: str) -> list[Any] | None:
    """OpenInference's `llm.input_messages.0.message.role` … back into a list of messages."""
    root: dict[str, Any] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        node = root
        parts = key[len(prefix) :].split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    if not root:
        return None
    result = _listify(root)
    return result if isinstance(result, list) else [result]


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [_unwrap(items[k]) for k in sorted(items, key=int)]
    return items


def _unwrap(item: Any) -> Any:
    # {"message": {...}}, {"tool_call": {...}}, {"message_content": {...}} → the inner object.
    if isinstance(item, dict) and len(item) == 1:
        (only,) = item.values()
        if isinstance(only, dict):
            return only
    return item


def _span_event_messages(span: OtelSpan, names: frozenset[str]) -> list[Any] | None:
    found = [
        {"event": e.name, **{k: _maybe_json(v) for k, v in e.attributes.items()}}
        for e in span.events
        if e.name in names
    ]
    return found or None


def _operation_details(span: OtelSpan, key: str) -> Any:
    # Newer GenAI conventions put both message lists on one span event.
    for e in span.events:
        if e.name == "gen_ai.client.inference.operation.details" and key in e.attributes:
            return _maybe_json(e.attributes[key])
    return None


def _kept_attributes(span: OtelSpan, kind: SpanKind) -> dict[str, Any]:
    if kind is SpanKind.OTHER:
        return dict(span.attributes)
    return {
        k: v for k, v in span.attributes.items() if k not in LIFTED_KEYS and not k.startswith(LIFTED_PREFIXES)
    }


def _ms(ns: int) -> float:
    return ns / 1_000_000


def _payload(span: OtelSpan, kind: SpanKind) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data of the start event, data added to the end event) for a span of a kind."""
    attrs = span.attributes
    if kind is SpanKind.TOOL:
        tool = _text(attrs, TOOL_NAME_KEYS) or span.name.removeprefix("execute_tool ").strip() or span.name
        start: dict[str, Any] = {"tool": tool, "args": _first_value(attrs, TOOL_ARGS_KEYS)}
        call_id = _text(attrs, ("gen_ai.tool.call.id", "tool_call.id"))
        if call_id:
            start["call_id"] = call_id
        return start, {"tool": tool, "result": _first_value(attrs, TOOL_RESULT_KEYS)}
    if kind is SpanKind.LLM:
        # Without a model attribute the span name (often the client class, e.g. ChatOpenAI) says more
        # than nothing.
        model = _text(attrs, MODEL_KEYS) or span.name or UNKNOWN_MODEL
        prompt = (
            _first_value(attrs, PROMPT_KEYS)
            or _operation_details(span, "gen_ai.input.messages")
            or _unflatten(attrs, INPUT_MESSAGES_PREFIX)
            or _span_event_messages(span, PROMPT_EVENTS)
            or _first_value(attrs, ("input.value",))
        )
        response = (
            _first_value(attrs, RESPONSE_KEYS)
            or _operation_details(span, "gen_ai.output.messages")
            or _unflatten(attrs, OUTPUT_MESSAGES_PREFIX)
            or _span_event_messages(span, RESPONSE_EVENTS)
            or _first_value(attrs, ("output.value",))
        )
        end: dict[str, Any] = {"model": model, "response": response}
        for name, keys in (("input_tokens", INPUT_TOKEN_KEYS), ("output_tokens", OUTPUT_TOKEN_KEYS)):
            count = _int(attrs, keys)
            if count is not None:
                end[name] = count
        cost = _float(attrs, COST_KEYS)
        if cost is not None:
            end["cost_usd"] = cost
        provider = _text(attrs, ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"))
        start = {"model": model, "prompt": prompt}
        if provider:
            start["provider"] = provider
        return start, end
    if kind is SpanKind.OTHER:
        return {"name": span.name, "kind": span.kind}, {"name": span.name}
    return (
        {"method": span.name, "args": _first_value(attrs, ("input.value",))},
        {"method": span.name, "result": _first_value(attrs, ("output.value",))},
    )


@dataclass(slots=True)
class _Agent:
    agent_id: str
    name: str
    description: str | None


def _own_agent(span: OtelSpan, kind: SpanKind) -> _Agent | None:
    attrs = span.attributes
    ident = _text(attrs, AGENT_ID_KEYS)
    if ident is None and kind is SpanKind.AGENT:
        ident = span.name.removeprefix("invoke_agent ").removeprefix("create_agent ").strip() or span.name
    if ident is None:
        return None
    name = _text(attrs, AGENT_NAME_KEYS) or ident
    return _Agent(safe_name(ident), name, _text(attrs, ("gen_ai.agent.description",)))


class _Resolver:
    """Session and agent of each span of one request, by ancestry within it."""

    def __init__(self, spans: Sequence[OtelSpan]) -> None:
        self.by_id = {(s.trace_id, s.span_id): s for s in spans}
        self.kinds = {(s.trace_id, s.span_id): span_kind(s) for s in spans}
        self._sessions: dict[tuple[str, str], str | None] = {}
        self._agents: dict[tuple[str, str], _Agent | None] = {}
        self.trace_sessions: dict[str, str] = {}
        for s in spans:
            own = _text(s.attributes, SESSION_KEYS)
            if own and s.trace_id not in self.trace_sessions:
                self.trace_sessions[s.trace_id] = own

    def ancestors(self, span: OtelSpan) -> Iterable[OtelSpan]:
        seen: set[str] = {span.span_id}
        parent = span.parent_span_id
        while parent and parent not in seen:
            seen.add(parent)
            found = self.by_id.get((span.trace_id, parent))
            if found is None:
                return
            yield found
            parent = found.parent_span_id

    def session(self, span: OtelSpan) -> str:
        own = _text(span.attributes, SESSION_KEYS)
        if own is None:
            for ancestor in self.ancestors(span):
                own = _text(ancestor.attributes, SESSION_KEYS)
                if own is not None:
                    break
        if own is None:
            own = self.trace_sessions.get(span.trace_id, span.trace_id)
        return safe_name(own)

    def own_agent(self, span: OtelSpan) -> _Agent | None:
        key = (span.trace_id, span.span_id)
        if key not in self._agents:
            self._agents[key] = _own_agent(span, self.kinds[key])
        return self._agents[key]

    def agent(self, span: OtelSpan) -> _Agent | None:
        own = self.own_agent(span)
        if own is not None:
            return own
        return self.enclosing_agent(span)

    def enclosing_agent(self, span: OtelSpan) -> _Agent | None:
        for ancestor in self.ancestors(span):
            found = self.own_agent(ancestor)
            if found is not None:
                return found
        return None


def _envelope(
    span: OtelSpan, session: str, agent: _Agent | None, event_id: str, event_type: str, ts_ns: int
) -> dict[str, Any]:
    metadata: dict[str, Any] = {SOURCE_KEY: EventSource.OTLP.value, "correlation_id": span.trace_id}
    if span.parent_span_id:
        metadata["parent_id"] = span.parent_span_id
    event: dict[str, Any] = {
        "id": event_id,
        "timestamp": _ms(ts_ns),
        "session_id": session,
        "type": event_type,
        "span_id": span.span_id,
        "metadata": metadata,
    }
    if agent is not None:
        event["agent_id"] = agent.agent_id
    return event


def _error_text(span: OtelSpan) -> str:
    if span.status_message:
        return span.status_message
    for e in span.events:
        if e.name == "exception":
            message = e.attributes.get("exception.message") or e.attributes.get("exception.type")
            if isinstance(message, str) and message:
                return message
    error_type = span.attributes.get("error.type")
    return error_type if isinstance(error_type, str) and error_type else "error"


def _otel_info(span: OtelSpan) -> dict[str, Any]:
    info: dict[str, Any] = {"trace_id": span.trace_id, "span_id": span.span_id, "name": span.name}
    if span.kind != "internal":
        info["kind"] = span.kind
    if span.scope:
        info["scope"] = span.scope
    service = span.resource.get("service.name")
    if isinstance(service, str) and service:
        info["service"] = service
    return info


def _span_events(span: OtelSpan) -> list[dict[str, Any]]:
    return [
        {"name": e.name, "timestamp": _ms(e.time_ns), "attributes": dict(e.attributes)} for e in span.events
    ]


def _span_record(span: OtelSpan, resolver: _Resolver, spawned: set[tuple[str, str]]) -> MappedSpan:
    kind = resolver.kinds[(span.trace_id, span.span_id)]
    session = resolver.session(span)
    agent = resolver.agent(span)
    event_type = KIND_TYPES[kind]
    prefix = f"otel:{span.trace_id}:{span.span_id}"
    # A value the span did not carry is left out rather than stored as null.
    start_data, end_data = ({k: v for k, v in d.items() if v is not None} for d in _payload(span, kind))
    events: list[dict[str, Any]] = []
    own = resolver.own_agent(span)
    caller = resolver.enclosing_agent(span) if own is not None else None
    if caller is not None and own is not None and caller.agent_id == own.agent_id:
        caller = None
    if own is not None and (session, own.agent_id) not in spawned:
        spawned.add((session, own.agent_id))
        spawn = _envelope(
            span, session, own, f"otel:agent:{own.agent_id}", EventType.AGENT_SPAWN, span.start_ns
        )
        spawn["span_id"] = spawn["id"]
        spawn["data"] = {
            "agent_type": own.name,
            "name": own.name,
            **({"description": own.description} if own.description else {}),
            **({"parent_agent_id": caller.agent_id} if caller else {}),
            "status": "idle",
        }
        events.append(spawn)
    if caller is not None and own is not None:
        handoff = _envelope(
            span, session, caller, f"{prefix}:handoff", EventType.COMMUNICATION, span.start_ns
        )
        handoff["span_id"] = handoff["id"]
        content = _first_value(span.attributes, ("input.value", "gen_ai.input.messages")) or span.name
        handoff["data"] = {
            "message": {
                "id": f"otel-{span.span_id}",
                "from": caller.agent_id,
                "to": [own.agent_id],
                "type": "handoff",
                "content": content,
            },
            "direction": "sent",
        }
        events.append(handoff)
    start = _envelope(span, session, agent, f"{prefix}:start", event_type, span.start_ns)
    start["phase"] = "start"
    start["data"] = {
        **start_data,
        "attributes": _kept_attributes(span, kind),
        "otel": _otel_info(span),
    }
    if span.links:
        start["data"]["links"] = [
            {"trace_id": link.trace_id, "span_id": link.span_id, "attributes": dict(link.attributes)}
            for link in span.links
        ]
        # The first link is what caused this span: the store draws it as a callback edge when the
        # linked span is in the same session.
        first = span.links[0]
        start["metadata"]["causation_id"] = f"otel:{first.trace_id}:{first.span_id}:start"
    events.append(start)
    failed = span.status == "error"
    end = _envelope(span, session, agent, f"{prefix}:end", event_type, max(span.end_ns, span.start_ns))
    end["phase"] = "error" if failed else "complete"
    end_payload: dict[str, Any] = dict(end_data)
    if failed:
        end_payload["error"] = _error_text(span)
    if span.events:
        end_payload["span_events"] = _span_events(span)
    end["data"] = end_payload
    performance: dict[str, Any] = {"duration": _ms(max(span.end_ns - span.start_ns, 0))}
    for key in ("input_tokens", "output_tokens", "cost_usd"):
        if key in end_payload:
            performance[key] = end_payload[key]
    end["performance"] = performance
    events.append(end)
    return MappedSpan(span, events)


def map_spans(spans: Sequence[OtelSpan]) -> list[MappedSpan]:
    """The events of every span of one export request, spans in start-time order (parents before
    the children they started, so an agent's spawn precedes its work)."""
    resolver = _Resolver(spans)
    spawned: set[tuple[str, str]] = set()
    ordered = sorted(spans, key=lambda s: (s.start_ns, len(list(resolver.ancestors(s)))))
    return [_span_record(span, resolver, spawned) for span in ordered]


def ordered_events(mapped: Iterable[MappedSpan]) -> list[dict[str, Any]]:
    """Every event of the mapped spans in the order to publish them: by timestamp, so a span's
    start precedes its children's and its end follows theirs, the log order replay steps through
    (stable: an agent's spawn and hand-off stay before the start they share a time with)."""
    events = [event for m in mapped for event in m.events]
    events.sort(key=lambda e: float(e["timestamp"]))
    return events
