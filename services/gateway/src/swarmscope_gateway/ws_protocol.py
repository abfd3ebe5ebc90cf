"""The WebSocket protocol (CONTRACT §5) as models: what clients send, and what the server answers.

Client messages are validated with these models (camelCase keys of the seed design accepted too);
server messages are encoded by frames.py for speed, and documented by the models here, which the
OpenAPI document publishes under components/schemas.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from swarmscope_gateway.params import TimeRange
from swarmscope_schema.events import NAME_PATTERN, StoredEvent

_RequestId = Field(
    default=None,
    max_length=128,
    validation_alias=AliasChoices("request_id", "requestId"),
    description="echoed on the answer (history, state, error)",
)
_SessionId = Field(pattern=NAME_PATTERN, validation_alias=AliasChoices("session_id", "sessionId"))


class _ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    request_id: str | None = _RequestId


class WsSubscribeSession(_ClientMessage):
    type: Literal["subscribe_session"]
    session_id: str = _SessionId
    after_seq: int | None = Field(
        default=None,
        ge=0,
        validation_alias=AliasChoices("after_seq", "afterSeq"),
        description="resume after this seq; absent = from now",
    )


class WsUnsubscribeSession(_ClientMessage):
    type: Literal["unsubscribe_session"]
    session_id: str = _SessionId


class WsRequestHistory(_ClientMessage):
    type: Literal["request_history"]
    session_id: str = _SessionId
    time_range: TimeRange = Field(
        default_factory=TimeRange, validation_alias=AliasChoices("time_range", "timeRange")
    )


class WsTimeTravel(_ClientMessage):
    type: Literal["time_travel"]
    session_id: str = _SessionId
    seq: int | None = Field(default=None, ge=0)
    timestamp: float | None = Field(default=None, description="epoch ms")

    @model_validator(mode="after")
    def _one_of(self) -> WsTimeTravel:
        if (self.seq is None) == (self.timestamp is None):
            raise ValueError("give exactly one of seq or timestamp")
        return self


class WsFilterAgents(_ClientMessage):
    type: Literal["filter_agents"]
    agent_ids: list[Annotated[str, Field(pattern=NAME_PATTERN)]] | None = Field(
        default=None,
        max_length=1000,
        validation_alias=AliasChoices("agent_ids", "agentIds"),
        description="null or [] = every agent",
    )


class WsPing(_ClientMessage):
    type: Literal["ping"]


WsClientMessage = Annotated[
    WsSubscribeSession | WsUnsubscribeSession | WsRequestHistory | WsTimeTravel | WsFilterAgents | WsPing,
    Field(discriminator="type"),
]
CLIENT_MESSAGE: TypeAdapter[Any] = TypeAdapter(WsClientMessage)
CLIENT_TYPES = (
    "subscribe_session",
    "unsubscribe_session",
    "request_history",
    "time_travel",
    "filter_agents",
    "ping",
)


# ----------------------------------------------------------------------------- server messages --


class WsTraceEvent(BaseModel):
    type: Literal["trace_event"]
    session_id: str
    event: StoredEvent


class WsBatchEvents(BaseModel):
    type: Literal["batch_events"]
    session_id: str
    events: list[StoredEvent]


class WsHistory(BaseModel):
    type: Literal["history"]
    session_id: str
    request_id: str | None = None
    events: list[StoredEvent]
    done: bool = Field(description="true on the last page of the answer")
    truncated: bool = Field(description="true when more events matched than one answer carries")


class WsState(BaseModel):
    type: Literal["state"]
    session_id: str
    request_id: str | None = None
    seq: int
    state: dict[str, Any] = Field(description="SystemState")


class WsResync(BaseModel):
    type: Literal["resync"]
    session_id: str | None
    after_seq: int = Field(description="the last seq this client was sent; subscribe again after it")


class WsError(BaseModel):
    type: Literal["error"]
    code: str
    message: str
    session_id: str | None = None
    request_id: str | None = None


class WsPong(BaseModel):
    type: Literal["pong"]
    request_id: str | None = None


CLIENT_MODELS: tuple[type[BaseModel], ...] = (
    WsSubscribeSession,
    WsUnsubscribeSession,
    WsRequestHistory,
    WsTimeTravel,
    WsFilterAgents,
    WsPing,
)
SERVER_MODELS: tuple[type[BaseModel], ...] = (
    WsTraceEvent,
    WsBatchEvents,
    WsHistory,
    WsState,
    WsResync,
    WsError,
    WsPong,
)
