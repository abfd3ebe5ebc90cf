"""Every SWARMSCOPE_* variable set in docker compose and Kubernetes is one a service reads, every one a
service needs is set, and each container's environment passes the service's own validation."""

from __future__ import annotations

import pytest
from swarmscope_deploy_support import (
    DEFAULT_PORTS,
    OVERLAYS,
    ROOT,
    SERVICES,
    all_known_env,
    compose,
    compose_env,
    container_envs,
    dockerfile_env,
    env_names,
    extra_settings,
    known_env,
    render_chart,
    render_overlay,
    service_image_env,
    settings_class,
)

# Set in both docker compose and Kubernetes with values that differ on purpose.
DEPLOYMENT_SPECIFIC = {
    "SWARMSCOPE_NATS_URL",  # the compose service vs the Helm release's Service
    "SWARMSCOPE_DATABASE_URL",  # the compose Postgres vs the CloudNativePG Secret
    "SWARMSCOPE_STREAM_REPLICAS",  # one NATS server vs three
    "SWARMSCOPE_LOG_LEVEL",  # compose takes it from the host environment
    "SWARMSCOPE_API_KEYS",  # a host variable vs a Secret
    "SWARMSCOPE_RETENTION_HOURS",  # a host variable vs the ConfigMap
    "SWARMSCOPE_ALLOWED_ORIGINS",  # the UI's public origin differs per deployment
    "SWARMSCOPE_REDIS_URL",  # the compose service "redis" vs the release's swarmscope-redis
}


def _validate(service: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Builds the service's settings from exactly `env`, as the container would at start."""
    import os

    for name in list(os.environ):
        if name.startswith("SWARMSCOPE_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        for cls in (settings_class(service), *extra_settings(service)):
            cls()
    except Exception as exc:  # pydantic's ValidationError names the variable
        pytest.fail(f"{where}: {service} rejects its environment: {exc}")


def _check_container(
    service: str, env: dict[str, str], explicit: set[str], where: str, *, serves_http: bool = True
) -> None:
    known = known_env(service)
    unknown = sorted(n for n in explicit if n.startswith("SWARMSCOPE_") and n not in known)
    assert not unknown, f"{where}: {service} does not read {unknown}"
    shared_unknown = sorted(n for n in env if n.startswith("SWARMSCOPE_") and n not in all_known_env())
    assert not shared_unknown, f"{where}: no service reads {shared_unknown}"
    # What a container cannot run without, whatever the code's defaults are (they suit `make run`).
    assert env.get("SWARMSCOPE_HTTP_HOST") == "0.0.0.0", f"{where}: {service} must listen on all interfaces"
    assert env.get("SWARMSCOPE_NATS_URL", "").startswith("nats://"), (
        f"{where}: {service} needs SWARMSCOPE_NATS_URL"
    )
    assert "127.0.0.1" not in env["SWARMSCOPE_NATS_URL"]
    assert "localhost" not in env["SWARMSCOPE_NATS_URL"]
    port = env.get(f"SWARMSCOPE_{service.upper()}_PORT")
    if serves_http:
        assert port == str(DEFAULT_PORTS[service]), f"{where}: {service} port {port}"
    if service in ("store", "replay"):
        assert env.get("SWARMSCOPE_DATABASE_URL", "").startswith("postgresql://"), (
            f"{where}: {service} must use Postgres (its defaults are local SQLite files)"
        )
    # Fields without a default must be set.
    cls = settings_class(service)
    for env_name, field_name in env_names(cls).items():
        if cls.model_fields[field_name].is_required():
            assert env_name in env, f"{where}: {service} requires {env_name}"


def _image_env(service: str) -> dict[str, str]:
    return service_image_env(service)


COMPOSE_CONTAINERS = [
    ("ingest", "ingest"),
    ("store", "store"),
    ("replay", "replay"),
    ("gateway", "gateway"),
    ("migrate", "store"),
]


@pytest.mark.parametrize(("compose_service", "service"), COMPOSE_CONTAINERS)
def test_compose_environments_are_known_complete_and_valid(
    compose_service: str, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = compose()["services"][compose_service]
    assert spec["image"].split(":")[0] == f"swarmscope/{service}"
    explicit = compose_env(compose_service)
    env = {**_image_env(service), **explicit}
    where = f"docker-compose.yml {compose_service}"
    # The migration is a one-shot with no HTTP side.
    _check_container(service, env, set(explicit), where, serves_http=compose_service != "migrate")
    if compose_service == "store":
        assert env["SWARMSCOPE_STORE_MIGRATE_ON_START"] == "false", "the migrate service owns the schema"
    _validate(service, env, monkeypatch, where)
    # Host variables change values, never validity.
    hosted = compose_env(
        compose_service,
        {
            "SWARMSCOPE_API_KEYS": "key-one-0123456789",
            "SWARMSCOPE_LOG_LEVEL": "DEBUG",
            "SWARMSCOPE_POSTGRES_PASSWORD": "p",
        },
    )
    _validate(service, {**_image_env(service), **hosted}, monkeypatch, where + " (host variables set)")


# The kustomize overlays and the chart: its default, and every part that changes an environment.
KUBERNETES = {
    **{f"overlay {o}": (lambda o=o: render_overlay(o)) for o in OVERLAYS},
    "chart default": lambda: render_chart(),
    "chart external url": lambda: render_chart(
        {"postgres": {"external": {"url": "postgresql://u:p@db:5432/s"}}}
    ),
    "chart batteries included": lambda: render_chart(
        {
            "postgres": {"cnpg": {"enabled": True}},
            "nats": {"enabled": True},
            "ingress": {"enabled": True},
            "redis": {"enabled": False, "externalUrl": "redis://cache:6379/1"},
            "gateway": {"auth": {"apiKeys": ["key-one-0123456789"]}},
        }
    ),
}


@pytest.mark.parametrize("deployment", KUBERNETES)
def test_kubernetes_environments_are_known_complete_and_valid(
    deployment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = set()
    for container in container_envs(KUBERNETES[deployment]()):
        if container.service not in SERVICES:
            continue
        where = f"{deployment} {container.workload}"
        env = {**_image_env(container.service), **container.env}
        if container.args == ("migrate",):
            assert container.service == "store"
            assert env["SWARMSCOPE_DATABASE_URL"].startswith("postgresql://")
        else:
            _check_container(container.service, env, set(container.explicit), where)
            assert container.port == DEFAULT_PORTS[container.service], where
            seen.add(container.service)
        if container.service == "store" and not container.args and "batteries" not in deployment:
            assert env["SWARMSCOPE_STORE_MIGRATE_ON_START"] == "false", "the migration Job owns the schema"
        _validate(container.service, env, monkeypatch, where)
    assert seen == set(SERVICES)


def test_the_shared_config_map_holds_only_variables_some_service_reads() -> None:
    from swarmscope_deploy_support import named

    for deployment, render in KUBERNETES.items():
        data = named(render(), "ConfigMap", "swarmscope-config")["data"]
        unknown = sorted(set(data) - all_known_env())
        assert not unknown, f"{deployment}: swarmscope-config sets {unknown}, which no service reads"


def test_values_set_in_both_compose_and_kubernetes_agree() -> None:
    prod = {
        c.service: c.env
        for c in container_envs(render_overlay("prod"))
        if c.service in SERVICES and not c.args
    }
    for service in SERVICES:
        in_compose = compose_env(service)
        for name in sorted(set(in_compose) & set(prod[service]) - DEPLOYMENT_SPECIFIC):
            assert in_compose[name] == prod[service][name], (
                f"{name} is {in_compose[name]!r} in compose but {prod[service][name]!r} in Kubernetes "
                "(make them agree, or list it in DEPLOYMENT_SPECIFIC with the reason)"
            )


def test_shutdown_grace_fits_the_stop_timeouts() -> None:
    grace = float(compose_env("ingest")["SWARMSCOPE_SHUTDOWN_GRACE_SECONDS"])
    for service in (*SERVICES, "migrate"):
        stop = compose()["services"][service]["stop_grace_period"]
        assert stop.endswith("s"), f"compose {service}: stop_grace_period {stop}"
        assert float(stop[:-1]) > grace, f"compose {service}: stop_grace_period {stop}"


def test_frontend_template_variables_are_set() -> None:
    import re

    template = (ROOT / "frontend" / "nginx.conf").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)\}", template))
    dockerfile = dockerfile_env(ROOT / "frontend" / "Dockerfile")
    filter_pattern = re.compile(dockerfile["NGINX_ENVSUBST_FILTER"])
    # Every ${VAR} is substituted (the filter lets it through) and has a value at start.
    provided_at_start = (
        {"NGINX_LOCAL_RESOLVERS"} if dockerfile.get("NGINX_ENTRYPOINT_LOCAL_RESOLVERS") else set()
    )
    for name in used:
        assert filter_pattern.search(name), f"{name} is not substituted (NGINX_ENVSUBST_FILTER)"
        assert name in dockerfile or name in provided_at_start, (
            f"{name} has no default in frontend/Dockerfile"
        )
    assert compose_env("frontend")["SWARMSCOPE_GATEWAY_URL"] == "http://gateway:8000"
    for render in KUBERNETES.values():
        [frontend] = [c for c in container_envs(render()) if c.service == "frontend"]
        url = frontend.env["SWARMSCOPE_GATEWAY_URL"]
        # nginx's resolver ignores the search domains: the name must be fully qualified.
        assert url.endswith(".svc.cluster.local:8000"), url
        assert "$(" not in url, url
