"""Where encoded events go: JetStream (the default) or the gateway's HTTP ingest endpoint.

A transport sends a batch and says, per event, whether it was accepted (`OK`), must be sent again
(`RETRY`: NATS down or restarting, timeouts, 5xx, 429) or was refused for good (any other string: the
drop reason). Retries reuse the event's id, which the pipeline's dedupe by (session_id, id) turns
into exactly one stored event.

Over NATS the events of one session travel as batch messages (CONTRACT §3, v1.1): a JSON array on
`traces.raw.<session>.<agent or _>.batch`, split by size and never cutting an event, with
`Nats-Msg-Id: <session>:batch:<first id>:<count>`; a session with a single event in the batch goes
as a single-event message keyed `<session>:<id>`. Which messages a batch becomes (subjects, ids,
framing, splitting) is `swarmscope_schema.batches.raw_messages`, the same plan the services'
publisher (`swarmscope_service.publishing`) sends. Only the acknowledgement loop is this module's
own: the SDK does not depend on libs/service, which would bring a web server (starlette, uvicorn),
Prometheus and pydantic-settings into every agent's install, and the SDK's loop must ride out NATS
restarts and report per event (OK / RETRY / drop reason) where the services' publisher raises and
retries the whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

import httpx
import nats
import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from swarmscope.encoding import Encoded
from swarmscope_schema.batches import raw_messages
from swarmscope_schema.subjects import MSG_ID_HEADER

log = logging.getLogger("swarmscope")

OK = "ok"
RETRY = "retry"
# JetStream API error codes that no retry can fix (message over the stream's size limit).
_PERMANENT_JS_ERRORS = frozenset({10054})
# How the server says that nobody (no stream) listens on a subject.
STATUS_HEADER = "Status"
NO_RESPONDERS = "503"


class Transport(Protocol):
    """What the publisher needs from a transport."""

    description: str

    async def connect(self) -> None:
        """Connects; raises when the other side is unreachable (the publisher retries)."""

    async def send(self, batch: Sequence[Encoded], timeout: float) -> list[str]:
        """Sends a batch; one outcome per event: OK, RETRY or a drop reason."""

    async def close(self) -> None:
        """Closes the connection; idempotent."""


class _Round:
    """The acknowledgements one batch is waiting for: per message token, the events it carries."""

    __slots__ = ("done", "outcomes", "waiting")

    def __init__(self, size: int) -> None:
        self.outcomes = [RETRY] * size
        self.waiting: dict[str, list[int]] = {}
        self.done = asyncio.Event()


class NatsTransport:
    """Pipelined JetStream publishing with `Nats-Msg-Id`; rides out NATS restarts.

    Each event is a core publish with a reply subject under one inbox, and JetStream answers each
    with its PubAck there; one wildcard subscription matches the acknowledgements to the batch by
    token. That is JetStream's own publish protocol, as `js.publish_async` speaks it, without a
    future, a semaphore slot and a callback per message: measured here, 6 µs of CPU per event
    instead of 17, and 2 to 3 times the throughput (bench/sdk_overhead.py). The wait for a batch is
    bounded; what is not acknowledged in time is retried with the same ids.
    """

    def __init__(
        self, url: str, *, name: str = "swarmscope-sdk", connect_timeout: float = 2.0, batches: bool = True
    ) -> None:
        self.url = url
        # Batch messages (v1.1) by default; False sends one message per event, as v1 producers do.
        self.batches = batches
        self.description = f"NATS {url}"
        self._name = name
        self._connect_timeout = connect_timeout
        self._nc: NatsClient | None = None
        self._inbox = ""
        self._generation = 0
        self._round: _Round | None = None
        self._connected = asyncio.Event()
        self.last_error: str | None = None
        self._closing = False
        self._warned_unreachable = False

    async def _on_disconnect(self) -> None:
        self._connected.clear()
        if not self._closing:
            log.warning("swarmscope: lost NATS at %s; buffering and retrying", self.url)

    async def _on_reconnect(self) -> None:
        self._connected.set()
        self._warned_unreachable = False
        log.info("swarmscope: reconnected to NATS at %s", self.url)

    async def _on_error(self, exc: Exception) -> None:
        self.last_error = repr(exc)
        if not self._connected.is_set() and not self._warned_unreachable and not self._closing:
            # nats-py keeps retrying by itself (for ever): say it once per outage.
            self._warned_unreachable = True
            log.warning("swarmscope: cannot reach NATS at %s (%r); buffering and retrying", self.url, exc)

    async def connect(self) -> None:
        servers = [s.strip() for s in self.url.split(",") if s.strip()]
        nc = await nats.connect(
            servers=servers,
            name=self._name,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            connect_timeout=max(1, int(self._connect_timeout)),
            disconnected_cb=self._on_disconnect,
            reconnected_cb=self._on_reconnect,
            error_cb=self._on_error,
            skip_subject_validation=True,
        )
        self._inbox = nc.new_inbox()
        # Resubscribed by the client after every reconnect.
        await nc.subscribe(self._inbox + ".*", cb=self._on_ack)
        self._nc = nc
        self._connected.set()
        self._warned_unreachable = False

    async def _on_ack(self, msg: Msg) -> None:
        current = self._round
        if current is None:
            return
        indexes = current.waiting.pop(msg.subject[len(self._inbox) + 1 :], None)
        if indexes is None:
            # An acknowledgement of an earlier, already retried attempt.
            return
        outcome = self._outcome(msg)
        for index in indexes:
            current.outcomes[index] = outcome
        if not current.waiting:
            current.done.set()

    def _outcome(self, msg: Msg) -> str:
        if msg.headers and msg.headers.get(STATUS_HEADER) == NO_RESPONDERS:
            self.last_error = "no JetStream stream answers on traces.raw.> (not provisioned yet?)"
            return RETRY
        if b'"error"' not in msg.data:
            return OK
        try:
            error = orjson.loads(msg.data).get("error") or {}
        except (orjson.JSONDecodeError, AttributeError):
            return RETRY
        self.last_error = f"JetStream: {error}"
        if error.get("err_code") in _PERMANENT_JS_ERRORS:
            log.error("swarmscope: JetStream refused an event for good: %s", error)
            return "rejected"
        return RETRY

    async def send(self, batch: Sequence[Encoded], timeout: float) -> list[str]:
        nc = self._nc
        if nc is None:
            return [RETRY] * len(batch)
        if not nc.is_connected:
            # Publishing now would only fill the client's reconnect buffer; wait for the server.
            try:
                await asyncio.wait_for(self._connected.wait(), timeout)
            except TimeoutError:
                return [RETRY] * len(batch)
        self._generation += 1
        current = self._round = _Round(len(batch))
        prefix = f"{self._inbox}.{self._generation:x}x"
        try:
            # The publisher drops events over the event limit before they get here; anything left
            # that fits no batch goes one by one, so one event never holds the others back.
            for number, message in enumerate(raw_messages(batch, batches=self.batches, oversize="alone")):
                token = f"{self._generation:x}x{number:x}"
                current.waiting[token] = message.members
                await nc.publish(
                    message.subject,
                    message.payload,
                    reply=prefix + f"{number:x}",
                    headers={MSG_ID_HEADER: message.msg_id},
                )
        except Exception as exc:
            # What went out may still be acknowledged; the rest stays RETRY.
            self.last_error = repr(exc)
            log.debug(
                "swarmscope: publish interrupted after %d of %d: %r", len(current.waiting), len(batch), exc
            )
        if current.waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(current.done.wait(), timeout)
        self._round = None
        return current.outcomes

    async def close(self) -> None:
        self._closing = True
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception as exc:
                log.debug("swarmscope: closing NATS: %r", exc)


class HttpTransport:
    """POSTs batches (a JSON array) to the gateway's `/api/v1/ingest`, for agents without NATS."""

    def __init__(self, gateway_url: str, *, api_key: str | None = None) -> None:
        self.url = gateway_url.rstrip("/") + "/api/v1/ingest"
        self.description = f"HTTP {self.url}"
        headers = {"content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self._headers = headers
        self._client: httpx.AsyncClient | None = None

    async def connect(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(headers=self._headers)

    async def send(self, batch: Sequence[Encoded], timeout: float) -> list[str]:
        if self._client is None:
            return [RETRY] * len(batch)
        body = b"[" + b",".join(item.payload for item in batch) + b"]"
        try:
            response = await self._client.post(self.url, content=body, timeout=timeout)
        except httpx.HTTPError as exc:
            log.debug("swarmscope: POST %s failed: %r", self.url, exc)
            return [RETRY] * len(batch)
        status = response.status_code
        if status < 300:
            return self._accepted(batch, response)
        if status == 429 or status >= 500:
            return [RETRY] * len(batch)
        if status == 413 and len(batch) > 1:
            # Over the gateway's body limit: the halves go on their own.
            middle = len(batch) // 2
            return [*await self.send(batch[:middle], timeout), *await self.send(batch[middle:], timeout)]
        reason = "too_large" if status == 413 else "rejected"
        if status in (401, 403):
            log.error(
                "swarmscope: the gateway refused the API key (HTTP %d): %s", status, response.text[:300]
            )
        else:
            # The gateway answers 400 only when no event of the body was accepted.
            log.error(
                "swarmscope: the gateway refused %d events (HTTP %d): %s",
                len(batch),
                status,
                response.text[:300],
            )
        return [reason] * len(batch)

    @staticmethod
    def _accepted(batch: Sequence[Encoded], response: httpx.Response) -> list[str]:
        """OK for each event, but for those the gateway lists as rejected (by index)."""
        outcomes = [OK] * len(batch)
        try:
            body = response.json()
        except ValueError:
            return outcomes
        rejects = body.get("rejects") if isinstance(body, dict) else None
        for reject in rejects or []:
            index = reject.get("index") if isinstance(reject, dict) else None
            if isinstance(index, int) and 0 <= index < len(batch):
                outcomes[index] = "rejected"
                log.error(
                    "swarmscope: the gateway refused event %s: %s",
                    batch[index].event_id,
                    reject.get("message"),
                )
        return outcomes

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
