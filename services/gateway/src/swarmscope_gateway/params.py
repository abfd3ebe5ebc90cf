"""Parameters of gateway endpoints that are not a store or replay request as is, and how a request's
query and path become a validated model (400 naming the parameter when they do not)."""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator
from starlette.requests import Request as HttpRequest

from swarmscope_gateway.errors import ApiError, from_validation_error
from swarmscope_schema.events import NAME_PATTERN
from swarmscope_schema.requests import DlqQuery, ErrorCode, PerformanceQuery, Request, SessionIdField
from swarmscope_schema.taxonomy import Phase

ModelT = TypeVar("ModelT", bound=BaseModel)

# Sequences and counts are 64-bit in every backend (SQLite INTEGER, Postgres BIGINT).
MAX_INT = 2**63 - 1


class DlqParams(DlqQuery):
    """`GET /dlq`: the store's DlqQuery, plus `cursor` (a page's `next_cursor`, the same as
    `before_seq`), so every list pages the same way."""

    cursor: str | None = Field(default=None, description="next_cursor of the previous page")

    def to_query(self) -> DlqQuery:
        data = self.model_dump(exclude={"cursor"}, exclude_unset=True)
        if self.cursor is not None:
            try:
                data["before_seq"] = int(self.cursor)
            except ValueError:
                raise ApiError(ErrorCode.BAD_REQUEST, "cursor: not a cursor this endpoint issued") from None
        try:
            return DlqQuery.model_validate(data)
        except ValidationError as exc:
            raise ApiError(ErrorCode.BAD_REQUEST, "cursor: not a cursor this endpoint issued") from exc


# A performance window longer than a year says nothing a year would not (and past 2^63 ms the
# store's bucket arithmetic overflows).
MAX_WINDOW_MS = 366 * 24 * 3600 * 1000


class PerformanceParams(PerformanceQuery):
    """`GET /sessions/{session_id}/performance`: the store's PerformanceQuery, window at most a year."""

    window_ms: int | None = Field(
        default=None, ge=100, le=MAX_WINDOW_MS, description="window in ms; default: chosen by the store"
    )

    def to_query(self) -> PerformanceQuery:
        return PerformanceQuery.model_validate(self.model_dump(exclude_unset=True))


def _names(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    return names or None


class _StreamFilters(Request):
    after_seq: int | None = Field(
        default=None,
        ge=0,
        description="resume after this seq (a reconnect's Last-Event-ID header wins); absent = from now",
    )
    agent: str | None = Field(default=None, max_length=4000, description="agent id(s), comma-separated")
    type: str | None = Field(default=None, max_length=4000, description="event type(s), comma-separated")
    token: str | None = Field(default=None, description="stream token from POST /api/v1/auth/token")

    def agents(self) -> frozenset[str] | None:
        return _names(self.agent)

    def types(self) -> frozenset[str] | None:
        return _names(self.type)


class SessionStreamParams(_StreamFilters):
    session_id: str = SessionIdField


class StreamParams(_StreamFilters):
    session: str | None = Field(default=None, pattern=NAME_PATTERN, description="one session; absent = all")


class ExportParams(Request):
    session_id: str = SessionIdField
    format: Literal["jsonl"] = Field(default="jsonl", description="jsonl: one StoredEvent per line")
    after_seq: int = Field(default=0, ge=0)
    until_seq: int | None = Field(default=None, ge=0)
    agent: str | None = None
    type: str | None = None
    phase: Phase | None = None
    token: str | None = Field(default=None, description="stream token (for a browser download link)")


class ImportParams(Request):
    session_id: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="import every line into this session instead"
    )


class WsParams(Request):
    token: str | None = Field(default=None, description="stream token from POST /api/v1/auth/token")


class TokenRequest(Request):
    session_id: str = Field(
        pattern=rf"^(?:{NAME_PATTERN.strip('^$')}|\*)$",
        description="the session whose stream the token opens, or * for the list stream (/api/v1/stream "
        "and the WebSocket, every session)",
    )
    ttl_seconds: float | None = Field(
        default=None, gt=0, strict=True, description="shorter lifetime than the configured one (never longer)"
    )


class TokenResponse(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    session_id: str = Field(description="the session (or *) the token is bound to")
    expires_at: float = Field(description="epoch ms")
    expires_in: float = Field(description="seconds")


class PublishReject(BaseModel):
    index: int | None = Field(default=None, description="position in the array (ingest)")
    line: int | None = Field(default=None, description="line number, from 1 (import)")
    code: str = Field(
        description="(v1.1) the dead-letter reason ingest would give the event: schema_violation, "
        "too_large, invalid_json or invalid_utf8"
    )
    message: str = Field(description="why, as ingest words it (the field path for a schema violation)")


class ImportedSession(BaseModel):
    """(v1.1) What an import sent to one session."""

    session_id: str
    events: int = Field(description="events of this session the import accepted")
    stored_before: int | None = Field(
        default=None,
        description="the session's stored event count just before the import (0: a new session; null: "
        "unknown). Once the pipeline settles, event_count - stored_before are the new events and the "
        "rest were already stored (duplicates are stored once)",
    )


class PublishResult(BaseModel):
    accepted: int = Field(
        description="events that passed ingest's validation and were acknowledged by TRACES_RAW"
    )
    rejected: int
    rejects: list[PublishReject] = Field(default_factory=list, description="the first 1000 rejects")
    rejects_truncated: bool = False
    lines: int | None = Field(default=None, description="lines read (import)")
    sessions: list[ImportedSession] | None = Field(
        default=None, description="(v1.1, import) the sessions the events went to, the first 100"
    )


class TimeRange(BaseModel):
    start: float | None = Field(default=None, description="epoch ms; absent = from the start")
    end: float | None = Field(default=None, description="epoch ms; absent = to now")

    @field_validator("end")
    @classmethod
    def _ordered(cls, value: float | None, info: Any) -> float | None:
        start = info.data.get("start")
        if value is not None and start is not None and value < start:
            raise ValueError("end is before start")
        return value


def _is_identifier(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is not None and any(getattr(m, "pattern", None) for m in field.metadata)


def query_dict(request: HttpRequest, model: type[BaseModel]) -> dict[str, Any]:
    """Query parameters and path parameters as one dict. An empty value counts as absent (as
    forms send it), except for an identifier, where "" is an invalid id, not a missing one."""
    raw: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in raw:
            raise ApiError(ErrorCode.BAD_REQUEST, f"{key}: given more than once")
        if value != "" or _is_identifier(model, key):
            raw[key] = value
    raw.update(request.path_params)
    return raw


def check_ranges(model: BaseModel, where: str = "") -> None:
    """400 for numbers no backend can hold: integers past 64 bits, infinities and NaN."""
    for name, value in model:
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
            raise ApiError(ErrorCode.BAD_REQUEST, f"{where}{name}: out of range (at most {MAX_INT})")
        if isinstance(value, float) and not math.isfinite(value):
            raise ApiError(ErrorCode.BAD_REQUEST, f"{where}{name}: must be a finite number")


def parse_params(model: type[ModelT], request: HttpRequest) -> ModelT:
    """The request's query and path as `model`; ApiError(400) naming what is wrong."""
    try:
        params = model.model_validate(query_dict(request, model))
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    check_ranges(params)
    return params


def parse_body(model: type[ModelT], data: Any, **path: Any) -> ModelT:
    """A JSON body (plus path parameters, which the body must not repeat) as `model`."""
    if not isinstance(data, dict):
        raise ApiError(ErrorCode.BAD_REQUEST, "body: must be a JSON object")
    for key in path:
        if key in data:
            raise ApiError(ErrorCode.BAD_REQUEST, f"body.{key}: given in the path; leave it out of the body")
    try:
        body = model.model_validate({**data, **path})
    except ValidationError as exc:
        raise from_validation_error(exc, where="body: ") from None
    check_ranges(body, "body.")
    return body
