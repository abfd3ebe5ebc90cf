"""Request-reply over NATS: serving `swarmscope.<service>.<op>` and calling it.

Servers join a queue group per service, so replicas share the load. Every reply is the envelope of
swarmscope_schema.requests; a handler signals an expected failure by raising ServiceError, and any
other exception becomes an `internal` error whose details stay in the server's log.

No answer fails for its size (v1.1): the client asks for chunked replies, and an answer bigger than
one NATS message (or a handler's `Streamed` result) travels as chunks with flow control
(reply_chunks). A caller that does not ask still gets one message or `payload_too_large`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, ValidationError

from swarmscope_schema.codec import dumps
from swarmscope_schema.requests import (
    CHUNK_PROTOCOL,
    REPLY_CHUNKS_HEADER,
    ErrorCode,
    error_reply,
)
from swarmscope_service.reply_chunks import (
    HEADROOM,
    ChunkError,
    ChunkWriter,
    Reply,
    ReplyMux,
    StreamCancelled,
    Streamed,
    chunk_size,
    pieces_of,
)

log = logging.getLogger(__name__)

RequestT = TypeVar("RequestT", bound=BaseModel)


class ServiceError(Exception):
    """An expected failure with a code the caller can act on (not found, bad request, …)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Operation(Generic[RequestT]):
    """One op: the request model its body must match and the coroutine that answers it."""

    request_model: type[RequestT]
    handle: Callable[[RequestT], Awaitable[Any]]


def validation_message(exc: ValidationError) -> str:
    """A one-line summary of a pydantic error that names each failing field."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


async def subscribed(nc: NatsClient, *, timeout: float = 10.0) -> None:
    """Returns once the server has taken every command `nc` sent before the call (its SUBs above all).

    `nc.flush()` is no such barrier in nats-py 2.16: it writes its PING straight to the socket while
    earlier commands wait in the client's pending buffer for the flusher task, so the PONG can come
    back before a SUB reached the server, and a request from another connection in that moment is
    answered "no responders". A message to ourselves travels behind those commands instead: the
    server handles one connection's commands in order, so when it comes back they were all applied.
    (It needs echo, nats-py's default, which every swarmscope connection keeps.)
    """
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, max_msgs=1)
    try:
        await nc.publish(inbox, b"")
        await sub.next_msg(timeout=timeout)
    finally:
        await sub.unsubscribe()


class RequestServer:
    """Serves a set of ops on `<prefix>.<op>` in a queue group."""

    def __init__(
        self,
        nc: NatsClient,
        prefix: str,
        operations: Mapping[str, Operation[Any]],
        registry: CollectorRegistry,
        *,
        queue: str,
        max_concurrency: int = 64,
    ) -> None:
        self._nc = nc
        self._prefix = prefix
        self._operations = operations
        self._queue = queue
        self._subs: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(max_concurrency)
        self._seconds = Histogram(
            "swarmscope_request_seconds",
            "Time to answer a request-reply operation",
            ["op", "outcome"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self._chunked = Counter(
            "swarmscope_request_chunks",
            "Chunk messages of answers too big for one NATS message",
            ["op"],
            registry=registry,
        )

    async def start(self) -> None:
        """Subscribes every op; on return the server routes requests to them (see `subscribed`)."""
        for op in self._operations:
            sub = await self._nc.subscribe(f"{self._prefix}.{op}", queue=self._queue, cb=self._on_message)
            self._subs.append(sub)
        await subscribed(self._nc)

    async def stop(self) -> None:
        """Stops taking requests and lets the ones in flight finish."""
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_message(self, msg: Msg) -> None:
        # Answer concurrently: one slow query must not queue every other request behind it.
        task = asyncio.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Msg) -> None:
        op = msg.subject.rsplit(".", 1)[-1]
        started = time.perf_counter()
        outcome = "ok"
        chunks = (msg.headers or {}).get(REPLY_CHUNKS_HEADER) == CHUNK_PROTOCOL
        async with self._limit:
            try:
                result = await self._dispatch(op, msg.data)
                pieces = result.pieces if isinstance(result, Streamed) else pieces_of(dumps(result))
                outcome = await self._send(op, msg, pieces, chunks)
            except ServiceError as exc:
                outcome = exc.code.value
                await self._respond(op, msg, dumps(error_reply(exc.code, exc.message)))
            except StreamCancelled as exc:
                outcome = "cancelled"
                log.info("answer not taken to its end", extra={"op": op, "error": str(exc)})
            except Exception:
                outcome = "internal"
                log.exception("request failed", extra={"op": op})
                await self._respond(
                    op, msg, dumps(error_reply(ErrorCode.INTERNAL, f"{op} failed; see the service log"))
                )
        self._seconds.labels(op, outcome).observe(time.perf_counter() - started)

    async def _send(self, op: str, msg: Msg, pieces: AsyncIterable[bytes], chunks: bool) -> str:
        """Sends a result: one message when it fits, else chunks to a caller that takes them.

        A failure after the first chunk went is sent as an error envelope, which ends the stream.
        """
        single = self._nc.max_payload - HEADROOM
        head = bytearray()
        iterator = aiter(pieces)
        async for piece in iterator:
            head += piece
            if len(head) > single:
                break
        else:
            await self._respond(op, msg, b'{"ok":true,"result":' + (bytes(head) or b"null") + b"}")
            return "ok"
        if not chunks or not msg.reply:
            await self._respond(
                op,
                msg,
                dumps(
                    error_reply(
                        ErrorCode.PAYLOAD_TOO_LARGE,
                        f"the answer exceeds the NATS max payload ({self._nc.max_payload} bytes); ask for less",
                    )
                ),
            )
            return "too_large"
        writer = ChunkWriter(self._nc, msg.reply, size=chunk_size(self._nc.max_payload))
        try:
            await writer.write(bytes(head))
            async for piece in iterator:
                await writer.write(piece)
            await writer.finish()
        except ServiceError as exc:
            await self._respond(op, msg, dumps(error_reply(exc.code, exc.message)))
            return exc.code.value
        except StreamCancelled:
            raise
        except Exception:
            log.exception("request failed part way through its answer", extra={"op": op})
            await self._respond(
                op, msg, dumps(error_reply(ErrorCode.INTERNAL, f"{op} failed; see the service log"))
            )
            return "internal"
        self._chunked.labels(op).inc(writer.chunks)
        return "ok"

    async def _respond(self, op: str, msg: Msg, body: bytes) -> None:
        if not msg.reply:
            return
        try:
            await self._nc.publish(msg.reply, body)
        except Exception as exc:
            log.warning("reply not sent", extra={"op": op, "error": repr(exc)})

    async def _dispatch(self, op: str, data: bytes) -> Any:
        operation = self._operations.get(op)
        if operation is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"unknown operation {op!r}")
        try:
            request = operation.request_model.model_validate_json(data or b"{}")
        except ValidationError as exc:
            raise ServiceError(ErrorCode.BAD_REQUEST, validation_message(exc)) from None
        return await operation.handle(request)


class RequestClient:
    """Calls ops of another service and unwraps the envelope; answers of any size."""

    def __init__(self, nc: NatsClient, *, timeout: float = 5.0) -> None:
        self._nc = nc
        self._timeout = timeout
        self._mux = ReplyMux(nc)

    async def call(
        self, subject: str, body: BaseModel | Mapping[str, Any], *, timeout: float | None = None
    ) -> Any:
        """The `result` of the op; raises ServiceError with the op's error, or `unavailable` /
        `timeout` when nobody answers."""
        reply = await self.open(subject, body, timeout=timeout)
        try:
            return await reply.result()
        except ChunkError as exc:
            raise ServiceError(exc.code, exc.message) from None
        finally:
            reply.close()

    async def open(
        self, subject: str, body: BaseModel | Mapping[str, Any], *, timeout: float | None = None
    ) -> Reply:
        """Sends the request and waits for the start of its answer (raising its error, if it is
        one); the answer can then be read whole (`result`) or as it arrives (`pieces`)."""
        payload = (
            body.model_dump_json(exclude_none=True).encode()
            if isinstance(body, BaseModel)
            else dumps(dict(body))
        )
        inbox, queue = await self._mux.open()
        reply = Reply(self._mux, self._nc, inbox, queue, timeout or self._timeout)
        try:
            await self._nc.publish(
                subject, payload, reply=inbox, headers={REPLY_CHUNKS_HEADER: CHUNK_PROTOCOL}
            )
            await reply.start(subject)
        except ChunkError as exc:
            reply.close()
            raise ServiceError(exc.code, exc.message) from None
        except BaseException:
            reply.close()
            raise
        return reply

    async def stream(self, reply: Reply) -> AsyncIterator[bytes]:
        """The pieces of an opened answer, with a broken stream raised as a ServiceError."""
        try:
            async for piece in reply.pieces():
                yield piece
        except ChunkError as exc:
            raise ServiceError(exc.code, exc.message) from None
        finally:
            reply.close()
