"""`swarmscope hook`: the command Claude Code runs from its hooks, one process per hook call.

Claude Code writes the hook's JSON on stdin and waits for the command. So this command must never
get in Claude Code's way: it prints nothing on stdout (Claude Code adds a SessionStart or
UserPromptSubmit hook's stdout to the model's context), always exits 0 (exit code 2 would block the
tool call or the prompt), and finishes within a bound (`timeout`, 2 s by default) whatever the
network does. What goes wrong goes to a log file instead.

One call: read the payload, map it with `swarmscope_schema.claude_code.map_hook` (the one mapping,
which the TypeScript bin shares) under the session's lock, publish the events over NATS (or HTTP to
the gateway), and keep the state the mapping needs between calls (the open prompt, open tool uses,
subagents) in a small file per session. Events that could not be sent in time are spooled in that
file and sent, with the same ids (so nothing is stored twice), by the session's next hook call or by
`swarmscope hook --flush`. The lock also keeps the calls of one session in order: Claude Code may
run hooks of parallel tool uses at once, and PostToolUse must not overtake its PreToolUse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from swarmscope import local_stack
from swarmscope.buffer import PRIORITY_RANK
from swarmscope.encoding import Encoded, EventEncoder
from swarmscope.ids import IdGenerator
from swarmscope.transport import OK, RETRY, HttpTransport, NatsTransport, Transport
from swarmscope_schema.claude_code import HookPayloadError, map_hook, new_state, safe_name, session_over
from swarmscope_schema.codec import MAX_EVENT_BYTES

ENV_STATE_DIR = "SWARMSCOPE_HOOK_STATE_DIR"
ENV_LOG = "SWARMSCOPE_HOOK_LOG"
ENV_TIMEOUT = "SWARMSCOPE_HOOK_TIMEOUT"
DEFAULT_TIMEOUT = 2.0
# A hook payload carries a tool's whole response (a file read, a command's output): generous, bounded.
MAX_INPUT_BYTES = 64 * 1024 * 1024
# Events kept for a later send while NATS or the gateway is away, per session; the oldest go first.
MAX_SPOOLED_EVENTS = 5000
# Rejected inputs kept for a person to look at (newest), and the log's size before it rotates.
MAX_REJECTED_FILES = 20
MAX_LOG_BYTES = 1024 * 1024
# A state file untouched this long belongs to a session that ended without SessionEnd.
STALE_SECONDS = 7 * 24 * 3600

log = logging.getLogger("swarmscope.hook")


def default_state_dir() -> Path:
    """`$SWARMSCOPE_HOOK_STATE_DIR`, else `$XDG_STATE_HOME/swarmscope/claude-code` (`~/.local/state/…`)."""
    explicit = os.environ.get(ENV_STATE_DIR)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "swarmscope" / "claude-code"


@dataclass(frozen=True)
class HookOptions:
    """Where one hook call publishes and keeps its state; see `resolve_options` for the defaults."""

    state_dir: Path
    log_path: Path
    timeout: float
    nats_url: str | None
    gateway_url: str | None
    api_key: str | None


def resolve_options(
    *,
    nats_url: str | None = None,
    gateway_url: str | None = None,
    api_key: str | None = None,
    state_dir: str | Path | None = None,
    log_path: str | Path | None = None,
    timeout: float | None = None,
) -> HookOptions:
    """The options of a hook call: what was given, else the environment, else the running `make run`.

    The transport is NATS when a NATS URL is given or `$SWARMSCOPE_NATS_URL` is set; else HTTP when a
    gateway URL is given or `$SWARMSCOPE_GATEWAY_URL` is set (API key `$SWARMSCOPE_API_KEY`); else
    the NATS of the `make run` found from the working directory, else the default NATS URL.
    """
    directory = Path(state_dir) if state_dir is not None else default_state_dir()
    log_file = (
        Path(log_path) if log_path is not None else Path(os.environ.get(ENV_LOG) or directory / "hook.log")
    )
    if timeout is None:
        try:
            timeout = float(os.environ.get(ENV_TIMEOUT) or DEFAULT_TIMEOUT)
        except ValueError:
            timeout = DEFAULT_TIMEOUT
    key = api_key if api_key is not None else os.environ.get("SWARMSCOPE_API_KEY")
    if nats_url is None and gateway_url is None:
        if os.environ.get("SWARMSCOPE_NATS_URL"):
            nats_url = os.environ["SWARMSCOPE_NATS_URL"]
        elif os.environ.get("SWARMSCOPE_GATEWAY_URL"):
            gateway_url = os.environ["SWARMSCOPE_GATEWAY_URL"]
        else:
            nats_url = local_stack.nats_url()
    return HookOptions(directory, log_file, max(0.1, timeout), nats_url, gateway_url, key or None)


# ------------------------------------------------------------------------------------------ log --


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """Log records of this call go to `path` (rotated once past MAX_LOG_BYTES), nowhere else."""
    handler: logging.Handler
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size > MAX_LOG_BYTES:
                path.replace(path.with_name(path.name + ".1"))
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        # Nowhere to log: stay silent rather than fail the hook.
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s pid=%(process)d %(message)s"))
    targets = [logging.getLogger("swarmscope.hook"), logging.getLogger("swarmscope")]
    saved = [(t, t.level, t.propagate) for t in targets]
    for target in targets:
        target.addHandler(handler)
        target.setLevel(logging.INFO)
        target.propagate = False
    try:
        yield
    finally:
        for target, level, propagate in saved:
            target.removeHandler(handler)
            target.setLevel(level)
            target.propagate = propagate
        handler.close()


# ---------------------------------------------------------------------------------------- input --


class HookInputError(ValueError):
    """The hook's stdin could not be read as one JSON object in time."""


def read_input(stream: IO[bytes], deadline: float, limit: int = MAX_INPUT_BYTES) -> bytes:
    """All of `stream` until EOF, waiting no later than `deadline` (time.monotonic) and reading at
    most `limit` bytes; raises HookInputError otherwise."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise HookInputError(f"the hook payload is over {limit} bytes") from None
        return data
    chunks: list[bytes] = []
    size = 0
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise HookInputError(f"stdin did not end in time ({size} bytes read)")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise HookInputError(f"the hook payload is over {limit} bytes")
            chunks.append(chunk)


def _keep_rejected(state_dir: Path, raw: bytes, reason: str) -> Path | None:
    """Keeps an input the hook could not use (the newest MAX_REJECTED_FILES), so nothing is lost."""
    folder = state_dir / "rejected"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{time.time_ns()}-{os.getpid()}.json"
        path.write_bytes(raw)
        path.with_suffix(".why").write_text(reason + "\n", encoding="utf-8")
        kept = sorted(folder.glob("*.json"))
        for old in kept[:-MAX_REJECTED_FILES]:
            old.unlink(missing_ok=True)
            old.with_suffix(".why").unlink(missing_ok=True)
        return path
    except OSError as exc:
        log.error("cannot keep the rejected input in %s: %r", folder, exc)
        return None


# ---------------------------------------------------------------------------------------- state --


class SessionFile:
    """A session's file: `{"state": <claude_code state> | null, "pending": [events not sent yet]}`,
    written atomically, under an exclusive lock (`<file>.lock`) held for the whole hook call."""

    def __init__(self, state_dir: Path, session_id: str) -> None:
        name = safe_name(session_id)
        self.path = state_dir / f"{name}.json"
        self.lock_path = state_dir / f"{name}.lock"
        self.state: dict[str, Any] = new_state()
        self.pending: list[dict[str, Any]] = []
        self._lock_fd: int | None = None

    def lock(self, deadline: float) -> bool:
        """Takes the session's lock, waiting until `deadline`; False when it could not."""
        try:
            import fcntl
        except ImportError:  # no POSIX locks (Windows): calls of one session are not serialized
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock_fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.005)

    def unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    def load(self) -> None:
        try:
            body = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as exc:
            # A damaged file (a disk full mid-write cannot do it: writes are atomic) starts afresh.
            log.error("unreadable state %s (%r); starting the session's state afresh", self.path, exc)
            return
        if isinstance(body, dict):
            if isinstance(body.get("state"), dict):
                self.state = body["state"]
            pending = body.get("pending")
            if isinstance(pending, list):
                self.pending = [e for e in pending if isinstance(e, dict)]

    def save(self, *, ended: bool) -> None:
        if len(self.pending) > MAX_SPOOLED_EVENTS:
            dropped = len(self.pending) - MAX_SPOOLED_EVENTS
            log.error("spool of %s full: %d oldest unsent events dropped", self.path.name, dropped)
            self.pending = self.pending[dropped:]
        if ended and not self.pending:
            self.path.unlink(missing_ok=True)
            self.lock_path.unlink(missing_ok=True)
            return
        body = {"state": None if ended else self.state, "pending": self.pending}
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.part")
        partial.write_bytes(orjson.dumps(body))
        partial.replace(self.path)


def _prune_stale(state_dir: Path, now: float) -> None:
    """Removes the files of sessions untouched for STALE_SECONDS that have nothing left to send."""
    with contextlib.suppress(OSError):
        for path in state_dir.glob("*.json"):
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                if now - path.stat().st_mtime > STALE_SECONDS and not orjson.loads(path.read_bytes()).get(
                    "pending"
                ):
                    path.unlink()
                    path.with_suffix(".lock").unlink(missing_ok=True)


# -------------------------------------------------------------------------------------- publish --


def _transport(options: HookOptions) -> Transport:
    if options.nats_url:
        return NatsTransport(options.nats_url, name="swarmscope-hook", connect_timeout=1.0)
    return HttpTransport(options.gateway_url or local_stack.gateway_url(), api_key=options.api_key)


def _rank(event: dict[str, Any]) -> int:
    priority = (event.get("metadata") or {}).get("priority")
    return PRIORITY_RANK.get(priority if isinstance(priority, str) else "normal", PRIORITY_RANK["normal"])


def _too_large_error(event: dict[str, Any], size: int) -> dict[str, Any]:
    """What is sent instead of an event over the 1 MiB limit (CONTRACT §1: refused, never cut)."""
    metadata = event.get("metadata") or {}
    return {
        "id": f"{event['id']}.too-large"[:128],
        "timestamp": event["timestamp"],
        "session_id": event["session_id"],
        **({"agent_id": event["agent_id"]} if event.get("agent_id") else {}),
        "type": "error",
        "data": {
            "message": f"event {event['id']} ({event.get('type')}) is {size} bytes encoded, over the "
            f"{MAX_EVENT_BYTES}-byte limit; the hook did not send it",
            "error_type": "EventTooLarge",
            "scope": "sdk",
            "recoverable": True,
            "dropped_event": {"id": event["id"], "type": event.get("type"), "bytes": size},
        },
        "metadata": {
            "source": metadata.get("source"),
            "tags": metadata.get("tags") or [],
            "priority": "high",
            **(
                {"parent_id": event.get("span_id") or metadata.get("parent_id")}
                if event.get("span_id")
                else {}
            ),
        },
    }


def encode_events(events: Sequence[dict[str, Any]], encoder: EventEncoder) -> list[Encoded]:
    """Wire form of each event, redacted as the SDK does; an event too big to send becomes an error
    event saying so (logged too)."""
    out: list[Encoded] = []
    for event in events:
        encoded = encoder.encode(event, _rank(event))
        if len(encoded.payload) > encoder.max_event_bytes:
            log.error(
                "event %s is %d bytes encoded; sent an EventTooLarge error instead",
                event["id"],
                len(encoded.payload),
            )
            encoded = encoder.encode(_too_large_error(event, len(encoded.payload)), PRIORITY_RANK["high"])
        out.append(encoded)
    return out


async def _send(transport: Transport, batch: list[Encoded], deadline: float) -> list[str]:
    outcomes = [RETRY] * len(batch)
    try:
        await asyncio.wait_for(transport.connect(), max(0.05, deadline - time.monotonic()))
        outcomes = await transport.send(batch, max(0.05, deadline - time.monotonic()))
    except Exception as exc:  # TimeoutError, refused connections: all of it is retried later
        log.warning("cannot publish via %s: %r", transport.description, exc)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(transport.close(), 0.2)
    return outcomes


def publish(events: Sequence[dict[str, Any]], options: HookOptions, deadline: float) -> list[dict[str, Any]]:
    """Sends `events` in order before `deadline`; returns those to send again later (the others were
    stored or refused for good, which is logged)."""
    if not events:
        return []
    encoder = EventEncoder()
    batch = encode_events(events, encoder)
    transport = _transport(options)
    outcomes = asyncio.run(_send(transport, batch, deadline))
    again: list[dict[str, Any]] = []
    for event, encoded, outcome in zip(events, batch, outcomes, strict=True):
        if outcome == RETRY:
            again.append(event)
        elif outcome != OK:
            log.error(
                "%s refused event %s (%s): %s",
                transport.description,
                encoded.event_id,
                encoded.event_type,
                outcome,
            )
    if again:
        log.warning(
            "%d of %d events not sent via %s; spooled for the next call",
            len(again),
            len(events),
            transport.description,
        )
    return again


# ----------------------------------------------------------------------------------------- runs --


def handle(raw: bytes, options: HookOptions, *, started: float, deadline: float) -> None:
    """Maps and publishes one hook payload (`raw`, received at epoch seconds `started`). Raises
    HookPayloadError (or a JSON error) for an unusable payload, after keeping it."""
    try:
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise HookPayloadError(f"not valid JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise HookPayloadError("a hook payload is a JSON object")
        session_id = payload.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            raise HookPayloadError("the hook payload has no session_id")
    except HookPayloadError as exc:
        kept = _keep_rejected(options.state_dir, raw, str(exc))
        raise HookPayloadError(f"{exc} ({len(raw)} bytes; kept in {kept})") from exc
    session = SessionFile(options.state_dir, session_id)
    if not session.lock(deadline):
        kept = _keep_rejected(options.state_dir, raw, "the session's lock was busy until the deadline")
        log.error("session %s busy until the deadline; payload kept in %s", session_id, kept)
        return
    try:
        session.load()
        ids = IdGenerator()
        now = started * 1000.0
        try:
            events = map_hook(payload, session.state, now=now, new_id=lambda: ids.next_id(now))
        except HookPayloadError as exc:
            kept = _keep_rejected(options.state_dir, raw, str(exc))
            raise HookPayloadError(f"{exc} (kept in {kept})") from exc
        ended = session_over(payload)
        # The state is written before the network is tried: a publish cut short by the deadline
        # (or by Claude Code killing the process) leaves the next call a state that is right.
        outgoing = session.pending + events
        session.pending = outgoing
        session.save(ended=False)
        session.pending = publish(outgoing, options, deadline)
        session.save(ended=ended)
    finally:
        session.unlock()


def flush(options: HookOptions, deadline: float) -> tuple[int, int]:
    """Sends what every session's spool holds (`swarmscope hook --flush`): (sent, still spooled)."""
    sent = left = 0
    for path in sorted(options.state_dir.glob("*.json")):
        session = SessionFile(options.state_dir, path.stem)
        if not session.lock(deadline):
            continue
        try:
            session.load()
            if not session.pending:
                continue
            before = len(session.pending)
            session.pending = publish(session.pending, options, deadline)
            sent += before - len(session.pending)
            left += len(session.pending)
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                ended = orjson.loads(path.read_bytes()).get("state") is None
                session.save(ended=ended)
        finally:
            session.unlock()
    return sent, left


def run(stdin: IO[bytes], options: HookOptions) -> int:
    """One `swarmscope hook` call: always 0, whatever happened (see the module docstring)."""
    started = time.time()
    deadline = time.monotonic() + options.timeout
    with _logging_to(options.log_path):
        try:
            raw = read_input(stdin, deadline)
            handle(raw, options, started=started, deadline=deadline)
            _prune_stale(options.state_dir, started)
        except HookInputError as exc:
            log.error("no usable hook payload on stdin: %s", exc)
        except HookPayloadError as exc:
            log.error("bad hook payload: %s", exc)
        except Exception:
            log.exception("hook failed")
    return 0
