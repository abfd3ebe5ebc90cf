"""A whole swarmscope on one machine, as subprocesses: for end-to-end tests, benches and `make run`.

`LocalStack` starts a nats-server from the wheel (unless given a NATS URL) and any of the services
as `python -m swarmscope_<name>` on free ports, each with its log file under the data directory,
and waits for every `/readyz`. Services are separate processes, as in production, so tests can kill
-9 one of them and restart it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from swarmscope_dev.nats_server import NatsServer, free_port, start_nats_server

SERVICES: tuple[str, ...] = ("ingest", "store", "replay", "gateway")
DEFAULT_PORTS: dict[str, int] = {"gateway": 8000, "ingest": 8101, "store": 8102, "replay": 8103}


def port_env_var(service: str) -> str:
    """The environment variable that sets a service's HTTP port (CONTRACT §7)."""
    return f"SWARMSCOPE_{service.upper()}_PORT"


def wait_ready(url: str, *, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Polls `url` until it answers 200; raises TimeoutError (or RuntimeError if process died)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local URL)
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready within {timeout}s ({last})")


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class LocalStack:
    """Starts and stops a local swarmscope. Use as a context manager or call start()/stop()."""

    data_dir: Path
    services: Sequence[str] = SERVICES
    database_url: str | None = None
    nats_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    ready_timeout: float = 90.0
    nats: NatsServer | None = None
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    # A second instance of a service (a replica) runs under its own name: name -> (service, env).
    instances: dict[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)

    def start(self) -> LocalStack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.nats_url is None:
            self.nats = start_nats_server(self.data_dir / "nats")
            self.nats_url = self.nats.url
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'swarmscope.db'}"
        try:
            for name in self.services:
                self.start_service(name)
            for name in self.services:
                self.wait_service_ready(name)
        except BaseException:
            self.stop()
            raise
        return self

    def service_env(self, name: str, port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "SWARMSCOPE_NATS_URL": str(self.nats_url),
                "SWARMSCOPE_DATABASE_URL": str(self.database_url),
                "SWARMSCOPE_REPLAY_DATABASE_URL": f"sqlite:///{self.data_dir / 'replay.db'}",
                "SWARMSCOPE_LOG_FORMAT": "text",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for other, other_port in self.service_ports().items():
            env[port_env_var(other)] = str(other_port)
        env[port_env_var(name)] = str(port)
        env.update(self.env)
        return env

    def service_ports(self) -> dict[str, int]:
        return {name: proc.port for name, proc in self.processes.items() if name not in self.instances}

    def add_instance(self, name: str, service: str, env: Mapping[str, str]) -> None:
        """Declares `name` as another instance of `service` with its own environment on top."""
        self.instances[name] = (service, dict(env))

    def start_service(self, name: str, *, port: int | None = None) -> ServiceProcess:
        """Starts (or restarts, on the same port) one service; does not wait for readiness."""
        previous = self.processes.get(name)
        port = port or (previous.port if previous else None) or self.ports.get(name) or free_port()
        log_path = self.data_dir / f"{name}.log"
        module, instance_env = self.instances.get(name, (name, {}))
        env = self.service_env(module, port)
        env.update(instance_env)
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", f"swarmscope_{module}"],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        service = ServiceProcess(name=name, port=port, process=process, log_path=log_path)
        self.processes[name] = service
        return service

    def wait_service_ready(self, name: str) -> None:
        service = self.processes[name]
        try:
            wait_ready(f"{service.url}/readyz", timeout=self.ready_timeout, process=service.process)
        except (TimeoutError, RuntimeError) as exc:
            tail = service.log_path.read_text(errors="replace")[-4000:]
            raise RuntimeError(
                f"{name} did not become ready: {exc}\n--- {service.log_path} ---\n{tail}"
            ) from exc

    def restart_service(self, name: str) -> None:
        self.start_service(name)
        self.wait_service_ready(name)

    def kill_service(self, name: str) -> None:
        """kill -9 a service (fault injection)."""
        service = self.processes[name]
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()

    def stop_service(self, name: str, timeout: float = 30.0) -> int | None:
        """SIGTERM a service and wait for its graceful exit; returns its exit code."""
        service = self.processes[name]
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
            try:
                service.process.wait(timeout)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
        return service.process.returncode

    def url(self, name: str) -> str:
        return self.processes[name].url

    @property
    def gateway_url(self) -> str:
        return self.url("gateway")

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop_service(name)
        if self.nats is not None:
            self.nats.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextmanager
def local_stack(data_dir: Path, **kwargs: object) -> Iterator[LocalStack]:
    """A LocalStack for the duration of the block."""
    stack = LocalStack(data_dir=data_dir, **kwargs)  # type: ignore[arg-type]
    with stack:
        yield stack
