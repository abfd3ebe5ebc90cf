"""Test helpers of the gateway: run it in the test's event loop, publish, and read SSE like a client.

Used by the gateway's tests and benchmarks; needs httpx (a dev dependency).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette

from swarmscope_dev.in_process import wait_stopped
from swarmscope_gateway import app
from swarmscope_gateway.access import Scope, grants
from swarmscope_gateway.config import GatewaySettings
from swarmscope_schema.testing import make_event


@dataclass
class RunningGateway:
    """A gateway running as a task of the test's event loop."""

    settings: GatewaySettings
    ready_checks: tuple[str, ...] = ("nats", "store", "replay", "live")
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    app: Starlette | None = None  # the HTTP app it serves (its route table), once started

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.gateway_port}/api/v1/ws"

    @property
    def metrics_url(self) -> str:
        port = self.settings.gateway_metrics_port
        return f"http://127.0.0.1:{port}/metrics" if port is not None else f"{self.url}/metrics"

    def metrics_headers(self) -> dict[str, str]:
        """A key that may read /metrics on the API port, when keys are configured."""
        if self.settings.gateway_metrics_port is not None:
            return {}
        for key in self.settings.parsed_api_keys():
            if grants(key.scopes, frozenset({Scope.METRICS})):
                return {"Authorization": f"Bearer {key.secret}"}
        return {}

    async def start(self) -> None:
        self.task = asyncio.create_task(app.main(self.stop, self.settings, built=self._built))
        deadline = time.monotonic() + 30
        checks: dict[str, bool] = {}
        async with httpx.AsyncClient() as client:
            while True:
                if self.task.done():
                    self.task.result()
                    raise RuntimeError("the gateway exited before it was ready")
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    checks = (await client.get(f"{self.url}/readyz")).json()["checks"]
                    if all(checks.get(name) for name in self.ready_checks):
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the gateway did not become ready: {checks}")
                await asyncio.sleep(0.05)

    def _built(self, http_app: Starlette) -> None:
        self.app = http_app

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await wait_stopped(self.task, "the gateway")

    async def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of the gateway's /metrics (0 when absent)."""
        async with httpx.AsyncClient() as client:
            response = await client.get(self.metrics_url, headers=self.metrics_headers())
            response.raise_for_status()
            text = response.text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            metric, _, rest = key.partition("{")
            if metric != name:
                continue
            found = ",".join(sorted(p for p in rest.rstrip("}").split(",") if p))
            if found == wanted:
                return float(value)
        return 0.0


def new_session() -> str:
    return f"gw-{uuid.uuid4().hex[:12]}"


async def ingest(
    http: httpx.AsyncClient, events: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> None:
    """Publishes events through the gateway's ingest endpoint (→ ingest → TRACES)."""
    for start in range(0, len(events), 1000):
        response = await http.post("/api/v1/ingest", json=events[start : start + 1000], headers=headers)
        assert response.status_code == 202, response.text


async def wait_stored(
    http: httpx.AsyncClient,
    session_id: str,
    count: int,
    *,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> None:
    """Waits until the store holds `count` events of the session."""
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get(f"/api/v1/sessions/{session_id}", headers=headers)
        if response.status_code == 200 and response.json()["event_count"] >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{session_id}: not {count} events stored: {response.text}")
        await asyncio.sleep(0.05)


def session_events(
    session_id: str, count: int, *, agents: tuple[str, ...] = ("agent-1",)
) -> list[dict[str, Any]]:
    """A realistic run of events: session start, then tool calls spread over agents."""
    events = [make_event("session_start", session_id=session_id, agent_id=None)]
    events += [
        make_event("tool_call", session_id=session_id, agent_id=agents[i % len(agents)])
        for i in range(count - 1)
    ]
    return events


@dataclass
class SseMessage:
    event: str
    id: str | None
    data: Any


class SseReader:
    """Parses an SSE response body (real HTTP, httpx streaming) into messages and comments."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, timeout: float = 20.0) -> SseMessage:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> SseMessage:
        event: str = "message"
        event_id: str | None = None
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data:
                    return SseMessage(event, event_id, orjson.loads("\n".join(data)))
                event, event_id = "message", None
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "id":
                event_id = value
            elif name == "data":
                data.append(value)
        raise EOFError("the stream ended")

    async def events(self, count: int, timeout: float = 20.0) -> tuple[list[dict[str, Any]], str | None]:
        """Reads batch_events until `count` events came; returns them and the last id."""
        out: list[dict[str, Any]] = []
        last_id = None
        while len(out) < count:
            message = await self.next(timeout)
            assert message.event == "batch_events", message
            out.extend(message.data["events"])
            last_id = message.id
        return out, last_id


async def stored_events(http: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    """Every stored event of a session, paging the events endpoint."""
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        response = await http.get(f"/api/v1/sessions/{session_id}/events", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        out.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return out
