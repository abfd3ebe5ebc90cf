"""The event taxonomy (CONTRACT §2): canonical types, phases, priorities and a payload model per type.

Payload models check what is required and leave everything else alone: every model allows extra
keys, so a producer's unknown fields travel through the pipeline untouched.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class EventType(StrEnum):
    """Canonical event types. Anything else must be an alias (see aliases.py) or `custom.<name>`."""

    SESSION_START = "session_start"
    SESSION_END = "session_end"
    AGENT_SPAWN = "agent_spawn"
    AGENT_STATUS = "agent_status"
    AGENT_TERMINATE = "agent_terminate"
    AGENT_METHOD = "agent_method"
    TASK_CREATE = "task_create"
    TASK_ASSIGNMENT = "task_assignment"
    TASK_START = "task_start"
    TASK_PROGRESS = "task_progress"
    TASK_COMPLETE = "task_complete"
    TASK_FAIL = "task_fail"
    TASK_CANCEL = "task_cancel"
    COMMUNICATION = "communication"
    MEMORY_WRITE = "memory_write"
    MEMORY_READ = "memory_read"
    MEMORY_DELETE = "memory_delete"
    TOOL_CALL = "tool_call"
    LLM_CALL = "llm_call"
    DECISION = "decision"
    COORDINATION = "coordination"
    CONTEXT_UPDATE = "context_update"
    ERROR = "error"
    PERFORMANCE_ALERT = "performance_alert"


CUSTOM_PREFIX = "custom."

# The SDK's report of the events it could not send (CONTRACT §1 "never loses silently"): a custom
# type, since it changes no swarm state. `data.new` maps reason → priority → count of drops since
# the previous report; ingest turns it into `swarmscope_sdk_dropped_events_total{reason, priority}`.
SDK_DROPS_TYPE = "custom.sdk_drops"
# Why the SDK did not send an event: lost (it meant to) or filtered (selective tracing chose not to).
SDK_LOSS_REASONS: tuple[str, ...] = ("buffer_full", "too_large", "rejected", "closed", "unsent_at_close")
SDK_FILTER_REASONS: tuple[str, ...] = ("sampled", "rate_limited", "level", "pressure")

Phase = Literal["start", "progress", "complete", "error"]
PHASES: tuple[Phase, ...] = ("start", "progress", "complete", "error")

Priority = Literal["low", "normal", "high", "critical"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "critical")

TASK_STATUSES = ("created", "assigned", "running", "completed", "failed", "retrying", "cancelled")
AGENT_STATUSES = ("idle", "busy", "error", "terminated")


def _id_to_str(value: Any) -> Any:
    # Frameworks often number their tasks and messages; an integer id means the same as its text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Ident = Annotated[str, BeforeValidator(_id_to_str), Field(min_length=1, max_length=512)]


class Payload(BaseModel):
    """Base of every payload model: unknown keys are kept, never dropped."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class SessionStartData(Payload):
    objective: str | None = None
    name: str | None = None
    topology: str | None = None
    strategy: str | None = None


class SessionEndData(Payload):
    status: str


class AgentSpawnData(Payload):
    agent_type: str
    name: str | None = None
    capabilities: list[Any] | None = None
    parent_agent_id: str | None = None
    status: str | None = None


class AgentStatusData(Payload):
    status: str
    from_: str | None = Field(default=None, alias="from")
    reason: str | None = None


class AgentTerminateData(Payload):
    reason: str | None = None


class AgentMethodData(Payload):
    method: str
    args: Any = None
    result: Any = None


class TaskCreateData(Payload):
    task_id: Ident
    description: str | None = None
    dependencies: list[Ident] | None = None
    priority: Any = None
    max_retries: int | None = None


class TaskAssignmentData(Payload):
    task_id: Ident
    agent_id: Ident
    attempt: int | None = None


class TaskStartData(Payload):
    task_id: Ident
    attempt: int | None = None


class TaskProgressData(Payload):
    task_id: Ident
    progress: float | None = None
    message: str | None = None


class TaskCompleteData(Payload):
    task_id: Ident
    result: Any = None


class TaskFailData(Payload):
    task_id: Ident
    error: Any = None
    will_retry: bool | None = None


class TaskCancelData(Payload):
    task_id: Ident
    reason: str | None = None


class Message(Payload):
    id: Ident
    from_: Ident = Field(alias="from")
    to: list[Ident]
    type: str | None = None
    content: Any = None
    in_reply_to: Ident | None = None


class CommunicationData(Payload):
    message: Message
    direction: Literal["sent", "received"] | None = None
    event: str | None = None


class MemoryWriteData(Payload):
    namespace: str | None = None
    key: str
    value: Any = Field(...)
    version: int | None = None


class MemoryReadData(Payload):
    namespace: str | None = None
    key: str
    version_read: int | None = None
    hit: bool | None = None


class MemoryDeleteData(Payload):
    namespace: str | None = None
    key: str


class ToolCallData(Payload):
    tool: str
    args: Any = None
    result: Any = None
    exit_code: int | None = None
    error: Any = None


class LlmCallData(Payload):
    model: str
    prompt: Any = None
    response: Any = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


class DecisionData(Payload):
    kind: str
    options: Any = None
    chosen: Any = None
    rationale: str | None = None
    confidence: float | None = None


class CoordinationData(Payload):
    kind: str
    details: Any = None


class ContextUpdateData(Payload):
    key: str
    value: Any = None


class ErrorData(Payload):
    message: str
    error_type: str | None = None
    scope: str | None = None
    recoverable: bool | None = None
    stack: str | None = None


class PerformanceAlertData(Payload):
    metric: str
    value: float
    threshold: float


PAYLOAD_MODELS: dict[str, type[Payload]] = {
    EventType.SESSION_START: SessionStartData,
    EventType.SESSION_END: SessionEndData,
    EventType.AGENT_SPAWN: AgentSpawnData,
    EventType.AGENT_STATUS: AgentStatusData,
    EventType.AGENT_TERMINATE: AgentTerminateData,
    EventType.AGENT_METHOD: AgentMethodData,
    EventType.TASK_CREATE: TaskCreateData,
    EventType.TASK_ASSIGNMENT: TaskAssignmentData,
    EventType.TASK_START: TaskStartData,
    EventType.TASK_PROGRESS: TaskProgressData,
    EventType.TASK_COMPLETE: TaskCompleteData,
    EventType.TASK_FAIL: TaskFailData,
    EventType.TASK_CANCEL: TaskCancelData,
    EventType.COMMUNICATION: CommunicationData,
    EventType.MEMORY_WRITE: MemoryWriteData,
    EventType.MEMORY_READ: MemoryReadData,
    EventType.MEMORY_DELETE: MemoryDeleteData,
    EventType.TOOL_CALL: ToolCallData,
    EventType.LLM_CALL: LlmCallData,
    EventType.DECISION: DecisionData,
    EventType.COORDINATION: CoordinationData,
    EventType.CONTEXT_UPDATE: ContextUpdateData,
    EventType.ERROR: ErrorData,
    EventType.PERFORMANCE_ALERT: PerformanceAlertData,
}

# The required payload fields per type (the `*` of CONTRACT §2), by their wire names.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    t: tuple((f.alias or name) for name, f in model.model_fields.items() if f.is_required())
    for t, model in PAYLOAD_MODELS.items()
}


def is_custom_type(event_type: str) -> bool:
    """True for `custom.<name>` types, which are stored and streamed but change only counters."""
    return event_type.startswith(CUSTOM_PREFIX) and len(event_type) > len(CUSTOM_PREFIX)


def is_canonical_type(event_type: str) -> bool:
    """True for a type of the taxonomy (not an alias, not custom)."""
    return event_type in PAYLOAD_MODELS
