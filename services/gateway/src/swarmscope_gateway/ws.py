"""The WebSocket endpoint `/api/v1/ws` (CONTRACT §5; protocol in ws_protocol.py).

Per connection: a reader that handles client messages, and a writer that drains the client's
bounded queue into the socket (so a slow socket only ever fills its own queue). Requests that need
store or replay (history, time travel) run as tasks, a few at a time per client, and their answers
go through the same queue, paced by the client's reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from swarmscope_gateway.access import LIST_TARGET
from swarmscope_gateway.auth import Principal, Refusal
from swarmscope_gateway.client_queue import QueueClosed
from swarmscope_gateway.errors import ApiError, as_api_error
from swarmscope_gateway.frames import Transport, ws_history, ws_message
from swarmscope_gateway.guard import deny
from swarmscope_gateway.hub import LiveClient, LiveHub
from swarmscope_gateway.live_event import LiveFilter, from_store_page
from swarmscope_gateway.metrics import GatewayMetrics
from swarmscope_gateway.origins import origin_allowed
from swarmscope_gateway.params import check_ranges
from swarmscope_gateway.rpc import RpcClients
from swarmscope_gateway.ws_protocol import (
    CLIENT_MESSAGE,
    CLIENT_TYPES,
    WsFilterAgents,
    WsPing,
    WsRequestHistory,
    WsSubscribeSession,
    WsTimeTravel,
    WsUnsubscribeSession,
)
from swarmscope_schema.requests import ErrorCode, EventsQuery, ReplayOp, StateQuery, StoreOp
from swarmscope_service.request_reply import validation_message

log = logging.getLogger(__name__)

MAX_TASKS_PER_CLIENT = 8
MAX_SUBSCRIPTIONS_PER_CLIENT = 100
HISTORY_PAGE = 1000
GOING_AWAY = 1001


class WebSocketEndpoint:
    """An ASGI WebSocket endpoint bound to the gateway's hub, RPC clients and security settings."""

    def __init__(
        self,
        hub: LiveHub,
        rpc: RpcClients,
        metrics: GatewayMetrics,
        *,
        allowed_origins: tuple[str, ...],
        history_max_events: int,
    ) -> None:
        self._hub = hub
        self._rpc = rpc
        self._metrics = metrics
        self._allowed_origins = allowed_origins
        self._history_max = history_max_events

    async def handle(self, websocket: WebSocket, principal: Principal) -> None:
        """Serves one connection; `principal` passed the handshake's guard (ws route access)."""
        headers = websocket.headers
        if not origin_allowed(
            headers.get("origin"),
            host=headers.get("host"),
            scheme=websocket.url.scheme,
            allowed=self._allowed_origins,
        ):
            self._metrics.origin_rejections.inc()
            await deny(websocket, ApiError(ErrorCode.FORBIDDEN, "this Origin may not open the WebSocket"))
            return
        target = principal.token_target
        confined_to = None if target in (None, LIST_TARGET) else target
        await websocket.accept()
        client = self._hub.open_client(Transport.WS)
        writer = asyncio.create_task(self._write(websocket, client), name="ws-writer")
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not writer.done():
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    self._error(client, ErrorCode.BAD_REQUEST, "send JSON text messages, not binary")
                    continue
                self._handle(client, text, tasks, confined_to)
        except WebSocketDisconnect:
            pass
        finally:
            self._hub.close_client(client)
            for task in tasks:
                task.cancel()
            writer.cancel()
            await asyncio.gather(writer, *tasks, return_exceptions=True)

    async def _write(self, websocket: WebSocket, client: LiveClient) -> None:
        hub = self._hub
        try:
            while True:
                frame, sub = await client.queue.get()
                hub.took(frame, sub)
                await websocket.send_text(frame.data if isinstance(frame.data, str) else frame.data.decode())
                hub.wrote(frame, Transport.WS)
        except QueueClosed:
            # The gateway is stopping (or the client left): say goodbye properly if we still can.
            with contextlib.suppress(Exception):
                await websocket.close(GOING_AWAY)
        except Exception as exc:
            log.debug("websocket write failed", extra={"error": repr(exc)})

    # ---------------------------------------------------------------------------------- messages --

    def _handle(
        self, client: LiveClient, text: str, tasks: set[asyncio.Task[None]], confined_to: str | None
    ) -> None:
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error(client, ErrorCode.BAD_REQUEST, "a message must be a JSON object")
            return
        if not isinstance(raw, dict):
            self._error(client, ErrorCode.BAD_REQUEST, "a message must be a JSON object")
            return
        request_id = raw.get("request_id", raw.get("requestId"))
        request_id = request_id if isinstance(request_id, str) else None
        if raw.get("type") not in CLIENT_TYPES:
            self._error(
                client,
                ErrorCode.BAD_REQUEST,
                f"unknown message type {str(raw.get('type'))[:64]!r}; expected one of {', '.join(CLIENT_TYPES)}",
                request_id=request_id,
            )
            return
        try:
            message = CLIENT_MESSAGE.validate_python(raw)
            check_ranges(message)
            if isinstance(message, WsRequestHistory):
                check_ranges(message.time_range, "time_range.")
        except ValidationError as exc:
            self._error(client, ErrorCode.BAD_REQUEST, validation_message(exc), request_id=request_id)
            return
        except ApiError as exc:
            self._error(client, exc.code, exc.message, request_id=request_id)
            return
        session_id = getattr(message, "session_id", None)
        if confined_to is not None and session_id is not None and session_id != confined_to:
            self._metrics.auth_failures.labels(Refusal.TOKEN.value).inc()
            self._error(
                client,
                ErrorCode.FORBIDDEN,
                f"this stream token opens only the stream of session {confined_to!r}",
                session_id=session_id,
                request_id=request_id,
            )
            return
        if isinstance(message, WsSubscribeSession):
            if (
                message.session_id not in client.subscriptions
                and len(client.subscriptions) >= MAX_SUBSCRIPTIONS_PER_CLIENT
            ):
                self._error(
                    client,
                    ErrorCode.BAD_REQUEST,
                    f"at most {MAX_SUBSCRIPTIONS_PER_CLIENT} sessions per connection",
                    request_id=request_id,
                )
                return
            live_filter = LiveFilter(session_id=message.session_id, agents=client.agents)
            self._hub.subscribe(client, message.session_id, live_filter, message.after_seq)
        elif isinstance(message, WsUnsubscribeSession):
            self._hub.unsubscribe(client, message.session_id)
        elif isinstance(message, WsFilterAgents):
            self._hub.set_agents(client, frozenset(message.agent_ids) if message.agent_ids else None)
        elif isinstance(message, WsPing):
            client.queue.put_control(ws_message({"type": "pong", "request_id": request_id}), None)
        elif isinstance(message, (WsRequestHistory, WsTimeTravel)):
            if len(tasks) >= MAX_TASKS_PER_CLIENT:
                self._error(
                    client,
                    ErrorCode.RATE_LIMITED,
                    f"at most {MAX_TASKS_PER_CLIENT} history / time_travel requests in flight per connection",
                    request_id=request_id,
                )
                return
            work = (
                self._history(client, message)
                if isinstance(message, WsRequestHistory)
                else self._state(client, message)
            )
            task = asyncio.create_task(self._guard(client, work, message.session_id, request_id))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _guard(self, client: LiveClient, work: Any, session_id: str, request_id: str | None) -> None:
        try:
            await work
        except (QueueClosed, asyncio.CancelledError):
            return
        except Exception as exc:
            error = as_api_error(exc)
            self._error(client, error.code, error.message, session_id=session_id, request_id=request_id)

    async def _history(self, client: LiveClient, message: WsRequestHistory) -> None:
        agents = client.agents
        cursor = 0
        sent = 0
        while True:
            query = EventsQuery(
                session_id=message.session_id,
                after_seq=cursor,
                limit=HISTORY_PAGE,
                from_ts=message.time_range.start,
                to_ts=message.time_range.end,
                agent=",".join(sorted(agents)) if agents else None,
            )
            result = await self._rpc.store(StoreOp.EVENTS, query)
            events = from_store_page(result)
            more = bool(events) and bool(isinstance(result, dict) and result.get("next_cursor"))
            if events:
                cursor = events[-1].seq
            matching = [e for e in events if agents is None or e.agent_id in agents]
            room = self._history_max - sent
            truncated = len(matching) > room
            matching = matching[:room]
            sent += len(matching)
            truncated = truncated or (more and sent >= self._history_max)
            done = truncated or not more
            await client.queue.put(
                ws_history(
                    message.session_id,
                    matching,
                    done=done,
                    truncated=truncated,
                    request_id=message.request_id,
                ),
                None,
            )
            if done:
                return

    async def _state(self, client: LiveClient, message: WsTimeTravel) -> None:
        query = StateQuery(session_id=message.session_id, seq=message.seq, ts=message.timestamp)
        state = await self._rpc.replay(ReplayOp.STATE, query)
        seq = state.get("seq") if isinstance(state, dict) else None
        payload = {
            "type": "state",
            "session_id": message.session_id,
            "request_id": message.request_id,
            "seq": seq,
            "state": state,
        }
        await client.queue.put(ws_message(payload), None)

    def _error(
        self,
        client: LiveClient,
        code: ErrorCode,
        message: str,
        *,
        session_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"type": "error", "code": code.value, "message": message}
        if session_id is not None:
            body["session_id"] = session_id
        if request_id is not None:
            body["request_id"] = request_id
        client.queue.put_control(ws_message(body), None)
