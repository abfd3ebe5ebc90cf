"""Request-reply over NATS: serving `swarmscope.<service>.<op>` and calling it.

Servers join a queue group per service, so replicas share the load. Every reply is the envelope of
swarmscope_schema.requests; a handler signals an expected failure by raising ServiceError, and any
other exception becomes an `internal` error whose details stay in the server's log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from prometheus_client import CollectorRegistry, Histogram
from pydantic import BaseModel, ValidationError

from swarmscope_schema.codec import dumps, loads
from swarmscope_schema.requests import ErrorCode, error_reply, ok_reply

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

    async def start(self) -> None:
        for op in self._operations:
            sub = await self._nc.subscribe(f"{self._prefix}.{op}", queue=self._queue, cb=self._on_message)
            self._subs.append(sub)
        await self._nc.flush()

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
        async with self._limit:
            try:
                reply = ok_reply(await self._dispatch(op, msg.data))
            except ServiceError as exc:
                outcome = exc.code.value
                reply = error_reply(exc.code, exc.message)
            except Exception:
                outcome = "internal"
                log.exception("request failed", extra={"op": op})
                reply = error_reply(ErrorCode.INTERNAL, f"{op} failed; see the service log")
        body = dumps(reply)
        if len(body) > self._nc.max_payload:
            outcome = "too_large"
            body = dumps(
                error_reply(
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    f"the answer ({len(body)} bytes) exceeds the NATS max payload; ask for less",
                )
            )
        self._seconds.labels(op, outcome).observe(time.perf_counter() - started)
        if msg.reply:
            try:
                await msg.respond(body)
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
    """Calls ops of another service and unwraps the envelope."""

    def __init__(self, nc: NatsClient, *, timeout: float = 5.0) -> None:
        self._nc = nc
        self._timeout = timeout

    async def call(
        self, subject: str, body: BaseModel | Mapping[str, Any], *, timeout: float | None = None
    ) -> Any:
        """The `result` of the op; raises ServiceError with the op's error, or `unavailable` /
        `timeout` when nobody answers."""
        payload = (
            body.model_dump_json(exclude_none=True).encode()
            if isinstance(body, BaseModel)
            else dumps(dict(body))
        )
        try:
            msg = await self._nc.request(subject, payload, timeout=timeout or self._timeout)
        except NoRespondersError:
            raise ServiceError(ErrorCode.UNAVAILABLE, f"no service answers {subject}") from None
        except (NatsTimeoutError, TimeoutError):
            raise ServiceError(ErrorCode.TIMEOUT, f"{subject} did not answer in time") from None
        reply = loads(msg.data)
        if not isinstance(reply, dict):
            raise ServiceError(ErrorCode.INTERNAL, f"{subject} answered something that is not an envelope")
        if reply.get("ok"):
            return reply.get("result")
        error = reply.get("error") or {}
        try:
            code = ErrorCode(error.get("code", "internal"))
        except ValueError:
            code = ErrorCode.INTERNAL
        raise ServiceError(code, str(error.get("message", "unknown error")))
