"""The images: the one service Dockerfile (built once per service, SERVICE and PORT as build
arguments) and the frontend's follow the shape the brief asks for; tests/deploy/test_images.py
builds and starts them."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from swarmscope_deploy_support import (
    DEFAULT_PORTS,
    ROOT,
    SERVICE_DOCKERFILE,
    SERVICES,
    compose,
    debian_tool,
    dockerfile_env,
    service_build_args,
    settings_class,
    substitute_args,
)


def _workspace_members() -> dict[str, Path]:
    members = {}
    for pyproject in [*ROOT.glob("libs/*/pyproject.toml"), *ROOT.glob("services/*/pyproject.toml")]:
        members[tomllib.loads(pyproject.read_text())["project"]["name"]] = pyproject.parent
    return members


def _closure(package: str) -> set[str]:
    """The workspace members a package needs, itself included."""
    members = _workspace_members()
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        project = tomllib.loads((members[name] / "pyproject.toml").read_text())["project"]
        for requirement in project.get("dependencies", []):
            dep = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()
            if dep in members:
                todo.append(dep)
    return seen


def _instructions(path: Path, args: dict[str, str] | None = None) -> list[tuple[str, str]]:
    text = substitute_args(path.read_text(), args or {}).replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        word, _, rest = stripped.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_service_dockerfile_shape(service: str) -> None:
    path = SERVICE_DOCKERFILE
    args = service_build_args(service)
    # The port compose builds with is the service's own default port.
    assert args == {"SERVICE": service, "PORT": str(DEFAULT_PORTS[service])}
    assert settings_class(service).model_fields[f"{service}_port"].default == DEFAULT_PORTS[service]
    steps = _instructions(path, args)
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) >= 3, "uv image, build stage and runtime stage"
    package = f"swarmscope-{service}"
    runs = [rest for word, rest in steps if word == "RUN"]
    copies = [(i, rest) for i, (word, rest) in enumerate(steps) if word == "COPY"]
    sync_deps = [
        i for i, (word, rest) in enumerate(steps) if word == "RUN" and "--no-install-workspace" in rest
    ]
    assert len(sync_deps) == 1, "one dependency-only layer"
    deps_step = steps[sync_deps[0]][1]
    assert f"uv sync --frozen --no-dev --no-install-workspace --package {package}" in deps_step
    assert "--mount=type=cache,target=/root/.cache/uv" in deps_step
    # The dependency layer sees only the lockfile and the pyproject files, never the source...
    bound = set(re.findall(r"--mount=type=bind,source=([^,]+),target=/src/\1(?:\s|$)", deps_step))
    members = _workspace_members()
    needed = {"uv.lock", "pyproject.toml"} | {
        str((members[m] / "pyproject.toml").relative_to(ROOT)) for m in _closure(package)
    }
    assert bound == needed, f"bind mounts {sorted(bound)} != {sorted(needed)}"
    # ...and comes before any COPY of source.
    source_copies = [
        i for i, rest in copies if "--from=" not in rest and ("libs/" in rest or "services/" in rest)
    ]
    assert source_copies
    assert min(source_copies) > sync_deps[0]
    for _i, rest in copies:
        if "--from=" in rest:
            continue
        *sources, _ = rest.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source} does not exist"
    copied = " ".join(rest for _, rest in copies)
    for member in _closure(package):
        assert str(members[member].relative_to(ROOT)) in copied, f"{member} is not copied"
    assert any(f"uv sync --frozen --no-dev --no-editable --package {package}" in r for r in runs)

    build_env = dict(
        re.findall(r"(UV_[A-Z_]+)=(\S+)", " ".join(rest for word, rest in steps if word == "ENV"))
    )
    assert build_env["UV_COMPILE_BYTECODE"] == "1"
    runtime = steps[[i for i, (word, _) in enumerate(steps) if word == "FROM"][-1] :]
    user = [rest for word, rest in runtime if word == "USER"]
    assert user, "the runtime stage sets a user"
    uid = user[-1].split(":")[0]
    assert uid.isdigit(), "a numeric user (Kubernetes can verify runAsNonRoot)"
    assert int(uid) > 0, "not root"
    assert any(word == "HEALTHCHECK" and "/readyz" in rest for word, rest in runtime)
    [entrypoint] = [json.loads(rest) for word, rest in runtime if word == "ENTRYPOINT"]
    # A shell that execs the service's module (python is PID 1 and gets SIGTERM), arguments after.
    assert entrypoint[:2] == ["/bin/sh", "-c"]
    assert entrypoint[2].startswith("exec python -m ")
    assert ("EXPOSE", str(DEFAULT_PORTS[service])) in runtime
    env = dockerfile_env(path, args)
    assert env["IMAGE_SERVICE"] == service
    assert env["IMAGE_PORT"] == str(DEFAULT_PORTS[service])
    assert env["SWARMSCOPE_HTTP_HOST"] == "0.0.0.0"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    # The runtime stage has no uv and no source tree: only the built environment.
    assert [rest for word, rest in runtime if word == "COPY"] == ["--from=build /app/.venv /app/.venv"]


def test_one_dockerfile_builds_every_service() -> None:
    assert not list(ROOT.glob("services/*/Dockerfile")), "the services share services/Dockerfile"
    for name, spec in compose()["services"].items():
        if "build" in spec and spec["build"]["dockerfile"] != "frontend/Dockerfile":
            service = spec["build"]["args"]["SERVICE"]
            assert spec["image"].split(":")[0] == f"swarmscope/{service}", name
    # Built without the arguments, the image refuses at once rather than installing nothing.
    steps = _instructions(SERVICE_DOCKERFILE)
    assert any(word == "RUN" and 'test -n "${SERVICE}"' in rest for word, rest in steps)


def test_frontend_dockerfile_shape() -> None:
    path = ROOT / "frontend" / "Dockerfile"
    steps = _instructions(path)
    assert len([1 for word, _ in steps if word == "FROM"]) == 2
    runs = [rest for word, rest in steps if word == "RUN"]
    assert any("npm ci" in r for r in runs)
    assert any("npm run build" in r for r in runs)
    ci_step = next(i for i, (word, rest) in enumerate(steps) if word == "RUN" and "npm ci" in rest)
    first_source = next(
        i for i, (word, rest) in enumerate(steps) if word == "COPY" and "frontend/src" in rest
    )
    assert ci_step < first_source, "the npm ci layer must not depend on the source"
    for word, rest in steps:
        if word == "COPY" and "--from=" not in rest:
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source} does not exist"
    assert ("COPY", "frontend/nginx.conf /etc/nginx/templates/default.conf.template") in steps
    user = [rest for word, rest in steps if word == "USER"]
    assert user == ["101"]
    assert any(word == "HEALTHCHECK" for word, _ in steps)
    assert ("EXPOSE", "8080") in steps


def test_dockerignore_keeps_local_state_out_of_images() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", ".data", "frontend/node_modules", "**/__pycache__"} <= ignored


def test_nginx_config_is_valid_when_nginx_is_installed(tmp_path: Path) -> None:
    nginx = debian_tool("nginx", "/usr/sbin/nginx")
    template = (ROOT / "frontend" / "nginx.conf").read_text()
    rendered = template.replace("${SWARMSCOPE_GATEWAY_URL}", "http://gateway:8000").replace(
        "${NGINX_LOCAL_RESOLVERS}", "127.0.0.11"
    )
    assert "${" not in rendered
    # Structure: the API, its streams and the SPA fallback.
    assert "location /api/" in rendered
    assert "proxy_buffering off;" in rendered
    assert "proxy_set_header Upgrade $http_upgrade;" in rendered
    assert "try_files $uri $uri/ /index.html;" in rendered
    if nginx is None:
        pytest.skip("nginx unavailable (Debian package nginx): structure checked, `nginx -t` not run")
    (tmp_path / "default.conf").write_text(rendered)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}/cb; proxy_temp_path {tmp_path}/pt;"
        f" fastcgi_temp_path {tmp_path}/ft; uwsgi_temp_path {tmp_path}/ut; scgi_temp_path {tmp_path}/st;"
        f" include {tmp_path}/default.conf; }}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
