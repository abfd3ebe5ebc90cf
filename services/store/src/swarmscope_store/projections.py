"""Projections kept in the same transaction as the events: what a batch adds to each summary.

`plan_projections` is pure: given the events a batch actually inserted (duplicates already left
out, so a redelivery adds nothing) and the state those events touch as it was before the batch, it
returns the rows to upsert. The store applies them in the batch's transaction.

Rules (the contract of the `graph`, `agents`, `sessions` and `performance` answers):

Sessions: created at a session's first event with status `active`; `source` is that first event's
`metadata.source`, else `nats` (v1.1). `session_start` sets name and
objective and status `active`; `session_end` sets status to its `data.status` (default
`completed`) and end_time to its timestamp (statuses by the semantics table). The status of the
highest seq that stated one wins.
start_time / last_event_time are the lowest / highest producer timestamps; event, error and agent
counts, tokens and cost are sums over stored events. An event is an error when its type is
`error` or `task_fail`, or its phase is `error`.

Agents: a row per agent_id an event carries, plus the agent an effect names (a `task_assignment`'s
assignee). Status and current task are the semantics table's (swarmscope_schema.semantics, which the
replay reducer reads too): the highest seq that stated one wins (status_seq / task_seq), an
explicit `data.agent_status` wins over inference, and an agent no event stated a status of is
`idle` (at status_seq 0, so any stated status wins over it).
tool_calls / llm_calls count spans of those types (a call with start and complete events is one
call). Messages are counted once per message id: the sender's messages_sent and each recipient's
messages_received (for agents that have a row).

Spans: every event belongs to a span (span_id, default its own id). A span's type, label
(semantics.event_label), agent and parent come from its first event; its status is `open` until an event with phase `complete`
(→ `complete`) or an error event (→ `error`, which sticks). start_time is its first timestamp,
end_time the timestamp of its last complete/error event, duration_ms the larger of
end_time - start_time and any `performance.duration` its events report.

Relationships (typed edges; a span-level edge joins span ids, an agent-level edge agent ids):
- `sequence` (span): when a span is first seen, from the previous span first seen with the same
  agent and the same parent span (the "lane"), to it.
- `parallel` (span): when a span opens (its first event has phase start or progress), from each
  sibling (same parent span, or both at the root) still open at that moment, to it; at most
  MAX_PARALLEL_EDGES siblings, the most recently started.
- `spawn` (span): from a parent span to a child span of another agent; and from the span of the
  `agent_spawn` of agent P to the span of the `agent_spawn` whose data.parent_agent_id is P.
  (agent): from data.parent_agent_id to the spawned agent, per `agent_spawn`.
- `callback` (span): from the span of an event whose metadata.causation_id names an already stored
  event of the session, to that event's span; and from the span of a communication whose
  message.in_reply_to names an already stored message, to the span of that message. Never to the
  event's own span.
- `message` (agent): from message.from to each of message.to, counted once per message id.

Session facts (v1.1): one row per (session, attribute, value) of SESSION_ATTRIBUTES, first stated at
first_seq: agent_spawn data.agent_type, tool_call data.tool, llm_call data.model, and data.error_type
of an error event (type `error`, `task_fail` or phase `error`). The sessions search reads them.

Performance snapshots: per session and window of BUCKET_MS of producer time: events, errors,
sum / count / max of performance.duration, tokens (performance.token_count, else input + output
tokens of performance or of an llm_call's data), input and output tokens, cost
(performance.cost_usd, else an llm_call's data.cost_usd). Cost breakdowns add the same measures
per agent, per event type and per model (llm_call data.model).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from swarmscope_schema.semantics import (
    AGENT_EFFECTS,
    AGENT_INITIAL_STATUS,
    ERROR_TYPES,
    EXPLICIT_AGENT_STATUS,
    STATUS_TYPES,
    agent_change,
    event_label,
    explicit_agent_target,
    session_status,
    text,
)
from swarmscope_schema.sources import DEFAULT_SESSION_SOURCE, event_source
from swarmscope_store.records import EventRecord, clean_text, number_or_none, text_or_none

BUCKET_MS = 1000
MAX_PARALLEL_EDGES = 8
MAX_TOKENS = 2**53  # keeps sums far inside a bigint whatever a producer claims


SessionKey = tuple[str, str]  # (session_id, id)


@dataclass(slots=True)
class Measures:
    """What one event adds to counters."""

    is_error: bool
    duration: float | None
    tokens: int
    input_tokens: int
    output_tokens: int
    cost: float
    model: str | None


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is int and 0 <= value <= MAX_TOKENS:
        return value
    number = number_or_none(value)
    if number is None:
        return None
    return int(min(max(number, 0.0), MAX_TOKENS))


_EMPTY: dict[str, Any] = {}


def measures(record: EventRecord) -> Measures:
    """Error flag, duration, tokens, cost and model of an event."""
    perf = record.event.get("performance")
    if type(perf) is not dict or not perf:
        perf = _EMPTY
    is_llm = record.type == "llm_call"
    is_error = record.phase == "error" or record.type in ERROR_TYPES
    if perf is _EMPTY and not is_llm:
        # Most events report no measures at all: skip every lookup.
        return Measures(is_error, None, 0, 0, 0, 0.0, None)
    data = record.data
    input_tokens = _count(perf.get("input_tokens"))
    output_tokens = _count(perf.get("output_tokens"))
    if is_llm:
        if input_tokens is None:
            input_tokens = _count(data.get("input_tokens"))
        if output_tokens is None:
            output_tokens = _count(data.get("output_tokens"))
    tokens = _count(perf.get("token_count"))
    if tokens is None:
        tokens = (input_tokens or 0) + (output_tokens or 0)
    cost = number_or_none(perf.get("cost_usd"))
    if cost is None and is_llm:
        cost = number_or_none(data.get("cost_usd"))
    duration = number_or_none(perf.get("duration"))
    return Measures(
        is_error,
        duration if duration is not None and duration >= 0 else None,
        tokens,
        input_tokens or 0,
        output_tokens or 0,
        cost if cost is not None and cost >= 0 else 0.0,
        text_or_none(data.get("model"), 200) if is_llm else None,
    )


def span_label(event_type: str, data: dict[str, Any]) -> str:
    """A short human label of a span from its first event (semantics.event_label, one label for
    the store, replay and the UI)."""
    return clean_text(event_label(event_type, data))


@dataclass(slots=True)
class SpanRow:
    """A span as the spans table holds it (column order of SPAN_COLUMNS)."""

    session_id: str
    span_id: str
    agent_id: str | None
    parent_id: str | None
    type: str
    label: str
    status: str
    start_seq: int
    end_seq: int
    start_time: float
    end_time: float | None
    duration_ms: float | None
    event_count: int
    error_count: int
    end_event_id: str
    expires_at: int

    @property
    def parent_key(self) -> str:
        return self.parent_id or ""

    def row(self) -> tuple[Any, ...]:
        return (
            self.session_id,
            self.span_id,
            self.agent_id,
            self.parent_id,
            self.parent_key,
            self.type,
            self.label,
            self.status,
            self.start_seq,
            self.end_seq,
            self.start_time,
            self.end_time,
            self.duration_ms,
            self.event_count,
            self.error_count,
            self.end_event_id,
            self.expires_at,
        )


SPAN_COLUMNS = (
    "session_id",
    "span_id",
    "agent_id",
    "parent_id",
    "parent_key",
    "type",
    "label",
    "status",
    "start_seq",
    "end_seq",
    "start_time",
    "end_time",
    "duration_ms",
    "event_count",
    "error_count",
    "end_event_id",
    "expires_at",
)


def span_from_row(row: Sequence[Any]) -> SpanRow:
    """A SpanRow from a spans row selected in SPAN_COLUMNS order (parent_key is derived)."""
    return SpanRow(
        session_id=row[0],
        span_id=row[1],
        agent_id=row[2],
        parent_id=row[3],
        type=row[5],
        label=row[6],
        status=row[7],
        start_seq=int(row[8]),
        end_seq=int(row[9]),
        start_time=float(row[10]),
        end_time=None if row[11] is None else float(row[11]),
        duration_ms=None if row[12] is None else float(row[12]),
        event_count=int(row[13]),
        error_count=int(row[14]),
        end_event_id=row[15],
        expires_at=int(row[16]),
    )


@dataclass
class PriorState:
    """What the batch's events touch, as it was before the batch (loaded in its transaction)."""

    spans: dict[SessionKey, SpanRow] = field(default_factory=dict)
    lanes: dict[tuple[str, str, str], str] = field(default_factory=dict)
    open_siblings: dict[SessionKey, dict[str, int]] = field(default_factory=dict)
    agent_spawn_spans: dict[SessionKey, str] = field(default_factory=dict)
    event_spans: dict[SessionKey, str] = field(default_factory=dict)
    message_spans: dict[SessionKey, str] = field(default_factory=dict)


@dataclass(slots=True)
class _SessionDelta:
    session_id: str
    first_seq: int
    last_seq: int
    start_time: float
    last_event_time: float
    expires_at: int
    name: str | None = None
    objective: str | None = None
    status: str = "active"
    status_seq: int = 0
    end_time: float | None = None
    events: int = 0
    errors: int = 0
    tokens: int = 0
    cost: float = 0.0
    source: str = DEFAULT_SESSION_SOURCE

    def row(self) -> tuple[Any, ...]:
        return (
            self.session_id,
            self.name,
            self.objective,
            self.status,
            self.status_seq,
            self.first_seq,
            self.last_seq,
            self.start_time,
            self.end_time,
            self.last_event_time,
            self.events,
            0,
            self.errors,
            self.tokens,
            self.cost,
            self.expires_at,
            self.source,
        )


SESSION_COLUMNS = (
    "session_id",
    "name",
    "objective",
    "status",
    "status_seq",
    "first_seq",
    "last_seq",
    "start_time",
    "end_time",
    "last_event_time",
    "event_count",
    "agent_count",
    "error_count",
    "tokens",
    "cost",
    "expires_at",
    "source",
)


@dataclass(slots=True)
class _AgentDelta:
    session_id: str
    agent_id: str
    first_seq: int
    last_seq: int
    first_time: float
    last_time: float
    agent_type: str | None = None
    name: str | None = None
    parent_agent_id: str | None = None
    status: str | None = None
    status_seq: int = 0
    current_task: str | None = None
    task_seq: int = 0
    spawn_span_id: str | None = None
    events: int = 0
    errors: int = 0
    tool_calls: int = 0
    llm_calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    duration_ms: float = 0.0

    def row(self) -> tuple[Any, ...]:
        return (
            self.session_id,
            self.agent_id,
            self.agent_type,
            self.name,
            self.parent_agent_id,
            # Not stated yet: the initial status, at seq 0 so that any stated one wins over it.
            self.status or AGENT_INITIAL_STATUS,
            self.status_seq,
            self.current_task,
            self.task_seq,
            self.spawn_span_id,
            self.first_seq,
            self.last_seq,
            self.first_time,
            self.last_time,
            self.events,
            self.errors,
            self.tool_calls,
            self.llm_calls,
            self.tokens,
            self.cost,
            self.duration_ms,
        )

    def set_status(self, status: str | None, seq: int) -> None:
        if status and seq >= self.status_seq:
            self.status = status
            self.status_seq = seq

    def set_task(self, task: str | None, seq: int) -> None:
        if seq >= self.task_seq:
            self.current_task = task
            self.task_seq = seq


AGENT_COLUMNS = (
    "session_id",
    "agent_id",
    "agent_type",
    "name",
    "parent_agent_id",
    "status",
    "status_seq",
    "current_task",
    "task_seq",
    "spawn_span_id",
    "first_seq",
    "last_seq",
    "first_time",
    "last_time",
    "event_count",
    "error_count",
    "tool_calls",
    "llm_calls",
    "tokens",
    "cost",
    "duration_ms",
)


@dataclass(slots=True)
class _Totals:
    events: int = 0
    errors: int = 0
    duration_sum: float = 0.0
    duration_count: int = 0
    duration_max: float | None = None
    tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    expires_at: int = 0

    def add(self, m: Measures, expires_at: int) -> None:
        self.events += 1
        self.errors += int(m.is_error)
        if m.duration is not None:
            self.duration_sum += m.duration
            self.duration_count += 1
            if self.duration_max is None or m.duration > self.duration_max:
                self.duration_max = m.duration
        self.tokens += m.tokens
        self.input_tokens += m.input_tokens
        self.output_tokens += m.output_tokens
        self.cost += m.cost
        if expires_at > self.expires_at:
            self.expires_at = expires_at


PERFORMANCE_COLUMNS = (
    "session_id",
    "window_start",
    "events",
    "errors",
    "duration_sum",
    "duration_count",
    "duration_max",
    "tokens",
    "input_tokens",
    "output_tokens",
    "cost",
    "expires_at",
)
BREAKDOWN_COLUMNS = (
    "session_id",
    "dimension",
    "key",
    "events",
    "duration_ms",
    "tokens",
    "input_tokens",
    "output_tokens",
    "cost",
)
LANE_COLUMNS = ("session_id", "agent_key", "parent_key", "last_span_id", "last_seq")
RELATIONSHIP_COLUMNS = (
    "session_id",
    "node_kind",
    "source_id",
    "target_id",
    "rel_type",
    "count",
    "first_seq",
    "expires_at",
)
MESSAGE_COLUMNS = ("session_id", "message_id", "span_id", "from_agent", "seq", "expires_at")
FACT_COLUMNS = ("session_id", "kind", "value", "first_seq")
FACT_VALUE_CHARS = 200


@dataclass
class ProjectionPlan:
    """Rows to upsert, each list in the column order of its table's *_COLUMNS."""

    sessions: list[tuple[Any, ...]]
    agents: list[tuple[Any, ...]]
    message_counts: list[tuple[int, int, str, str]]  # (sent, received, session_id, agent_id)
    spans: list[tuple[Any, ...]]
    lanes: list[tuple[Any, ...]]
    relationships: list[tuple[Any, ...]]
    messages: list[tuple[Any, ...]]
    performance: list[tuple[Any, ...]]
    breakdowns: list[tuple[Any, ...]]
    facts: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def session_ids(self) -> list[str]:
        return [row[0] for row in self.sessions]


def _texts(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [t for t in (text_or_none(v) for v in items) if t]


KeyT = TypeVar("KeyT")


def _totals(table: dict[KeyT, _Totals], key: KeyT) -> _Totals:
    totals = table.get(key)
    if totals is None:
        totals = table[key] = _Totals()
    return totals


class _Planner:
    def __init__(self, prior: PriorState) -> None:
        self.spans = dict(prior.spans)
        self.lanes = dict(prior.lanes)
        self.open_siblings = {k: dict(v) for k, v in prior.open_siblings.items()}
        self.spawn_spans = dict(prior.agent_spawn_spans)
        self.event_spans = dict(prior.event_spans)
        self.message_spans = dict(prior.message_spans)
        self.sessions: dict[str, _SessionDelta] = {}
        self.agents: dict[SessionKey, _AgentDelta] = {}
        self.touched_spans: dict[SessionKey, SpanRow] = {}
        self.touched_lanes: dict[tuple[str, str, str], tuple[str, int]] = {}
        self.edges: dict[tuple[str, str, str, str, str], list[int]] = {}
        self.messages: list[tuple[Any, ...]] = []
        self.sent: dict[SessionKey, int] = {}
        self.received: dict[SessionKey, int] = {}
        self.performance: dict[tuple[str, float], _Totals] = {}
        self.breakdowns: dict[tuple[str, str, str], _Totals] = {}
        self.facts: dict[tuple[str, str, str], int] = {}

    # -- helpers --------------------------------------------------------------------------------

    def edge(self, r: EventRecord, kind: str, source: str, target: str, rel: str) -> None:
        key = (r.session_id, kind, source, target, rel)
        entry = self.edges.get(key)
        if entry is None:
            self.edges[key] = [1, r.seq, r.expires_at]
        else:
            entry[0] += 1
            entry[2] = max(entry[2], r.expires_at)

    def agent(self, r: EventRecord, agent_id: str) -> _AgentDelta:
        key = (r.session_id, agent_id)
        delta = self.agents.get(key)
        if delta is None:
            delta = _AgentDelta(r.session_id, agent_id, r.seq, r.seq, r.ts, r.ts)
            self.agents[key] = delta
        else:
            if r.seq > delta.last_seq:
                delta.last_seq = r.seq
            if r.ts < delta.first_time:
                delta.first_time = r.ts
            if r.ts > delta.last_time:
                delta.last_time = r.ts
        return delta

    # -- per event ------------------------------------------------------------------------------

    def add(self, r: EventRecord) -> None:
        m = measures(r)
        data = r.data
        self._session(r, m, data)
        span, is_new = self._span(r, m, data)
        if r.agent_id is not None:
            self._agent(r, m, data, span, is_new)
        self._agent_effects(r, data)
        self._links(r, data)
        self.event_spans[(r.session_id, r.event_id)] = r.span_id
        bucket = float(math.floor(r.ts / BUCKET_MS) * BUCKET_MS)
        _totals(self.performance, (r.session_id, bucket)).add(m, r.expires_at)
        if r.agent_id is not None:
            _totals(self.breakdowns, (r.session_id, "agent", r.agent_id)).add(m, 0)
        _totals(self.breakdowns, (r.session_id, "type", r.type)).add(m, 0)
        if m.model:
            _totals(self.breakdowns, (r.session_id, "model", m.model)).add(m, 0)
        self._facts(r, m, data)

    def _facts(self, r: EventRecord, m: Measures, data: dict[str, Any]) -> None:
        t = r.type
        if t == "agent_spawn":
            self.fact(r, "agent_type", data.get("agent_type"))
        elif t == "tool_call":
            self.fact(r, "tool", data.get("tool"))
        elif m.model:
            self.fact(r, "model", m.model)
        if m.is_error:
            self.fact(r, "error_type", data.get("error_type"))

    def fact(self, r: EventRecord, kind: str, value: Any) -> None:
        text = text_or_none(value, FACT_VALUE_CHARS)
        if text is None:
            return
        key = (r.session_id, kind, text)
        if key not in self.facts:
            self.facts[key] = r.seq

    def _session(self, r: EventRecord, m: Measures, data: dict[str, Any]) -> None:
        s = self.sessions.get(r.session_id)
        if s is None:
            s = _SessionDelta(r.session_id, r.seq, r.seq, r.ts, r.ts, r.expires_at)
            s.source = clean_text(event_source(r.event))
            self.sessions[r.session_id] = s
        if r.seq < s.first_seq:
            s.first_seq = r.seq
            s.source = clean_text(event_source(r.event))
        if r.seq > s.last_seq:
            s.last_seq = r.seq
        if r.ts < s.start_time:
            s.start_time = r.ts
        if r.ts > s.last_event_time:
            s.last_event_time = r.ts
        if r.expires_at > s.expires_at:
            s.expires_at = r.expires_at
        s.events += 1
        s.errors += int(m.is_error)
        s.tokens += m.tokens
        s.cost += m.cost
        status = session_status(r.type, data)
        if status is not None and r.seq >= s.status_seq:
            s.status, s.status_seq = clean_text(status), r.seq
        if r.type == "session_start":
            s.name = text_or_none(data.get("name"), 200) or s.name
            s.objective = text_or_none(data.get("objective"), 2000) or s.objective
        elif r.type == "session_end":
            s.end_time = r.ts

    def _span(self, r: EventRecord, m: Measures, data: dict[str, Any]) -> tuple[SpanRow, bool]:
        key = (r.session_id, r.span_id)
        span = self.spans.get(key)
        is_new = span is None
        if span is None:
            span = SpanRow(
                session_id=r.session_id,
                span_id=r.span_id,
                agent_id=r.agent_id,
                parent_id=r.parent_id if r.parent_id != r.span_id else None,
                type=r.type,
                label=span_label(r.type, data),
                status="open",
                start_seq=r.seq,
                end_seq=r.seq,
                start_time=r.ts,
                end_time=None,
                duration_ms=None,
                event_count=0,
                error_count=0,
                end_event_id=r.event_id,
                expires_at=r.expires_at,
            )
            self.spans[key] = span
        was_open = span.status == "open" and not is_new
        span.event_count += 1
        ts = r.ts
        if m.is_error:
            span.error_count += 1
        if ts < span.start_time:
            span.start_time = ts
        if r.expires_at > span.expires_at:
            span.expires_at = r.expires_at
        if r.seq >= span.end_seq:
            span.end_seq = r.seq
            span.end_event_id = r.event_id
        if span.parent_id is None and r.parent_id and r.parent_id != r.span_id:
            span.parent_id = r.parent_id
        ends = m.is_error or r.phase == "complete"
        if m.is_error:
            span.status = "error"
        elif ends and span.status == "open":
            span.status = "complete"
        if ends and (span.end_time is None or ts > span.end_time):
            span.end_time = ts
        duration = span.duration_ms
        if m.duration is not None and (duration is None or m.duration > duration):
            duration = m.duration
        if span.end_time is not None:
            extent = span.end_time - span.start_time
            if duration is None or extent > duration:
                duration = extent
        span.duration_ms = duration
        self.touched_spans[key] = span
        if is_new:
            self._new_span(r, span)
        elif was_open and span.status != "open":
            self.open_siblings.get((r.session_id, span.parent_key), {}).pop(span.span_id, None)
        return span, is_new

    def _new_span(self, r: EventRecord, span: SpanRow) -> None:
        lane = (r.session_id, span.agent_id or "", span.parent_key)
        previous = self.lanes.get(lane)
        if previous is not None and previous != span.span_id:
            self.edge(r, "span", previous, span.span_id, "sequence")
        self.lanes[lane] = span.span_id
        self.touched_lanes[lane] = (span.span_id, r.seq)
        group = (r.session_id, span.parent_key)
        siblings = self.open_siblings.setdefault(group, {})
        if span.status == "open":
            if siblings:
                nearest: Iterable[str] = siblings
                if len(siblings) > MAX_PARALLEL_EDGES:
                    nearest = heapq.nlargest(MAX_PARALLEL_EDGES, siblings, key=siblings.__getitem__)
                for sibling in nearest:
                    if sibling != span.span_id:
                        self.edge(r, "span", sibling, span.span_id, "parallel")
            siblings[span.span_id] = span.start_seq
        if span.parent_id:
            parent = self.spans.get((r.session_id, span.parent_id))
            if parent is not None and parent.agent_id and span.agent_id and parent.agent_id != span.agent_id:
                self.edge(r, "span", parent.span_id, span.span_id, "spawn")

    def _agent(
        self, r: EventRecord, m: Measures, data: dict[str, Any], span: SpanRow, is_new_span: bool
    ) -> None:
        assert r.agent_id is not None
        a = self.agent(r, r.agent_id)
        a.first_seq = min(a.first_seq, r.seq)
        a.events += 1
        a.errors += int(m.is_error)
        a.tokens += m.tokens
        a.cost += m.cost
        a.duration_ms += m.duration or 0.0
        if is_new_span and span.type == "tool_call":
            a.tool_calls += 1
        if is_new_span and span.type == "llm_call":
            a.llm_calls += 1
        if r.type == "agent_spawn":
            a.agent_type = text_or_none(data.get("agent_type"), 200) or a.agent_type
            a.name = text_or_none(data.get("name"), 200) or a.name
            a.parent_agent_id = r.parent_agent_id or a.parent_agent_id
            a.spawn_span_id = r.span_id

    def _agent_effects(self, r: EventRecord, data: dict[str, Any]) -> None:
        # Status and current task by the semantics table (the replay reducer reads the same rows).
        if r.type not in AGENT_EFFECTS and (EXPLICIT_AGENT_STATUS not in data or r.type not in STATUS_TYPES):
            return  # most events (tool and LLM calls, messages, memory) change no agent
        change = agent_change(r.type, r.agent_id, data)
        if change is not None:
            delta = self.agent(r, change.agent_id)
            if change.status is not None:
                delta.set_status(clean_text(change.status), r.seq)
            if change.task is not None:
                delta.set_task(clean_text(change.task) or None, r.seq)
        explicit = text(data.get(EXPLICIT_AGENT_STATUS))
        if explicit is not None:
            target = explicit_agent_target(r.type, r.agent_id, data)
            if target is not None:
                self.agent(r, target).set_status(clean_text(explicit), r.seq)

    def _links(self, r: EventRecord, data: dict[str, Any]) -> None:
        session = r.session_id
        if r.causation_id and r.causation_id != r.event_id:
            target = self.event_spans.get((session, r.causation_id))
            if target is not None and target != r.span_id:
                self.edge(r, "span", r.span_id, target, "callback")
        if r.type == "agent_spawn" and r.agent_id:
            if r.parent_agent_id and r.parent_agent_id != r.agent_id:
                self.edge(r, "agent", r.parent_agent_id, r.agent_id, "spawn")
                parent_span = self.spawn_spans.get((session, r.parent_agent_id))
                if parent_span is not None and parent_span != r.span_id:
                    self.edge(r, "span", parent_span, r.span_id, "spawn")
            self.spawn_spans[(session, r.agent_id)] = r.span_id
        if r.type == "communication":
            if r.reply_to:
                target = self.message_spans.get((session, r.reply_to))
                if target is not None and target != r.span_id:
                    self.edge(r, "span", r.span_id, target, "callback")
            if r.message_id and (session, r.message_id) not in self.message_spans:
                self._message(r, data)

    def _message(self, r: EventRecord, data: dict[str, Any]) -> None:
        assert r.message_id is not None
        message = data.get("message")
        message = message if isinstance(message, dict) else {}
        sender = text_or_none(message.get("from"))
        recipients = _texts(message.get("to"))
        self.message_spans[(r.session_id, r.message_id)] = r.span_id
        self.messages.append((r.session_id, r.message_id, r.span_id, sender, r.seq, r.expires_at))
        if sender:
            self.sent[(r.session_id, sender)] = self.sent.get((r.session_id, sender), 0) + 1
            for recipient in recipients:
                self.edge(r, "agent", sender, recipient, "message")
        for recipient in recipients:
            key = (r.session_id, recipient)
            self.received[key] = self.received.get(key, 0) + 1

    # -- output ---------------------------------------------------------------------------------

    def plan(self) -> ProjectionPlan:
        counts: list[tuple[int, int, str, str]] = [
            (self.sent.get(key, 0), self.received.get(key, 0), key[0], key[1])
            for key in sorted(set(self.sent) | set(self.received))
        ]
        return ProjectionPlan(
            sessions=[s.row() for s in self.sessions.values()],
            agents=[a.row() for _, a in sorted(self.agents.items())],
            message_counts=counts,
            spans=[s.row() for _, s in sorted(self.touched_spans.items())],
            lanes=[(*lane, span, seq) for lane, (span, seq) in sorted(self.touched_lanes.items())],
            relationships=[(*key, c, first, exp) for key, (c, first, exp) in sorted(self.edges.items())],
            messages=self.messages,
            performance=[
                (
                    session,
                    start,
                    t.events,
                    t.errors,
                    t.duration_sum,
                    t.duration_count,
                    t.duration_max,
                    t.tokens,
                    t.input_tokens,
                    t.output_tokens,
                    t.cost,
                    t.expires_at,
                )
                for (session, start), t in sorted(self.performance.items())
            ],
            breakdowns=[
                (
                    session,
                    dim,
                    key,
                    t.events,
                    t.duration_sum,
                    t.tokens,
                    t.input_tokens,
                    t.output_tokens,
                    t.cost,
                )
                for (session, dim, key), t in sorted(self.breakdowns.items())
            ],
            facts=[(*key, seq) for key, seq in sorted(self.facts.items())],
        )


def plan_projections(records: Iterable[EventRecord], prior: PriorState) -> ProjectionPlan:
    """The projection rows a batch of newly inserted events adds (records in any order)."""
    planner = _Planner(prior)
    for record in sorted(records, key=lambda r: r.seq):
        planner.add(record)
    return planner.plan()
