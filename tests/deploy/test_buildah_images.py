"""The service images, built by a real image builder and run: Debian's buildah (vfs storage, chroot
isolation: no daemon, no privileges beyond this sandbox's root) builds services/Dockerfile for each
service, then each image's own Entrypoint, Env, User and WorkingDir run with `buildah run` against
a real NATS, Postgres and Redis: `migrate` exits 0, /readyz and the image's HEALTHCHECK pass, an
event posted to the gateway comes back from the store, SIGTERM drains each to exit 0.

The two base images cannot be pulled here (no registry but PyPI, Debian and npm is reachable), so
stand-ins are built first: python:3.11-slim-bookworm as Debian bookworm (debootstrap, minbase,
python3 = 3.11) with `python` linked to it, and ghcr.io/astral-sh/uv as the `uv` and `uvx`
binaries of the uv wheel from PyPI, at this machine's uv version. This sandbox reaches PyPI through
a TLS proxy, so the Python stand-in also carries the host's CA bundle (SSL_CERT_FILE).

Slow (minutes: a Debian root, four image builds) and it needs buildah and debootstrap, so it is not
part of `make test`: `make images` installs both and runs it (marker `images`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from swarmscope_deploy_support import (
    DEFAULT_PORTS,
    ROOT,
    SERVICE_DOCKERFILE,
    SERVICES,
    image_settings,
    service_build_args,
)

from swarmscope_dev.nats_server import free_port, start_nats_server

# Four image builds on vfs storage take minutes on this machine: beyond the suite's per-test limit.
pytestmark = [pytest.mark.images, pytest.mark.slow, pytest.mark.timeout(3600)]

HOME = ROOT / ".data" / "tools" / "images"
BASE_PYTHON = "localhost/swarmscope-base/python:3.11-bookworm"
BASE_UV = "localhost/swarmscope-base/uv"
READY_WITHIN = 180.0  # a bound on waiting, not a measured duration


def _buildah(*args: str, check: bool = True, timeout: float = 1800) -> str:
    command = [
        "buildah",
        "--root",
        str(HOME / "storage"),
        "--runroot",
        str(HOME / "run"),
        "--storage-driver",
        "vfs",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout.strip()


def _image_exists(name: str) -> bool:
    return bool(_buildah("images", "--quiet", name, check=False))


def _python_base() -> None:
    if _image_exists(BASE_PYTHON):
        return
    rootfs = HOME / "bookworm"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,ca-certificates",
                "bookworm",
                str(rootfs),
            ],
            check=True,
            capture_output=True,
            timeout=1800,
        )
    container = _buildah("from", "scratch")
    _buildah("copy", container, str(rootfs), "/")
    _buildah("copy", container, "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt")
    _buildah(
        "run",
        "--isolation",
        "chroot",
        container,
        "--",
        "ln",
        "-sf",
        "/usr/bin/python3",
        "/usr/local/bin/python",
    )
    _buildah(
        "config",
        "--env",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--env",
        "LANG=C.UTF-8",
        "--env",
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
        container,
    )
    _buildah("commit", "--rm", container, BASE_PYTHON)


def _uv_base(tmp: Path) -> str:
    uv = shutil.which("uv")
    assert uv is not None
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    name = f"{BASE_UV}:{version}"
    if _image_exists(name):
        return name
    # The uv package from PyPI, its binaries as the uv image has them (/uv, /uvx).
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--target", str(tmp / "package"), f"uv=={version}"],
        check=True,
        timeout=600,
    )
    for binary in ("uv", "uvx"):
        shutil.copy(tmp / "package" / "bin" / binary, tmp / binary)
    container = _buildah("from", "scratch")
    _buildah("copy", container, str(tmp / "uv"), str(tmp / "uvx"), "/")
    _buildah("commit", "--rm", container, name)
    return name


def _config(image: str) -> dict[str, object]:
    inspected = json.loads(_buildah("inspect", "--type", "image", image))
    config: dict[str, object] = inspected["Docker"]["config"]
    return config


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    for tool in ("buildah", "debootstrap"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make images installs Debian's buildah and debootstrap)")
    HOME.mkdir(parents=True, exist_ok=True)
    _python_base()
    uv_image = _uv_base(tmp_path_factory.mktemp("uv"))
    images = {}
    for service in SERVICES:
        tag = f"localhost/swarmscope/{service}:test"
        args = [f"--build-arg={k}={v}" for k, v in service_build_args(service).items()]
        _buildah(
            "bud",
            "--isolation",
            "chroot",
            "--format",
            "docker",
            f"--build-arg=PYTHON_IMAGE={BASE_PYTHON}",
            f"--build-arg=UV_IMAGE={uv_image}",
            *args,
            "-f",
            str(SERVICE_DOCKERFILE),
            "-t",
            tag,
            str(ROOT),
        )
        images[service] = tag
    return images


@dataclass
class Running:
    service: str
    container: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path


def _start(
    image: str, settings: dict[str, str], args: list[str], log: Path
) -> tuple[str, subprocess.Popen[bytes]]:
    config = _config(image)
    container = _buildah("from", image)
    env = [f"--env={k}={v}" for k, v in settings.items()]
    command = [*config["Entrypoint"], *args]  # type: ignore[misc]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                "buildah",
                "--root",
                str(HOME / "storage"),
                "--runroot",
                str(HOME / "run"),
                "--storage-driver",
                "vfs",
                "run",
                "--isolation",
                "chroot",
                *env,
                container,
                "--",
                *command,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return container, process


def _service_process(parent: int, service: str) -> int | None:
    """The pid of the image's python process under `buildah run` (chroot isolation: a host process)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid_chain = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"-m" in cmdline and f"swarmscope_{service}".encode() in cmdline:
            pid = int(entry.name)
            while ppid_chain > 1:
                if ppid_chain == parent:
                    return pid
                try:
                    ppid_chain = int(
                        (Path("/proc") / str(ppid_chain) / "stat").read_text().rsplit(")", 1)[1].split()[1]
                    )
                except OSError:
                    break
    return None


def test_buildah_built_images_start_and_work_against_real_servers(
    built: dict[str, str], tmp_path: Path, fresh_postgres_url: str, redis_url: str
) -> None:
    nats = start_nats_server(tmp_path / "nats")
    running: list[Running] = []
    try:
        container, migrate = _start(
            built["store"],
            image_settings("migrate", nats.url, fresh_postgres_url, redis_url, 0),
            ["migrate"],
            tmp_path / "migrate.log",
        )
        assert migrate.wait(timeout=300) == 0, (tmp_path / "migrate.log").read_text()
        _buildah("rm", container)
        for service in SERVICES:
            port = free_port()
            settings = image_settings(service, nats.url, fresh_postgres_url, redis_url, port)
            container, process = _start(built[service], settings, [], tmp_path / f"{service}.log")
            running.append(Running(service, container, process, port, tmp_path / f"{service}.log"))
            deadline = time.monotonic() + READY_WITHIN
            while True:
                assert process.poll() is None, (tmp_path / f"{service}.log").read_text()[-3000:]
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (
                    f"{service} not ready:\n" + (tmp_path / f"{service}.log").read_text()[-3000:]
                )
                time.sleep(0.3)
            # The image runs as its USER, not root.
            pid = _service_process(process.pid, service)
            assert pid is not None, f"no {service} process under buildah run"
            uids = next(
                line
                for line in (Path("/proc") / str(pid) / "status").read_text().splitlines()
                if line.startswith("Uid:")
            )
            assert uids.split()[1] == "10001", uids
            # The image's own HEALTHCHECK, run inside it.
            config = _config(built[service])
            test = config["Healthcheck"]["Test"]  # type: ignore[index]
            assert test[0] == "CMD"
            env = [f"--env={k}={v}" for k, v in settings.items()]
            _buildah("run", "--isolation", "chroot", *env, container, "--", *test[1:], timeout=60)
            assert config["ExposedPorts"] == {f"{DEFAULT_PORTS[service]}/tcp": {}}

        gateway = next(r for r in running if r.service == "gateway")
        event = {
            "id": "buildah-e1",
            "timestamp": time.time() * 1000,
            "session_id": "buildah-smoke",
            "type": "session_start",
            "data": {},
        }
        response = httpx.post(f"http://127.0.0.1:{gateway.port}/api/v1/ingest", json=event, timeout=10)
        assert response.status_code in (200, 202), response.text
        deadline = time.monotonic() + READY_WITHIN
        ids: list[str] = []
        while "buildah-e1" not in ids and time.monotonic() < deadline:
            page = httpx.get(
                f"http://127.0.0.1:{gateway.port}/api/v1/sessions/buildah-smoke/events", timeout=10
            )
            if page.status_code == 200:
                ids = [e["id"] for e in page.json().get("events", page.json().get("items", []))]
            time.sleep(0.3)
        assert "buildah-e1" in ids
    finally:
        codes = {}
        for r in reversed(running):
            pid = _service_process(r.process.pid, r.service)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
            else:
                r.process.send_signal(signal.SIGTERM)
            codes[r.service] = r.process.wait(timeout=90)
            _buildah("rm", r.container, check=False)
        nats.stop()
    failed = {r.service: r.log.read_text()[-2000:] for r in running if codes[r.service] != 0}
    assert not failed, failed
    assert set(codes) == set(SERVICES)
