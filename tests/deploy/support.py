"""What the deployment checks share: paths, rendering the overlays, the services' settings, and the
environment each container would see (compose and Kubernetes)."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import swarmscope_deploy_kustomize as kustomize  # loaded by conftest.py
import yaml
from pydantic_settings import BaseSettings

from swarmscope_service.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
SERVICES = ("ingest", "store", "replay", "gateway")
DEFAULT_PORTS = {"gateway": 8000, "ingest": 8101, "store": 8102, "replay": 8103}
SERVICE_HELM_RELEASE = "nats"

Obj = dict[str, Any]


@cache
def render_overlay(name: str) -> tuple[Obj, ...]:
    """The objects of an overlay, rendered by the Python kustomize (always available)."""
    return tuple(kustomize.render(K8S / "overlays" / name))


def kubectl() -> str | None:
    return shutil.which("kubectl")


TOOLS = ROOT / ".data" / "tools"


def debian_tool(package: str, binary: str) -> Path | None:
    """A tool from a Debian package: on PATH, else unpacked under .data/tools (fetched once with
    `apt-get download`, no install, no daemon), else None when the package cannot be had."""
    found = shutil.which(Path(binary).name)
    if found:
        return Path(found)
    unpacked = TOOLS / package / binary.lstrip("/")
    if unpacked.exists():
        return unpacked
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        return None
    download = TOOLS / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    try:
        fetch = ["apt-get", "download", package]
        if subprocess.run(fetch, cwd=download, capture_output=True, timeout=300).returncode != 0:
            # A new machine may not have read the package lists yet.
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300, check=False)
            subprocess.run(fetch, cwd=download, capture_output=True, timeout=300, check=True)
        [deb] = sorted(download.glob(f"{package}_*.deb"))
        subprocess.run(
            ["dpkg-deb", "-x", str(deb), str(TOOLS / package)], capture_output=True, timeout=120, check=True
        )
        deb.unlink()
    except (subprocess.SubprocessError, OSError, ValueError):
        return None
    return unpacked if unpacked.exists() else None


def kubectl_kustomize(directory: Path) -> list[Obj]:
    binary = kubectl()
    assert binary is not None
    out = subprocess.run(
        [binary, "kustomize", str(directory)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(objects: tuple[Obj, ...] | list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.get("kind") == kind]


def named(objects: tuple[Obj, ...] | list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in by_kind(objects, kind) if o["metadata"]["name"] == name]
    assert found, f"no {kind} {name}"
    return found[0]


def pod_spec(obj: Obj) -> Obj:
    spec: Obj = obj["spec"]["template"]["spec"]
    return spec


def workloads(objects: tuple[Obj, ...] | list[Obj]) -> list[Obj]:
    return [o for o in objects if o.get("kind") in ("Deployment", "StatefulSet", "Job", "DaemonSet")]


def image_service(image: str) -> str | None:
    """The swarmscope service an image is of (`.../swarmscope/store:1.2` → store), else None."""
    path = image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    parts = path.split("/")
    if len(parts) >= 2 and parts[-2] == "swarmscope":
        return parts[-1]
    return None


# -- the services' settings ----------------------------------------------------------------------


@cache
def settings_class(service: str) -> type[ServiceSettings]:
    """The settings class a service's config.py defines (the subclass of ServiceSettings)."""
    module = importlib.import_module(f"swarmscope_{service}.config")
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
        and value.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"swarmscope_{service}.config should define one settings class: {classes}"
    return classes[0]


def env_names(settings: type[BaseSettings]) -> dict[str, str]:
    """Environment variable name → field name, as pydantic-settings reads them."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names: dict[str, str] = {}
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias or field.alias
        env = alias if isinstance(alias, str) else prefix + field_name
        names[env.upper()] = field_name
    return names


@cache
def extra_settings(service: str) -> tuple[type[BaseSettings], ...]:
    """Other settings classes a service reads (the performance monitor's, when it is wired)."""
    source = "\n".join(p.read_text() for p in (ROOT / "services" / service / "src").rglob("*.py"))
    extras: list[type[BaseSettings]] = []
    if "MonitorSettings" in source:
        from swarmscope_service.monitor import MonitorSettings

        extras.append(MonitorSettings)
    return tuple(extras)


@cache
def known_env(service: str) -> frozenset[str]:
    """Every SWARMSCOPE_* variable the service reads."""
    names = set(env_names(settings_class(service)))
    for extra in extra_settings(service):
        names |= set(env_names(extra))
    return frozenset(names)


def all_known_env() -> frozenset[str]:
    return frozenset().union(*(known_env(s) for s in SERVICES))


# -- Dockerfiles --------------------------------------------------------------------------------


def dockerfile_env(path: Path) -> dict[str, str]:
    """The ENV of a Dockerfile's last stage (what the running container starts with)."""
    text = path.read_text().replace("\\\n", " ")
    stages = re.split(r"(?m)^FROM ", text)
    env: dict[str, str] = {}
    for line in stages[-1].splitlines():
        if line.startswith("ENV "):
            for key, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', line[4:]):
                env[key] = value.strip('"')
    return env


# -- docker compose -----------------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, $$."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, default = match.group(2), match.group(3) or ""
        current = environ.get(name)
        if op == ":-":
            return current if current else default
        if op == "-":
            return current if current is not None else default
        if op in (":?", "?"):
            if not current:
                raise ValueError(f"compose requires ${name}: {default}")
            return current
        return current or ""

    return _INTERPOLATION.sub(replace, value)


@cache
def compose() -> Obj:
    loaded: Obj = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def compose_env(service: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """A compose service's environment after interpolation (with the given host environment)."""
    raw = compose()["services"][service].get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: interpolate(str(v), environ or {}) for k, v in raw.items()}


# -- Kubernetes ---------------------------------------------------------------------------------

# Secrets the manifests reference but do not ship, and who creates them.
EXTERNAL_SECRETS = {
    "swarmscope-pg-app": "CloudNativePG, for the Cluster swarmscope-pg",
    "swarmscope-gateway": "the operator (docs/operations.md); the dev overlay ships a dev-only one",
    "swarmscope-backup-s3": "the operator (docs/operations.md)",
    "swarmscope-tls": "the operator or cert-manager (docs/operations.md)",
}

# Stand-ins for secret values, valid for the settings that read them.
SECRET_STAND_INS = {
    (
        "swarmscope-pg-app",
        "uri",
    ): "postgresql://swarmscope:secret@swarmscope-pg-rw.swarmscope:5432/swarmscope",
    ("swarmscope-gateway", "api-keys"): "key-one-0123456789,key-two-0123456789",
    ("swarmscope-gateway", "token-secret"): "a-token-secret-0123456789",
}


@dataclass(frozen=True)
class ContainerEnv:
    """The environment of one container of a workload, as Kubernetes would build it."""

    workload: str
    container: str
    service: str | None
    args: tuple[str, ...]
    shared: dict[str, str]  # from envFrom (shared ConfigMaps)
    explicit: dict[str, str]  # from env entries
    port: int | None

    @property
    def env(self) -> dict[str, str]:
        return {**self.shared, **self.explicit}


def _secret_value(objects: tuple[Obj, ...], name: str, key: str) -> str:
    for secret in by_kind(objects, "Secret"):
        if secret["metadata"]["name"] == name:
            data = secret.get("stringData", {})
            assert key in data, f"Secret {name} has no key {key}"
            return str(data[key])
    assert name in EXTERNAL_SECRETS, f"Secret {name} is neither shipped nor a known external secret"
    return SECRET_STAND_INS.get((name, key), "stand-in-secret-value")


def _config_map(objects: tuple[Obj, ...], name: str) -> dict[str, str]:
    found = named(objects, "ConfigMap", name)
    return {k: str(v) for k, v in found.get("data", {}).items()}


def _expand(value: str, known: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        return known.get(match.group(1), match.group(0))

    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", replace, value)


def container_envs(objects: tuple[Obj, ...]) -> Iterator[ContainerEnv]:
    """Every container of every workload with the environment Kubernetes would give it."""
    namespace_of = {o["metadata"]["name"]: o["metadata"].get("namespace", "") for o in workloads(objects)}
    for workload in workloads(objects):
        spec = pod_spec(workload)
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            shared: dict[str, str] = {}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    shared.update(_config_map(objects, source["configMapRef"]["name"]))
                else:
                    raise AssertionError(f"unexpected envFrom {source}")
            explicit: dict[str, str] = {}
            for entry in container.get("env", []):
                name = entry["name"]
                if "value" in entry:
                    # Kubernetes expands $(NAME) with the variables defined before this one.
                    explicit[name] = _expand(str(entry["value"]), {**shared, **explicit})
                    continue
                ref = entry["valueFrom"]
                if "secretKeyRef" in ref:
                    explicit[name] = _secret_value(
                        objects, ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"]
                    )
                elif "configMapKeyRef" in ref:
                    explicit[name] = _config_map(objects, ref["configMapKeyRef"]["name"])[
                        ref["configMapKeyRef"]["key"]
                    ]
                elif "fieldRef" in ref:
                    assert ref["fieldRef"]["fieldPath"] == "metadata.namespace", ref
                    explicit[name] = namespace_of[workload["metadata"]["name"]]
                else:
                    raise AssertionError(f"unexpected valueFrom {ref}")
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            yield ContainerEnv(
                workload=f"{workload['kind']}/{workload['metadata']['name']}",
                container=container["name"],
                service=image_service(str(container.get("image", ""))),
                args=tuple(container.get("args", [])),
                shared=shared,
                explicit=explicit,
                port=ports.get("http"),
            )
