"""What every event type means, written once (CONTRACT §2 "Semantics", v1.1).

One row per canonical type says what an event of that type does to the status and current task of
an agent, to the status of a task and to the status of the session; how it is labelled; its visual
category (the UI's colour, shape and glyph key); which fields carry ids; and whether it counts as an
error. The store's projections, the replay reducer and (through docs/contract/semantics.json, which
`make contract` writes) the frontend all read this table instead of keeping copies of their own.

The rule of agent effects is deliberately stateless: an effect depends on the event alone, never on
what an earlier event left behind, and among the events that state an agent's status (or its current
task) the one with the highest seq wins. The store merges agent rows batch by batch and out of order
by exactly that rule (a row keeps the status of its highest status_seq), so a rule that looked at
the agent's previous status (say "terminated stays terminated") could not hold there without reading
every touched agent per batch; the replay reducer, which folds in seq order, gets the same answer by
applying each effect as it comes. A producer that means something else states it: `data.agent_status`
and `data.task_status` win over every inference.

`agent_terminate` ends the agent's current task (it works on nothing once terminated): before v1.1
only replay cleared it, and the sessions list, the state and the agent panel disagreed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from swarmscope_schema.otel import OTEL_SPAN_TYPE
from swarmscope_schema.taxonomy import EventType

# The status of an agent before any event stated one, of a task an event names before one stated
# it, and of a session from its first event.
AGENT_INITIAL_STATUS = "idle"
TASK_INITIAL_STATUS = "created"
SESSION_INITIAL_STATUS = "active"
# The status a `session_end` without `data.status` means.
SESSION_END_DEFAULT_STATUS = "completed"
# Data fields that state a status outright; they win over what the table infers.
EXPLICIT_AGENT_STATUS = "agent_status"
EXPLICIT_TASK_STATUS = "task_status"
# The data field that names a task (every task_* type; an `error` may name one too).
TASK_ID_FIELD = "task_id"
# Longest label, in characters (longer ones end in "…").
MAX_LABEL_CHARS = 160

# Whose status an effect changes:
# - "event": the event's agent_id;
# - "assignee": data.agent_id (the agent a task is assigned to); no effect without it;
# - "worker": data.agent_id when given (a coordinator ending a worker's task names the worker),
#   else the event's agent_id.
Subject = Literal["event", "assignee", "worker"]
# What an effect does to the subject's current task: take the event's task, or end it.
TaskChange = Literal["set", "clear"]
# How a label's detail is made: the first non-empty field of `fields`; `namespace/key` of memory;
# `from→to` (and the message type) of a communication.
DetailKind = Literal["fields", "memory_key", "message"]
Category = Literal[
    "method", "message", "task", "memory", "error", "tool", "llm", "agent", "session", "decision", "other"
]


@dataclass(frozen=True, slots=True)
class AgentEffect:
    """What an event does to one agent: its status and/or its current task."""

    subject: Subject
    # The status it implies; `status_field` of data, when a non-empty text, states it instead.
    status: str | None = None
    status_field: str | None = None
    task: TaskChange | None = None
    # The effect applies only when data[key] == value for each of `when`, and for none of `unless`.
    when: Mapping[str, Any] = field(default_factory=dict)
    unless: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskEffect:
    """The status a task event gives the task data.task_id names."""

    status: str
    # (field, value, status): when data[field] == value the status is this one instead.
    status_if: tuple[str, Any, str] | None = None


@dataclass(frozen=True, slots=True)
class SessionEffect:
    """The status an event gives its session: `status`, or data[status_field] when that is a text."""

    status: str
    status_field: str | None = None


@dataclass(frozen=True, slots=True)
class Label:
    """A label is `verb detail` (just `verb` without a detail)."""

    verb: str
    fields: tuple[str, ...] = ()
    detail: DetailKind = "fields"


@dataclass(frozen=True, slots=True)
class Semantics:
    """Everything one event type means."""

    type: str
    category: Category
    label: Label
    # Role → dotted path of the payload fields that carry ids ("data.message.id").
    ids: Mapping[str, str] = field(default_factory=dict)
    agent: AgentEffect | None = None
    task: TaskEffect | None = None
    session: SessionEffect | None = None
    # An event of this type reports a failure (so does any event with phase `error`).
    is_error: bool = False


_TASK = {"task_id": "data.task_id"}
_BUSY = AgentEffect("worker", status="busy", task="set")
_FREE = AgentEffect("worker", status="idle", task="clear")

SEMANTICS: tuple[Semantics, ...] = (
    Semantics(
        EventType.SESSION_START,
        "session",
        Label("session", ("name", "objective")),
        session=SessionEffect(SESSION_INITIAL_STATUS),
    ),
    Semantics(
        EventType.SESSION_END,
        "session",
        Label("session end", ("status",)),
        session=SessionEffect(SESSION_END_DEFAULT_STATUS, "status"),
    ),
    Semantics(
        EventType.AGENT_SPAWN,
        "agent",
        Label("spawn", ("agent_type", "name")),
        ids={"parent_agent_id": "data.parent_agent_id"},
        agent=AgentEffect("event", status=AGENT_INITIAL_STATUS, status_field="status"),
    ),
    Semantics(
        EventType.AGENT_STATUS,
        "agent",
        Label("status →", ("status",)),
        agent=AgentEffect("event", status_field="status"),
    ),
    Semantics(
        EventType.AGENT_TERMINATE,
        "agent",
        Label("terminate", ("reason",)),
        agent=AgentEffect("event", status="terminated", task="clear"),
    ),
    Semantics(EventType.AGENT_METHOD, "method", Label("method", ("method",))),
    Semantics(
        EventType.TASK_CREATE, "task", Label("create", ("task_id",)), ids=_TASK, task=TaskEffect("created")
    ),
    Semantics(
        EventType.TASK_ASSIGNMENT,
        "task",
        Label("assign", ("task_id",)),
        ids={**_TASK, "assignee": "data.agent_id"},
        agent=AgentEffect("assignee", status="busy", task="set"),
        task=TaskEffect("assigned"),
    ),
    Semantics(
        EventType.TASK_START,
        "task",
        Label("start", ("task_id",)),
        ids=_TASK,
        agent=_BUSY,
        task=TaskEffect("running"),
    ),
    Semantics(EventType.TASK_PROGRESS, "task", Label("progress", ("task_id",)), ids=_TASK),
    Semantics(
        EventType.TASK_COMPLETE,
        "task",
        Label("complete", ("task_id",)),
        ids=_TASK,
        agent=_FREE,
        task=TaskEffect("completed"),
    ),
    Semantics(
        EventType.TASK_FAIL,
        "task",
        Label("fail", ("task_id",)),
        ids=_TASK,
        agent=_FREE,
        task=TaskEffect("failed", ("will_retry", True, "retrying")),
        is_error=True,
    ),
    Semantics(
        EventType.TASK_CANCEL,
        "task",
        Label("cancel", ("task_id",)),
        ids=_TASK,
        agent=_FREE,
        task=TaskEffect("cancelled"),
    ),
    Semantics(
        EventType.COMMUNICATION,
        "message",
        Label("msg", detail="message"),
        ids={
            "message_id": "data.message.id",
            "from": "data.message.from",
            "to": "data.message.to",
            "in_reply_to": "data.message.in_reply_to",
        },
    ),
    Semantics(EventType.MEMORY_WRITE, "memory", Label("write", detail="memory_key")),
    Semantics(EventType.MEMORY_READ, "memory", Label("read", detail="memory_key")),
    Semantics(EventType.MEMORY_DELETE, "memory", Label("delete", detail="memory_key")),
    Semantics(EventType.TOOL_CALL, "tool", Label("tool", ("tool",))),
    Semantics(EventType.LLM_CALL, "llm", Label("llm", ("model",))),
    Semantics(EventType.DECISION, "decision", Label("decide", ("kind",))),
    Semantics(EventType.COORDINATION, "decision", Label("coord", ("kind",))),
    Semantics(EventType.CONTEXT_UPDATE, "other", Label("context", ("key",))),
    Semantics(
        EventType.ERROR,
        "error",
        Label("error:", ("message", "error_type")),
        ids=_TASK,
        # An agent-scoped error that is not marked recoverable puts the agent in `error`.
        agent=AgentEffect("event", status="error", when={"scope": "agent"}, unless={"recoverable": True}),
        is_error=True,
    ),
    Semantics(EventType.PERFORMANCE_ALERT, "other", Label("alert", ("metric",))),
    # (v1.1) a span from OTLP that maps to no contract type: a custom type with a label of its own.
    Semantics(OTEL_SPAN_TYPE, "other", Label("span", ("name",))),
)

BY_TYPE: dict[str, Semantics] = {s.type: s for s in SEMANTICS}
# Precomputed lookups for the per-event hot paths (the store projection runs once per event).
AGENT_EFFECTS: dict[str, AgentEffect] = {s.type: s.agent for s in SEMANTICS if s.agent is not None}
TASK_EFFECTS: dict[str, TaskEffect] = {s.type: s.task for s in SEMANTICS if s.task is not None}
SESSION_EFFECTS: dict[str, SessionEffect] = {s.type: s.session for s in SEMANTICS if s.session is not None}
ERROR_TYPES: frozenset[str] = frozenset(s.type for s in SEMANTICS if s.is_error)
_LABELS: dict[str, Label] = {s.type: s.label for s in SEMANTICS}
# The types whose events change statuses at all (explicit data.agent_status / data.task_status
# included): the canonical ones. A custom type changes counters and makes its agent known, nothing more.
STATUS_TYPES: frozenset[str] = frozenset(t.value for t in EventType)
# The types with any effect on a status: an event of another type changes one only explicitly.
EFFECT_TYPES: frozenset[str] = frozenset(AGENT_EFFECTS) | frozenset(TASK_EFFECTS) | frozenset(SESSION_EFFECTS)
# The types whose events make the task data.task_id names known (an `error` only speaks of one).
TASK_TYPES: frozenset[str] = frozenset(s.type for s in SEMANTICS if s.category == "task")


def is_error(event_type: Any, phase: Any) -> bool:
    """True when an event reports a failure: a type of ERROR_TYPES, or phase `error`."""
    return phase == "error" or event_type in ERROR_TYPES


def text(value: Any) -> str | None:
    """A stated id or status: a non-empty text, or an integer as its text (frameworks number
    their tasks); None for anything else (so a missing or malformed value states nothing)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _matches(data: Mapping[str, Any], effect: AgentEffect) -> bool:
    for key, value in effect.when.items():
        if data.get(key) != value:
            return False
    return all(data.get(key) != value for key, value in effect.unless.items())


@dataclass(frozen=True, slots=True)
class AgentChange:
    """The resolved agent effect of one event: `status` None leaves the status as it is; `task`
    None leaves the current task, "" ends it, anything else is the new current task."""

    agent_id: str
    status: str | None
    task: str | None


def agent_change(event_type: str, agent_id: Any, data: Mapping[str, Any]) -> AgentChange | None:
    """What the event does to an agent's status and current task (the table's rule, resolved),
    without the explicit `data.agent_status` (see explicit_agent_target); None for nothing."""
    effect = AGENT_EFFECTS.get(event_type)
    if effect is None or not _matches(data, effect):
        return None
    if effect.subject == "event":
        subject = text(agent_id)
    elif effect.subject == "assignee":
        subject = text(data.get("agent_id"))
    else:
        subject = text(data.get("agent_id")) or text(agent_id)
    if subject is None:
        return None
    status = effect.status
    if effect.status_field is not None:
        status = text(data.get(effect.status_field)) or status
    task: str | None = None
    if effect.task == "set":
        task = text(data.get(TASK_ID_FIELD))
        if task is None and status is None:
            return None
    elif effect.task == "clear":
        task = ""
    if status is None and task is None:
        return None
    return AgentChange(subject, status, task)


def explicit_agent_target(event_type: str, agent_id: Any, data: Mapping[str, Any]) -> str | None:
    """The agent `data.agent_status` speaks of: the event's agent, else (an event without one)
    the agent its effect names, e.g. a task_assignment's assignee."""
    own = text(agent_id)
    if own is not None:
        return own
    effect = AGENT_EFFECTS.get(event_type)
    if effect is not None and effect.subject != "event":
        return text(data.get("agent_id"))
    return None


def task_status(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The status the event gives its task (data.task_status wins); None when it states none."""
    explicit = data.get(EXPLICIT_TASK_STATUS)
    if isinstance(explicit, str) and explicit:
        return explicit
    effect = TASK_EFFECTS.get(event_type)
    if effect is None:
        return None
    if effect.status_if is not None and data.get(effect.status_if[0]) == effect.status_if[1]:
        return effect.status_if[2]
    return effect.status


def session_status(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The status the event gives its session; None when it states none."""
    effect = SESSION_EFFECTS.get(event_type)
    if effect is None:
        return None
    if effect.status_field is not None:
        return text(data.get(effect.status_field)) or effect.status
    return effect.status


def _label_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None


def _detail(label: Label, data: Mapping[str, Any]) -> str | None:
    if label.detail == "memory_key":
        key = _label_text(data.get("key"))
        namespace = _label_text(data.get("namespace"))
        return f"{namespace}/{key}" if key and namespace else key
    if label.detail == "message":
        message = data.get("message")
        if not isinstance(message, Mapping):
            return None
        sender = _label_text(message.get("from")) or "?"
        to = message.get("to")
        recipients = [_label_text(t) or "?" for t in (to if isinstance(to, list) else [to])]
        kind = _label_text(message.get("type"))
        return f"{sender}→{','.join(recipients)}" + (f" ({kind})" if kind else "")
    for key in label.fields:
        detail = _label_text(data.get(key))
        if detail:
            return detail
    return None


def event_label(event_type: str, data: Mapping[str, Any] | None) -> str:
    """The short human label of an event: `verb detail` (the tool, model, task, key, …), at most
    MAX_LABEL_CHARS; a type the table does not know is labelled by its name."""
    label = _LABELS.get(event_type)
    if label is None:
        return event_type[:MAX_LABEL_CHARS]
    detail = _detail(label, data if isinstance(data, Mapping) else {})
    out = f"{label.verb} {detail}" if detail else label.verb
    return out if len(out) <= MAX_LABEL_CHARS else out[: MAX_LABEL_CHARS - 1] + "…"


def status_steps(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The statuses after each event of a session in seq order, by the table alone: per step the
    session status, every agent's status and current task, every task's status. It is the
    reference the store, replay and the frontend are checked against (semantics-cases.json)."""
    session: str | None = None
    agents: dict[str, dict[str, str | None]] = {}
    tasks: dict[str, str] = {}

    def agent(agent_id: str) -> dict[str, str | None]:
        return agents.setdefault(agent_id, {"status": AGENT_INITIAL_STATUS, "current_task": None})

    steps = []
    for event in events:
        event_type = str(event.get("type"))
        raw = event.get("data")
        data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        own = text(event.get("agent_id"))
        if own is not None:
            agent(own)
        if event_type in STATUS_TYPES:
            task_id = text(data.get(TASK_ID_FIELD))
            if task_id is not None and event_type in TASK_TYPES:
                tasks.setdefault(task_id, TASK_INITIAL_STATUS)
            stated = task_status(event_type, data)
            if stated is not None and task_id is not None:
                tasks[task_id] = stated
            session = session_status(event_type, data) or session
            change = agent_change(event_type, own, data)
            if change is not None:
                entry = agent(change.agent_id)
                if change.status is not None:
                    entry["status"] = change.status
                if change.task is not None:
                    entry["current_task"] = change.task or None
            explicit = text(data.get(EXPLICIT_AGENT_STATUS))
            target = explicit_agent_target(event_type, own, data)
            if explicit is not None and target is not None:
                agent(target)["status"] = explicit
        session = session or SESSION_INITIAL_STATUS
        steps.append(
            {
                "session": session,
                "agents": {k: dict(v) for k, v in sorted(agents.items())},
                "tasks": dict(sorted(tasks.items())),
            }
        )
    return steps


def semantics_document() -> dict[str, Any]:
    """docs/contract/semantics.json: the table for other languages (the frontend, the TS SDK)."""
    types: dict[str, Any] = {}
    for s in SEMANTICS:
        row: dict[str, Any] = {
            "category": s.category,
            "label": {"verb": s.label.verb, "fields": list(s.label.fields), "detail": s.label.detail},
            "ids": dict(s.ids),
            "is_error": s.is_error,
            "agent": None,
            "task": None,
            "session": None,
        }
        if s.agent is not None:
            row["agent"] = {
                "subject": s.agent.subject,
                "status": s.agent.status,
                "status_field": s.agent.status_field,
                "task": s.agent.task,
                "when": dict(s.agent.when),
                "unless": dict(s.agent.unless),
            }
        if s.task is not None:
            row["task"] = {
                "status": s.task.status,
                "status_if": None
                if s.task.status_if is None
                else {
                    "field": s.task.status_if[0],
                    "value": s.task.status_if[1],
                    "status": s.task.status_if[2],
                },
            }
        if s.session is not None:
            row["session"] = {"status": s.session.status, "status_field": s.session.status_field}
        types[s.type] = row
    return {
        "description": "Generated by `make contract` from swarmscope_schema.semantics: what every event "
        "type does to agent, task and session status, its label, category and id fields. Agent effects "
        "are stateless: the event with the highest seq that states an agent's status (or current task) "
        "wins; data.agent_status / data.task_status win over inference.",
        "agent_initial_status": AGENT_INITIAL_STATUS,
        "task_initial_status": TASK_INITIAL_STATUS,
        "session_initial_status": SESSION_INITIAL_STATUS,
        "explicit_agent_status": EXPLICIT_AGENT_STATUS,
        "explicit_task_status": EXPLICIT_TASK_STATUS,
        "task_id_field": TASK_ID_FIELD,
        "max_label_chars": MAX_LABEL_CHARS,
        "error_phase": "error",
        # Only these types change statuses (explicitly stated ones included); custom types do not.
        "status_types": sorted(STATUS_TYPES),
        "types": types,
    }
