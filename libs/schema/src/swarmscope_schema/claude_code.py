"""(v1.1) Claude Code hooks → contract events: the one mapping, shared by every hook edge.

Claude Code runs hooks with a JSON object on stdin (command hooks) or as a POST body (http hooks):
`session_id`, `hook_event_name`, `cwd`, … and per event `tool_name`, `tool_input`, `tool_use_id`,
`tool_response`, `prompt`, `agent_id`, `agent_type`, … (INTEGRATIONS.md). `map_hook` turns one such
payload into trace events of the Claude Code session (`session_id` is the swarmscope session):

- SessionStart/SessionEnd → session_start (+ the agent `main`) / agent_terminate + session_end;
- UserPromptSubmit → a task on `main` (`prompt-<n>`: created, assigned, started), Stop → its
  task_complete (StopFailure → task_fail);
- PreToolUse / PostToolUse / PostToolUseFailure → a `tool_call` span whose span id is the
  `tool_use_id` (start, then complete or error), under the span of the prompt or subagent task;
- a Task (or Agent) tool use is a task given to a subagent: SubagentStart spawns the subagent as a
  child agent of the caller, assigned to that task; SubagentStop completes the task and terminates
  the agent;
- Claude-Flow's MCP tools (`mcp__claude-flow__memory_store`, `…task_create`, …) also become the
  memory / task / agent events they stand for, under their tool span (`MCP_TOOLS`);
- Notification and PermissionRequest → a message to `user`; PreCompact/PostCompact →
  context_update; TaskCreated/TaskCompleted/TeammateIdle → task and agent events;
- any other hook event → `custom.claude_code.<snake_case name>` with the payload.

Payloads carry no timestamps: events are stamped `now`, the moment of receipt. What must persist
between hooks (the open prompt, open tool uses, spawned subagents) is a small JSON object, `state`,
which the caller loads before and stores after each call (a file for the command hook, memory for
the gateway's http hook). The TypeScript SDK implements the same mapping; both run the recorded
cases in docs/contract/claude-code-hook-cases.json (generated from this module), so they cannot
drift. Every event carries `metadata.source = "claude-code"`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from swarmscope_schema.aliases import FieldSpec, resolve_field
from swarmscope_schema.taxonomy import EventType

SOURCE = "claude-code"
MAIN_AGENT = "main"
USER = "user"
TAGS: tuple[str, ...] = ("claude-code",)
CUSTOM_PREFIX = "custom.claude_code."
# The tool Claude Code delegates to a subagent with (renamed Agent in later versions).
SUBAGENT_TOOLS: tuple[str, ...] = ("Task", "Agent")
# MCP servers whose tools are Claude-Flow's (`mcp__<server>__<tool>`).
MCP_SERVERS: tuple[str, ...] = ("claude-flow", "claude_flow", "ruflo")
STATE_VERSION = 1
# Bounds of the state, so a session that never closes its tool uses cannot grow it for ever.
MAX_OPEN_TOOLS = 256
MAX_AGENTS = 256

# Every hook event Claude Code documents (INTEGRATIONS.md); others map to custom.claude_code.*.
HOOK_EVENTS: tuple[str, ...] = (
    "SessionStart",
    "SessionEnd",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionRequest",
    "Notification",
    "Stop",
    "StopFailure",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "PostCompact",
    "TaskCreated",
    "TaskCompleted",
    "TeammateIdle",
)


@dataclass(frozen=True)
class McpRule:
    """What one Claude-Flow MCP tool means: an event of `type` built from the tool's `input` and
    `response` (field specs as in swarmscope_schema.aliases), emitted as `agent` (default: the
    agent that called the tool). `requires` names fields without which the tool meant nothing."""

    type: EventType
    fields: dict[str, FieldSpec]
    requires: tuple[str, ...] = ()
    agent: FieldSpec | None = None
    constants: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type.value, "fields": self.fields}
        if self.requires:
            out["requires"] = list(self.requires)
        if self.agent is not None:
            out["agent"] = self.agent
        if self.constants:
            out["constants"] = self.constants
        return out


_NAMESPACE: FieldSpec = {"paths": ["input.namespace"], "default": "default"}
MCP_TOOLS: dict[str, McpRule] = {
    "memory_store": McpRule(
        EventType.MEMORY_WRITE,
        {
            "namespace": _NAMESPACE,
            "key": ["input.key"],
            "value": ["input.value"],
            "tags": ["input.tags"],
            "ttl": ["input.ttl"],
        },
        requires=("key",),
        constants={"value": None},
    ),
    "memory_retrieve": McpRule(
        EventType.MEMORY_READ,
        {"namespace": _NAMESPACE, "key": ["input.key"], "hit": ["response.found"]},
        requires=("key",),
    ),
    "memory_delete": McpRule(
        EventType.MEMORY_DELETE, {"namespace": _NAMESPACE, "key": ["input.key"]}, requires=("key",)
    ),
    "task_create": McpRule(
        EventType.TASK_CREATE,
        {
            "task_id": ["response.taskId", "response.id"],
            "description": ["input.description", "response.description"],
            "priority": ["input.priority"],
            "task_type": ["input.type"],
            "assign_to": ["input.assignTo"],
            "tags": ["input.tags"],
        },
        requires=("task_id",),
    ),
    "task_assign": McpRule(
        EventType.TASK_ASSIGNMENT,
        {
            "task_id": ["input.taskId"],
            "agent_id": ["input.agentIds.0", "input.agentId"],
            "agent_ids": ["input.agentIds"],
        },
        requires=("task_id", "agent_id"),
    ),
    "task_complete": McpRule(
        EventType.TASK_COMPLETE,
        {"task_id": ["input.taskId"], "result": ["input.result", "response.result"]},
        requires=("task_id",),
    ),
    "task_cancel": McpRule(
        EventType.TASK_CANCEL,
        {"task_id": ["input.taskId"], "reason": ["input.reason"]},
        requires=("task_id",),
    ),
    "task_update": McpRule(
        EventType.TASK_PROGRESS,
        {"task_id": ["input.taskId"], "progress": ["input.progress"], "message": ["input.status"]},
        requires=("task_id",),
    ),
    "agent_spawn": McpRule(
        EventType.AGENT_SPAWN,
        {
            "agent_type": ["input.agentType", "response.agentType"],
            "name": ["input.config.name", "input.agentId"],
            "model": ["response.model", "input.model"],
            "domain": ["input.domain"],
            "status": {"paths": ["response.status"], "default": "idle"},
        },
        requires=("agent_type",),
        agent=["response.agentId", "input.agentId"],
    ),
    "agent_terminate": McpRule(
        EventType.AGENT_TERMINATE, {"reason": ["input.reason"]}, agent=["input.agentId"]
    ),
    "swarm_init": McpRule(
        EventType.COORDINATION,
        {
            "swarm_id": ["response.swarmId"],
            "topology": ["input.topology", "response.topology"],
            "strategy": ["input.strategy"],
            "max_agents": ["input.maxAgents"],
        },
        constants={"kind": "swarm_init"},
    ),
}

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.:-]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def safe_name(value: Any, fallback: str = "unknown") -> str:
    """A session or agent id (`[A-Za-z0-9_-]{1,128}`) made from any text: other characters become
    `-`; `_` alone is reserved, so it becomes the fallback too."""
    text = _UNSAFE_NAME.sub("-", value if isinstance(value, str) else "")[:128]
    return text if text and text != "_" else fallback


def safe_id(value: str) -> str:
    """An event id (`[A-Za-z0-9_.:-]`) made from a tool use id, with room for a suffix."""
    return _UNSAFE_ID.sub("-", value)[:100] or "id"


def subagent_name(agent_type: Any, agent_id: Any) -> str:
    """The agent id of a Claude Code subagent: its type and Claude Code's id (`Explore-a1b2c3`)."""
    kind = agent_type if isinstance(agent_type, str) and agent_type else "subagent"
    return safe_name(f"{kind}-{agent_id}" if isinstance(agent_id, str) and agent_id else kind)


def custom_type(hook_event: str) -> str:
    """`custom.claude_code.<snake_case>` for a hook event this mapping does not know."""
    token = _CAMEL.sub("_", hook_event).lower()
    token = re.sub(r"[^a-z0-9_]+", "_", token).strip("_") or "unknown"
    return CUSTOM_PREFIX + token[:100]


def mcp_tool(tool_name: str) -> str | None:
    """`memory_store` for `mcp__claude-flow__memory_store` (any of MCP_SERVERS), else None."""
    parts = tool_name.split("__")
    if len(parts) == 3 and parts[0] == "mcp" and parts[1] in MCP_SERVERS:
        return parts[2]
    return None


def new_state() -> dict[str, Any]:
    """The state of a session no hook has been seen for."""
    return {
        "v": STATE_VERSION,
        "started": False,
        "prompts": 0,
        "prompt": None,
        "compaction": None,
        "tools": {},
        "agents": {},
    }


def session_over(payload: Mapping[str, Any]) -> bool:
    """True for the last hook of a session (its state can be deleted afterwards)."""
    return payload.get("hook_event_name") == "SessionEnd"


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and value else None


_TOOL_RESULT_KEYS = frozenset({"content", "isError", "_meta"})


def parse_tool_response(value: Any) -> Any:
    """An MCP tool's response as data. Claude Code may pass an MCP CallToolResult (its
    `structuredContent`, or text `content` blocks), the blocks alone (`[{"type": "text", "text":
    "{…}"}]`) or their text; JSON text is parsed."""
    if isinstance(value, Mapping):
        if isinstance(value.get("structuredContent"), Mapping):
            return dict(value["structuredContent"])
        if isinstance(value.get("content"), list) and set(value) <= _TOOL_RESULT_KEYS:
            value = value["content"]
    if isinstance(value, list) and value and all(isinstance(b, Mapping) for b in value):
        texts = [b["text"] for b in value if b.get("type") == "text" and isinstance(b.get("text"), str)]
        if len(texts) == len(value):
            value = "".join(texts)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class _Hook:
    """One hook call being mapped: the payload, the state, and the events built so far."""

    def __init__(
        self, payload: Mapping[str, Any], state: dict[str, Any], now: float, new_id: Callable[[], str]
    ) -> None:
        self.payload = payload
        self.state = state
        self.now = now
        self.new_id = new_id
        self.session = safe_name(payload.get("session_id"))
        self.hook = str(payload.get("hook_event_name"))
        self.events: list[dict[str, Any]] = []

    # ------------------------------------------------------------------------------ building --

    def emit(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        agent: str | None,
        event_id: str | None = None,
        phase: str = "complete",
        span: str | None = None,
        parent: str | None = None,
        correlation: str | None = None,
        priority: str | None = None,
        performance: dict[str, Any] | None = None,
    ) -> str:
        event: dict[str, Any] = {
            "id": event_id or self.new_id(),
            "timestamp": self.now,
            "session_id": self.session,
            "type": str(event_type),
            "phase": phase,
            "data": data,
        }
        if agent is not None:
            event["agent_id"] = agent
        if span is not None:
            event["span_id"] = span
        metadata: dict[str, Any] = {"source": SOURCE, "tags": list(TAGS), "hook_event": self.hook}
        if parent is not None:
            metadata["parent_id"] = parent
        if correlation is not None:
            metadata["correlation_id"] = correlation
        if priority is not None:
            metadata["priority"] = priority
        event["metadata"] = metadata
        if performance:
            event["performance"] = performance
        self.events.append(event)
        return str(event["id"])

    # ------------------------------------------------------------------------------- context --

    def ensure_started(self) -> None:
        state = self.state
        if state["started"]:
            return
        state["started"] = True
        payload = self.payload
        cwd = _text(payload, "cwd")
        folder = cwd.rstrip("/").rsplit("/", 1)[-1] if cwd else None
        self.emit(
            EventType.SESSION_START,
            _present(
                name=f"Claude Code · {folder}" if folder else "Claude Code",
                cwd=cwd,
                model=payload.get("model"),
                start_source=payload.get("source"),
                permission_mode=payload.get("permission_mode"),
                transcript_path=payload.get("transcript_path"),
            ),
            agent=None,
            event_id="session-start",
            priority="high",
        )
        agent_type = _text(payload, "agent_type") if self.hook == "SessionStart" else None
        self.emit(
            EventType.AGENT_SPAWN,
            _present(
                agent_type=agent_type or "claude-code",
                name="Claude Code",
                status="idle",
                model=payload.get("model"),
            ),
            agent=MAIN_AGENT,
            event_id="spawn-main",
            priority="high",
        )

    def actor(self) -> str:
        """The agent a hook speaks for: the subagent it fired in, else `main`."""
        payload = self.payload
        if isinstance(payload.get("agent_id"), str) and payload["agent_id"]:
            name = subagent_name(payload.get("agent_type"), payload["agent_id"])
            if name not in self.state["agents"]:
                self.spawn(name)
            return name
        return MAIN_AGENT

    def task_span(self, agent: str) -> tuple[str | None, str | None]:
        """(span id, task id) of the work `agent` is doing: the open prompt, or a subagent's task."""
        if agent == MAIN_AGENT:
            prompt = self.state["prompt"]
            return (f"sp_{prompt}_a1", prompt) if prompt else (None, None)
        task = (self.state["agents"].get(agent) or {}).get("task")
        return (f"sp_{task}_a1", task) if task else (None, None)

    def spawn(self, agent: str) -> None:
        """A subagent joins: a child of the agent whose Task tool use it serves, assigned to it."""
        payload = self.payload
        agent_type = _text(payload, "agent_type")
        tools = self.state["tools"]
        claim: str | None = None
        for preferred in (True, False):
            for tool_use_id, info in tools.items():
                unclaimed = info.get("subagent") and info.get("claimed") is None
                if unclaimed and (not preferred or info.get("subagent_type") == agent_type):
                    claim = tool_use_id
                    break
            if claim is not None:
                break
        info = tools.get(claim) if claim else None
        parent_agent = info["agent"] if info else MAIN_AGENT
        agents = self.state["agents"]
        if len(agents) >= MAX_AGENTS:
            del agents[next(iter(agents))]
        agents[agent] = {"parent": parent_agent, "task": claim, "done": False}
        parent_span = claim if claim else self.task_span(parent_agent)[0]
        self.emit(
            EventType.AGENT_SPAWN,
            _present(
                agent_type=agent_type or "subagent",
                name=(info or {}).get("description"),
                parent_agent_id=parent_agent,
                status="busy",
                claude_agent_id=payload.get("agent_id"),
            ),
            agent=agent,
            event_id=f"spawn-{agent}",
            parent=parent_span,
            priority="high",
        )
        if claim is None or info is None:
            return
        info["claimed"] = agent
        self.emit(
            EventType.TASK_ASSIGNMENT,
            {"task_id": claim, "agent_id": agent, "attempt": 1},
            agent=parent_agent,
            event_id=f"{safe_id(claim)}.assign",
            parent=claim,
            correlation=claim,
        )
        self.emit(
            EventType.TASK_START,
            {"task_id": claim, "attempt": 1},
            agent=agent,
            event_id=f"{safe_id(claim)}.task-start",
            phase="start",
            span=f"sp_{claim}_a1",
            parent=claim,
            correlation=claim,
        )

    def end_subagent_task(self, agent: str, result: Any, *, failed: bool = False) -> None:
        """Completes (or fails) the task a subagent was given, once."""
        record = self.state["agents"].get(agent)
        if not record or not record.get("task") or record.get("done"):
            return
        record["done"] = True
        task = record["task"]
        if failed:
            self.emit(
                EventType.TASK_FAIL,
                _present(task_id=task, attempt=1, error=result),
                agent=agent,
                event_id=f"{safe_id(task)}.task-end",
                phase="error",
                span=f"sp_{task}_a1",
                parent=task,
                correlation=task,
                priority="high",
            )
            return
        self.emit(
            EventType.TASK_COMPLETE,
            _present(task_id=task, attempt=1, result=result),
            agent=agent,
            event_id=f"{safe_id(task)}.task-end",
            span=f"sp_{task}_a1",
            parent=task,
            correlation=task,
        )

    def close_prompt(self, how: str, detail: Any) -> None:
        prompt = self.state["prompt"]
        if not prompt:
            return
        self.state["prompt"] = None
        span = f"sp_{prompt}_a1"
        if how == "complete":
            self.emit(
                EventType.TASK_COMPLETE,
                _present(task_id=prompt, attempt=1, result=detail),
                agent=MAIN_AGENT,
                span=span,
                correlation=prompt,
            )
        elif how == "fail":
            self.emit(
                EventType.TASK_FAIL,
                {"task_id": prompt, "attempt": 1, "error": detail},
                agent=MAIN_AGENT,
                phase="error",
                span=span,
                correlation=prompt,
                priority="high",
            )
        else:
            self.emit(
                EventType.TASK_CANCEL,
                {"task_id": prompt, "reason": detail},
                agent=MAIN_AGENT,
                span=span,
                correlation=prompt,
            )

    def message_to_user(self, message_type: str, content: Any, **extra: Any) -> None:
        agent = self.actor()
        event_id = self.new_id()
        message = {"id": event_id, "from": agent, "to": [USER], "type": message_type, "content": content}
        self.emit(
            EventType.COMMUNICATION,
            {"message": message, "direction": "sent", **_present(**extra)},
            agent=agent,
            event_id=event_id,
            parent=self.task_span(agent)[0],
        )

    # ------------------------------------------------------------------------------- handlers --

    def session_start(self) -> None:
        if self.state["started"]:
            self.emit(
                EventType.CONTEXT_UPDATE,
                {
                    "key": "session_start",
                    "value": _present(source=self.payload.get("source"), model=self.payload.get("model")),
                },
                agent=MAIN_AGENT,
            )
            return
        self.ensure_started()

    def user_prompt_submit(self) -> None:
        self.close_prompt("cancel", "a new prompt came before Claude stopped (interrupted)")
        state = self.state
        state["prompts"] += 1
        task = f"prompt-{state['prompts']}"
        state["prompt"] = task
        prompt = self.payload.get("prompt")
        self.emit(
            EventType.TASK_CREATE,
            _present(task_id=task, description=prompt if isinstance(prompt, str) else None, dependencies=[]),
            agent=MAIN_AGENT,
            correlation=task,
        )
        self.emit(
            EventType.TASK_ASSIGNMENT,
            {"task_id": task, "agent_id": MAIN_AGENT, "attempt": 1},
            agent=MAIN_AGENT,
            correlation=task,
        )
        self.emit(
            EventType.TASK_START,
            {"task_id": task, "attempt": 1},
            agent=MAIN_AGENT,
            phase="start",
            span=f"sp_{task}_a1",
            correlation=task,
        )

    def stop(self) -> None:
        if self.state["prompt"]:
            self.close_prompt("complete", self.payload.get("last_assistant_message"))
            return
        self.emit(EventType.AGENT_STATUS, {"status": "idle", "reason": "stopped"}, agent=MAIN_AGENT)

    def stop_failure(self) -> None:
        payload = self.payload
        error = payload.get("error") or payload.get("reason") or payload.get("stop_reason") or "stop failure"
        if self.state["prompt"]:
            self.close_prompt("fail", error)
            return
        self.emit(
            EventType.ERROR,
            {
                "message": error if isinstance(error, str) else str(error),
                "scope": "session",
                "error_type": "StopFailure",
            },
            agent=MAIN_AGENT,
            priority="high",
        )

    def tool_use_id(self) -> tuple[str, bool]:
        value = self.payload.get("tool_use_id")
        if isinstance(value, str) and value:
            return value, True
        return self.new_id(), False

    def pre_tool_use(self) -> None:
        payload = self.payload
        agent = self.actor()
        tool_use_id, given = self.tool_use_id()
        tool = _text(payload, "tool_name") or "unknown"
        args = payload.get("tool_input")
        parent, correlation = self.task_span(agent)
        start_id = f"{safe_id(tool_use_id)}.start" if given else tool_use_id
        self.emit(
            EventType.TOOL_CALL,
            _present(tool=tool, args=args),
            agent=agent,
            event_id=start_id,
            phase="start",
            span=tool_use_id,
            parent=parent,
            correlation=correlation,
        )
        tools = self.state["tools"]
        if len(tools) >= MAX_OPEN_TOOLS:
            del tools[next(iter(tools))]
        record: dict[str, Any] = {"agent": agent, "tool": tool, "at": self.now, "parent": parent}
        if tool in SUBAGENT_TOOLS:
            inputs = args if isinstance(args, Mapping) else {}
            description = inputs.get("description") if isinstance(inputs.get("description"), str) else None
            subagent_type = (
                inputs.get("subagent_type") if isinstance(inputs.get("subagent_type"), str) else None
            )
            record.update(subagent=True, subagent_type=subagent_type, description=description, claimed=None)
            self.emit(
                EventType.TASK_CREATE,
                _present(
                    task_id=tool_use_id,
                    description=description,
                    prompt=inputs.get("prompt"),
                    subagent_type=subagent_type,
                    dependencies=[],
                ),
                agent=agent,
                event_id=f"{safe_id(tool_use_id)}.task",
                parent=tool_use_id,
                correlation=tool_use_id,
            )
        tools[tool_use_id] = record

    def post_tool_use(self, *, failed: bool) -> None:
        payload = self.payload
        agent = self.actor()
        tool_use_id, given = self.tool_use_id()
        record = self.state["tools"].pop(tool_use_id, None) if given else None
        tool = _text(payload, "tool_name") or (record or {}).get("tool") or "unknown"
        if record is not None:
            parent = record.get("parent")
            agent = record.get("agent") or agent
        else:
            parent = self.task_span(agent)[0]
        correlation = self.task_span(agent)[1]
        performance = {"duration": self.now - record["at"]} if record is not None else None
        end_id = f"{safe_id(tool_use_id)}.end" if given else tool_use_id
        if failed:
            self.emit(
                EventType.TOOL_CALL,
                _present(tool=tool, error=payload.get("error"), is_interrupt=payload.get("is_interrupt")),
                agent=agent,
                event_id=end_id,
                phase="error",
                span=tool_use_id,
                parent=parent,
                correlation=correlation,
                priority="high",
                performance=performance,
            )
        else:
            self.emit(
                EventType.TOOL_CALL,
                _present(tool=tool, result=payload.get("tool_response")),
                agent=agent,
                event_id=end_id,
                span=tool_use_id,
                parent=parent,
                correlation=correlation,
                performance=performance,
            )
            self.mcp_effect(tool, tool_use_id, agent)
        if record is not None and record.get("subagent"):
            self.end_delegation(record, tool_use_id, agent, failed=failed)

    def end_delegation(self, record: dict[str, Any], tool_use_id: str, caller: str, *, failed: bool) -> None:
        """The Task tool use returned: its subagent's task ends now if SubagentStop did not end it."""
        outcome = self.payload.get("error") if failed else self.payload.get("tool_response")
        claimed = record.get("claimed")
        if claimed:
            self.end_subagent_task(claimed, outcome, failed=failed)
            return
        # No subagent hook came (older Claude Code): the task ends with the tool use.
        end_type = EventType.TASK_FAIL if failed else EventType.TASK_COMPLETE
        data = (
            _present(task_id=tool_use_id, attempt=1, error=outcome)
            if failed
            else _present(task_id=tool_use_id, attempt=1, result=outcome)
        )
        self.emit(
            end_type,
            data,
            agent=caller,
            event_id=f"{safe_id(tool_use_id)}.task-end",
            phase="error" if failed else "complete",
            parent=tool_use_id,
            correlation=tool_use_id,
            priority="high" if failed else None,
        )

    def mcp_effect(self, tool: str, tool_use_id: str, agent: str) -> None:
        name = mcp_tool(tool)
        rule = MCP_TOOLS.get(name) if name else None
        if rule is None:
            return
        response = parse_tool_response(self.payload.get("tool_response"))
        if isinstance(response, Mapping) and response.get("success") is False:
            return
        source = {"input": self.payload.get("tool_input") or {}, "response": response}
        data: dict[str, Any] = {}
        for key, spec in rule.fields.items():
            value = resolve_field(spec, source)
            if value is not None:
                data[key] = value
        for key, value in (rule.constants or {}).items():
            data.setdefault(key, value)
        if any(data.get(key) is None for key in rule.requires):
            return
        actor = agent
        if rule.agent is not None:
            named = resolve_field(rule.agent, source)
            if not isinstance(named, str) or not named:
                return
            actor = safe_name(named)
        if rule.type is EventType.AGENT_SPAWN:
            data["parent_agent_id"] = agent
        self.emit(
            rule.type,
            data,
            agent=actor,
            event_id=f"{safe_id(tool_use_id)}.effect",
            parent=tool_use_id,
            correlation=data.get("task_id") if isinstance(data.get("task_id"), str) else None,
            priority="high" if rule.type in (EventType.AGENT_SPAWN, EventType.AGENT_TERMINATE) else None,
        )

    def subagent_start(self) -> None:
        name = subagent_name(self.payload.get("agent_type"), self.payload.get("agent_id"))
        if name in self.state["agents"]:
            # A subagent resumed (or an in-process teammate's next message).
            self.emit(EventType.AGENT_STATUS, {"status": "busy", "reason": "resumed"}, agent=name)
            return
        self.spawn(name)

    def subagent_stop(self) -> None:
        name = self.actor()
        message = self.payload.get("last_assistant_message")
        record = self.state["agents"].get(name) or {}
        had_task = bool(record.get("task")) and not record.get("done")
        self.end_subagent_task(name, message)
        self.emit(
            EventType.AGENT_TERMINATE,
            _present(
                reason="completed",
                last_assistant_message=None if had_task else message,
                transcript_path=self.payload.get("agent_transcript_path"),
            ),
            agent=name,
            parent=record.get("task"),
            priority="high",
        )

    def pre_compact(self) -> None:
        agent = self.actor()
        payload = self.payload
        span = self.new_id()
        parent = self.task_span(agent)[0]
        self.state["compaction"] = {"span": span, "parent": parent}
        self.emit(
            EventType.CONTEXT_UPDATE,
            {
                "key": "compaction",
                "value": _present(
                    trigger=payload.get("trigger") or payload.get("compact_trigger"),
                    custom_instructions=payload.get("custom_instructions"),
                ),
            },
            agent=agent,
            event_id=span,
            phase="start",
            span=span,
            parent=parent,
        )

    def post_compact(self) -> None:
        agent = self.actor()
        payload = self.payload
        open_span = self.state["compaction"] or {}
        self.state["compaction"] = None
        span = open_span.get("span")
        self.emit(
            EventType.CONTEXT_UPDATE,
            {
                "key": "compaction",
                "value": _present(
                    trigger=payload.get("trigger") or payload.get("compact_trigger"),
                    compact_summary=payload.get("compact_summary"),
                ),
            },
            agent=agent,
            span=span,
            parent=open_span.get("parent") if span else self.task_span(agent)[0],
        )

    def team_task(self, completed: bool) -> None:
        payload = self.payload
        task_id = payload.get("task_id")
        if not isinstance(task_id, (str, int)) or isinstance(task_id, bool) or task_id == "":
            self.unknown()
            return
        task = f"cc-task-{safe_name(str(task_id))}"
        details = _present(
            subject=payload.get("task_subject"),
            details=payload.get("task_description"),
            teammate=payload.get("teammate_name"),
            team=payload.get("team_name"),
        )
        agent = self.actor()
        if completed:
            self.emit(EventType.TASK_COMPLETE, {"task_id": task, **details}, agent=agent, correlation=task)
            return
        self.emit(
            EventType.TASK_CREATE,
            {"task_id": task, "description": payload.get("task_subject"), "dependencies": [], **details},
            agent=agent,
            correlation=task,
        )

    def teammate_idle(self) -> None:
        teammate = _text(self.payload, "teammate_name")
        if teammate is None:
            self.unknown()
            return
        name = safe_name(teammate)
        if name not in self.state["agents"]:
            agents = self.state["agents"]
            if len(agents) >= MAX_AGENTS:
                del agents[next(iter(agents))]
            agents[name] = {"parent": MAIN_AGENT, "task": None, "done": False}
            self.emit(
                EventType.AGENT_SPAWN,
                _present(
                    agent_type="teammate",
                    name=teammate,
                    parent_agent_id=MAIN_AGENT,
                    team=self.payload.get("team_name"),
                ),
                agent=name,
                event_id=f"spawn-{name}",
                priority="high",
            )
        self.emit(EventType.AGENT_STATUS, {"status": "idle", "reason": "teammate idle"}, agent=name)

    def session_end(self) -> None:
        self.close_prompt("cancel", "the session ended")
        reason = self.payload.get("reason")
        self.emit(
            EventType.AGENT_TERMINATE,
            _present(reason=reason),
            agent=MAIN_AGENT,
            event_id="terminate-main",
            priority="high",
        )
        self.emit(
            EventType.SESSION_END,
            _present(status="completed", reason=reason),
            agent=None,
            event_id="session-end",
            priority="high",
        )

    def unknown(self) -> None:
        data = {k: v for k, v in self.payload.items() if k not in ("session_id", "hook_event_name")}
        agent = self.actor()
        self.emit(custom_type(self.hook), data, agent=agent, parent=self.task_span(agent)[0])


_HANDLERS: dict[str, Callable[[_Hook], None]] = {
    "SessionStart": _Hook.session_start,
    "SessionEnd": _Hook.session_end,
    "UserPromptSubmit": _Hook.user_prompt_submit,
    "PreToolUse": _Hook.pre_tool_use,
    "PostToolUse": lambda hook: hook.post_tool_use(failed=False),
    "PostToolUseFailure": lambda hook: hook.post_tool_use(failed=True),
    "PermissionRequest": lambda hook: hook.message_to_user(
        "permission_request",
        _present(
            tool=hook.payload.get("tool_name"),
            args=hook.payload.get("tool_input"),
            suggestions=hook.payload.get("permission_suggestions"),
        ),
    ),
    "Notification": lambda hook: hook.message_to_user(
        _text(hook.payload, "notification_type") or "notification",
        hook.payload.get("message"),
        title=hook.payload.get("title"),
    ),
    "Stop": _Hook.stop,
    "StopFailure": _Hook.stop_failure,
    "SubagentStart": _Hook.subagent_start,
    "SubagentStop": _Hook.subagent_stop,
    "PreCompact": _Hook.pre_compact,
    "PostCompact": _Hook.post_compact,
    "TaskCreated": lambda hook: hook.team_task(completed=False),
    "TaskCompleted": lambda hook: hook.team_task(completed=True),
    "TeammateIdle": _Hook.teammate_idle,
}


class HookPayloadError(ValueError):
    """A hook payload without the fields every hook carries (session_id, hook_event_name)."""


def map_hook(
    payload: Any, state: dict[str, Any], *, now: float, new_id: Callable[[], str]
) -> list[dict[str, Any]]:
    """The trace events of one hook call, in order; updates `state` (see the module docstring).

    `now` is the receipt time in epoch milliseconds, `new_id` makes a fresh event id. Raises
    HookPayloadError for a payload that is not an object with a session_id and a hook_event_name.
    """
    if not isinstance(payload, Mapping):
        raise HookPayloadError("a hook payload is a JSON object")
    if not isinstance(payload.get("session_id"), str) or not payload["session_id"]:
        raise HookPayloadError("the hook payload has no session_id")
    if not isinstance(payload.get("hook_event_name"), str) or not payload["hook_event_name"]:
        raise HookPayloadError("the hook payload has no hook_event_name")
    if state.get("v") != STATE_VERSION:
        state.clear()
        state.update(new_state())
    hook = _Hook(payload, state, now, new_id)
    if hook.hook != "SessionStart":
        hook.ensure_started()
    _HANDLERS.get(hook.hook, _Hook.unknown)(hook)
    return hook.events


def claude_code_document() -> dict[str, Any]:
    """docs/contract/claude-code.json: the names and tables of the mapping, for the TypeScript SDK."""
    return {
        "source": SOURCE,
        "main_agent": MAIN_AGENT,
        "user": USER,
        "tags": list(TAGS),
        "custom_prefix": CUSTOM_PREFIX,
        "hook_events": list(HOOK_EVENTS),
        "subagent_tools": list(SUBAGENT_TOOLS),
        "mcp_servers": list(MCP_SERVERS),
        "mcp_tools": {name: rule.document() for name, rule in sorted(MCP_TOOLS.items())},
        "state_version": STATE_VERSION,
        "max_open_tools": MAX_OPEN_TOOLS,
        "max_agents": MAX_AGENTS,
    }
