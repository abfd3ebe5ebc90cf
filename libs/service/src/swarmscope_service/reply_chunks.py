"""Answers of any size over NATS request-reply: chunked replies with flow control (CONTRACT §3, v1.1).

A NATS message is at most the server's max payload (1 MiB by default), so a bigger answer is sent
as a run of chunk messages to the caller's reply subject. The chunks' bodies joined are the JSON of
the answer's `result`; the last chunk says the total size, so a lost or repeated chunk is detected
(the caller fails the call rather than parse a damaged answer).

Flow control: every `window`-th chunk is sent as a request (it carries a reply subject) and the
next window waits for the caller's answer, which the caller sends once it has taken that chunk. A
caller streaming the answer on to a slow HTTP client therefore holds at most about two windows in
memory, and a caller that went away stops the stream (its answer is `cancel`, or none arrives).

Only a caller that asks for chunks (header Swarmscope-Reply-Chunks) gets them; any other caller
gets one message, or `payload_too_large` when the answer does not fit, as before v1.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from swarmscope_schema.codec import loads
from swarmscope_schema.requests import (
    CHUNK_CANCEL,
    CHUNK_END_HEADER,
    CHUNK_INDEX_HEADER,
    ErrorCode,
)

# Room for the headers and the envelope around a result that travels in one message.
HEADROOM = 4096
MAX_CHUNK_BYTES = 1024 * 1024
DEFAULT_WINDOW = 4
STATUS_HEADER = "Status"
NO_RESPONDERS = "503"


class ChunkError(Exception):
    """A failure while receiving an answer: its code and message (turned into a ServiceError)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StreamCancelled(Exception):
    """The caller stopped taking the answer."""


@dataclass(frozen=True)
class Streamed:
    """A result produced piece by piece: the pieces joined are its JSON.

    A handler returns one for an answer it should not build whole (the full state of a big
    session): the server sends it on as it is produced, never holding more than a chunk of it.
    """

    pieces: AsyncIterable[bytes]


def chunk_size(max_payload: int) -> int:
    """The body size of a chunk on a server whose messages are at most `max_payload` bytes."""
    return max(min(max_payload - HEADROOM, MAX_CHUNK_BYTES), 1024)


class ChunkWriter:
    """Sends one answer's chunks to a caller's reply subject, waiting for credit every `window`."""

    def __init__(
        self,
        nc: NatsClient,
        reply: str,
        *,
        size: int,
        window: int = DEFAULT_WINDOW,
        credit_timeout: float = 30.0,
    ) -> None:
        self._nc = nc
        self._reply = reply
        self._size = size
        self._window = max(window, 1)
        self._credit_timeout = credit_timeout
        self._index = 0
        self._total = 0
        self._buffer = bytearray()

    @property
    def chunks(self) -> int:
        return self._index

    async def write(self, data: bytes) -> None:
        """Buffers `data`, sending every full chunk."""
        self._buffer += data
        while len(self._buffer) >= self._size:
            chunk = bytes(self._buffer[: self._size])
            del self._buffer[: self._size]
            await self._send(chunk, last=False)

    async def finish(self) -> None:
        """Sends what is left as the last chunk (it carries the total size)."""
        chunk = bytes(self._buffer)
        self._buffer.clear()
        await self._send(chunk, last=True)

    async def _send(self, chunk: bytes, *, last: bool) -> None:
        self._total += len(chunk)
        headers = {CHUNK_INDEX_HEADER: str(self._index)}
        if last:
            headers[CHUNK_END_HEADER] = str(self._total)
        self._index += 1
        if last or self._index % self._window:
            await self._nc.publish(self._reply, chunk, headers=headers)
            return
        try:
            answer = await self._nc.request(self._reply, chunk, timeout=self._credit_timeout, headers=headers)
        except (NoRespondersError, NatsTimeoutError, TimeoutError) as exc:
            raise StreamCancelled(f"the caller took no more chunks: {exc!r}") from None
        if answer.data == CHUNK_CANCEL:
            raise StreamCancelled("the caller cancelled the answer")


async def pieces_of(value: bytes) -> AsyncIterator[bytes]:
    """One already-encoded answer as pieces."""
    yield value


class ReplyMux:
    """One wildcard inbox subscription for every call of a client; messages routed by token.

    nats-py's own request mux resolves a call on its first message, so chunked answers need
    their own routing. A message for a call no longer waiting is answered `cancel` when it asks
    for credit, which stops its sender.
    """

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._prefix: str | None = None
        self._sub: Subscription | None = None
        self._queues: dict[str, asyncio.Queue[Msg]] = {}
        self._lock = asyncio.Lock()

    async def open(self) -> tuple[str, asyncio.Queue[Msg]]:
        """A fresh reply subject and the queue its messages arrive in."""
        if self._prefix is None:
            async with self._lock:
                if self._prefix is None:
                    prefix = self._nc.new_inbox()
                    # No round trip needed: the SUB goes out ahead of the request on the same
                    # connection, and the server applies one connection's commands in order.
                    self._sub = await self._nc.subscribe(f"{prefix}.*", cb=self._route)
                    self._prefix = prefix
        token = secrets.token_hex(10)
        queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._queues[token] = queue
        return f"{self._prefix}.{token}", queue

    def close(self, reply: str) -> None:
        self._queues.pop(reply.rsplit(".", 1)[-1], None)

    async def _route(self, msg: Msg) -> None:
        queue = self._queues.get(msg.subject.rsplit(".", 1)[-1])
        if queue is not None:
            queue.put_nowait(msg)
        elif msg.reply:
            with contextlib.suppress(Exception):
                await self._nc.publish(msg.reply, CHUNK_CANCEL)


class Reply:
    """An answer being received: one envelope, or chunks of the result's JSON."""

    def __init__(
        self, mux: ReplyMux, nc: NatsClient, reply: str, queue: asyncio.Queue[Msg], timeout: float
    ) -> None:
        self._mux = mux
        self._nc = nc
        self._reply = reply
        self._queue = queue
        self._timeout = timeout
        self._first: Msg | None = None
        self.chunked = False
        self._done = False

    async def start(self, subject: str) -> None:
        """Waits for the first message; raises ChunkError for an error envelope or no answer."""
        msg = await self._next(subject)
        if msg.headers and msg.headers.get(STATUS_HEADER) == NO_RESPONDERS:
            self.close()
            raise ChunkError(ErrorCode.UNAVAILABLE, f"no service answers {subject}")
        self._first = msg
        self.chunked = bool(msg.headers and CHUNK_INDEX_HEADER in msg.headers)
        if not self.chunked:
            self.close()
            _raise_if_error(_envelope(msg.data, subject), subject)

    async def result(self) -> Any:
        """The answer's `result`, parsed."""
        assert self._first is not None, "start() first"
        if not self.chunked:
            return _envelope(self._first.data, "reply").get("result")
        body = bytearray()
        async for piece in self.pieces():
            body += piece
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ChunkError(ErrorCode.INTERNAL, f"a chunked answer is not JSON: {exc}") from None

    async def pieces(self) -> AsyncIterator[bytes]:
        """The result's JSON in pieces, as they arrive (for a whole answer: its result re-encoded)."""
        assert self._first is not None, "start() first"
        if not self.chunked:
            yield orjson.dumps(_envelope(self._first.data, "reply").get("result"))
            return
        try:
            expected, total = 0, 0
            msg: Msg = self._first
            while True:
                headers = msg.headers or {}
                if CHUNK_INDEX_HEADER not in headers:
                    # An error envelope ends a stream that failed part way.
                    _raise_if_error(_envelope(msg.data, "reply"), "reply")
                    raise ChunkError(ErrorCode.INTERNAL, "a chunked answer ended without its last chunk")
                if headers[CHUNK_INDEX_HEADER] != str(expected):
                    raise ChunkError(
                        ErrorCode.INTERNAL,
                        f"chunk {headers[CHUNK_INDEX_HEADER]} arrived where {expected} was due",
                    )
                expected += 1
                total += len(msg.data)
                yield msg.data
                if CHUNK_END_HEADER in headers:
                    if headers[CHUNK_END_HEADER] != str(total):
                        raise ChunkError(
                            ErrorCode.INTERNAL,
                            f"a chunked answer of {headers[CHUNK_END_HEADER]} bytes arrived as {total}",
                        )
                    return
                if msg.reply:
                    await self._nc.publish(msg.reply, b"")
                msg = await self._next("the rest of the answer")
        finally:
            self.close()

    def close(self) -> None:
        """Stops taking the answer (its sender is told at its next credit request)."""
        if not self._done:
            self._done = True
            self._mux.close(self._reply)

    async def _next(self, what: str) -> Msg:
        try:
            return await asyncio.wait_for(self._queue.get(), self._timeout)
        except TimeoutError:
            self.close()
            raise ChunkError(ErrorCode.TIMEOUT, f"{what} did not answer in time") from None


def _envelope(data: bytes, subject: str) -> dict[str, Any]:
    reply = loads(data)
    if not isinstance(reply, dict):
        raise ChunkError(ErrorCode.INTERNAL, f"{subject} answered something that is not an envelope")
    return reply


def _raise_if_error(reply: dict[str, Any], subject: str) -> None:
    if reply.get("ok"):
        return
    error = reply.get("error") or {}
    try:
        code = ErrorCode(error.get("code", "internal"))
    except ValueError:
        code = ErrorCode.INTERNAL
    raise ChunkError(code, str(error.get("message", f"{subject}: unknown error")))
