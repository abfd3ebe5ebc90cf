"""The route table: every endpoint once, with what it takes and answers.

The Starlette app is built from it (app.py pairs each entry with its handler) and so is the OpenAPI
document (openapi.py), so the two cannot disagree. Parameter models hold both path and query
fields; a field whose name appears in the path template is a path parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from swarmscope_gateway.access import ADMIN, INGEST, READ, Access, Scope, needs
from swarmscope_gateway.params import (
    DlqParams,
    ExportParams,
    ImportParams,
    PerformanceParams,
    PublishResult,
    SessionStreamParams,
    StreamParams,
    TokenRequest,
    TokenResponse,
    WsParams,
)
from swarmscope_schema.api import (
    AgentSummary,
    BreakpointHit,
    CallStack,
    CompileResult,
    DeadLetter,
    Graph,
    Page,
    PerformanceReport,
    ReplayStarted,
    SessionComparison,
    SessionFacets,
    SessionSummary,
    StateDiff,
    StatePage,
    StepResult,
    SystemState,
    WatchResult,
)
from swarmscope_schema.events import StoredEvent
from swarmscope_schema.requests import (
    BreakpointQuery,
    CompareQuery,
    CompileQuery,
    DiffQuery,
    EventRef,
    EventsQuery,
    FacetsQuery,
    GraphQuery,
    ReplayQuery,
    SessionRef,
    SessionsQuery,
    StackQuery,
    StatePageQuery,
    StateQuery,
    StepQuery,
    WatchQuery,
)

Body = Literal["json", "ingest", "jsonl", "otlp"]
ErrorFormat = Literal["api", "otlp"]

API = "/api/v1"
SESSION = f"{API}/sessions/{{session_id}}"
EVENT = f"{SESSION}/events/{{event_id}}"

JSON = "application/json"
NDJSON = "application/x-ndjson"
PROTOBUF = "application/x-protobuf"
EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True)
class Endpoint:
    name: str  # operationId, and the key of its handler
    method: Literal["GET", "POST"]
    path: str
    tag: str
    summary: str
    description: str = ""
    params: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_kind: Body = "json"
    response: Any = None  # a model, or None for a body described by `media` alone
    media: str = JSON
    status: int = 200
    errors: tuple[int, ...] = (400, 404, 503, 504)
    rate_limited: bool = False
    # Who may call it (access.py): required, so an endpoint cannot be added without saying.
    access: Access = field(kw_only=True)
    # "otlp": errors are google.rpc.Status in the request's encoding, as OTLP/HTTP requires.
    error_format: ErrorFormat = "api"


LIVE_DESCRIPTION = (
    "Server-Sent Events. Each message is `event: batch_events`, `id: <seq of its last event>`, "
    '`data: {"session_id": ..., "events": [StoredEvent, ...]}`; a batch holds one session\'s events '
    "in ascending seq (at most 50 live, flushed within 20 ms). Reconnecting with `Last-Event-ID` (the "
    "browser does it) or `?after_seq=` resumes with nothing missed and nothing repeated; without "
    "either the stream starts from now. Comment lines (`: ping`) are heartbeats, every 15 s. A client "
    "too slow to keep up receives `event: resync` with `data: {session_id, after_seq}` and the stream "
    "ends: reconnect with `after_seq` (EventSource does so with Last-Event-ID). `event: error` with "
    "`data: {code, message}` ends a stream that cannot continue. Browsers cannot send headers on an "
    "EventSource: pass `?token=` from POST /api/v1/auth/token when API keys are configured."
)

WS_DESCRIPTION = (
    "WebSocket (permessage-deflate). Every message is a JSON object with a `type`; the schemas are "
    "`Ws*` in components. Client → server: `subscribe_session {session_id, after_seq?}` (resume after "
    "seq, or from now; subscribing again restarts), `unsubscribe_session {session_id}`, "
    "`request_history {session_id, time_range: {start, end}}` (epoch ms), `time_travel {session_id, "
    "seq | timestamp}`, `filter_agents {agent_ids}` (null or [] = every agent; applies to every "
    "subscription from the next batch), `ping`. camelCase keys (sessionId, afterSeq, timeRange, "
    "agentIds) are accepted too; an optional `request_id` is echoed on the answer. Server → client: "
    "`trace_event {session_id, event}` (a batch of one), `batch_events {session_id, events}`, "
    "`history {session_id, events, done, truncated}` (pages; the last has done=true), `state "
    "{session_id, seq, state}`, `resync {session_id, after_seq}` (this client fell behind: its backlog "
    "was dropped and the subscription stopped; subscribe again with that after_seq), `error {code, "
    "message}`, `pong`. Browsers pass `?token=`; an Origin not allowed by SWARMSCOPE_ALLOWED_ORIGINS "
    "(same origin always is) is refused with 403."
)

ENDPOINTS: tuple[Endpoint, ...] = (
    # -- sessions and events (store)
    Endpoint(
        "list_sessions",
        "GET",
        f"{API}/sessions",
        "sessions",
        "List sessions, newest first",
        "Filter by status and a substring of id, name or objective; page with `cursor` = the previous "
        "page's `next_cursor`. (v1.1) Search by what the sessions' events stated: `agent_type`, "
        "`tool`, `model`, `error_type` (a value, or a comma-separated list of which any matches; "
        "several parameters must all match), `from_ts`/`to_ts` (sessions with events in that range, "
        "epoch ms), `min_cost`/`max_cost` (USD, inclusive), and `system` (`include` the internal "
        "`_system` session, the default, `exclude` it, or keep `only` it).",
        params=SessionsQuery,
        response=Page[SessionSummary],
        access=READ,
    ),
    Endpoint(
        "session_facets",
        "GET",
        f"{API}/facets",
        "sessions",
        "(v1.1) The values sessions can be searched by",
        "Per attribute (agent_type, tool, model, error_type), its values with how many sessions "
        "have each, most common first: what the sessions list offers to search by.",
        params=FacetsQuery,
        response=SessionFacets,
        errors=(400, 503, 504),
        access=READ,
    ),
    Endpoint(
        "get_session",
        "GET",
        SESSION,
        "sessions",
        "One session's summary",
        params=SessionRef,
        response=SessionSummary,
        access=READ,
    ),
    Endpoint(
        "list_events",
        "GET",
        f"{SESSION}/events",
        "sessions",
        "A session's events in ascending seq",
        "Page with `cursor` = the previous page's `next_cursor` (in either `order`). `agent` and `type` "
        "take comma-separated lists; `q` searches the data.",
        params=EventsQuery,
        response=Page[StoredEvent],
        errors=(400, 404, 413, 503, 504),
        access=READ,
    ),
    Endpoint(
        "get_event", "GET", EVENT, "sessions", "One event", params=EventRef, response=StoredEvent, access=READ
    ),
    Endpoint(
        "list_agents",
        "GET",
        f"{SESSION}/agents",
        "sessions",
        "Per-agent summary of a session",
        params=SessionRef,
        response=Page[AgentSummary],
        access=READ,
    ),
    Endpoint(
        "get_graph",
        "GET",
        f"{SESSION}/graph",
        "sessions",
        "The trace graph: spans, agents and messages as nodes and typed edges",
        params=GraphQuery,
        response=Graph,
        access=READ,
    ),
    Endpoint(
        "get_performance",
        "GET",
        f"{SESSION}/performance",
        "sessions",
        "Performance over time, and time, tokens and cost per agent, type and model",
        params=PerformanceParams,
        response=PerformanceReport,
        access=READ,
    ),
    # -- time travel and debugging (replay)
    Endpoint(
        "get_state",
        "GET",
        f"{SESSION}/state",
        "debugging",
        "SystemState after an event: a bounded view, or with full=1 the whole state streamed",
        "Give exactly one of `seq` (state after that event) or `ts` (epoch ms: after the last event at "
        "or before it). (v1.1) By default the bounded view: every growing collection (agents, tasks, "
        "memory, open_spans, communications, and session decisions, coordination, errors, alerts) "
        "cut to its newest `limit` items, `view.collections` giving each one's count; a collection "
        "of at most `limit` items is carried whole, so for a small session this is the whole state "
        "plus `view`. Page the rest with /state/{collection}. `full=1`: the complete state of any "
        "size, streamed (no `view` key).",
        params=StateQuery,
        response=SystemState,
        access=READ,
    ),
    Endpoint(
        "get_state_page",
        "GET",
        f"{SESSION}/state/{{collection}}",
        "debugging",
        "(v1.1) A page of one growing collection of the state at a seq",
        "Maps (agents, tasks, memory, open_spans) page in key order, lists (communications, "
        "decisions, coordination, errors, alerts) by position; `order=desc` goes backwards. "
        "`cursor` is the previous page's `next_cursor` or any position to start at (random access "
        "for virtual lists). Filters: `agent` (items naming it), `prefix` (map keys), `status` "
        "(tasks, agents), `kind` (decisions, coordination, open_spans by type, errors by "
        "error_type, alerts by metric), `q` (text anywhere in the item, ASCII case-insensitive). "
        "Every page is exact at its seq: the pages of a collection join into it.",
        params=StatePageQuery,
        response=StatePage,
        access=READ,
    ),
    Endpoint(
        "get_diff",
        "GET",
        f"{SESSION}/diff",
        "debugging",
        "What changed in SystemState between two seqs, paged",
        "Changes in a stable order (map keys by code point, lists by position). (v1.1) `limit` "
        "changes a page (5000 by default, as before), `next_cursor` for the next page (`truncated` "
        "is true while one follows); `collection` keeps only the changes inside one collection.",
        params=DiffQuery,
        response=StateDiff,
        access=READ,
    ),
    Endpoint(
        "step",
        "GET",
        f"{EVENT}/step",
        "debugging",
        "The event to go to when stepping into, over, out of or back from an event",
        params=StepQuery,
        response=StepResult,
        access=READ,
    ),
    Endpoint(
        "get_stack",
        "GET",
        f"{EVENT}/stack",
        "debugging",
        "The call stack (enclosing spans, innermost first) at an event",
        params=StackQuery,
        response=CallStack,
        access=READ,
    ),
    Endpoint(
        "run_breakpoints",
        "POST",
        f"{SESSION}/breakpoints/run",
        "debugging",
        "The first event from `from_seq` where a CEL condition holds",
        'Conditions see `event` and `state`, e.g. `event.type == "error" && event.agent_id == '
        '"tst-1"`. A condition that does not compile is answered with 422 expression_error.',
        params=SessionRef,
        body=BreakpointQuery,
        response=BreakpointHit,
        errors=(400, 404, 413, 422, 503, 504),
        access=READ,
    ),
    Endpoint(
        "watch",
        "POST",
        f"{SESSION}/watch",
        "debugging",
        "Values of CEL expressions over SystemState at a seq",
        params=SessionRef,
        body=WatchQuery,
        response=WatchResult,
        errors=(400, 404, 413, 422, 503, 504),
        access=READ,
    ),
    Endpoint(
        "compile_expressions",
        "POST",
        f"{API}/expressions/compile",
        "debugging",
        "(v1.1) Compile breakpoint conditions or watches without running them",
        "Each expression is compiled in replay's sandbox and checked to read only what its `use` "
        "provides (`condition`: `event` and `state`; `watch`: `state`). Nothing is evaluated. Every "
        "expression gets `{expression, ok, error, column, variables}`; a syntax error keeps the "
        "parser's caret lines and its 1-based column. Limits as for breakpoints (400 when broken).",
        body=CompileQuery,
        response=CompileResult,
        errors=(400, 413, 422, 503, 504),
        access=READ,
    ),
    Endpoint(
        "compare",
        "GET",
        f"{API}/compare",
        "debugging",
        "Aligned comparison of two sessions",
        params=CompareQuery,
        response=SessionComparison,
        access=READ,
    ),
    Endpoint(
        "replay_session",
        "POST",
        f"{SESSION}/replay",
        "debugging",
        "Replay a session's events into a new session at a speed",
        params=SessionRef,
        body=ReplayQuery,
        response=ReplayStarted,
        status=202,
        errors=(400, 404, 413, 503, 504),
        access=needs(Scope.READ, Scope.INGEST),
    ),
    # -- live
    Endpoint(
        "session_stream",
        "GET",
        f"{SESSION}/stream",
        "live",
        "A session's events, live (SSE)",
        LIVE_DESCRIPTION,
        params=SessionStreamParams,
        media=EVENT_STREAM,
        errors=(400, 401),
        access=needs(Scope.READ, stream="session"),
    ),
    Endpoint(
        "stream",
        "GET",
        f"{API}/stream",
        "live",
        "Events of every session (or one), filtered by agent and type, live (SSE)",
        LIVE_DESCRIPTION,
        params=StreamParams,
        media=EVENT_STREAM,
        errors=(400, 401),
        access=needs(Scope.READ, stream="list"),
    ),
    Endpoint(
        "websocket",
        "GET",
        f"{API}/ws",
        "live",
        "The WebSocket protocol (upgrade)",
        WS_DESCRIPTION,
        params=WsParams,
        media="",
        status=101,
        errors=(401, 403, 426),
        access=needs(Scope.READ, stream="list"),
    ),
    # -- data in and out
    Endpoint(
        "export_session",
        "GET",
        f"{SESSION}/export",
        "data",
        "A session's events as JSON Lines, streamed",
        "One StoredEvent per line in ascending seq. A download link can carry `?token=`.",
        params=ExportParams,
        media=NDJSON,
        access=needs(Scope.READ, stream="session"),
    ),
    Endpoint(
        "import_events",
        "POST",
        f"{API}/import",
        "data",
        "Publish JSON Lines (e.g. an export) into TRACES_RAW",
        "The body is read as a stream, one event per line (`Content-Encoding: gzip` accepted). Lines "
        "that are not a JSON object with id, session_id and type are reported by line number and "
        "skipped; `seq` and `received_at` of exported events are dropped (the log assigns them "
        "again). Ingest validates fully and dead-letters what is still wrong. Re-importing is safe: "
        "event ids deduplicate.",
        params=ImportParams,
        body_kind="jsonl",
        response=PublishResult,
        status=202,
        errors=(400, 401, 413, 429, 503),
        rate_limited=True,
        access=ADMIN,
    ),
    Endpoint(
        "ingest_events",
        "POST",
        f"{API}/ingest",
        "data",
        "Publish one event or an array of events into TRACES_RAW",
        "For agents without a NATS client. Minimal checks here (a JSON object with id, session_id "
        "and type, at most 1 MiB); ingest validates fully and dead-letters what is wrong. The seed "
        "design's camelCase form and Claude-Flow's event names are accepted. An array answers 202 "
        "with the index of each refused element.",
        body_kind="ingest",
        response=PublishResult,
        status=202,
        errors=(400, 401, 413, 429, 503),
        rate_limited=True,
        access=INGEST,
    ),
    Endpoint(
        "export_traces",
        "POST",
        "/v1/traces",
        "otlp",
        "OTLP/HTTP trace export (OpenTelemetry exporters)",
        "The OpenTelemetry Protocol's trace endpoint: point an exporter at the gateway with "
        "`OTEL_EXPORTER_OTLP_ENDPOINT=http://host:8000`. The body is an ExportTraceServiceRequest as "
        "`application/x-protobuf` or `application/json` (OTLP JSON: hex trace and span ids), plain, "
        "gzip or deflate. Spans become contract events (CONTRACT §1b: GenAI and OpenInference "
        "conventions) published to TRACES_RAW. 200 answers ExportTraceServiceResponse in the "
        "request's encoding, with `partial_success` when spans were refused; errors answer "
        "google.rpc.Status; 429 and 503 carry Retry-After. A retried export stores nothing twice.",
        body_kind="otlp",
        media=PROTOBUF,
        errors=(400, 401, 403, 413, 415, 429, 503),
        rate_limited=True,
        error_format="otlp",
        access=INGEST,
    ),
    Endpoint(
        "list_dead_letters",
        "GET",
        f"{API}/dlq",
        "data",
        "Dead letters, newest first",
        "Page with `cursor` (or `before_seq`) = the previous page's `next_cursor`.",
        params=DlqParams,
        response=Page[DeadLetter],
        access=ADMIN,
    ),
    # -- auth
    Endpoint(
        "create_token",
        "POST",
        f"{API}/auth/token",
        "auth",
        "A short-lived token for EventSource / WebSocket / download links (?token=)",
        "Needs an API key with the scope `read` in the Authorization header (a token cannot mint "
        "another). The token is bound to `session_id`: it opens that session's SSE stream and export, "
        "`/api/v1/stream?session=<it>` and a WebSocket confined to it; `*` opens the list stream "
        "(`/api/v1/stream`, the WebSocket) for every session. It is refused everywhere else (403).",
        body=TokenRequest,
        response=TokenResponse,
        errors=(400, 401),
        access=READ,
    ),
)


def endpoint(name: str) -> Endpoint:
    for candidate in ENDPOINTS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)
