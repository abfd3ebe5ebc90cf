"""The swarm vocabulary (CONTRACT §2) as methods, so a Claude-Flow-style agent is traced in a few lines.

    coord = tracer.agent("coord-1")
    coder = coord.agent_spawn("cod-1", "coder", capabilities=["python"])
    coord.task_create("T2", "implement the limiter", dependencies=["T1"])
    coord.task_assign("T2", "cod-1")
    with coder.task("T2") as task:
        with coder.tool_call("Bash", {"command": "pytest -q"}) as call:
            call.set(exit_code=0)
        coder.memory_write("code/limiter.py", source, namespace="swarm", version=1)

Every helper returns the id of the event it emitted (None when selective tracing left it out), or
a span to use with `with`.
"""

from __future__ import annotations

import traceback
from typing import Any

from swarmscope.emitter import SESSION, EmitterBase
from swarmscope.spans import task_span_id


class Emitter(EmitterBase):
    """Emits events for one session, bound to an agent or not; see the module docstring."""

    __slots__ = ()

    def agent(self, agent_id: str) -> Emitter:
        """A view of this tracer that emits as `agent_id` (same buffer, connection and id space)."""
        return Emitter(self._core, agent_id)

    # --------------------------------------------------------------------------------- session --

    def session_start(
        self,
        objective: str | None = None,
        *,
        name: str | None = None,
        topology: str | None = None,
        strategy: str | None = None,
        **data: Any,
    ) -> str | None:
        """The session begins (a session-level event: no agent)."""
        payload = _fields(objective=objective, name=name, topology=topology, strategy=strategy)
        return self.emit("session_start", {**payload, **data}, agent_id=SESSION, priority="high")

    def session_end(self, status: str = "completed", **data: Any) -> str | None:
        """The session ends with `status` (completed, failed, cancelled, …)."""
        return self.emit("session_end", {"status": status, **data}, agent_id=SESSION, priority="high")

    # ---------------------------------------------------------------------------------- agents --

    def agent_spawn(
        self,
        agent_id: str,
        agent_type: str,
        *,
        name: str | None = None,
        capabilities: list[Any] | None = None,
        parent_agent_id: str | None = None,
        status: str | None = "idle",
        **data: Any,
    ) -> Emitter:
        """A new agent joins (spawned by this emitter's agent, if any); returns the new agent's view."""
        parent = parent_agent_id or (self.agent_id if self.agent_id != agent_id else None)
        payload = _fields(
            agent_type=agent_type, name=name, capabilities=capabilities, parent_agent_id=parent, status=status
        )
        self.emit("agent_spawn", {**payload, **data}, agent_id=agent_id, priority="high")
        return self.agent(agent_id)

    def agent_status(
        self, status: str, *, from_: str | None = None, reason: str | None = None, **data: Any
    ) -> str | None:
        """The agent's status changes (idle, busy, error, …)."""
        payload = _fields(status=status, reason=reason)
        if from_ is not None:
            payload["from"] = from_
        return self.emit("agent_status", {**payload, **data})

    def agent_terminate(self, reason: str | None = None, **data: Any) -> str | None:
        """The agent leaves the swarm."""
        return self.emit("agent_terminate", {**_fields(reason=reason), **data}, priority="high")

    # ----------------------------------------------------------------------------------- tasks --

    def task_create(
        self,
        task_id: str,
        description: str | None = None,
        *,
        dependencies: list[str] | None = None,
        priority: Any = None,
        max_retries: int | None = None,
        **data: Any,
    ) -> str | None:
        """A task is created (with the tasks it depends on)."""
        payload = _fields(
            task_id=task_id,
            description=description,
            dependencies=dependencies if dependencies is not None else [],
            priority=priority,
            max_retries=max_retries,
        )
        return self.emit("task_create", {**payload, **data}, correlation_id=task_id)

    def task_assign(self, task_id: str, agent_id: str, *, attempt: int = 1, **data: Any) -> str | None:
        """The task is assigned to `agent_id` (emitted by the assigner)."""
        return self.emit(
            "task_assignment",
            {"task_id": task_id, "agent_id": agent_id, "attempt": attempt, **data},
            correlation_id=task_id,
        )

    def task_start(self, task_id: str, *, attempt: int = 1, **data: Any) -> str | None:
        """The task's attempt starts (opens the span `sp_<task>_a<attempt>`); see also `task()`."""
        return self.emit(
            "task_start",
            {"task_id": task_id, "attempt": attempt, **data},
            phase="start",
            span_id=task_span_id(task_id, attempt),
            correlation_id=task_id,
        )

    def task_progress(
        self,
        task_id: str,
        progress: float | None = None,
        message: str | None = None,
        *,
        attempt: int = 1,
        **data: Any,
    ) -> str | None:
        """Progress of the task's attempt (0..1) with a message."""
        return self.emit(
            "task_progress",
            {**_fields(task_id=task_id, progress=progress, message=message), "attempt": attempt, **data},
            phase="progress",
            span_id=task_span_id(task_id, attempt),
            correlation_id=task_id,
        )

    def task_complete(self, task_id: str, result: Any = None, *, attempt: int = 1, **data: Any) -> str | None:
        """The task's attempt completed (closes its span)."""
        return self.emit(
            "task_complete",
            {"task_id": task_id, "attempt": attempt, "result": result, **data},
            phase="complete",
            span_id=task_span_id(task_id, attempt),
            correlation_id=task_id,
        )

    def task_fail(
        self, task_id: str, error: Any = None, *, will_retry: bool = False, attempt: int = 1, **data: Any
    ) -> str | None:
        """The task's attempt failed (closes its span with an error); `will_retry` if it will run again."""
        if isinstance(error, BaseException):
            data.setdefault("error_type", type(error).__name__)
            error = str(error) or type(error).__name__
        return self.emit(
            "task_fail",
            {"task_id": task_id, "attempt": attempt, "error": error, "will_retry": will_retry, **data},
            phase="error",
            span_id=task_span_id(task_id, attempt),
            correlation_id=task_id,
            priority="high",
        )

    def task_cancel(self, task_id: str, reason: str | None = None, **data: Any) -> str | None:
        """The task is cancelled."""
        return self.emit(
            "task_cancel", {**_fields(task_id=task_id, reason=reason), **data}, correlation_id=task_id
        )

    # -------------------------------------------------------------------------------- messages --

    def send_message(
        self,
        to: str | list[str],
        content: Any,
        *,
        type: str = "direct",
        in_reply_to: str | None = None,
        message_id: str | None = None,
        **data: Any,
    ) -> str:
        """This agent sends a message; returns the message id (pass it as `in_reply_to` to reply)."""
        message_id = message_id or self._core.new_message_id()
        recipients = [to] if isinstance(to, str) else list(to)
        message = _fields(id=message_id, to=recipients, type=type, content=content, in_reply_to=in_reply_to)
        message["from"] = self._sender()
        self.emit("communication", {"message": message, "direction": "sent", **data})
        return message_id

    def receive_message(
        self,
        message_id: str,
        sender: str,
        content: Any = None,
        *,
        type: str | None = None,
        in_reply_to: str | None = None,
        to: list[str] | None = None,
        **data: Any,
    ) -> str | None:
        """This agent receives the message `message_id` from `sender`."""
        message = _fields(
            id=message_id,
            to=to if to is not None else [self._sender()],
            type=type,
            content=content,
            in_reply_to=in_reply_to,
        )
        message["from"] = sender
        return self.emit("communication", {"message": message, "direction": "received", **data})

    # ---------------------------------------------------------------------------------- memory --

    def memory_write(
        self, key: str, value: Any, *, namespace: str | None = None, version: int | None = None, **data: Any
    ) -> str | None:
        """A shared-memory entry is written (a new version of `namespace/key`)."""
        payload = {**_fields(namespace=namespace, key=key, version=version), "value": value}
        return self.emit("memory_write", {**payload, **data})

    def memory_read(
        self,
        key: str,
        *,
        namespace: str | None = None,
        version_read: int | None = None,
        hit: bool | None = None,
        **data: Any,
    ) -> str | None:
        """A shared-memory entry is read (`hit` False for a miss)."""
        payload = _fields(namespace=namespace, key=key, version_read=version_read, hit=hit)
        return self.emit("memory_read", {**payload, **data})

    def memory_delete(self, key: str, *, namespace: str | None = None, **data: Any) -> str | None:
        """A shared-memory entry is deleted."""
        return self.emit("memory_delete", {**_fields(namespace=namespace, key=key), **data})

    # ----------------------------------------------------------------------- reasoning, errors --

    def decision(
        self,
        kind: str,
        *,
        options: Any = None,
        chosen: Any = None,
        rationale: str | None = None,
        confidence: float | None = None,
        **data: Any,
    ) -> str | None:
        """The agent decides (`kind`: task_decomposition, retry_strategy, …) among `options`."""
        payload = _fields(
            kind=kind, options=options, chosen=chosen, rationale=rationale, confidence=confidence
        )
        return self.emit("decision", {**payload, **data})

    def coordination(self, kind: str, details: Any = None, **data: Any) -> str | None:
        """A coordination step (consensus, deadlock, resource_acquired, resource_released, …)."""
        return self.emit("coordination", {**_fields(kind=kind, details=details), **data})

    def context_update(self, key: str, value: Any = None, **data: Any) -> str | None:
        """The agent's working context changes (`key` → `value`)."""
        return self.emit("context_update", {"key": key, "value": value, **data})

    def error(
        self,
        error: BaseException | str,
        *,
        error_type: str | None = None,
        scope: str | None = None,
        recoverable: bool | None = None,
        stack: str | None = None,
        **data: Any,
    ) -> str | None:
        """An error (an exception or a message); high priority, never left out by selection."""
        if isinstance(error, BaseException):
            message = str(error) or type(error).__name__
            error_type = error_type or type(error).__name__
            if stack is None and error.__traceback__ is not None:
                stack = "".join(traceback.format_exception(type(error), error, error.__traceback__, limit=30))
        else:
            message = error
        payload = _fields(
            message=message, error_type=error_type, scope=scope, recoverable=recoverable, stack=stack
        )
        return self.emit("error", {**payload, **data}, priority="high")

    def performance_alert(self, metric: str, value: float, threshold: float, **data: Any) -> str | None:
        """A measured value crossed its threshold."""
        return self.emit(
            "performance_alert",
            {"metric": metric, "value": value, "threshold": threshold, **data},
            priority="high",
        )

    # -------------------------------------------------------------------------------- helpers --

    def _sender(self) -> str:
        ctx = self._core.context()
        return (
            self._agent
            or (ctx.agent_id if ctx and ctx.agent_id else None)
            or self._core.default_agent
            or "session"
        )


def _fields(**values: Any) -> dict[str, Any]:
    """The given fields without the ones left at None."""
    return {k: v for k, v in values.items() if v is not None}
