"""ASGI middleware of the gateway: request latency by route template, and security headers."""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    # Stream tokens ride in URLs; never hand them to another site in a Referer.
    (b"referrer-policy", b"no-referrer"),
]


class RequestMetrics:
    """Observes every HTTP request's latency to its response start, labelled by the route template
    (never the raw path, which would hold session and event ids), and adds the security headers."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self._app = app
        self._histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        def observe(status: int) -> None:
            nonlocal observed
            if observed:
                return
            observed = True
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template is None:
                label = "unmatched"
            elif template in ("", "/"):
                label = "static"
            else:
                label = template
            self._histogram.labels(scope.get("method", "GET"), label, str(status)).observe(
                time.perf_counter() - started
            )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Latency to the response's start: the whole answer for JSON, and for a stream
                # (SSE, export) the time to open it rather than its lifetime.
                observe(int(message["status"]))
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _SECURITY_HEADERS if n not in names]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive, send_with_headers)
        finally:
            observe(500)
