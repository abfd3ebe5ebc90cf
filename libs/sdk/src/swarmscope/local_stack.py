"""Where the stack `make run` started is: the state file it writes once every service is ready.

`make run` may put the gateway on another port (`SWARMSCOPE_GATEWAY_PORT`) or use another NATS
(`SWARMSCOPE_NATS_URL`); the CLI run from another terminal of the same checkout should follow it
without being told. So `make run` writes `.data/run.json` (`{gateway_url, nats_url, pid}`) when it
is ready and removes it when it stops, and the CLI's defaults are: the environment variable, else
that file (found from the working directory upwards, while the process that wrote it is alive),
else the fixed default.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from swarmscope.tracer import DEFAULT_GATEWAY_URL, DEFAULT_NATS_URL

STATE_FILE = Path(".data") / "run.json"
ENV_STATE_FILE = "SWARMSCOPE_RUN_STATE"


@dataclass(frozen=True)
class LocalStack:
    """What `make run` said about the stack it runs."""

    gateway_url: str
    nats_url: str | None
    pid: int
    path: Path


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    return True


def write_state(path: Path, *, gateway_url: str, nats_url: str | None, pid: int | None = None) -> None:
    """Writes the state file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    body = {"gateway_url": gateway_url, "nats_url": nats_url, "pid": pid if pid is not None else os.getpid()}
    partial.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    partial.replace(path)


def remove_state(path: Path) -> None:
    """Removes the state file if this process wrote it."""
    with contextlib.suppress(FileNotFoundError, orjson.JSONDecodeError, OSError):
        if orjson.loads(path.read_bytes()).get("pid") == os.getpid():
            path.unlink()


def _candidates(start: Path) -> list[Path]:
    explicit = os.environ.get(ENV_STATE_FILE)
    if explicit:
        return [Path(explicit)]
    start = start.resolve()
    return [directory / STATE_FILE for directory in (start, *start.parents)]


def find_local_stack(start: Path | None = None) -> LocalStack | None:
    """The running `make run` stack of this checkout, or None (no file, or its writer is gone)."""
    for path in _candidates(start or Path.cwd()):
        try:
            body = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if not isinstance(body, dict) or not isinstance(body.get("gateway_url"), str):
            continue
        pid = body.get("pid")
        if not isinstance(pid, int) or not _alive(pid):
            continue
        nats = body.get("nats_url")
        return LocalStack(body["gateway_url"], nats if isinstance(nats, str) else None, pid, path)
    return None


def gateway_url() -> str:
    """`$SWARMSCOPE_GATEWAY_URL`, else the gateway of the running `make run`, else the default."""
    env = os.environ.get("SWARMSCOPE_GATEWAY_URL")
    if env:
        return env
    stack = find_local_stack()
    return stack.gateway_url if stack is not None else DEFAULT_GATEWAY_URL


def nats_url() -> str:
    """`$SWARMSCOPE_NATS_URL`, else the NATS of the running `make run`, else the default."""
    env = os.environ.get("SWARMSCOPE_NATS_URL")
    if env:
        return env
    stack = find_local_stack()
    return stack.nats_url if stack is not None and stack.nats_url else DEFAULT_NATS_URL
