"""Every HTTP route of the gateway runs behind the guard of its declared access.

A route is declared with its access (a `GuardedRoute`, or a `GuardedMount` for the static UI), and
the declaration is the enforcement: the constructor wraps the handler in the guard, so a route cannot
say one scope and check another. The route-table test walks the app's routes and fails on any that is
not guarded, so an endpoint added later without a declared scope cannot ship.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from swarmscope_gateway.access import LIST_TARGET, PUBLIC, Access
from swarmscope_gateway.auth import ANONYMOUS, Authenticator, AuthError, Principal
from swarmscope_gateway.errors import ApiError, JsonResponse, as_api_error, error_body, error_response
from swarmscope_gateway.metrics import GatewayMetrics
from swarmscope_gateway.ratelimit import RateLimiter
from swarmscope_schema.requests import ErrorCode

Handler = Callable[[Request, Principal], Awaitable[Response]]
ErrorRenderer = Callable[[Request, ApiError], Response]
WsHandler = Callable[[WebSocket, Principal], Awaitable[None]]


def confined_session(request: HTTPConnection) -> str | None:
    """The one session a request is about (its path's session_id, else `?session=`), or None."""
    session = request.path_params.get("session_id")
    if isinstance(session, str):
        return session
    return request.query_params.get("session") or None


def _socket_confinement(principal: Principal) -> str | None:
    # A WebSocket carries many sessions: one bound to a session's token is confined to it (each
    # message is checked against it), so the handshake is about that session.
    target = principal.token_target
    return None if target in (None, LIST_TARGET) else target


def client_identity(request: Request, principal: Principal) -> str:
    """Whose rate-limit bucket a request draws from: its key, else its address."""
    if not principal.anonymous:
        return f"key:{principal.key_id}"
    host = request.client.host if request.client else "unknown"
    return f"ip:{host}"


class Guard:
    """Authentication, authorization and rate limits in front of handlers, and the error mapping
    (nothing but the API's error body ever reaches a client)."""

    def __init__(self, authenticator: Authenticator, limiter: RateLimiter, metrics: GatewayMetrics) -> None:
        self._auth = authenticator
        self._limiter = limiter
        self._metrics = metrics

    def principal(self, conn: HTTPConnection, access: Access) -> Principal:
        """Who a request (or WebSocket handshake) is from, checked against `access`; AuthError
        (401/403) when refused. `?token=` is looked at only where a stream token may be used."""
        if access.public:
            return ANONYMOUS
        token = conn.query_params.get("token") if access.stream != "none" else None
        try:
            principal = self._auth.identify(conn.headers.get("authorization"), token)
            session = (
                _socket_confinement(principal)
                if conn.scope["type"] == "websocket"
                else confined_session(conn)
            )
            self._auth.authorize(principal, access, session)
        except AuthError as exc:
            self._metrics.auth_failures.labels(exc.refusal.value).inc()
            raise
        return principal

    def protect(
        self,
        name: str,
        access: Access,
        handler: Handler,
        *,
        rate_limited: bool = False,
        render_error: ErrorRenderer | None = None,
    ) -> Callable[[Request], Awaitable[Response]]:
        """`handler` behind `access` (and the publishing rate limit when `rate_limited`); errors
        rendered by `render_error` when the endpoint's protocol has its own error body (OTLP)."""
        limited = self._metrics.rate_limited.labels(name)

        async def endpoint(request: Request) -> Response:
            try:
                principal = self.principal(request, access)
                if rate_limited:
                    verdict = await self._limiter.acquire(client_identity(request, principal))
                    if not verdict.allowed:
                        limited.inc()
                        retry = max(1, math.ceil(verdict.retry_after))
                        raise ApiError(
                            ErrorCode.RATE_LIMITED,
                            f"too many publishing requests; retry in {retry} s",
                            headers={"Retry-After": str(retry)},
                        )
                return await handler(request, principal)
            except Exception as exc:
                error = as_api_error(exc)
                return render_error(request, error) if render_error else error_response(error)

        return endpoint


class GuardedRoute(Route):
    """An HTTP route whose handler runs behind the guard for `access`."""

    def __init__(
        self,
        path: str,
        handler: Handler,
        *,
        access: Access,
        guard: Guard,
        methods: list[str],
        name: str,
        rate_limited: bool = False,
        render_error: ErrorRenderer | None = None,
    ) -> None:
        self.access = access
        super().__init__(
            path,
            guard.protect(name, access, handler, rate_limited=rate_limited, render_error=render_error),
            methods=methods,
            name=name,
        )


class GuardedWebSocketRoute(WebSocketRoute):
    """A WebSocket route whose handler runs only for credentials `access` admits; others are refused
    at the handshake with an HTTP 401/403 and the API's error body."""

    def __init__(self, path: str, handler: WsHandler, *, access: Access, guard: Guard, name: str) -> None:
        self.access = access

        async def endpoint(websocket: WebSocket) -> None:
            try:
                principal = guard.principal(websocket, access)
            except AuthError as exc:
                await deny(websocket, exc)
                return
            await handler(websocket, principal)

        super().__init__(path, endpoint, name=name)


async def deny(websocket: WebSocket, error: ApiError) -> None:
    """Refuses a WebSocket handshake with an HTTP answer (the usual error body and status)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        response = JsonResponse(
            error_body(error.code, error.message), status_code=error.status, headers=error.headers
        )
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=1008, reason=error.message[:120])


class GuardedMount(Mount):
    """A mounted app that is public by declaration (the built web UI: static files, no data)."""

    access = PUBLIC

    def __init__(self, path: str, app: ASGIApp, *, name: str) -> None:
        super().__init__(path, app=app, name=name)


def public(handler: Callable[[Request], Awaitable[Response]]) -> Handler:
    """A handler that needs no principal, in the guard's shape."""

    async def call(request: Request, _: Principal) -> Response:
        return await handler(request)

    return call
