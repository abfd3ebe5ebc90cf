"""docker-compose.yml: valid against the Compose Specification, and wired the way the brief asks."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from swarmscope_deploy_support import DEFAULT_PORTS, ROOT, SERVICES, compose, compose_env

HERE = Path(__file__).resolve().parent


def test_compose_file_validates_against_the_compose_specification() -> None:
    schema = json.loads((HERE / "compose-spec.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert not errors, "\n".join(errors)


def test_the_schema_check_catches_a_mistake() -> None:
    schema = json.loads((HERE / "compose-spec.json").read_text())
    broken = json.loads(json.dumps(compose()))
    broken["services"]["ingest"]["depends_on"]["nats"]["condition"] = "service_ready"
    broken["services"]["store"]["healthcheck"] = {"test": ["CMD", "true"], "interval": 5}
    errors = list(jsonschema.Draft201909Validator(schema).iter_errors(broken))
    assert len(errors) >= 2


def test_every_part_is_there_with_its_start_order() -> None:
    services = compose()["services"]
    assert {"nats", "postgres", "redis", "migrate", *SERVICES, "frontend", "prometheus", "grafana"} <= set(
        services
    )
    for name, spec in services.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            wanted = "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            assert condition["condition"] == wanted, f"{name} → {dependency}"
            # Whatever is waited on for health must have a healthcheck (the image's or its own).
            if wanted == "service_healthy" and dependency not in (*SERVICES, "frontend"):
                assert "healthcheck" in services[dependency], dependency
    # NATS with JetStream, on a volume; Postgres on a volume.
    nats_conf = (ROOT / "deploy" / "compose" / "nats.conf").read_text()
    assert "jetstream" in nats_conf
    assert "store_dir: /data" in nats_conf
    assert "max_payload: 8MB" in nats_conf
    assert any(v.startswith("nats-data:") for v in services["nats"]["volumes"])
    assert any(
        v.startswith("postgres-data:/var/lib/postgresql/data") for v in services["postgres"]["volumes"]
    )
    assert {"nats-data", "postgres-data"} <= set(compose()["volumes"])
    # The migration runs once, before store and replay, with the store image.
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("store", "replay"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # Each service is built from the workspace root with its own Dockerfile.
    for name in SERVICES:
        build = services[name]["build"]
        assert build["context"] == "."
        assert (ROOT / build["dockerfile"]).is_file()
        assert services[name]["stop_grace_period"]
    assert (ROOT / services["frontend"]["build"]["dockerfile"]).is_file()


def test_mounted_files_exist() -> None:
    for name, spec in compose()["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_prometheus_scrapes_every_service_and_grafana_gets_the_dashboard() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    for service in SERVICES:
        # The gateway serves /metrics on a port of its own (no key needed there).
        port = compose_env(service).get(f"SWARMSCOPE_{service.upper()}_METRICS_PORT", DEFAULT_PORTS[service])
        assert jobs[f"swarmscope-{service}"] == [f"{service}:{port}"]
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    volumes = compose()["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in volumes
    grafana = compose()["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/swarmscope.json:/var/lib/grafana/dashboards/swarmscope.json:ro" in grafana
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yaml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/swarmscope.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
