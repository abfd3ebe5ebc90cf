"""deploy/k8s: every overlay renders, validates against the Kubernetes schemas, and wires together."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import swarmscope_deploy_kustomize as kustomize
import yaml
from swarmscope_deploy_support import (
    DEPLOY,
    K8S,
    OVERLAYS,
    SERVICES,
    by_kind,
    container_envs,
    image_service,
    kubectl,
    kubectl_kustomize,
    named,
    pod_spec,
    render_overlay,
    workloads,
)

from swarmscope_schema.subjects import DURABLES, STREAM_EVENTS, STREAM_RAW
from swarmscope_service.nats_setup import STREAM_MAX_MSG_SIZE
from swarmscope_service.settings import ServiceSettings

# The oldest Kubernetes minor the manifests must work on (autoscaling/v2, policy/v1 and the rest).
KUBERNETES_VERSION = "1.29"
CRD_KINDS = {"ScaledObject", "Cluster", "ScheduledBackup", "ServiceMonitor", "PrometheusRule"}
Obj = dict[str, Any]


def _canonical(objects: list[Obj]) -> dict[tuple[str, str, str, str], str]:
    return {kustomize.key(o): json.dumps(o, sort_keys=True) for o in objects}


@pytest.mark.parametrize("directory", ["base", "overlays/dev", "overlays/prod"])
def test_python_render_matches_kubectl_kustomize(directory: str) -> None:
    rendered = kustomize.render(K8S / directory)
    assert rendered, "nothing rendered"
    if kubectl() is None:
        # The Python renderer stands in (it refuses any kustomize feature it does not implement).
        pytest.skip("kubectl not installed: rendered with the Python kustomize only")
    assert _canonical(rendered) == _canonical(kubectl_kustomize(K8S / directory))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_builtin_object_validates_against_the_kubernetes_schema(overlay: str) -> None:
    errors = []
    for obj in render_overlay(overlay):
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)


def _require(obj: Obj, *paths: str) -> list[str]:
    missing = []
    for path in paths:
        node: Any = obj
        for part in path.split("."):
            if isinstance(node, list):
                node = node[int(part)] if part.isdigit() and int(part) < len(node) else None
            elif isinstance(node, dict):
                node = node.get(part)
            else:
                node = None
        if node in (None, "", [], {}):
            missing.append(f"{obj['kind']}/{obj['metadata']['name']}: {path} is required")
    return missing


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_have_their_required_fields(overlay: str) -> None:
    objects = render_overlay(overlay)
    kinds = {o["kind"] for o in objects}
    assert {"ScaledObject", "Cluster", "ServiceMonitor", "PrometheusRule"} <= kinds
    problems: list[str] = []
    api_versions = {
        "ScaledObject": "keda.sh/v1alpha1",
        "Cluster": "postgresql.cnpg.io/v1",
        "ScheduledBackup": "postgresql.cnpg.io/v1",
        "ServiceMonitor": "monitoring.coreos.com/v1",
        "PrometheusRule": "monitoring.coreos.com/v1",
    }
    for obj in objects:
        kind = obj["kind"]
        if kind not in CRD_KINDS:
            continue
        if obj["apiVersion"] != api_versions[kind]:
            problems.append(f"{kind}: apiVersion {obj['apiVersion']} != {api_versions[kind]}")
        if kind == "ScaledObject":
            problems += _require(
                obj, "spec.scaleTargetRef.name", "spec.triggers.0.type", "spec.triggers.0.metadata"
            )
            for trigger in obj["spec"]["triggers"]:
                if trigger["type"] == "nats-jetstream":
                    problems += [
                        f"ScaledObject/{obj['metadata']['name']}: nats-jetstream trigger needs {k}"
                        for k in ("natsServerMonitoringEndpoint", "stream", "consumer", "lagThreshold")
                        if not trigger["metadata"].get(k)
                    ]
                    for k in ("lagThreshold", "activationLagThreshold"):
                        if k in trigger["metadata"]:
                            assert isinstance(trigger["metadata"][k], str), "KEDA metadata values are strings"
            spec = obj["spec"]
            assert 1 <= spec.get("minReplicaCount", 0) <= spec["maxReplicaCount"]
        elif kind == "Cluster":
            problems += _require(obj, "spec.instances", "spec.storage.size", "spec.bootstrap.initdb.database")
            sync = obj["spec"].get("postgresql", {}).get("synchronous")
            if sync:
                # A synchronous standby that cannot exist would block every commit.
                assert sync["number"] < obj["spec"]["instances"], "synchronous.number must be < instances"
        elif kind == "ScheduledBackup":
            problems += _require(obj, "spec.schedule", "spec.cluster.name")
            assert len(obj["spec"]["schedule"].split()) == 6, "CNPG schedules have six fields (seconds first)"
            cluster = named(objects, "Cluster", obj["spec"]["cluster"]["name"])
            assert "backup" in cluster["spec"], "a ScheduledBackup needs the Cluster's backup configuration"
        elif kind == "ServiceMonitor":
            problems += _require(obj, "spec.selector.matchLabels", "spec.endpoints.0.port")
        elif kind == "PrometheusRule":
            problems += _require(obj, "spec.groups.0.name", "spec.groups.0.rules.0.expr")
            for group in obj["spec"]["groups"]:
                for rule in group["rules"]:
                    assert ("alert" in rule) != ("record" in rule), rule
                    assert rule.get("expr"), rule
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_swarmscope_service_is_deployed_with_probes_resources_and_a_hardened_context(
    overlay: str,
) -> None:
    objects = render_overlay(overlay)
    deployments = {d["metadata"]["name"]: d for d in by_kind(objects, "Deployment")}
    assert set(SERVICES) | {"frontend"} <= set(deployments)
    grace = ServiceSettings().shutdown_grace_seconds
    for name in (*SERVICES, "frontend"):
        spec = pod_spec(deployments[name])
        [container] = spec["containers"]
        assert image_service(container["image"]) == name, container["image"]
        for probe in ("livenessProbe", "readinessProbe"):
            assert probe in container, f"{name} lacks a {probe}"
        if name in SERVICES:
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
            pre_stop = 0
            command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            if command:
                assert command[0] == "sleep"
                pre_stop = int(command[1])
            # The drain (stop fetching, finish and ack the batch, flush NATS) must fit in the grace.
            assert spec["terminationGracePeriodSeconds"] >= pre_stop + grace + 5, name
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), f"{name} {kind}"
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True
        assert pod_security["runAsUser"] > 0
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert spec["automountServiceAccountToken"] is False
        # A read-only root needs a writable /tmp.
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_pods_and_name_their_ports(overlay: str) -> None:
    objects = render_overlay(overlay)
    pods = {
        w["metadata"]["name"]: (w["spec"]["template"]["metadata"]["labels"], pod_spec(w))
        for w in workloads(objects)
        if w["kind"] != "Job"
    }
    for service in by_kind(objects, "Service"):
        selector = service["spec"]["selector"]
        matching = [n for n, (labels, _) in pods.items() if selector.items() <= labels.items()]
        assert matching, f"Service {service['metadata']['name']} selects no pod"
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            for name in matching:
                container_ports = {
                    p.get("name") for c in pods[name][1]["containers"] for p in c.get("ports", [])
                }
                assert target in container_ports, f"Service {service['metadata']['name']} → {name}:{target}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscalers_and_disruption_budgets_point_at_real_workloads(overlay: str) -> None:
    objects = render_overlay(overlay)
    namespace = named(objects, "Namespace", named(objects, "Deployment", "ingest")["metadata"]["namespace"])
    deployments = {d["metadata"]["name"]: d for d in by_kind(objects, "Deployment")}
    scaled = {}
    for scaled_object in by_kind(objects, "ScaledObject"):
        target = scaled_object["spec"]["scaleTargetRef"]["name"]
        assert target in deployments
        trigger = scaled_object["spec"]["triggers"][0]["metadata"]
        scaled[target] = (trigger["stream"], trigger["consumer"])
        # KEDA runs in its own namespace: the endpoint must name this overlay's namespace.
        host = trigger["natsServerMonitoringEndpoint"].split(":")[0]
        assert host == f"nats-headless.{namespace['metadata']['name']}.svc.cluster.local", host
        # An autoscaled Deployment has no replicas field: an apply would reset the scaler's count.
        assert "replicas" not in deployments[target]["spec"], target
    # ingest and store scale on the lag of exactly the durables the services consume.
    assert scaled == {"ingest": (STREAM_RAW, "ingest"), "store": (STREAM_EVENTS, "store")}
    assert set(scaled.values()) <= set(DURABLES)

    [hpa] = by_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway"
    assert "replicas" not in deployments["gateway"]["spec"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]

    # Replay folds each session in order: one consumer on the durable, never two during a rollout.
    replay = deployments["replay"]["spec"]
    assert replay["replicas"] == 1
    assert replay["strategy"]["type"] == "Recreate"

    covered = set()
    for pdb in by_kind(objects, "PodDisruptionBudget"):
        assert "maxUnavailable" in pdb["spec"], "minAvailable would block drains of single replicas"
        selector = pdb["spec"]["selector"]["matchLabels"]
        matching = [
            n
            for n, d in deployments.items()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert matching, f"PDB {pdb['metadata']['name']} matches nothing"
        covered.update(matching)
    assert {*SERVICES, "frontend"} <= covered


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    if "matchLabels" in selector and not selector["matchLabels"].items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and value in expr["values"]:
            return False
        if expr["operator"] == "Exists" and value is None:
            return False
    return True


def _peers_allowed(policies: list[Obj], direction: str, labels: dict[str, str], port: int) -> list[Obj]:
    """The peers (from/to entries) the policies selecting `labels` allow in `direction` on `port`."""
    peers: list[Obj] = []
    key = "from" if direction == "ingress" else "to"
    for policy in policies:
        if not _selects(policy["spec"]["podSelector"], labels):
            continue
        for rule in policy["spec"].get(direction, []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if ports and port not in ports:
                continue
            peers.extend(rule.get(key, [{}]))
    return peers


NATS = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats"}
POSTGRES = {"cnpg.io/cluster": "swarmscope-pg"}


def _app(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "swarmscope"}


def _allows(peers: list[Obj], labels: dict[str, str]) -> bool:
    return any(
        "podSelector" in p and "namespaceSelector" not in p and _selects(p["podSelector"], labels)
        for p in peers
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_architecture_flows(overlay: str) -> None:
    objects = render_overlay(overlay)
    policies = by_kind(objects, "NetworkPolicy")
    [deny] = [p for p in policies if p["metadata"]["name"] == "default-deny"]
    assert deny["spec"]["podSelector"] == {}
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    # The flows of ARCHITECTURE.md (and the storage each service owns).
    flows = [
        ("ingest", NATS, 4222),
        ("store", NATS, 4222),
        ("replay", NATS, 4222),
        ("gateway", NATS, 4222),
        ("store", POSTGRES, 5432),
        ("replay", POSTGRES, 5432),
        ("store-migrate", POSTGRES, 5432),
        ("replay", _app("redis"), 6379),
        ("gateway", _app("redis"), 6379),
        ("frontend", _app("gateway"), 8000),
    ]
    for source, destination, port in flows:
        assert _allows(_peers_allowed(policies, "egress", _app(source), port), destination), (source, port)
        assert _allows(_peers_allowed(policies, "ingress", destination, port), _app(source)), (source, port)
    # And not the others: the frontend never reaches NATS or Postgres, ingest never Postgres.
    forbidden = [
        ("frontend", NATS, 4222),
        ("frontend", POSTGRES, 5432),
        ("ingest", POSTGRES, 5432),
        ("gateway", POSTGRES, 5432),
        ("ingest", _app("redis"), 6379),
    ]
    for source, destination, port in forbidden:
        assert not _allows(_peers_allowed(policies, "egress", _app(source), port), destination), (
            source,
            port,
        )
    # Prometheus reaches every service's metrics port; KEDA reaches the NATS monitoring port.
    for service, port in (("ingest", 8101), ("store", 8102), ("replay", 8103), ("gateway", 8000)):
        peers = _peers_allowed(policies, "ingress", _app(service), port)
        assert any(
            p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            == "monitoring"
            for p in peers
        )
    peers = _peers_allowed(policies, "ingress", NATS, 8222)
    assert any(
        p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "keda"
        for p in peers
    )
    # Every workload has a policy of its own besides the default deny.
    for workload in workloads(objects):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        own = [p for p in policies if p["spec"]["podSelector"] and _selects(p["spec"]["podSelector"], labels)]
        assert own, f"{workload['metadata']['name']} has no NetworkPolicy of its own"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_and_config_maps_referenced_exist_or_are_documented(overlay: str) -> None:
    objects = render_overlay(overlay)
    # container_envs resolves every reference and fails on an unknown one.
    envs = list(container_envs(objects))
    assert envs
    operations = (Path(DEPLOY).parent / "docs" / "operations.md").read_text()
    for secret in ("swarmscope-gateway", "swarmscope-backup-s3", "swarmscope-tls", "swarmscope-pg-app"):
        assert secret in operations, f"docs/operations.md must say how {secret} is created"
    # The CNPG application Secret is <cluster>-app.
    [cluster] = by_kind(objects, "Cluster")
    assert cluster["metadata"]["name"] + "-app" == "swarmscope-pg-app"
    ingress = named(objects, "Ingress", "swarmscope")
    for tls in ingress["spec"].get("tls", []):
        assert tls["secretName"] == "swarmscope-tls"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_accepts_websockets_from_the_public_ui(overlay: str) -> None:
    # Behind the ingress and the frontend's nginx the gateway sees plain HTTP, so the browser's
    # Origin (the ingress host, https when TLS covers it) must be in its allowlist.
    objects = render_overlay(overlay)
    allowed = named(objects, "ConfigMap", "swarmscope-config")["data"]["SWARMSCOPE_ALLOWED_ORIGINS"].split(
        ","
    )
    ingress = named(objects, "Ingress", "swarmscope")["spec"]
    tls_hosts = {host for tls in ingress.get("tls", []) for host in tls["hosts"]}
    for rule in ingress["rules"]:
        scheme = "https" if rule["host"] in tls_hosts else "http"
        assert f"{scheme}://{rule['host']}" in allowed, (rule["host"], allowed)


def test_prod_runs_replicated_and_dev_runs_small() -> None:
    prod, dev = render_overlay("prod"), render_overlay("dev")
    prod_config = named(prod, "ConfigMap", "swarmscope-config")["data"]
    dev_config = named(dev, "ConfigMap", "swarmscope-config")["data"]
    values = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
    dev_values = yaml.safe_load((DEPLOY / "nats" / "values-dev.yaml").read_text())
    # R3 streams on a three-server cluster; R1 on the single dev server.
    assert values["config"]["cluster"]["enabled"] is True
    assert int(prod_config["SWARMSCOPE_STREAM_REPLICAS"]) == values["config"]["cluster"]["replicas"] == 3
    assert dev_values["config"]["cluster"]["enabled"] is False
    assert int(dev_config["SWARMSCOPE_STREAM_REPLICAS"]) == 1
    assert named(prod, "Cluster", "swarmscope-pg")["spec"]["instances"] >= 3
    assert named(dev, "Cluster", "swarmscope-pg")["spec"]["instances"] == 1
    for obj in prod:
        for container in pod_spec(obj)["containers"] if obj in workloads(prod) else []:
            assert not container["image"].endswith((":latest", ":dev")), container["image"]
    # Backups only in prod.
    assert by_kind(prod, "ScheduledBackup")
    assert not by_kind(dev, "ScheduledBackup")


def _mem_bytes(value: str) -> int:
    units = {"KB": 1000, "MB": 1000**2, "GB": 1000**3, "K": 1000, "M": 1000**2, "G": 1000**3}
    text = value.strip().strip("<> ").strip()
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def _gib(value: str) -> float:
    assert value.endswith("Gi"), value
    return float(value[:-2])


def test_nats_helm_values_fit_the_services() -> None:
    values = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
    config = values["config"]
    assert config["jetstream"]["enabled"]
    assert config["jetstream"]["fileStore"]["enabled"]
    assert config["jetstream"]["fileStore"]["pvc"]["enabled"]
    assert config["monitor"]["enabled"]
    assert config["monitor"]["port"] == 8222
    # A 1 MiB event plus a dead letter's headers must fit in one NATS message.
    assert _mem_bytes(config["merge"]["max_payload"]) >= STREAM_MAX_MSG_SIZE
    # JetStream must stop accepting writes before its volume is full.
    for values_file in ("values.yaml", "values-dev.yaml"):
        merged = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
        overlay = yaml.safe_load((DEPLOY / "nats" / values_file).read_text())
        file_store = {
            **merged["config"]["jetstream"]["fileStore"],
            **overlay["config"]["jetstream"]["fileStore"],
        }
        pvc = {**merged["config"]["jetstream"]["fileStore"]["pvc"], **file_store["pvc"]}
        assert _gib(file_store["maxSize"]) < _gib(pvc["size"]), values_file
    # The release name "nats" is what the services and KEDA address.
    prod = render_overlay("prod")
    assert named(prod, "ConfigMap", "swarmscope-config")["data"]["SWARMSCOPE_NATS_URL"] == "nats://nats:4222"
    assert "helm upgrade --install nats " in (DEPLOY / "nats" / "values.yaml").read_text()
