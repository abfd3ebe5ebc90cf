"""The Starlette application: the route table's endpoints behind authentication and rate limits,
health routes, the OpenAPI document, CORS, and the web UI at `/` when it is built."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from swarmscope_gateway.api_spec import ENDPOINTS, Endpoint
from swarmscope_gateway.api_spec import endpoint as endpoint_spec
from swarmscope_gateway.auth import ANONYMOUS, Authenticator, Principal
from swarmscope_gateway.bodies import read_json
from swarmscope_gateway.errors import (
    ApiError,
    JsonResponse,
    as_api_error,
    error_response,
    http_exception_handler,
)
from swarmscope_gateway.metrics import GatewayMetrics
from swarmscope_gateway.middleware import RequestMetrics
from swarmscope_gateway.params import TokenRequest, parse_body
from swarmscope_gateway.ratelimit import RateLimiter
from swarmscope_gateway.static import SpaFiles
from swarmscope_schema.requests import ErrorCode
from swarmscope_service.health import ReadinessCheck, health_routes

Handler = Callable[[Request, Principal], Awaitable[Response]]

TOKEN_BODY_BYTES = 4096


def _client_identity(request: Request, principal: Principal) -> str:
    if not principal.anonymous:
        return f"key:{principal.key_id}"
    host = request.client.host if request.client else "unknown"
    return f"ip:{host}"


def _guard(
    spec: Endpoint,
    handler: Handler,
    authenticator: Authenticator,
    limiter: RateLimiter,
    metrics: GatewayMetrics,
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint with its authentication, rate limit and error mapping."""
    rate_limited = metrics.rate_limited.labels(spec.name)

    async def endpoint(request: Request) -> Response:
        try:
            if spec.auth == "none":
                principal = ANONYMOUS
            else:
                token = request.query_params.get("token") if spec.auth == "key_or_token" else None
                try:
                    principal = authenticator.authenticate(request.headers.get("authorization"), token)
                except ApiError:
                    metrics.auth_failures.labels(spec.auth).inc()
                    raise
            if spec.rate_limited:
                verdict = await limiter.acquire(_client_identity(request, principal))
                if not verdict.allowed:
                    rate_limited.inc()
                    retry = max(1, math.ceil(verdict.retry_after))
                    raise ApiError(
                        ErrorCode.RATE_LIMITED,
                        f"too many publishing requests; retry in {retry} s",
                        headers={"Retry-After": str(retry)},
                    )
            return await handler(request, principal)
        except Exception as exc:
            return error_response(as_api_error(exc))

    return endpoint


def token_handler(authenticator: Authenticator) -> Handler:
    async def create_token(request: Request, _: Principal) -> Response:
        principal = authenticator.authenticate_key(request.headers.get("authorization"))
        body = parse_body(TokenRequest, await read_json(request, TOKEN_BODY_BYTES, empty={}))
        issued = authenticator.issue_token(principal, body.ttl_seconds)
        return JsonResponse(
            {
                "token": issued.token,
                "token_type": "bearer",
                "expires_at": issued.expires_at * 1000.0,
                "expires_in": max(0.0, issued.expires_at - time.time()),
            }
        )

    return create_token


def build_http_app(
    *,
    handlers: Mapping[str, Handler],
    websocket: Callable[[WebSocket], Awaitable[None]],
    authenticator: Authenticator,
    limiter: RateLimiter,
    metrics: GatewayMetrics,
    registry: CollectorRegistry,
    readiness: Mapping[str, ReadinessCheck],
    openapi_document: bytes,
    cors_origins: tuple[str, ...] = (),
    frontend_dir: Path | None = None,
) -> Starlette:
    """The gateway's ASGI app. `handlers` holds one handler per route-table entry (by name)."""
    missing = {e.name for e in ENDPOINTS if e.name != "websocket"} - set(handlers)
    if missing:
        raise ValueError(f"no handler for {sorted(missing)}")

    async def openapi(_: Request) -> Response:
        return Response(openapi_document, media_type="application/json")

    api_routes: list[Route] = []
    ws_path = endpoint_spec("websocket").path

    async def api_not_found(request: Request) -> Response:
        # The catch-all matches every method, so a known path with the wrong method lands here too.
        scope = {**request.scope, "path": request.url.path}
        for route in api_routes:
            match, _ = route.matches(scope)
            if match is Match.PARTIAL:
                allowed = ", ".join(sorted(route.methods or ()))
                return error_response(
                    ApiError(
                        ErrorCode.BAD_REQUEST,
                        f"{request.method} is not allowed on {request.url.path}; use {allowed}",
                        status=405,
                        headers={"Allow": allowed},
                    )
                )
        if request.url.path == ws_path:
            return error_response(
                ApiError(
                    ErrorCode.BAD_REQUEST,
                    "this endpoint speaks WebSocket: send Upgrade: websocket",
                    status=426,
                )
            )
        return error_response(ApiError(ErrorCode.NOT_FOUND, f"no endpoint {request.url.path}"))

    for spec in ENDPOINTS:
        if spec.name != "websocket":
            guarded = _guard(spec, handlers[spec.name], authenticator, limiter, metrics)
            api_routes.append(Route(spec.path, guarded, methods=[spec.method], name=spec.name))
    routes: list[BaseRoute] = [
        *health_routes(registry, readiness),
        Route("/openapi.json", openapi),
        *api_routes,
    ]
    routes.append(WebSocketRoute(ws_path, websocket))
    routes.append(Route("/api/{rest:path}", api_not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    if frontend_dir is not None:
        routes.append(Mount("/", app=SpaFiles(directory=frontend_dir, html=True), name="ui"))

    middleware = [Middleware(RequestMetrics, histogram=metrics.request_seconds)]
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Content-Encoding", "Last-Event-ID"],
                expose_headers=["Retry-After", "Content-Disposition"],
                max_age=600,
            )
        )
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_exception_handler},
    )
