"""Sandboxed CEL for breakpoints and watches: limits, and a pool of worker processes.

Limits: at most MAX_EXPRESSIONS expressions of at most MAX_EXPRESSION_CHARS characters each
(checked before anything runs); every answer of a worker within the evaluation time limit (the
worker answers at least every 50 ms while it scans, so a late answer means one evaluation ran too
long), else the worker is killed; a capped address space per worker; results of at most 256 KiB.
A worker that is killed or dies is replaced; the service itself never waits on an evaluation
without a deadline. Expressions are compiled once per request, in the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_schema.requests import MAX_EXPRESSION_CHARS, MAX_EXPRESSIONS

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
_START_TIMEOUT = 30.0


class ExpressionError(Exception):
    """An expression that is invalid, too big, too slow or too hungry (→ `expression_error`)."""


class WorkerLost(Exception):
    """The worker was killed (time limit) or died (memory limit, crash)."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def check_expressions(expressions: Sequence[str], what: str = "expression") -> None:
    """Raises ExpressionError unless there are 1..MAX_EXPRESSIONS non-empty, short enough texts."""
    if not expressions:
        raise ExpressionError(f"give at least one {what}")
    if len(expressions) > MAX_EXPRESSIONS:
        raise ExpressionError(f"at most {MAX_EXPRESSIONS} {what}s per request, got {len(expressions)}")
    for index, source in enumerate(expressions):
        if not source.strip():
            raise ExpressionError(f"{what} {index} is empty")
        if len(source) > MAX_EXPRESSION_CHARS:
            raise ExpressionError(
                f"{what} {index} has {len(source)} characters, more than the {MAX_EXPRESSION_CHARS} allowed"
            )


@dataclass(frozen=True, slots=True)
class Compiled:
    """What compiling one expression found."""

    error: str | None
    message: str | None
    column: int | None
    variables: list[str]


@dataclass(frozen=True, slots=True)
class ScanResult:
    evaluated: int
    hit_index: int | None
    condition_index: int | None
    errors: int
    first_error: str | None


class Worker:
    """One sandbox process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.healthy = True

    @classmethod
    async def start(cls, memory_mb: int) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "swarmscope_replay.cel_worker",
            str(memory_mb),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(process)
        try:
            await worker.receive(_START_TIMEOUT)
        except WorkerLost:
            await worker.kill()
            raise
        return worker

    async def send(self, message: dict[str, Any]) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        body = orjson.dumps(message)
        try:
            stdin.write(_HEADER.pack(len(body)) + body)
            await stdin.drain()
        except (ConnectionError, BrokenPipeError) as exc:
            self.healthy = False
            raise WorkerLost("the expression worker stopped", timed_out=False) from exc

    async def receive(self, timeout: float) -> dict[str, Any]:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            async with asyncio.timeout(max(timeout, 0.001)):
                header = await stdout.readexactly(_HEADER.size)
                (length,) = _HEADER.unpack(header)
                body = await stdout.readexactly(length)
        except TimeoutError:
            await self.kill()
            raise WorkerLost("evaluation time limit exceeded", timed_out=True) from None
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.kill()
            raise WorkerLost("the expression worker stopped", timed_out=False) from None
        message = orjson.loads(body)
        if not isinstance(message, dict):
            await self.kill()
            raise WorkerLost("the expression worker answered garbage", timed_out=False)
        return message

    async def kill(self) -> None:
        self.healthy = False
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        await self._process.wait()

    async def close(self) -> None:
        """Stops the worker: end of input, then kill if it does not exit at once."""
        if self._process.returncode is None and self._process.stdin is not None:
            self._process.stdin.close()
            try:
                async with asyncio.timeout(2.0):
                    await self._process.wait()
            except TimeoutError:
                pass
        await self.kill()


class ExpressionSession:
    """One request's use of a worker. Methods raise ExpressionError on limits."""

    def __init__(self, pool: ExpressionPool, worker: Worker) -> None:
        self._pool = pool
        self.worker = worker

    @property
    def timeout(self) -> float:
        return self._pool.timeout

    async def _replace(self) -> None:
        await self.worker.kill()
        self.worker = await self._pool.spawn()

    async def compile(self, expressions: Sequence[str]) -> list[str | None]:
        """Compiles in the worker; the compile error of each expression (None when it compiled)."""
        return [c.error for c in await self.compile_details(expressions)]

    async def compile_details(self, expressions: Sequence[str]) -> list[Compiled]:
        """Compiles in the worker; for each expression its error (one line), the parser's uncut
        message and column, and the variables it reads."""
        try:
            await self.worker.send({"op": "compile", "expressions": list(expressions)})
            reply = await self.worker.receive(self.timeout + 1.0)
        except WorkerLost as exc:
            self._pool.count_failure(exc)
            raise ExpressionError(f"compiling the expressions failed: {exc}") from None
        errors = reply.get("errors")
        details = reply.get("details")
        if not isinstance(errors, list) or len(errors) != len(expressions):
            raise ExpressionError("compiling the expressions failed")
        if not isinstance(details, list) or len(details) != len(expressions):
            details = [{} for _ in expressions]
        out: list[Compiled] = []
        for error, detail in zip(errors, details, strict=True):
            detail = detail if isinstance(detail, dict) else {}
            column = detail.get("column")
            variables = detail.get("variables")
            out.append(
                Compiled(
                    error=str(error) if error is not None else None,
                    message=str(detail.get("message") or error) if error is not None else None,
                    column=column if isinstance(column, int) else None,
                    variables=[str(v) for v in variables] if isinstance(variables, list) else [],
                )
            )
        return out

    async def watch(self, expressions: Sequence[str], state: dict[str, Any]) -> list[tuple[Any, str | None]]:
        """Values of the expressions over `state`. An expression that fails or breaks a limit gets
        an error; the others are still evaluated (in a new worker when one was stopped)."""
        count = len(expressions)
        results: dict[int, tuple[Any, str | None]] = {}
        for index, error in enumerate(await self.compile(expressions)):
            if error is not None:
                results[index] = (None, f"does not compile: {error}")
        while len(results) < count:
            try:
                await self.worker.send({"op": "watch", "state": state})
                while True:
                    reply = await self.worker.receive(self.timeout)
                    if reply.get("done"):
                        break
                    index = int(reply["index"])
                    if index not in results:
                        results[index] = (reply.get("value"), reply.get("error"))
            except WorkerLost as exc:
                self._pool.count_failure(exc)
                # The worker answers in order, so the first unanswered expression is the culprit.
                culprit = min(i for i in range(count) if i not in results)
                results[culprit] = (None, self._pool.describe(exc))
                await self._replace()
                if len(results) < count:
                    # Answered ones become `null`, so the indexes of the rest stay the same.
                    await self.compile(["null" if i in results else expressions[i] for i in range(count)])
                continue
            for index in range(count):
                results.setdefault(index, (None, "no value"))
        return [results[i] for i in range(count)]

    async def begin(self, state: dict[str, Any]) -> None:
        try:
            await self.worker.send({"op": "begin", "state": state})
            await self.worker.receive(self.timeout + 5.0)
        except WorkerLost as exc:
            self._pool.count_failure(exc)
            raise ExpressionError(f"starting the scan failed: {self._pool.describe(exc)}") from None

    async def scan(
        self, events: Sequence[dict[str, Any]], *, mode: str, eval_from: int = 0, deadline: float
    ) -> ScanResult:
        """Folds `events` into the worker's state, evaluating the conditions from `eval_from` on."""
        progress = 0
        try:
            await self.worker.send(
                {"op": "scan", "events": list(events), "mode": mode, "eval_from": eval_from}
            )
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    await self.worker.kill()
                    raise ScanDeadline(progress)
                reply = await self.worker.receive(min(self.timeout + 0.05, remaining))
                if "progress" in reply:
                    progress = int(reply["progress"])
                    continue
                hit = reply.get("hit")
                return ScanResult(
                    evaluated=int(reply.get("done") or 0),
                    hit_index=int(hit[0]) if hit else None,
                    condition_index=int(hit[1]) if hit else None,
                    errors=int(reply.get("errors") or 0),
                    first_error=reply.get("error"),
                )
        except WorkerLost as exc:
            if time.monotonic() >= deadline:
                raise ScanDeadline(progress) from None
            self._pool.count_failure(exc)
            where = events[min(progress, len(events) - 1)].get("seq") if events else None
            raise ExpressionError(f"{self._pool.describe(exc)} (at seq {where})") from None


class ScanDeadline(Exception):
    """The whole search ran out of time (not one evaluation)."""

    def __init__(self, progress: int) -> None:
        super().__init__(f"scan deadline reached after {progress} events of the page")
        self.progress = progress


class ExpressionPool:
    """A few warm workers, checked out one per request."""

    def __init__(self, size: int, *, timeout: float, memory_mb: int, metrics: ReplayMetrics) -> None:
        self.timeout = timeout
        self._memory_mb = memory_mb
        self._metrics = metrics
        self._idle: list[Worker] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def spawn(self) -> Worker:
        try:
            return await Worker.start(self._memory_mb)
        except WorkerLost as exc:
            raise ExpressionError(f"the expression sandbox could not start: {exc}") from None

    def describe(self, exc: WorkerLost) -> str:
        if exc.timed_out:
            return f"evaluation exceeded the {self.timeout:g} s time limit and was stopped"
        return f"evaluation stopped: the sandbox died (memory limit of {self._memory_mb} MiB or a crash)"

    def count_failure(self, exc: WorkerLost) -> None:
        self._metrics.expression_failures.labels("timeout" if exc.timed_out else "crash").inc()

    async def warm(self) -> None:
        """Starts one worker ahead of the first request."""
        worker = await self.spawn()
        if self._closed:
            await worker.close()
            return
        self._idle.append(worker)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[ExpressionSession]:
        """A worker for the duration of one request."""
        if self._closed:
            raise ExpressionError("the expression sandbox is shutting down")
        async with self._slots:
            worker = self._idle.pop() if self._idle else await self.spawn()
            session = ExpressionSession(self, worker)
            try:
                yield session
            except BaseException:
                await session.worker.kill()
                raise
            if session.worker.healthy and not self._closed:
                self._idle.append(session.worker)
            else:
                await session.worker.kill()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in idle:
            await worker.close()
