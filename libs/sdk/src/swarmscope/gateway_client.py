"""A small client of the gateway's HTTP API (CONTRACT §4, §5) for the CLI: SSE, export, import.

Everything streams: the SSE feed is parsed line by line and resumed with `Last-Event-ID` after a
dropped connection (or `after_seq` after a `resync`), exports are written as they arrive, imports
are uploaded from the file in chunks. Errors come back as `GatewayError` with the gateway's own
`{error: {code, message}}` text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import orjson

_CHUNK = 256 * 1024


class GatewayError(RuntimeError):
    """The gateway answered with an error (or could not be reached)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _error_of(response: httpx.Response) -> GatewayError:
    try:
        body = orjson.loads(response.read())
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = str(error.get("code", ""))
            return GatewayError(f"{code}: {error.get('message', '')}", response.status_code, code)
    except (orjson.JSONDecodeError, httpx.HTTPError):
        pass
    return GatewayError(f"HTTP {response.status_code} from {response.request.url}", response.status_code)


@dataclass
class SseMessage:
    event: str
    data: str
    id: str | None


def parse_sse(lines: Iterator[str]) -> Iterator[SseMessage]:
    """Server-sent events from a stream of lines (comments and heartbeats skipped)."""
    event, last_id = "message", None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield SseMessage(event, "\n".join(data), last_id)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            last_id = value
    if data:
        yield SseMessage(event, "\n".join(data), last_id)


class GatewayClient:
    """Talks to one gateway with an optional API key."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 30.0) -> None:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _get_json(self, path: str) -> Any:
        try:
            response = self._client.get(path)
        except httpx.HTTPError as exc:
            raise GatewayError(f"cannot reach the gateway at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error_of(response)
        return response.json()

    def session(self, session_id: str) -> dict[str, Any]:
        """The session's summary (raises GatewayError 404 when there is no such session)."""
        result: dict[str, Any] = self._get_json(f"/api/v1/sessions/{quote(session_id, safe='')}")
        return result

    def sessions(self, **params: Any) -> list[dict[str, Any]]:
        """The first page of sessions, newest first (`q`, `status`, `limit`, … as the API takes)."""
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items() if v is not None)
        page = self._get_json("/api/v1/sessions" + (f"?{query}" if query else ""))
        items = page.get("items") if isinstance(page, dict) else None
        return [item for item in items or [] if isinstance(item, dict)]

    def export(self, session_id: str, out: IO[bytes], on_line: Callable[[int], None] | None = None) -> int:
        """Streams the session's events as JSON Lines into `out`; returns the number of events."""
        path = f"/api/v1/sessions/{quote(session_id, safe='')}/export"
        count = 0
        try:
            with self._client.stream("GET", path, params={"format": "jsonl"}, timeout=None) as response:
                if response.status_code >= 400:
                    raise _error_of(response)
                pending = b""
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    pending += chunk
                    lines = pending.count(b"\n")
                    if lines:
                        count += lines
                        pending = pending[pending.rfind(b"\n") + 1 :]
                        if on_line is not None:
                            on_line(count)
                if pending.strip():
                    count += 1
        except httpx.HTTPError as exc:
            raise GatewayError(f"export of {session_id} interrupted: {exc}") from exc
        return count

    def import_file(
        self, path: Path, *, session_id: str | None = None, on_bytes: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Uploads a JSON Lines file to `/api/v1/import` in chunks; returns the gateway's report."""

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    yield chunk
                    if on_bytes is not None:
                        on_bytes(len(chunk))

        params = {"session_id": session_id} if session_id else None
        try:
            response = self._client.post(
                "/api/v1/import",
                content=chunks(),
                params=params,
                headers={"content-type": "application/x-ndjson"},
                timeout=None,
            )
        except httpx.HTTPError as exc:
            raise GatewayError(f"import interrupted: {exc}") from exc
        if response.status_code >= 400:
            raise _error_of(response)
        result: dict[str, Any] = response.json()
        return result

    def stream(
        self,
        *,
        session: str | None = None,
        agent: str | None = None,
        type: str | None = None,
        after_seq: int | None = None,
        reconnect: bool = True,
        stop: Callable[[], bool] = lambda: False,
        on_retry: Callable[[str], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stored events from the live SSE feed, in seq order, resuming after drops and resyncs.

        `on_retry(reason)` is told each time the stream is lost and about to be reopened.
        """
        last_seq = after_seq
        delay = 0.5
        while not stop():
            params: dict[str, Any] = {}
            if session:
                params["session"] = session
            if agent:
                params["agent"] = agent
            if type:
                params["type"] = type
            headers = {"accept": "text/event-stream"}
            if last_seq is not None:
                params["after_seq"] = last_seq
                headers["last-event-id"] = str(last_seq)
            try:
                with self._client.stream(
                    "GET",
                    "/api/v1/stream",
                    params=params,
                    headers=headers,
                    timeout=httpx.Timeout(10.0, read=60.0),
                ) as response:
                    if response.status_code >= 400:
                        error = _error_of(response)
                        if response.status_code < 500:
                            raise error
                        raise httpx.TransportError(str(error))
                    delay = 0.5

                    def lines(response: httpx.Response = response) -> Iterator[str]:
                        # Heartbeat comments arrive every 15 s: `stop` is looked at even when idle.
                        for line in response.iter_lines():
                            if stop():
                                return
                            yield line

                    for message in parse_sse(lines()):
                        if message.event == "batch_events":
                            body = orjson.loads(message.data)
                            for event in body.get("events", []):
                                seq = event.get("seq")
                                if isinstance(seq, int):
                                    last_seq = seq
                                yield event
                        elif message.event == "resync":
                            body = orjson.loads(message.data)
                            resume = body.get("after_seq")
                            if isinstance(resume, int):
                                last_seq = resume
                            break
                        elif message.event == "error":
                            raise GatewayError(f"stream error: {message.data}")
                        if stop():
                            return
            except httpx.HTTPError as exc:
                if not reconnect:
                    raise
                if on_retry is not None:
                    on_retry(f"lost the stream at {self.base_url} ({exc.__class__.__name__}); reconnecting")
            if not reconnect:
                return
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
