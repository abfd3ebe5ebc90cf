"""The reducer: SystemState (CONTRACT §6) after one more stored event, for every type of §2.

`reduce_event(state, event)` is pure: the input state is never changed. It copies only the
containers on the paths it changes (structural sharing), so unchanged subtrees, e.g. a long
`communications` list, are shared between the old and the new state.

`fold(state, events)` applies many events with one `Writer`: a container is copied the first
time the fold touches it and then changed in place, because only this fold can see it. Folding
n events into a state of size s therefore costs O(s + n), not O(s * n); the result is equal to
reducing the events one by one (the property tests check this).

States are plain JSON-ready dicts; callers treat every state they are given as read-only.
What an event does to agent, task and session status is the semantics table's
(swarmscope_schema.semantics, which the store's projections read too): explicit `task_status` /
`agent_status` in an event's data win over what it infers. Custom and unknown types change only
counters (and the state's `seq` / `timestamp`), and make their agent known.

Beyond the keys of §6 the reducer keeps, inside those keys, what the taxonomy says each type
affects: decisions, the coordination log, errors and alerts are lists under `session`; an
agent's context is `agents[id].context`; open spans also remember their start event's id and time
(for the call stack).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from swarmscope_schema.semantics import (
    AGENT_INITIAL_STATUS,
    EFFECT_TYPES,
    EXPLICIT_AGENT_STATUS,
    EXPLICIT_TASK_STATUS,
    SESSION_INITIAL_STATUS,
    agent_change,
    explicit_agent_target,
    is_error,
    session_status,
    task_status,
    text,
)
from swarmscope_schema.semantics import event_label as semantic_label

State = dict[str, Any]
Event = Mapping[str, Any]

COUNTER_KEYS: tuple[str, ...] = (
    "events",
    "errors",
    "tool_calls",
    "llm_calls",
    "input_tokens",
    "output_tokens",
    "tokens",
    "cost_usd",
    "messages",
    "memory_writes",
    "memory_reads",
    "memory_deletes",
    "decisions",
    "coordination",
    "alerts",
    "task_failures",
    "custom_events",
)

# A received (or re-sent) message is merged into its entry when that entry is among the last
# MESSAGE_MATCH_WINDOW communications; older matches are not searched, so a fold stays linear.
MESSAGE_MATCH_WINDOW = 1000

OPENING_PHASES = frozenset({"start", "progress"})
CLOSING_PHASES = frozenset({"complete", "error"})


def initial_state(session_id: str) -> State:
    """The state of a session before its first event (seq 0)."""
    return {
        "session_id": session_id,
        "seq": 0,
        "timestamp": None,
        "session": {},
        "agents": {},
        "tasks": {},
        "memory": {},
        "communications": [],
        "open_spans": {},
        "counters": dict.fromkeys(COUNTER_KEYS, 0),
    }


class Writer:
    """Copy-on-first-write access to a state: containers it copied are its own and change in place.

    It keeps a strong reference to every container it owns, so an id can never be reused by
    another object while the writer lives.
    """

    __slots__ = ("_message_index", "_owned")

    def __init__(self) -> None:
        self._owned: dict[int, object] = {}
        self._message_index: tuple[list[Any], dict[str, int]] | None = None

    def message_index(self, communications: list[Any]) -> dict[str, int]:
        """message_id → its last position in `communications`, kept by the writer across a fold so
        that matching a message costs O(1) instead of a scan."""
        if self._message_index is not None and self._message_index[0] is communications:
            return self._message_index[1]
        index: dict[str, int] = {}
        start = max(len(communications) - MESSAGE_MATCH_WINDOW, 0)
        for position in range(start, len(communications)):
            entry = communications[position]
            if isinstance(entry, dict) and isinstance(entry.get("message_id"), str):
                index[entry["message_id"]] = position
        self._message_index = (communications, index)
        return index

    def adopt_message_index(self, source: list[Any], copy: list[Any]) -> None:
        """Moves the message index of `source` to `copy`, its owned copy with the same entries."""
        if self._message_index is not None and self._message_index[0] is source and copy is not source:
            self._message_index = (copy, self._message_index[1])

    def own(self, container: dict[str, Any]) -> dict[str, Any]:
        if id(container) in self._owned:
            return container
        copy = dict(container)
        self._owned[id(copy)] = copy
        return copy

    def own_list(self, container: list[Any]) -> list[Any]:
        if id(container) in self._owned:
            return container
        copy = list(container)
        self._owned[id(copy)] = copy
        return copy

    def child(self, parent: dict[str, Any], key: str) -> dict[str, Any]:
        """The dict at parent[key], owned (parent must be owned); created empty when missing."""
        current = parent.get(key)
        if isinstance(current, dict):
            owned = self.own(current)
        else:
            owned = {}
            self._owned[id(owned)] = owned
        if owned is not current:
            parent[key] = owned
        return owned

    def child_list(self, parent: dict[str, Any], key: str) -> list[Any]:
        current = parent.get(key)
        if isinstance(current, list):
            owned = self.own_list(current)
        else:
            owned = []
            self._owned[id(owned)] = owned
        if owned is not current:
            parent[key] = owned
        return owned

    def new(self, value: dict[str, Any]) -> dict[str, Any]:
        """Registers a dict built by the reducer as owned."""
        self._owned[id(value)] = value
        return value


def reduce_event(state: State, event: Event) -> State:
    """The state after `event`; `state` is left unchanged."""
    return fold(state, (event,))


def fold(state: State, events: Iterable[Event]) -> State:
    """The state after applying `events` in order; `state` is left unchanged."""
    writer = Writer()
    root = state
    for event in events:
        root = apply(writer, root, event)
    return root


def apply(writer: Writer, state: State, event: Event) -> State:
    """Applies one event through `writer` (changing only containers the writer owns)."""
    root = writer.own(state)
    event_type = event.get("type")
    seq = event.get("seq")
    if isinstance(seq, int):
        root["seq"] = seq
    root["timestamp"] = event.get("timestamp")
    data = event.get("data")
    if not isinstance(data, Mapping):
        data = {}
    phase = event.get("phase") or "complete"
    _count(writer, root, event, data, event_type, phase)
    session = root.get("session")
    if not isinstance(session, dict) or "status" not in session:
        writer.child(root, "session")["status"] = SESSION_INITIAL_STATUS
    # Any event that carries an agent id makes the agent known (custom types too), as in the store.
    _touch_agent(writer, root, event.get("agent_id"))
    handler = _HANDLERS.get(event_type) if isinstance(event_type, str) else None
    if handler is None:
        return root
    handler(writer, root, event, data)
    _track_span(writer, root, event, phase)
    _effects(writer, root, event, data)
    return root


# ------------------------------------------------------------------------------------ counters --


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _count(
    writer: Writer, root: State, event: Event, data: Mapping[str, Any], event_type: Any, phase: str
) -> None:
    counters = writer.child(root, "counters")
    _add(counters, "events", 1)
    if is_error(event_type, phase):
        _add(counters, "errors", 1)
    if event_type in ("tool_call", "llm_call"):
        span = event.get("span_id") or event.get("id")
        opened = span in (root.get("open_spans") or {})
        # A call is counted once: at its start, or at its end when no start was seen.
        if phase == "start" or (phase in CLOSING_PHASES and not opened):
            _add(counters, "tool_calls" if event_type == "tool_call" else "llm_calls", 1)
    performance = event.get("performance")
    if not isinstance(performance, Mapping):
        if event_type != "llm_call":
            if event_type.startswith("custom.") if isinstance(event_type, str) else False:
                _add(counters, "custom_events", 1)
            return
        performance = {}
    usage = data if event_type == "llm_call" else {}
    input_tokens = _number(usage.get("input_tokens"))
    if input_tokens is None:
        input_tokens = _number(performance.get("input_tokens"))
    output_tokens = _number(usage.get("output_tokens"))
    if output_tokens is None:
        output_tokens = _number(performance.get("output_tokens"))
    cost = _number(usage.get("cost_usd"))
    if cost is None:
        cost = _number(performance.get("cost_usd"))
    if input_tokens:
        _add(counters, "input_tokens", input_tokens)
    if output_tokens:
        _add(counters, "output_tokens", output_tokens)
    if input_tokens or output_tokens:
        _add(counters, "tokens", (input_tokens or 0) + (output_tokens or 0))
    else:
        token_count = _number(performance.get("token_count"))
        if token_count:
            _add(counters, "tokens", token_count)
    if cost:
        _add(counters, "cost_usd", cost)
    if isinstance(event_type, str) and event_type.startswith("custom."):
        _add(counters, "custom_events", 1)


def _add(counters: dict[str, Any], key: str, amount: float) -> None:
    counters[key] = counters.get(key, 0) + amount


# --------------------------------------------------------------------------------------- spans --


def _track_span(writer: Writer, root: State, event: Event, phase: str) -> None:
    span_id = event.get("span_id") or event.get("id")
    if not isinstance(span_id, str):
        return
    open_spans = root.get("open_spans") or {}
    if phase in OPENING_PHASES:
        if span_id in open_spans:
            return
        metadata = event.get("metadata")
        parent = metadata.get("parent_id") if isinstance(metadata, Mapping) else None
        writer.child(root, "open_spans")[span_id] = {
            "type": event.get("type"),
            "agent_id": event.get("agent_id"),
            "parent_id": parent,
            "seq": event.get("seq"),
            "event_id": event.get("id"),
            "timestamp": event.get("timestamp"),
            "label": event_label(event),
        }
    elif phase in CLOSING_PHASES and span_id in open_spans:
        del writer.child(root, "open_spans")[span_id]


def event_label(event: Event) -> str:
    """A short human label of an event (semantics.event_label: one label for store, replay, UI)."""
    data = event.get("data")
    return semantic_label(str(event.get("type") or "event"), data if isinstance(data, Mapping) else None)


# -------------------------------------------------------------------------------------- agents --


def _agent(writer: Writer, root: State, agent_id: str) -> dict[str, Any]:
    """The agent's entry, owned; created (status idle) when the agent was not seen before."""
    agents = writer.child(root, "agents")
    current = agents.get(agent_id)
    if isinstance(current, dict):
        agent = writer.own(current)
    else:
        agent = writer.new(
            {
                "id": agent_id,
                "agent_type": None,
                "status": AGENT_INITIAL_STATUS,
                "current_task": None,
                "parent_agent_id": None,
                "context": {},
            }
        )
    agents[agent_id] = agent
    return agent


def _touch_agent(writer: Writer, root: State, agent_id: Any) -> None:
    if isinstance(agent_id, str) and agent_id not in (root.get("agents") or {}):
        _agent(writer, root, agent_id)


def _agent_spawn(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    agent_id = event.get("agent_id") or data.get("agent_id")
    if not isinstance(agent_id, str):
        return
    agent = _agent(writer, root, agent_id)
    agent["agent_type"] = data.get("agent_type", agent.get("agent_type"))
    for key in ("name", "capabilities", "parent_agent_id"):
        if data.get(key) is not None:
            agent[key] = data[key]
    agent["spawned_seq"] = event.get("seq")


def _agent_status(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    agent_id = event.get("agent_id")
    if not isinstance(agent_id, str) or text(data.get("status")) is None:
        return
    reason = data.get("reason")
    known = (root.get("agents") or {}).get(agent_id)
    # A repeated reason (busy on T3 again, for its retry) changes nothing: the agents stay shared.
    if reason is not None and not (isinstance(known, dict) and known.get("status_reason") == reason):
        _agent(writer, root, agent_id)["status_reason"] = reason


def _agent_terminate(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    agent_id = event.get("agent_id")
    if not isinstance(agent_id, str):
        return
    if data.get("reason") is not None:
        _agent(writer, root, agent_id)["terminated_reason"] = data["reason"]


def _context_update(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    key = data.get("key")
    if not isinstance(key, str):
        return
    agent_id = event.get("agent_id")
    if isinstance(agent_id, str):
        agent = _agent(writer, root, agent_id)
        writer.child(agent, "context")[key] = data.get("value")
    else:
        session = writer.child(root, "session")
        writer.child(session, "context")[key] = data.get("value")


def _agent_only(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    # agent_method, tool_call, llm_call: the call tree (open_spans) and counters only.
    _touch_agent(writer, root, event.get("agent_id"))


# --------------------------------------------------------------------------------------- tasks --


def _task(writer: Writer, root: State, task_id: str) -> dict[str, Any]:
    tasks = writer.child(root, "tasks")
    current = tasks.get(task_id)
    if isinstance(current, dict):
        task = writer.own(current)
    else:
        task = writer.new(
            {
                "id": task_id,
                "status": "created",
                "agent_id": None,
                "attempts": 0,
                "dependencies": [],
                "progress": None,
                "result": None,
                "error": None,
            }
        )
    tasks[task_id] = task
    return task


def _task_id(data: Mapping[str, Any]) -> str | None:
    task_id = data.get("task_id")
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        return str(task_id)
    return task_id if isinstance(task_id, str) and task_id else None


def _change_agent(writer: Writer, root: State, agent_id: str, status: str | None, task: str | None) -> None:
    """Sets an agent's status and current task (None: unchanged; task "": none), copying the
    agent only when something changes, so unchanged agents stay shared with the previous state."""
    current = (root.get("agents") or {}).get(agent_id)
    new_task = (task or None) if task is not None else None
    if (
        isinstance(current, dict)
        and (status is None or current.get("status") == status)
        and (task is None or current.get("current_task") == new_task)
    ):
        return
    agent = _agent(writer, root, agent_id)
    if status is not None:
        agent["status"] = status
    if task is not None:
        agent["current_task"] = new_task


def _task_create(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    task_id = _task_id(data)
    if task_id is None:
        return
    task = _task(writer, root, task_id)
    dependencies = data.get("dependencies")
    if isinstance(dependencies, list):
        task["dependencies"] = [str(d) for d in dependencies]
    for key in ("description", "priority", "max_retries"):
        if data.get(key) is not None:
            task[key] = data[key]
    task["created_seq"] = event.get("seq")
    task["created_by"] = event.get("agent_id")


def _task_assignment(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    task_id = _task_id(data)
    if task_id is None:
        return
    task = _task(writer, root, task_id)
    agent_id = data.get("agent_id")
    if isinstance(agent_id, str):
        task["agent_id"] = agent_id


def _task_start(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    task_id = _task_id(data)
    if task_id is None:
        return
    task = _task(writer, root, task_id)
    if task.get("agent_id") is None:
        task["agent_id"] = data.get("agent_id") or event.get("agent_id")
    attempt = _number(data.get("attempt"))
    task["attempts"] = int(attempt) if attempt is not None else int(task.get("attempts") or 0) + 1
    task["started_seq"] = event.get("seq")


def _task_progress(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    task_id = _task_id(data)
    if task_id is None:
        return
    task = _task(writer, root, task_id)
    if "progress" in data:
        task["progress"] = data.get("progress")
    if data.get("message") is not None:
        task["message"] = data["message"]


def _end_task(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> dict[str, Any] | None:
    # The status (and the freed agent) come from the semantics table in _effects.
    task_id = _task_id(data)
    if task_id is None:
        return None
    task = _task(writer, root, task_id)
    if event.get("type") != "task_cancel":
        task["attempts"] = max(int(task.get("attempts") or 0), 1)
    task["ended_seq"] = event.get("seq")
    if task.get("agent_id") is None and isinstance(event.get("agent_id"), str):
        task["agent_id"] = event.get("agent_id")
    return task


def _task_complete(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    task = _end_task(writer, root, event, data)
    if task is not None:
        task["result"] = data.get("result")
        task["error"] = None


def _task_fail(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    task = _end_task(writer, root, event, data)
    if task is not None:
        task["error"] = data.get("error")
        _add(writer.child(root, "counters"), "task_failures", 1)


def _task_cancel(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    task = _end_task(writer, root, event, data)
    if task is not None and data.get("reason") is not None:
        task["cancel_reason"] = data["reason"]


# ------------------------------------------------------------------------------------- session --


def _session_start(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    session = writer.child(root, "session")
    for key in ("objective", "name", "topology", "strategy"):
        if data.get(key) is not None:
            session[key] = data[key]
    session["start_time"] = event.get("timestamp")
    session["start_seq"] = event.get("seq")


def _session_end(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    session = writer.child(root, "session")
    session["end_time"] = event.get("timestamp")
    session["end_seq"] = event.get("seq")
    if data.get("reason") is not None:
        session["end_reason"] = data["reason"]


def _log(writer: Writer, root: State, key: str, entry: dict[str, Any]) -> None:
    session = writer.child(root, "session")
    writer.child_list(session, key).append(entry)


def _decision(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    _touch_agent(writer, root, event.get("agent_id"))
    _add(writer.child(root, "counters"), "decisions", 1)
    _log(
        writer,
        root,
        "decisions",
        {
            "kind": data.get("kind"),
            "chosen": data.get("chosen"),
            "options": data.get("options"),
            "rationale": data.get("rationale"),
            "confidence": data.get("confidence"),
            "agent_id": event.get("agent_id"),
            "seq": event.get("seq"),
        },
    )


def _resource_id(details: Any, data: Mapping[str, Any]) -> Any:
    for source in (details, data):
        if isinstance(source, Mapping):
            for key in ("resource_id", "resourceId", "resource"):
                if source.get(key) is not None:
                    return source[key]
    return None


def _coordination(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    _touch_agent(writer, root, event.get("agent_id"))
    _add(writer.child(root, "counters"), "coordination", 1)
    kind = data.get("kind")
    details = data.get("details")
    _log(
        writer,
        root,
        "coordination",
        {"kind": kind, "details": details, "agent_id": event.get("agent_id"), "seq": event.get("seq")},
    )
    resource = _resource_id(details, data)
    if kind in ("resource_acquired", "resource_released") and isinstance(resource, (str, int)):
        session = writer.child(root, "session")
        resources = writer.child(session, "resources")
        if kind == "resource_acquired":
            holder = (details or {}).get("agentId") if isinstance(details, Mapping) else None
            resources[str(resource)] = holder or event.get("agent_id")
        else:
            resources.pop(str(resource), None)


def _error(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    agent_id = event.get("agent_id")
    entry = {
        "message": data.get("message"),
        "error_type": data.get("error_type"),
        "scope": data.get("scope"),
        "recoverable": data.get("recoverable"),
        "agent_id": agent_id,
        "seq": event.get("seq"),
    }
    _log(writer, root, "errors", entry)
    if isinstance(agent_id, str):
        agent = _agent(writer, root, agent_id)
        agent["last_error"] = {"message": data.get("message"), "seq": event.get("seq")}
    task_id = _task_id(data)
    if task_id is not None and task_id in (root.get("tasks") or {}):
        _task(writer, root, task_id)["error"] = data.get("message")


def _performance_alert(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    _touch_agent(writer, root, event.get("agent_id"))
    _add(writer.child(root, "counters"), "alerts", 1)
    _log(
        writer,
        root,
        "alerts",
        {
            "metric": data.get("metric"),
            "value": data.get("value"),
            "threshold": data.get("threshold"),
            "agent_id": event.get("agent_id"),
            "seq": event.get("seq"),
        },
    )


# -------------------------------------------------------------------------------------- memory --


def memory_key(data: Mapping[str, Any]) -> str | None:
    """`namespace/key` (or just `key` without a namespace), the key of state.memory."""
    key = data.get("key")
    if not isinstance(key, str):
        return None
    namespace = data.get("namespace")
    return f"{namespace}/{key}" if isinstance(namespace, str) and namespace else key


def _memory_write(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    key = memory_key(data)
    if key is None:
        return
    _touch_agent(writer, root, event.get("agent_id"))
    memory = writer.child(root, "memory")
    previous = memory.get(key)
    version = _number(data.get("version"))
    if version is None:
        version = (int(previous.get("version") or 0) if isinstance(previous, dict) else 0) + 1
    memory[key] = writer.new(
        {
            "value": data.get("value"),
            "version": int(version),
            "agent_id": event.get("agent_id"),
            "seq": event.get("seq"),
        }
    )
    _add(writer.child(root, "counters"), "memory_writes", 1)


def _memory_read(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    _touch_agent(writer, root, event.get("agent_id"))
    _add(writer.child(root, "counters"), "memory_reads", 1)
    key = memory_key(data)
    if key is None or key not in (root.get("memory") or {}):
        return
    entry = writer.child(writer.child(root, "memory"), key)
    entry["reads"] = int(entry.get("reads") or 0) + 1
    entry["last_read_by"] = event.get("agent_id")
    entry["last_read_seq"] = event.get("seq")


def _memory_delete(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    _touch_agent(writer, root, event.get("agent_id"))
    _add(writer.child(root, "counters"), "memory_deletes", 1)
    key = memory_key(data)
    if key is not None and key in (root.get("memory") or {}):
        del writer.child(root, "memory")[key]


# ------------------------------------------------------------------------------ communications --


def _communication(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    message = data.get("message")
    if not isinstance(message, Mapping):
        return
    message_id = message.get("id")
    if isinstance(message_id, int) and not isinstance(message_id, bool):
        message_id = str(message_id)
    if not isinstance(message_id, str):
        return
    _touch_agent(writer, root, event.get("agent_id"))
    direction = data.get("direction")
    receiver = event.get("agent_id")
    current = root.get("communications") or []
    index = writer.message_index(current)
    found = index.get(message_id)
    if found is not None and found >= len(current) - MESSAGE_MATCH_WINDOW:
        # The message is recorded already: a delivery adds its receiver, a re-send nothing.
        entry = current[found]
        delivered = entry.get("delivered_to") or []
        if direction != "received" or (receiver in delivered or not isinstance(receiver, str)):
            return
        owned = writer.child_list(root, "communications")
        writer.adopt_message_index(current, owned)
        entry = writer.own(owned[found])
        owned[found] = entry
        entry["delivered_to"] = [*delivered, receiver]
        if entry.get("received_seq") is None:
            entry["received_seq"] = event.get("seq")
        return
    to = message.get("to")
    if not isinstance(to, list):
        to = [] if to is None else [to]
    entry = {
        "message_id": message_id,
        "from": str(message.get("from")) if message.get("from") is not None else "",
        "to": [str(t) for t in to],
        "type": message.get("type"),
        "content": message.get("content"),
        "in_reply_to": message.get("in_reply_to"),
        "seq": event.get("seq"),
    }
    if direction == "received":
        entry["received_seq"] = event.get("seq")
        entry["delivered_to"] = [receiver] if isinstance(receiver, str) else []
    owned = writer.child_list(root, "communications")
    writer.adopt_message_index(current, owned)
    index[message_id] = len(owned)
    owned.append(writer.new(entry))
    _add(writer.child(root, "counters"), "messages", 1)


# ------------------------------------------------------------------------------------ explicit --


def _effects(writer: Writer, root: State, event: Event, data: Mapping[str, Any]) -> None:
    """Task, agent and session statuses by the semantics table (the store reads the same rows);
    explicit data.task_status / data.agent_status win."""
    event_type = str(event.get("type"))
    if (
        event_type not in EFFECT_TYPES
        and EXPLICIT_AGENT_STATUS not in data
        and EXPLICIT_TASK_STATUS not in data
    ):
        return  # most events (tool and LLM calls, messages, memory) change no status
    status = task_status(event_type, data)
    task_id = _task_id(data)
    if status is not None and task_id is not None:
        tasks = root.get("tasks") or {}
        current = tasks.get(task_id)
        if not (isinstance(current, dict) and current.get("status") == status):
            _task(writer, root, task_id)["status"] = status
    stated = session_status(event_type, data)
    if stated is not None:
        writer.child(root, "session")["status"] = stated
    change = agent_change(event_type, event.get("agent_id"), data)
    if change is not None:
        _change_agent(writer, root, change.agent_id, change.status, change.task)
    explicit = text(data.get(EXPLICIT_AGENT_STATUS))
    if explicit is not None:
        target = explicit_agent_target(event_type, event.get("agent_id"), data)
        if target is not None:
            _change_agent(writer, root, target, explicit, None)


Handler = Callable[[Writer, State, Event, Mapping[str, Any]], None]

_HANDLERS: dict[str, Handler] = {
    "session_start": _session_start,
    "session_end": _session_end,
    "agent_spawn": _agent_spawn,
    "agent_status": _agent_status,
    "agent_terminate": _agent_terminate,
    "agent_method": _agent_only,
    "task_create": _task_create,
    "task_assignment": _task_assignment,
    "task_start": _task_start,
    "task_progress": _task_progress,
    "task_complete": _task_complete,
    "task_fail": _task_fail,
    "task_cancel": _task_cancel,
    "communication": _communication,
    "memory_write": _memory_write,
    "memory_read": _memory_read,
    "memory_delete": _memory_delete,
    "tool_call": _agent_only,
    "llm_call": _agent_only,
    "decision": _decision,
    "coordination": _coordination,
    "context_update": _context_update,
    "error": _error,
    "performance_alert": _performance_alert,
}

HANDLED_TYPES = frozenset(_HANDLERS)
