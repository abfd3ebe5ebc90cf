"""The SSE endpoints (CONTRACT §5): `/api/v1/sessions/{session_id}/stream` and `/api/v1/stream`.

Each connection is one live client with one subscription; the response body is the client's queue,
written as it drains. The resume point is `Last-Event-ID` (sent by the browser on reconnect) or
else `?after_seq=`; the header wins because a reconnecting EventSource repeats the original URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response

from swarmscope_gateway.auth import Principal
from swarmscope_gateway.client_queue import QueueClosed
from swarmscope_gateway.errors import ApiError
from swarmscope_gateway.frames import FrameKind, Transport
from swarmscope_gateway.hub import LiveHub
from swarmscope_gateway.live_event import LiveFilter
from swarmscope_gateway.params import SessionStreamParams, StreamParams, parse_params
from swarmscope_schema.requests import ErrorCode

Handler = Callable[[Request, Principal], Awaitable[Response]]

# How long a browser waits before reconnecting a dropped stream.
RETRY_MS = 2000


def resume_point(request: Request, after_seq: int | None) -> int | None:
    last_event_id = request.headers.get("last-event-id")
    if last_event_id is None or not last_event_id.strip():
        return after_seq
    try:
        value = int(last_event_id)
    except ValueError:
        raise ApiError(ErrorCode.BAD_REQUEST, "Last-Event-ID: not an event id this stream sent") from None
    if value < 0:
        raise ApiError(ErrorCode.BAD_REQUEST, "Last-Event-ID: not an event id this stream sent")
    return value


def sse_handlers(hub: LiveHub, *, heartbeat_seconds: float) -> dict[str, Handler]:
    """Handlers by endpoint name (see api_spec)."""

    def respond(key: str | None, live_filter: LiveFilter, after_seq: int | None) -> Response:
        async def body() -> AsyncIterator[bytes]:
            # Registered when the body starts, so a request that never streams leaves nothing behind.
            client = hub.open_client(Transport.SSE)
            try:
                hub.subscribe(client, key, live_filter, after_seq)
                yield f"retry: {RETRY_MS}\n\n".encode()
                while True:
                    try:
                        frame, sub = await client.queue.get()
                    except QueueClosed:
                        return
                    hub.took(frame, sub)
                    yield frame.data if isinstance(frame.data, bytes) else frame.data.encode()
                    hub.wrote(frame, Transport.SSE)
                    if frame.kind is FrameKind.FINAL:
                        return
            finally:
                hub.close_client(client)

        return EventSourceResponse(
            body(),
            ping=heartbeat_seconds,
            sep="\n",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def session_stream(request: Request, _: Principal) -> Response:
        params = parse_params(SessionStreamParams, request)
        after = resume_point(request, params.after_seq)
        live_filter = LiveFilter(session_id=params.session_id, agents=params.agents(), types=params.types())
        return respond(params.session_id, live_filter, after)

    async def stream(request: Request, _: Principal) -> Response:
        params = parse_params(StreamParams, request)
        after = resume_point(request, params.after_seq)
        live_filter = LiveFilter(session_id=params.session, agents=params.agents(), types=params.types())
        return respond(params.session, live_filter, after)

    return {"session_stream": session_stream, "stream": stream}
