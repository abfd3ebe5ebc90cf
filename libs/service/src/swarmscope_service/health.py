"""The HTTP side every service has: `/healthz`, `/readyz` and `/metrics`.

Liveness says the process answers; readiness runs the service's checks (NATS connected, database
reachable, …) and answers 503 naming the failing ones, so an orchestrator routes around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]


def health_routes(
    registry: CollectorRegistry, checks: Mapping[str, ReadinessCheck], *, check_timeout: float = 2.0
) -> list[BaseRoute]:
    """Routes for liveness, readiness and Prometheus metrics."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def run_check(check: ReadinessCheck) -> bool:
        try:
            return await asyncio.wait_for(check(), timeout=check_timeout)
        except Exception:
            return False

    async def readyz(_: Request) -> Response:
        names = list(checks)
        results = await asyncio.gather(*(run_check(checks[n]) for n in names))
        status = dict(zip(names, results, strict=True))
        ready = all(results)
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": status},
            status_code=200 if ready else 503,
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]


def health_app(registry: CollectorRegistry, checks: Mapping[str, ReadinessCheck]) -> Starlette:
    """A Starlette app serving only the health routes (for services without an API of their own)."""
    return Starlette(routes=health_routes(registry, checks))


class _EmbeddedServer(uvicorn.Server):
    # uvicorn would install its own SIGINT/SIGTERM handlers and re-raise the signal after serving;
    # the service owns its signals and shuts the HTTP server down itself.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """A uvicorn server running inside the service's event loop."""

    def __init__(
        self,
        app: Starlette,
        host: str,
        port: int,
        *,
        extra_config: Mapping[str, object] | None = None,
    ) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            **dict(extra_config or {}),  # type: ignore[arg-type]
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Starts serving; returns once the socket is bound (raises if it cannot bind)."""
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("HTTP server stopped before it started")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task

    @property
    def port(self) -> int:
        servers: Sequence[asyncio.Server] = getattr(self._server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("server not started")
