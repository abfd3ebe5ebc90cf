"""Batches from a durable pull consumer: one subscription, one pull request per batch.

nats-py's `PullSubscription.fetch` waits for every message of a batch with its own
`asyncio.wait_for` (a task and a timer per message): about a tenth of the store's CPU in a profile.
Here messages reach a subscription callback that appends them to the batch in hand, and the fetch
waits once, for the batch to fill or its pull request to end.

Each pull request gets its own reply subject (`<inbox>.<n>`), so the status that ends a request
(404 no messages, 408 expired, 409 …) is told apart from a late status of an earlier one. A message
of an earlier request that arrives late is a delivery like any other: it joins the next batch, so
nothing delivered is left unacked.

The semantics are those of `fetch`: messages available now come back at once; when there are none,
the request waits up to `timeout` for the batch to fill and returns what came. `bench/pull_fetch.py` compares the client CPU per message of both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import Header, StatusCode
from nats.js.client import DEFAULT_JS_SUB_PENDING_BYTES_LIMIT, DEFAULT_JS_SUB_PENDING_MSGS_LIMIT

log = logging.getLogger(__name__)

# How long past its `expires` a waiting request may take to say so before the fetch stops waiting.
_EXPIRY_GRACE_SECONDS = 0.5


class PullError(Exception):
    """A pull request the server refused (409: consumer deleted, too many waiting requests, …)."""


class PullFetcher:
    """Fetches batches of a durable pull consumer of `stream`.

    With `prefetch`, a pull request for the next batch is sent as soon as a batch is handed out, so
    the next batch arrives (and the client parses it) while this one is handled: a store's next
    batch comes in while its transaction commits. Messages in hand but not fetched yet are
    `buffered()`: the consumer keeps them in progress as it does its batch.
    """

    def __init__(
        self, nc: Client, stream: str, durable: str, *, api_prefix: str = "$JS.API", prefetch: bool = False
    ) -> None:
        self._nc = nc
        self._next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._prefetch = prefetch
        self._sub: Subscription | None = None
        self._request = 0
        self._batch: list[Msg] = []
        # The latest request: how many it asked for, how many came since, and its end (the
        # status that ended it, or None when it filled).
        self._asked = 0
        self._received = 0
        self._ended: asyncio.Future[str | None] | None = None
        self._deadline = 0.0

    async def start(self) -> None:
        """Subscribes the reply inbox (once, before the first fetch)."""
        self._sub = await self._nc.subscribe(
            f"{self._inbox}.*",
            cb=self._on_message,
            pending_msgs_limit=DEFAULT_JS_SUB_PENDING_MSGS_LIMIT,
            pending_bytes_limit=DEFAULT_JS_SUB_PENDING_BYTES_LIMIT,
        )

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to `batch` messages: those in hand or available now, else what arrives within
        `timeout`. Raises PullError when the server refused the request (409) and sent nothing."""
        if self._sub is None:
            raise RuntimeError("PullFetcher.start() was not called")
        end: str | None = None
        if not self._batch:
            if not self._outstanding():
                end = await self._wait(await self._send({"batch": batch, "no_wait": True}, batch, timeout))
                if not self._batch and end == StatusCode.NO_MESSAGES:
                    await self._send({"batch": batch, "expires": int(timeout * 1e9)}, batch, timeout)
            if not self._batch and self._ended is not None:
                end = await self._wait(self._ended)
        if not self._batch and end is not None and end.startswith(StatusCode.CONFLICT):
            raise PullError(end)
        taken = self._take(batch)
        if self._prefetch and taken and not self._outstanding():
            await self._send({"batch": batch, "expires": int(timeout * 1e9)}, batch, timeout)
        return taken

    def buffered(self) -> list[Msg]:
        """The messages delivered but not fetched yet."""
        return list(self._batch)

    async def stop(self) -> list[Msg]:
        """Lets the request in flight end (at most its wait), unsubscribes, and returns the
        messages delivered but never fetched, for the caller to release."""
        if self._outstanding() and self._ended is not None:
            await self._wait(self._ended)
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        return self._take(len(self._batch))

    def _outstanding(self) -> bool:
        # A request whose end never came (its status lost in a reconnect) stops counting once
        # its wait has passed, so a new one is sent.
        return self._ended is not None and not self._ended.done() and time.monotonic() < self._deadline

    async def _send(
        self, request: dict[str, object], batch: int, timeout: float
    ) -> asyncio.Future[str | None]:
        """Sends one pull request; returns the future of its end."""
        self._request += 1
        self._asked, self._received = batch, 0
        ended: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._ended = ended
        self._deadline = time.monotonic() + timeout + _EXPIRY_GRACE_SECONDS
        await self._nc.publish(
            self._next_subject, orjson.dumps(request), reply=f"{self._inbox}.{self._request}"
        )
        return ended

    async def _wait(self, ended: asyncio.Future[str | None]) -> str | None:
        """The status that ended a request; None if it filled or its wait passed first."""
        try:
            return await asyncio.wait_for(asyncio.shield(ended), max(self._deadline - time.monotonic(), 0.0))
        except TimeoutError:
            return None

    async def _on_message(self, msg: Msg) -> None:
        headers = msg.headers
        status = headers.get(Header.STATUS) if headers and not msg.data else None
        if status is None:
            self._batch.append(msg)
            self._received += 1
            if self._received >= self._asked:
                self._end(None)
            return
        if status == StatusCode.CONTROL_MESSAGE:
            return  # a heartbeat (none are asked for) or flow control: not a delivery
        if msg.subject != f"{self._inbox}.{self._request}":
            return  # the end of an earlier request
        if status.startswith(StatusCode.CONFLICT):
            description = headers.get(Header.DESCRIPTION, "") if headers else ""
            log.warning("pull request refused", extra={"status": status, "description": description})
            status = f"{status} {description}".strip()
        self._end(status)

    def _end(self, status: str | None) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(status)

    def _take(self, count: int) -> list[Msg]:
        taken, self._batch = self._batch[:count], self._batch[count:]
        return taken
