"""The Starlette application: the route table's endpoints behind their declared access and rate
limits (guard.py), health routes, the OpenAPI document, CORS, and the web UI at `/` when it is built.

Every route is guarded, public ones included (they declare PUBLIC), so the app's route table says for
each path who may call it; `/metrics` needs the `metrics` scope here, or is served on a port of its
own (SWARMSCOPE_GATEWAY_METRICS_PORT) and left out of this app.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from swarmscope_gateway.access import METRICS, PUBLIC
from swarmscope_gateway.api_spec import ENDPOINTS
from swarmscope_gateway.api_spec import endpoint as endpoint_spec
from swarmscope_gateway.auth import Authenticator, Principal
from swarmscope_gateway.bodies import read_json
from swarmscope_gateway.errors import (
    ApiError,
    JsonResponse,
    error_response,
    http_exception_handler,
)
from swarmscope_gateway.guard import (
    Guard,
    GuardedMount,
    GuardedRoute,
    GuardedWebSocketRoute,
    Handler,
    WsHandler,
    public,
)
from swarmscope_gateway.metrics import GatewayMetrics
from swarmscope_gateway.middleware import RequestMetrics
from swarmscope_gateway.otlp import status_response
from swarmscope_gateway.params import TokenRequest, parse_body
from swarmscope_gateway.ratelimit import RateLimiter
from swarmscope_gateway.static import SpaFiles
from swarmscope_schema.requests import ErrorCode
from swarmscope_service.health import ReadinessCheck, health_routes

METRICS_PATH = "/metrics"
TOKEN_BODY_BYTES = 4096


def token_handler(authenticator: Authenticator) -> Handler:
    async def create_token(request: Request, principal: Principal) -> Response:
        body = parse_body(TokenRequest, await read_json(request, TOKEN_BODY_BYTES, empty={}))
        issued = authenticator.issue_token(principal, body.session_id, body.ttl_seconds)
        return JsonResponse(
            {
                "token": issued.token,
                "token_type": "bearer",
                "session_id": issued.target,
                "expires_at": issued.expires_at * 1000.0,
                "expires_in": max(0.0, issued.expires_at - time.time()),
            }
        )

    return create_token


def build_http_app(
    *,
    handlers: Mapping[str, Handler],
    websocket: WsHandler,
    authenticator: Authenticator,
    limiter: RateLimiter,
    metrics: GatewayMetrics,
    registry: CollectorRegistry,
    readiness: Mapping[str, ReadinessCheck],
    openapi_document: bytes,
    cors_origins: tuple[str, ...] = (),
    frontend_dir: Path | None = None,
    serve_metrics: bool = True,
) -> Starlette:
    """The gateway's ASGI app. `handlers` holds one handler per route-table entry (by name);
    `serve_metrics=False` leaves `/metrics` out (it is served on a port of its own)."""
    missing = {e.name for e in ENDPOINTS if e.name != "websocket"} - set(handlers)
    if missing:
        raise ValueError(f"no handler for {sorted(missing)}")
    guard = Guard(authenticator, limiter, metrics)

    async def openapi(_: Request) -> Response:
        return Response(openapi_document, media_type="application/json")

    api_routes: list[Route] = []
    ws_spec = endpoint_spec("websocket")

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
        if request.url.path == ws_spec.path:
            return error_response(
                ApiError(
                    ErrorCode.BAD_REQUEST,
                    "this endpoint speaks WebSocket: send Upgrade: websocket",
                    status=426,
                )
            )
        return error_response(ApiError(ErrorCode.NOT_FOUND, f"no endpoint {request.url.path}"))

    api_routes.extend(
        GuardedRoute(
            spec.path,
            handlers[spec.name],
            access=spec.access,
            guard=guard,
            methods=[spec.method],
            name=spec.name,
            rate_limited=spec.rate_limited,
            render_error=status_response if spec.error_format == "otlp" else None,
        )
        for spec in ENDPOINTS
        if spec.name != "websocket"
    )
    routes: list[BaseRoute] = []
    for health in health_routes(registry, readiness):
        assert isinstance(health, Route)
        if health.path == METRICS_PATH and not serve_metrics:
            continue
        routes.append(
            GuardedRoute(
                health.path,
                public(health.endpoint),
                access=METRICS if health.path == METRICS_PATH else PUBLIC,
                guard=guard,
                methods=["GET"],
                name=health.path.strip("/"),
            )
        )
    routes += [
        GuardedRoute(
            "/openapi.json", public(openapi), access=PUBLIC, guard=guard, methods=["GET"], name="openapi"
        ),
        *api_routes,
        GuardedWebSocketRoute(ws_spec.path, websocket, access=ws_spec.access, guard=guard, name=ws_spec.name),
        GuardedRoute(
            "/api/{rest:path}",
            public(api_not_found),
            access=PUBLIC,
            guard=guard,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            name="api_not_found",
        ),
    ]
    if frontend_dir is not None:
        routes.append(GuardedMount("/", SpaFiles(directory=frontend_dir, html=True), name="ui"))

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


def metrics_app(registry: CollectorRegistry) -> Starlette:
    """`/metrics` alone, for SWARMSCOPE_GATEWAY_METRICS_PORT: a port meant to be reachable only by
    the scraper (a NetworkPolicy, a private interface), so it asks for no key."""
    [route] = [r for r in health_routes(registry, {}) if isinstance(r, Route) and r.path == METRICS_PATH]
    return Starlette(routes=[route])
