"""Request-reply over NATS (`swarmscope.store.<op>`, `swarmscope.replay.<op>`): ops, bodies, replies.

Every reply is an envelope: `{"ok": true, "result": …}` or `{"ok": false, "error": {code,
message}}`. Error codes map one to one to HTTP statuses, so the gateway passes errors through.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from swarmscope_schema.api import GraphLayout, SearchDirection, StepDirection
from swarmscope_schema.events import NAME_PATTERN
from swarmscope_schema.state import (
    DEFAULT_PAGE_LIMIT,
    DEFAULT_VIEW_LIMIT,
    MAX_PAGE_LIMIT,
    MAX_QUERY_CHARS,
    MAX_VIEW_LIMIT,
    StateCollectionName,
)
from swarmscope_schema.taxonomy import Phase


class StoreOp(StrEnum):
    SESSIONS = "sessions"
    SESSION = "session"
    EVENTS = "events"
    EVENT = "event"
    AGENTS = "agents"
    GRAPH = "graph"
    PERFORMANCE = "performance"
    DLQ = "dlq"
    FACETS = "facets"
    EVENT_SEQS = "event_seqs"
    # (v1.1) How far the store has committed TRACES (StoreProgress): other services ask this
    # instead of reading the store's JetStream durable.
    PROGRESS = "progress"
    PING = "ping"


class ReplayOp(StrEnum):
    STATE = "state"
    STATE_PAGE = "state_page"
    DIFF = "diff"
    STEP = "step"
    STACK = "stack"
    BREAKPOINT = "breakpoint"
    WATCH = "watch"
    COMPILE = "compile"
    COMPARE = "compare"
    REPLAY = "replay"
    PING = "ping"


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    EXPRESSION_ERROR = "expression_error"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    INTERNAL = "internal"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.EXPRESSION_ERROR: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
}


# (v1.1) Answers of any size (CONTRACT §3): a caller that sends REPLY_CHUNKS_HEADER may get its
# answer as chunk messages, each with CHUNK_INDEX_HEADER (0, 1, …); the last also carries
# CHUNK_END_HEADER (the result's total bytes). The chunks' bodies joined are the JSON of the
# envelope's `result`. A chunk message with a reply subject asks the caller to answer (empty body)
# once it has taken that chunk: the next chunks wait for it, so a slow caller holds a bounded window.
REPLY_CHUNKS_HEADER = "Swarmscope-Reply-Chunks"
CHUNK_INDEX_HEADER = "Swarmscope-Chunk"
CHUNK_END_HEADER = "Swarmscope-Chunk-End"
CHUNK_PROTOCOL = "1"
CHUNK_CANCEL = b"cancel"


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str


class ErrorReply(BaseModel):
    """The error body of the HTTP API and of every request-reply answer."""

    ok: Literal[False] = False
    error: ErrorBody


def _without_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain NUL characters (\\u0000)")
    if isinstance(value, list):
        for item in value:
            _without_nul(item)
    return value


class Request(BaseModel):
    """A request body: unknown fields refused, and no text with NUL characters anywhere (no
    backend can search or hold one: Postgres text rejects it), so such input is a bad request naming
    its field, never a database error."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return _without_nul(value)


def not_before(lower: str) -> Any:
    """A field validator: the field (an upper bound) is not below the field `lower` (declared
    before it), so an inverted range is a bad request naming the bound, not an empty answer."""

    def check(value: float | None, info: ValidationInfo) -> float | None:
        low = info.data.get(lower)
        if value is not None and low is not None and value < low:
            raise PydanticCustomError("inverted_range", "is below {lower}", {"lower": lower})
        return value

    return check


SessionIdField = Field(pattern=NAME_PATTERN)

# Sequences are stored as signed 64-bit integers; a larger value is a bad request, not an overflow.
MAX_SEQ = 2**63 - 1
MAX_WINDOW_MS = 366 * 24 * 3600 * 1000


# ---------------------------------------------------------------------------------------- store --


# (v1.1) What a session can be searched by besides its summary: each names the values its events
# stated (agent_spawn data.agent_type, tool_call data.tool, llm_call data.model, the error_type of an
# error event or an error phase). The store keeps one row per (session, attribute, value).
SESSION_ATTRIBUTES: tuple[str, ...] = ("agent_type", "tool", "model", "error_type")
SessionScope = Literal["include", "exclude", "only"]


class SessionsQuery(Request):
    status: str | None = None
    q: str | None = Field(default=None, max_length=200, description="substring of id, name, objective")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")
    agent_type: str | None = Field(
        default=None,
        max_length=1000,
        description="(v1.1) sessions with an agent of this type (comma: any of)",
    )
    tool: str | None = Field(
        default=None, max_length=1000, description="(v1.1) sessions that called this tool (comma: any of)"
    )
    model: str | None = Field(
        default=None, max_length=1000, description="(v1.1) sessions that called this model (comma: any of)"
    )
    error_type: str | None = Field(
        default=None,
        max_length=1000,
        description="(v1.1) sessions with an error of this type (comma: any of)",
    )
    from_ts: float | None = Field(
        default=None, description="(v1.1) sessions with events at or after this time (epoch ms)"
    )
    to_ts: float | None = Field(
        default=None, description="(v1.1) sessions with events at or before this time (epoch ms)"
    )
    min_cost: float | None = Field(default=None, ge=0, description="(v1.1) cost at least this (USD)")
    max_cost: float | None = Field(default=None, ge=0, description="(v1.1) cost at most this (USD)")
    system: SessionScope = Field(
        default="include",
        description="(v1.1) the internal `_system` session (performance alerts): include, exclude or only",
    )

    _to_after_from = field_validator("to_ts")(not_before("from_ts"))
    _max_after_min = field_validator("max_cost")(not_before("min_cost"))


class FacetsQuery(Request):
    """(v1.1) The values sessions can be searched by, most common first."""

    limit: int = Field(default=50, ge=1, le=500, description="values per attribute")


class SessionRef(Request):
    session_id: str = SessionIdField


class EventsQuery(Request):
    session_id: str = SessionIdField
    after_seq: int = Field(default=0, ge=0, le=MAX_SEQ)
    until_seq: int | None = Field(default=None, ge=0, le=MAX_SEQ, description="inclusive upper bound")
    limit: int = Field(default=500, ge=1, le=5000)
    order: Literal["asc", "desc"] = "asc"
    agent: str | None = Field(default=None, max_length=4000, description="agent id(s), comma-separated")
    type: str | None = Field(default=None, max_length=4000, description="event type(s), comma-separated")
    phase: Phase | None = None
    span_id: str | None = Field(default=None, max_length=128)
    q: str | None = Field(default=None, max_length=200, description="text search in data")
    from_ts: float | None = None
    to_ts: float | None = None
    cursor: str | None = Field(
        default=None,
        description="next_cursor of the previous page; continues in the page's order (asc or desc)",
    )

    _to_after_from = field_validator("to_ts")(not_before("from_ts"))


class EventRef(Request):
    session_id: str = SessionIdField
    event_id: str = Field(min_length=1, max_length=128)


MAX_EVENT_SEQS = 10_000


class EventSeqsQuery(Request):
    """(v1.1) Where the store holds events, by (session_id, id): the dedupe of replay (and of the
    edges' duplicate counts) after any duplicate window. Reply: `{"seqs": {session_id: {id: seq}}}`
    with only the ids the store holds."""

    events: dict[str, list[str]] = Field(description="event ids by session id")

    @model_validator(mode="after")
    def _bounded(self) -> EventSeqsQuery:
        total = sum(len(ids) for ids in self.events.values())
        if total > MAX_EVENT_SEQS:
            raise ValueError(f"at most {MAX_EVENT_SEQS} event ids per request, got {total}")
        return self


class GraphQuery(Request):
    session_id: str = SessionIdField
    layout: GraphLayout = "hierarchical"
    max_nodes: int = Field(default=5000, ge=1, le=50000)


class PerformanceQuery(Request):
    session_id: str = SessionIdField
    window_ms: int | None = Field(
        default=None, ge=100, le=MAX_WINDOW_MS, description="default: chosen by the store"
    )


class DlqQuery(Request):
    limit: int = Field(default=100, ge=1, le=1000)
    before_seq: int | None = Field(default=None, ge=1, le=MAX_SEQ)
    reason: str | None = None


# --------------------------------------------------------------------------------------- replay --


class StateQuery(Request):
    session_id: str = SessionIdField
    seq: int | None = Field(default=None, ge=0, le=MAX_SEQ)
    ts: float | None = None
    full: bool = Field(default=False, description="the complete state, streamed whatever its size (v1.1)")
    limit: int = Field(
        default=DEFAULT_VIEW_LIMIT,
        ge=0,
        le=MAX_VIEW_LIMIT,
        description="bounded view (v1.1): the newest items kept of each growing collection",
    )

    @model_validator(mode="after")
    def _one_of(self) -> StateQuery:
        if (self.seq is None) == (self.ts is None):
            raise ValueError("give exactly one of seq or ts")
        return self


class StatePageQuery(Request):
    """(v1.1) One page of a growing collection of the state at a seq (or a timestamp)."""

    session_id: str = SessionIdField
    collection: StateCollectionName
    seq: int | None = Field(default=None, ge=0, le=MAX_SEQ)
    ts: float | None = None
    cursor: str | None = Field(
        default=None,
        max_length=20,
        description="next_cursor of the previous page, or a position (0-based) to start at",
    )
    limit: int = Field(default=DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)
    order: Literal["asc", "desc"] = "asc"
    agent: str | None = Field(default=None, max_length=128, description="items naming this agent")
    prefix: str | None = Field(default=None, max_length=512, description="keys starting with this")
    status: str | None = Field(default=None, max_length=64)
    kind: str | None = Field(default=None, max_length=128)
    q: str | None = Field(
        default=None, max_length=MAX_QUERY_CHARS, description="text in the item (ASCII case-insensitive)"
    )

    @model_validator(mode="after")
    def _one_of(self) -> StatePageQuery:
        if (self.seq is None) == (self.ts is None):
            raise ValueError("give exactly one of seq or ts")
        return self


class DiffQuery(Request):
    session_id: str = SessionIdField
    from_seq: int = Field(ge=0, le=MAX_SEQ)
    to_seq: int = Field(ge=0, le=MAX_SEQ)
    cursor: str | None = Field(
        default=None, max_length=20, description="next_cursor of the previous page (v1.1)"
    )
    limit: int = Field(default=5000, ge=1, le=MAX_PAGE_LIMIT, description="changes per page (v1.1)")
    collection: StateCollectionName | None = Field(
        default=None, description="only the changes inside this collection (v1.1)"
    )


class StepQuery(Request):
    session_id: str = SessionIdField
    event_id: str = Field(min_length=1, max_length=128)
    direction: StepDirection


class StackQuery(Request):
    session_id: str = SessionIdField
    event_id: str = Field(min_length=1, max_length=128)


MAX_EXPRESSIONS = 20
MAX_EXPRESSION_CHARS = 2000


class BreakpointQuery(Request):
    session_id: str = SessionIdField
    from_seq: int = Field(default=0, ge=0, le=MAX_SEQ)
    direction: SearchDirection = "forward"
    conditions: list[str] = Field(min_length=1, max_length=MAX_EXPRESSIONS)
    max_events: int = Field(default=100_000, ge=1, le=1_000_000)


class WatchQuery(Request):
    session_id: str = SessionIdField
    seq: int = Field(ge=0, le=MAX_SEQ)
    expressions: list[str] = Field(min_length=1, max_length=MAX_EXPRESSIONS)


ExpressionUse = Literal["condition", "watch"]


class CompileQuery(Request):
    """(v1.1) Expressions to compile without running: breakpoint conditions (they see `event` and
    `state`) or watches (they see `state`)."""

    expressions: list[str] = Field(min_length=1, max_length=MAX_EXPRESSIONS)
    use: ExpressionUse = "condition"


class CompareQuery(Request):
    a: str = SessionIdField
    b: str = SessionIdField


class ReplayQuery(Request):
    session_id: str = SessionIdField
    new_session_id: str | None = Field(default=None, pattern=NAME_PATTERN)
    speed: float = Field(default=1.0, gt=0, le=1000)


class StoreProgress(BaseModel):
    """(v1.1) The answer of `swarmscope.store.progress` (request body `{}`)."""

    model_config = ConfigDict(extra="forbid")

    stream: Literal["TRACES"] = Field(
        default="TRACES", description="The stream the sequence numbers count (the events' `seq`)."
    )
    committed_seq: int = Field(
        ge=0,
        description="Every event of the stream with seq ≤ this is committed in the store and can be "
        "read back from it (or was dead-lettered by it); 0 when nothing is known yet.",
    )


def ok_reply(result: Any) -> dict[str, Any]:
    """A success envelope around a JSON-ready result."""
    return {"ok": True, "result": result}


def error_reply(code: ErrorCode, message: str) -> dict[str, Any]:
    """An error envelope."""
    return {"ok": False, "error": {"code": code.value, "message": message}}
