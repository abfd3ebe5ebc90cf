"""What the API answers (CONTRACT §4 and §6): the result models of store and replay operations.

The gateway returns these bodies unchanged over HTTP, so they are also the frontend team's
contract; the OpenAPI document is generated from them. Keys are stable: add, never rename.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from swarmscope_schema.events import StoredEvent
from swarmscope_schema.sources import DEFAULT_SESSION_SOURCE

T = TypeVar("T")

EdgeType = Literal["sequence", "parallel", "spawn", "callback", "message"]
GraphLayout = Literal["hierarchical", "force", "timeline"]
StepDirection = Literal["into", "over", "out", "back"]
SearchDirection = Literal["forward", "backward"]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(ApiModel, Generic[T]):
    """A page of results; pass `next_cursor` back as `cursor` (or `after_seq`) for the next one."""

    items: list[T]
    next_cursor: str | None = None


# ---------------------------------------------------------------------------------------- store --


class SessionSummary(ApiModel):
    id: str
    name: str | None = None
    status: str = Field(description="active, completed, failed, or what session_end stated")
    objective: str | None = None
    start_time: float | None = Field(default=None, description="epoch ms of the first event")
    end_time: float | None = Field(default=None, description="epoch ms of session_end, if any")
    last_event_time: float | None = None
    last_seq: int | None = None
    event_count: int = 0
    agent_count: int = 0
    error_count: int = 0
    tokens: int = 0
    cost: float = 0.0
    source: str = Field(
        default=DEFAULT_SESSION_SOURCE,
        description="(v1.1) where the session came from: its first event's metadata.source "
        "(sdk-python, sdk-ts, otlp, claude-code, http, import, …), else nats",
    )


class FacetValue(ApiModel):
    """(v1.1) One value of a searchable attribute and how many sessions have it."""

    value: str
    sessions: int


class SessionFacets(ApiModel):
    """(v1.1) Per attribute of SESSION_ATTRIBUTES, its values, most common first."""

    agent_type: list[FacetValue] = Field(default_factory=list)
    tool: list[FacetValue] = Field(default_factory=list)
    model: list[FacetValue] = Field(default_factory=list)
    error_type: list[FacetValue] = Field(default_factory=list)


class AgentSummary(ApiModel):
    agent_id: str
    agent_type: str | None = None
    name: str | None = None
    parent_agent_id: str | None = None
    status: str | None = Field(default=None, description="last status an event stated or implied")
    current_task: str | None = None
    first_seq: int
    last_seq: int
    first_time: float
    last_time: float
    event_count: int = 0
    error_count: int = 0
    tool_calls: int = 0
    llm_calls: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    tokens: int = 0
    cost: float = 0.0
    duration_ms: float = 0.0


class GraphNode(ApiModel):
    id: str = Field(description="span id for span nodes, agent id for agent nodes")
    kind: Literal["span", "agent"]
    label: str
    agent_id: str | None = None
    type: str | None = Field(default=None, description="event type that opened the span")
    status: Literal["open", "complete", "error"] | None = None
    parent_id: str | None = None
    depth: int = 0
    start_seq: int | None = None
    end_seq: int | None = None
    start_time: float | None = None
    end_time: float | None = None
    duration_ms: float | None = None
    event_count: int = 0
    error_count: int = 0


class GraphEdge(ApiModel):
    source: str
    target: str
    type: EdgeType
    count: int = 1
    seq: int | None = Field(default=None, description="seq of the event that created the edge")


class Graph(ApiModel):
    session_id: str
    layout: GraphLayout
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool = Field(default=False, description="true when nodes were capped")


class PerformanceWindow(ApiModel):
    start_time: float
    end_time: float
    events: int
    event_rate: float = Field(description="events per second in the window")
    errors: int
    avg_duration_ms: float | None = None
    max_duration_ms: float | None = None
    tokens: int
    cost: float


class CostBreakdown(ApiModel):
    key: str = Field(description="agent id, event type or model name")
    events: int
    duration_ms: float
    tokens: int
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float


class SlowCall(ApiModel):
    event_id: str
    seq: int
    span_id: str
    agent_id: str | None
    type: str
    label: str
    duration_ms: float


class PerformanceReport(ApiModel):
    session_id: str
    window_ms: int
    windows: list[PerformanceWindow]
    per_agent: list[CostBreakdown]
    per_type: list[CostBreakdown]
    per_model: list[CostBreakdown]
    slowest: list[SlowCall]


class DeadLetter(ApiModel):
    seq: int
    reason: str
    subject: str | None = Field(description="the subject the message was published to")
    error: str | None = None
    received_at: float
    size: int
    payload_preview: str = Field(description="the first 2 KiB of the payload, as text")


# --------------------------------------------------------------------------------------- replay --


class AgentState(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    agent_type: str | None = None
    status: str = "idle"
    current_task: str | None = None
    parent_agent_id: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)


class TaskState(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    status: str
    agent_id: str | None = None
    attempts: int = 0
    dependencies: list[str] = Field(default_factory=list)
    progress: Any = None
    result: Any = None
    error: Any = None


class MemoryEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    value: Any = None
    version: int
    agent_id: str | None = None
    seq: int


class CommunicationEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    message_id: str
    from_: str = Field(alias="from")
    to: list[str]
    type: str | None = None
    content: Any = None
    in_reply_to: str | None = None
    seq: int


class OpenSpan(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    agent_id: str | None = None
    parent_id: str | None = None
    seq: int


class CollectionCount(ApiModel):
    count: int = Field(description="items the collection has at this seq")
    included: int = Field(description="items of it this view carries (its newest)")
    offset: int | None = Field(default=None, description="lists: the position of the first one carried")


class StateViewInfo(ApiModel):
    """(v1.1) What a bounded view left out: per growing collection, its size and what is carried."""

    kind: Literal["bounded"] = "bounded"
    limit: int = Field(description="the newest items carried of each collection at most")
    collections: dict[str, CollectionCount]


class SystemState(BaseModel):
    """The swarm at one instant (CONTRACT §6). Replay's reducer produces it as a plain dict; this
    model documents and validates that dict. (v1.1) The default answer is the bounded view: each
    growing collection cut to its newest items, and `view` saying so; `full=1` has no `view`."""

    model_config = ConfigDict(extra="allow")

    session_id: str
    seq: int
    timestamp: float | None = None
    session: dict[str, Any] = Field(default_factory=dict)
    agents: dict[str, AgentState] = Field(default_factory=dict)
    tasks: dict[str, TaskState] = Field(default_factory=dict)
    memory: dict[str, MemoryEntry] = Field(default_factory=dict)
    communications: list[CommunicationEntry] = Field(default_factory=list)
    open_spans: dict[str, OpenSpan] = Field(default_factory=dict)
    counters: dict[str, float] = Field(default_factory=dict)
    view: StateViewInfo | None = Field(default=None, description="(v1.1) present on a bounded view")


class StateItem(ApiModel):
    key: str | int = Field(description="the map key, or the position in a list")
    value: Any = None


class StatePage(ApiModel):
    """(v1.1) A page of one growing collection of SystemState, exact at `seq`."""

    session_id: str
    seq: int
    collection: str
    count: int = Field(description="items the collection has at this seq (unfiltered)")
    order: Literal["asc", "desc"]
    items: list[StateItem]
    next_cursor: str | None = Field(default=None, description="pass as cursor for the next page")


class StateChange(ApiModel):
    path: list[str | int] = Field(description="keys from the root of SystemState")
    op: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None


class StateDiff(ApiModel):
    session_id: str
    from_seq: int
    to_seq: int
    changes: list[StateChange]
    truncated: bool = Field(default=False, description="true when more changes follow this page")
    next_cursor: str | None = Field(default=None, description="(v1.1) cursor of the next page of changes")


class StepResult(ApiModel):
    session_id: str
    direction: StepDirection
    from_event_id: str
    event: StoredEvent | None = Field(description="the event to go to; null at either end")
    reason: str | None = Field(default=None, description="why event is null, e.g. end_of_session")


class StackFrame(ApiModel):
    span_id: str
    type: str
    agent_id: str | None
    label: str
    start_seq: int
    start_event_id: str
    start_time: float
    duration_so_far_ms: float
    open: bool = Field(description="false once the span has completed at or before the event")


class CallStack(ApiModel):
    session_id: str
    event_id: str
    seq: int
    frames: list[StackFrame] = Field(description="enclosing spans, innermost first")


class BreakpointHit(ApiModel):
    session_id: str
    hit: bool
    event: StoredEvent | None = None
    condition: str | None = Field(default=None, description="the condition that held")
    condition_index: int | None = None
    scanned: int = Field(description="events evaluated")
    evaluation_errors: int = Field(
        default=0, description="evaluations that failed (e.g. a missing key) and so did not hold"
    )
    first_error: str | None = Field(default=None, description="the first of those failures")


class CompiledExpression(ApiModel):
    """(v1.1) Whether one expression compiles, and where it does not."""

    expression: str
    ok: bool
    error: str | None = Field(default=None, description="why it does not compile, caret lines included")
    column: int | None = Field(default=None, description="1-based column of a syntax error")
    variables: list[str] = Field(default_factory=list, description="the variables it reads")


class CompileResult(ApiModel):
    """(v1.1) One entry per expression, in order."""

    results: list[CompiledExpression]


class WatchValue(ApiModel):
    expression: str
    value: Any = None
    error: str | None = None


class WatchResult(ApiModel):
    session_id: str
    seq: int
    values: list[WatchValue]


class SessionOutcome(ApiModel):
    session_id: str
    status: str | None
    duration_ms: float | None
    events: int
    errors: int
    tokens: int
    cost: float
    agents: dict[str, str] = Field(description="agent id → agent type")
    tasks: dict[str, str] = Field(description="task id → final status")


class AlignedStep(ApiModel):
    key: str = Field(description="agent role / event type the two steps share")
    a_seq: int | None
    b_seq: int | None
    a_summary: str | None = None
    b_summary: str | None = None
    status: Literal["same", "changed", "only_a", "only_b"]


class SessionComparison(ApiModel):
    a: SessionOutcome
    b: SessionOutcome
    task_differences: list[dict[str, Any]]
    alignment: list[AlignedStep]
    summary: dict[str, Any] = Field(description="counts of same / changed / only_a / only_b")


class ReplayStarted(ApiModel):
    session_id: str
    new_session_id: str
    events: int
    speed: float
