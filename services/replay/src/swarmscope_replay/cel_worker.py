"""The CEL sandbox: a child process that compiles and evaluates breakpoint and watch expressions.

The evaluator is native code that Python cannot interrupt, so evaluation happens here, in a process
the service can kill: the parent waits for each answer with a time limit and kills this process
when it is late. The address space is capped (RLIMIT_AS), so an expression that builds huge
values dies here with an allocation failure instead of exhausting the machine. Expressions are
compiled here too, so even a parser crash cannot reach the service.

Frames on stdin/stdout: a 4-byte big-endian length, then a JSON object. Requests:
- compile {expressions}             → {errors: [message or null], details: [{message, column,
                                       variables}]}: the uncut message and column of each error,
                                       the variables each expression reads
- watch {state}                     → one {index, value | error} per compiled expression, then {done}
- begin {state}                     → {ok}; the state a scan starts from
- scan {events, mode, eval_from}    → {progress} at most every 50 ms, then {done, hit, errors, error}
  Each event is folded into the state and the conditions evaluated over `event` and the state
  after it; mode `first` stops at the first hit, `last` evaluates every event and keeps the last.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime
import importlib.machinery
import importlib.util
import re
import resource
import signal
import struct
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import orjson

from swarmscope_replay.projection import Path as StatePath
from swarmscope_replay.projection import project, referenced_paths
from swarmscope_replay.reducer import Writer, apply


def _load_cel() -> ModuleType:
    """The compiled evaluator alone: the `cel` package's __init__ also imports its interactive CLI
    (prompt_toolkit), which would double the start-up time of every worker."""
    spec = importlib.util.find_spec("cel")
    if spec is not None and spec.submodule_search_locations:
        for directory in spec.submodule_search_locations:
            for library in sorted(Path(directory).glob("cel.*.so")):
                loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(library))
                module_spec = importlib.util.spec_from_loader("cel.cel", loader)
                if module_spec is None:
                    continue
                module = importlib.util.module_from_spec(module_spec)
                loader.exec_module(module)
                return module
    import cel

    return cel


cel = _load_cel()

PROGRESS_EVERY_SECONDS = 0.05
MAX_VALUE_BYTES = 256 * 1024
_HEADER = struct.Struct(">I")


def to_json_value(value: Any) -> Any:
    """A CEL result as JSON: timestamps as ISO 8601, durations in seconds, bytes as text/base64."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, cel.OptionalValue):
        return to_json_value(value.value()) if value.has_value() else None
    return str(value)


def describe_error(exc: BaseException) -> str:
    """A one-line reason an evaluation failed."""
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0]!r}" if exc.args else "no such key"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


_POSITION = re.compile(r"<input>:(\d+):(\d+):")


def compile_error_details(exc: BaseException) -> dict[str, Any]:
    """A compile error as the person typing the expression wants it: the parser's message with its
    caret lines (not squeezed onto one line), and the column it points at."""
    text = str(exc).strip() or type(exc).__name__
    position = _POSITION.search(text)
    if position is not None:
        # "Failed to parse expression '…': ERROR: <input>:1:14: Syntax error: …" → "Syntax error: …"
        text = text[position.end() :].strip()
    return {
        "message": text[:4000],
        "column": int(position.group(2)) if position else None,
        "variables": [],
    }


class Sandbox:
    """The worker's compiled programs and scan state."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._programs: list[Any] = []
        self._state_paths: list[StatePath] | None = []
        self._event_paths: list[StatePath] | None = []
        self._state: dict[str, Any] = {}
        self._writer = Writer()

    def send(self, message: dict[str, Any]) -> None:
        body = orjson.dumps(message)
        self._out.write(_HEADER.pack(len(body)) + body)
        self._out.flush()

    def compile(self, expressions: list[str]) -> None:
        errors: list[str | None] = []
        details: list[dict[str, Any]] = []
        self._programs = []
        for source in expressions:
            try:
                program = cel.compile(source)
                self._programs.append(program)
                errors.append(None)
                details.append({"message": None, "column": None, "variables": list(program.variables())})
            except Exception as exc:
                self._programs.append(None)
                errors.append(describe_error(exc))
                details.append(compile_error_details(exc))
        compiled = [s for s, p in zip(expressions, self._programs, strict=True) if p is not None]
        self._state_paths = referenced_paths(compiled, "state")
        self._event_paths = referenced_paths(compiled, "event")
        self.send({"errors": errors, "details": details})

    def watch(self, state: dict[str, Any]) -> None:
        context = {"state": project(state, self._state_paths)}
        for index, program in enumerate(self._programs):
            if program is None:
                continue
            try:
                value = to_json_value(program.execute(context))
                size = len(orjson.dumps(value))
                if size > MAX_VALUE_BYTES:
                    self.send(
                        {
                            "index": index,
                            "error": f"value is {size} bytes, more than the {MAX_VALUE_BYTES} allowed; "
                            "watch a narrower expression",
                        }
                    )
                else:
                    self.send({"index": index, "value": value})
            except Exception as exc:
                self.send({"index": index, "error": describe_error(exc)})
        self.send({"done": True})

    def begin(self, state: dict[str, Any]) -> None:
        self._state = state
        self._writer = Writer()
        self.send({"ok": True})

    def scan(self, events: list[dict[str, Any]], mode: str, eval_from: int) -> None:
        hit: list[int] | None = None
        errors = 0
        first_error: str | None = None
        evaluated = 0
        last_frame = time.monotonic()
        for index, event in enumerate(events):
            self._state = apply(self._writer, self._state, event)
            if index < eval_from:
                continue
            context = {
                "event": project(event, self._event_paths),
                "state": project(self._state, self._state_paths),
            }
            evaluated += 1
            for position, program in enumerate(self._programs):
                try:
                    result = program.execute(context)
                except Exception as exc:
                    errors += 1
                    first_error = first_error or describe_error(exc)
                    continue
                if result is True:
                    hit = [index, position]
                    break
                if not isinstance(result, bool):
                    errors += 1
                    first_error = (
                        first_error or f"condition {position} gave {type(result).__name__}, not bool"
                    )
            if hit is not None and mode == "first":
                break
            now = time.monotonic()
            if now - last_frame >= PROGRESS_EVERY_SECONDS:
                self.send({"progress": index + 1})
                last_frame = now
        self.send({"done": evaluated, "hit": hit, "errors": errors, "error": first_error})


def _read(stream: BinaryIO) -> dict[str, Any] | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (length,) = _HEADER.unpack(header)
    body = stream.read(length)
    if len(body) < length:
        return None
    message = orjson.loads(body)
    return message if isinstance(message, dict) else None


def _limit_resources(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    # Die with the service, even if it is killed with -9 while an evaluation runs here.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main() -> None:
    memory_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    _limit_resources(memory_mb)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the service; it stops us.
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sandbox = Sandbox(stdout)
    sandbox.send({"ready": True})
    while True:
        request = _read(stdin)
        if request is None:
            return
        op = request.get("op")
        if op == "compile":
            sandbox.compile([str(e) for e in request.get("expressions", [])])
        elif op == "watch":
            sandbox.watch(request.get("state") or {})
        elif op == "begin":
            sandbox.begin(request.get("state") or {})
        elif op == "scan":
            sandbox.scan(
                request.get("events") or [],
                str(request.get("mode", "first")),
                int(request.get("eval_from", 0)),
            )
        else:
            sandbox.send({"fatal": f"unknown op {op!r}"})


if __name__ == "__main__":
    main()
