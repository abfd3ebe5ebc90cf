"""Kubernetes: every rendering (each kustomize overlay, the base with every combination of the
components, the Helm chart with every combination of its optional parts) validates against the
Kubernetes schemas and the custom resources' CRD schemas, and wires together."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml
from swarmscope_deploy_support import (
    DEPLOY,
    OVERLAYS,
    RELEASE,
    SERVICES,
    by_kind,
    chart_combinations,
    component_sets,
    container_envs,
    deploy_tools,
    image_service,
    named,
    pod_spec,
    render_base_with,
    render_chart,
    render_overlay,
    workloads,
)

from swarmscope_schema.subjects import DURABLES, STREAM_EVENTS, STREAM_RAW
from swarmscope_service.nats_setup import STREAM_MAX_MSG_SIZE
from swarmscope_service.settings import ServiceSettings

# The oldest Kubernetes minor the manifests must work on (autoscaling/v2, policy/v1 and the rest).
KUBERNETES_VERSION = "1.29"
API_VERSIONS = {
    "ScaledObject": "keda.sh/v1alpha1",
    "Cluster": "postgresql.cnpg.io/v1",
    "ScheduledBackup": "postgresql.cnpg.io/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "HTTPRoute": "gateway.networking.k8s.io/v1",
}
Obj = dict[str, Any]

# Every rendering checked: name → a function returning its objects (rendered on first use, cached).
RENDERINGS: dict[str, Callable[[], tuple[Obj, ...]]] = {
    **{f"kustomize:{o}": (lambda o=o: render_overlay(o)) for o in OVERLAYS},
    **{
        "kustomize:base" + "".join(f"+{c}" for c in comps): (lambda comps=comps: render_base_with(comps))
        for comps in component_sets()
    },
    **{f"helm:{name}": (lambda values=values: render_chart(values)) for name, values in chart_combinations()},
}
ALL = sorted(RENDERINGS)
# The renderings with every optional part on, for the checks that need those parts present.
FULL = [
    "kustomize:prod",
    "helm:cnpg+nats+keda+monitoring+networkPolicy+ingress",
    "helm:cnpg+nats+keda+monitoring+networkPolicy+httpRoute",
]


def _objects(rendering: str) -> tuple[Obj, ...]:
    return RENDERINGS[rendering]()


def _is_helm(rendering: str) -> bool:
    return rendering.startswith("helm:")


def _canonical(obj: Obj) -> str:
    return json.dumps(obj, sort_keys=True)


@cache
def _builtin_errors(canonical: str) -> tuple[str, ...]:
    obj = json.loads(canonical)
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        return (f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}",)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return (f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}",)
    return ()


@cache
def _custom_resource_results() -> dict[str, Any]:
    """Every distinct custom resource of every rendering, validated by its CRD schema in one run
    of the validators (tests/deploy/tools/validate-custom-resources.mjs)."""
    distinct: dict[str, Obj] = {}
    for rendering in ALL:
        for obj in _objects(rendering):
            if obj["kind"] in API_VERSIONS:
                distinct.setdefault(_canonical(obj), obj)
    tools = deploy_tools()
    script = tools.node_modules.parent / "validate-custom-resources.mjs"
    script.write_text((DEPLOY.parent / "tests/deploy/tools/validate-custom-resources.mjs").read_text())
    result = subprocess.run(
        [tools.node, str(script)],
        input=json.dumps(list(distinct.values())),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return dict(zip(distinct, json.loads(result.stdout), strict=True))


def test_the_chart_lints_with_and_without_its_nats_dependency() -> None:
    from swarmscope_deploy_support import CHART, helm, renderable_chart

    # As shipped: the only finding is the NATS chart that `helm dependency build` fetches.
    shipped = helm("lint", str(CHART))
    warnings = [line for line in shipped.splitlines() if line.startswith(("[WARNING]", "[ERROR]"))]
    assert len(warnings) == 1, shipped
    assert "missing these dependencies: nats" in warnings[0], shipped
    # Everything else lints clean, strictly, for the default and for every part switched on.
    helm("lint", "--strict", str(renderable_chart()))
    for name, values in chart_combinations()[-3:]:
        with open(renderable_chart().parent / f"{name}.json", "w") as f:
            json.dump(values, f)
        helm("lint", "--strict", str(renderable_chart()), "-f", f.name)


@pytest.mark.parametrize("rendering", ALL)
def test_every_builtin_object_validates_against_the_kubernetes_schema(rendering: str) -> None:
    errors = [
        e
        for obj in _objects(rendering)
        if obj["kind"] not in API_VERSIONS
        for e in _builtin_errors(_canonical(obj))
    ]
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


@pytest.mark.parametrize("rendering", ALL)
def test_custom_resources_validate_against_their_crds(rendering: str) -> None:
    objects = _objects(rendering)
    results = _custom_resource_results()
    problems: list[str] = []
    for obj in objects:
        kind = obj["kind"]
        if kind not in API_VERSIONS:
            continue
        name = f"{kind}/{obj['metadata']['name']}"
        if obj["apiVersion"] != API_VERSIONS[kind]:
            problems.append(f"{name}: apiVersion {obj['apiVersion']} != {API_VERSIONS[kind]}")
        result = results[_canonical(obj)]
        if isinstance(result, list):
            problems += [f"{name}: {error}" for error in result]
        elif isinstance(result, dict):
            # CloudNativePG publishes no schema package: its required fields are checked here.
            assert kind in ("Cluster", "ScheduledBackup"), result
        # Beyond the schemas: what the operators need to act.
        if kind == "ScaledObject":
            for trigger in obj["spec"]["triggers"]:
                if trigger["type"] == "nats-jetstream":
                    problems += [
                        f"{name}: nats-jetstream trigger needs {k}"
                        for k in ("natsServerMonitoringEndpoint", "stream", "consumer", "lagThreshold")
                        if not trigger["metadata"].get(k)
                    ]
            spec = obj["spec"]
            assert 1 <= spec.get("minReplicaCount", 0) <= spec["maxReplicaCount"]
        elif kind == "Cluster":
            problems += _require(obj, "spec.instances", "spec.storage.size", "spec.bootstrap.initdb.database")
            assert isinstance(obj["spec"]["instances"], int)
            sync = obj["spec"].get("postgresql", {}).get("synchronous")
            if sync:
                # A synchronous standby that cannot exist would block every commit.
                assert sync["number"] < obj["spec"]["instances"], "synchronous.number must be < instances"
                assert sync["method"] in ("any", "first")
        elif kind == "ScheduledBackup":
            problems += _require(obj, "spec.schedule", "spec.cluster.name")
            assert len(obj["spec"]["schedule"].split()) == 6, "CNPG schedules have six fields (seconds first)"
            cluster = named(objects, "Cluster", obj["spec"]["cluster"]["name"])
            assert "backup" in cluster["spec"], "a ScheduledBackup needs the Cluster's backup configuration"
        elif kind == "PrometheusRule":
            for group in obj["spec"]["groups"]:
                for rule in group["rules"]:
                    assert ("alert" in rule) != ("record" in rule), rule
    assert not problems, "\n".join(problems)


def test_the_crd_validators_catch_mistakes() -> None:
    [scaled, *_] = by_kind(render_overlay("prod"), "ScaledObject")
    broken = json.loads(json.dumps(scaled))
    broken["spec"]["minReplicaCount"] = "2"
    del broken["spec"]["scaleTargetRef"]["name"]
    [route] = by_kind(render_base_with(("gateway-api",)), "HTTPRoute")
    broken_route = json.loads(json.dumps(route))
    broken_route["spec"]["rules"][0]["backendRefs"][0]["port"] = "http"
    tools = deploy_tools()
    script = tools.node_modules.parent / "validate-custom-resources.mjs"
    script.write_text((DEPLOY.parent / "tests/deploy/tools/validate-custom-resources.mjs").read_text())
    out = subprocess.run(
        [tools.node, str(script)],
        input=json.dumps([broken, broken_route]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    scaled_errors, route_errors = json.loads(out)
    assert any("minReplicaCount" in e for e in scaled_errors)
    assert any("scaleTargetRef" in e for e in scaled_errors)
    assert any("port" in e for e in route_errors)


@pytest.mark.parametrize("rendering", ALL)
def test_every_swarmscope_service_is_deployed_with_probes_resources_and_a_hardened_context(
    rendering: str,
) -> None:
    objects = _objects(rendering)
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/name"]: d for d in by_kind(objects, "Deployment")
    }
    assert set(SERVICES) | {"frontend"} <= set(deployments)
    grace = ServiceSettings().shutdown_grace_seconds
    for name in (*SERVICES, "frontend"):
        assert deployments[name]["metadata"]["name"] == f"{RELEASE}-{name}"
        spec = pod_spec(deployments[name])
        [container] = spec["containers"]
        assert image_service(container["image"]) == name, container["image"]
        tag = container["image"].rsplit(":", 1)[1]
        assert tag not in ("latest", ""), container["image"]
        assert container["imagePullPolicy"] == "IfNotPresent"
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


@pytest.mark.parametrize("rendering", ALL)
def test_services_select_pods_and_name_their_ports(rendering: str) -> None:
    objects = _objects(rendering)
    pods = {
        w["metadata"]["name"]: (w["spec"]["template"]["metadata"]["labels"], pod_spec(w))
        for w in workloads(objects)
        if w["kind"] != "Job"
    }
    for service in by_kind(objects, "Service"):
        selector = service["spec"]["selector"]
        matching = [n for n, (labels, _) in pods.items() if selector.items() <= labels.items()]
        assert len(matching) == 1, f"Service {service['metadata']['name']} selects {matching}"
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            container_ports = {
                p.get("name") for c in pods[matching[0]][1]["containers"] for p in c.get("ports", [])
            }
            assert target in container_ports, (
                f"Service {service['metadata']['name']} → {matching[0]}:{target}"
            )
    # OTLP/HTTP: the Service port collectors' otlphttp exporters use, onto the gateway's HTTP port.
    gateway = named(objects, "Service", f"{RELEASE}-gateway")
    ports = {p["name"]: p for p in gateway["spec"]["ports"]}
    assert ports["otlp-http"]["port"] == 4318
    assert ports["otlp-http"]["targetPort"] == "http"
    assert ports["http"]["port"] == 8000


def _entry_backends(objects: tuple[Obj, ...]) -> list[tuple[str, str, Any]]:
    """(path, Service name, port) of every Ingress and HTTPRoute route."""
    routes = []
    for ingress in by_kind(objects, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]
                routes.append(
                    (path["path"], service["name"], service["port"].get("name") or service["port"]["number"])
                )
    for route in by_kind(objects, "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            for match in rule["matches"]:
                for backend in rule["backendRefs"]:
                    routes.append((match["path"]["value"], backend["name"], backend["port"]))
    return routes


@pytest.mark.parametrize("rendering", ALL)
def test_the_public_entry_routes_the_ui_and_otlp_to_real_service_ports(rendering: str) -> None:
    objects = _objects(rendering)
    services = {s["metadata"]["name"]: s for s in by_kind(objects, "Service")}
    routes = _entry_backends(objects)
    for path, service, port in routes:
        assert service in services, (path, service)
        ports = services[service]["spec"]["ports"]
        assert any(port in (p["name"], p["port"]) for p in ports), (path, service, port)
    if routes:
        by_path = {path: service for path, service, _ in routes}
        assert by_path["/"] == f"{RELEASE}-frontend"
        assert by_path["/v1/traces"] == f"{RELEASE}-gateway"


@pytest.mark.parametrize("rendering", ALL)
def test_autoscalers_and_disruption_budgets_point_at_real_workloads(rendering: str) -> None:
    objects = _objects(rendering)
    deployments = {d["metadata"]["name"]: d for d in by_kind(objects, "Deployment")}
    namespace = deployments[f"{RELEASE}-ingest"]["metadata"].get("namespace", "")
    scaled = {}
    for scaled_object in by_kind(objects, "ScaledObject"):
        target = scaled_object["spec"]["scaleTargetRef"]["name"]
        assert target in deployments
        trigger = scaled_object["spec"]["triggers"][0]["metadata"]
        scaled[target.removeprefix(f"{RELEASE}-")] = (trigger["stream"], trigger["consumer"])
        # KEDA runs in its own namespace: the endpoint must name the namespace NATS is in.
        host = trigger["natsServerMonitoringEndpoint"].split(":")[0]
        assert host.endswith(f"-headless.{namespace}.svc.cluster.local"), host
        # An autoscaled Deployment has no replicas field: an apply would reset the scaler's count.
        assert "replicas" not in deployments[target]["spec"], target
    # Each scales on the lag of exactly the durable the service consumes.
    expected = {
        "ingest": (STREAM_RAW, "ingest"),
        "store": (STREAM_EVENTS, "store"),
        "replay": (STREAM_EVENTS, "replay"),
    }
    assert {k: expected[k] for k in scaled} == scaled
    assert set(scaled.values()) <= set(DURABLES)
    for name in ("ingest", "store"):
        if name not in scaled:
            assert deployments[f"{RELEASE}-{name}"]["spec"]["replicas"] >= 1

    for hpa in by_kind(objects, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-gateway"
        assert "replicas" not in deployments[f"{RELEASE}-gateway"]["spec"]
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]

    # Replay scales out by session: several replicas, partitions on (each replica leases its own
    # ordinal and durable, so a rollout may overlap old and new pods).
    replay = deployments[f"{RELEASE}-replay"]["spec"]
    if "replay" not in scaled:
        assert replay["replicas"] >= 2
    configmaps = {c["metadata"]["name"]: c for c in by_kind(objects, "ConfigMap")}
    assert int(configmaps[f"{RELEASE}-config"]["data"]["SWARMSCOPE_REPLAY_PARTITIONS"]) >= 8

    covered = set()
    for pdb in by_kind(objects, "PodDisruptionBudget"):
        assert "maxUnavailable" in pdb["spec"], "minAvailable would block drains of single replicas"
        selector = pdb["spec"]["selector"]["matchLabels"]
        matching = [
            n
            for n, d in deployments.items()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, f"PDB {pdb['metadata']['name']} matches {matching}"
        covered.update(matching)
    assert {f"{RELEASE}-{s}" for s in (*SERVICES, "frontend")} <= covered


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


def _peers_allowed(
    policies: list[Obj], direction: str, labels: dict[str, str], port: int
) -> list[Obj] | None:
    """The peers (from/to entries) the policies selecting `labels` allow in `direction` on `port`;
    None when no policy of that direction selects the pod (everything is allowed)."""
    peers: list[Obj] = []
    key = "from" if direction == "ingress" else "to"
    selected = False
    for policy in policies:
        if not _selects(policy["spec"]["podSelector"], labels):
            continue
        if direction.capitalize() not in policy["spec"].get("policyTypes", ["Ingress"]):
            continue
        selected = True
        for rule in policy["spec"].get(direction) or []:
            ports = {p["port"] for p in rule.get("ports", [])}
            if ports and port not in ports:
                continue
            # A rule without peers allows every peer.
            peers.extend(rule.get(key) or [{"ipBlock": {"cidr": "0.0.0.0/0"}}])
    return peers if selected else None


NATS_LABELS = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats"}


def _app(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/part-of": "swarmscope",
    }


def _allows(peers: list[Obj] | None, labels: dict[str, str] | None) -> bool:
    """Whether a same-namespace pod with `labels` (None: a server outside the cluster) is allowed."""
    if peers is None:
        return True
    for peer in peers:
        if "ipBlock" in peer:
            return True
        same_namespace = "podSelector" in peer and "namespaceSelector" not in peer
        if labels is not None and same_namespace and _selects(peer["podSelector"], labels):
            return True
    return False


def _postgres_pods(objects: tuple[Obj, ...]) -> dict[str, str] | None:
    """The labels of the Postgres pods of a rendering; None when Postgres is external."""
    for cluster in by_kind(objects, "Cluster"):
        return {"cnpg.io/cluster": cluster["metadata"]["name"]}
    for stateful in by_kind(objects, "StatefulSet"):
        if stateful["metadata"]["labels"].get("app.kubernetes.io/name") == "postgres":
            labels: dict[str, str] = stateful["spec"]["template"]["metadata"]["labels"]
            return labels
    return None


def _nats_pods(rendering: str) -> dict[str, str]:
    # The official chart's pod labels; in the chart's own release with nats.enabled, its instance.
    instance = RELEASE if "nats" in rendering.removeprefix("helm:").split("+") else "nats"
    return {**NATS_LABELS, "app.kubernetes.io/instance": instance}


@pytest.mark.parametrize("rendering", [r for r in ALL if not r.startswith("helm:") or "networkPolicy" in r])
def test_network_policies_allow_exactly_the_architecture_flows(rendering: str) -> None:
    objects = _objects(rendering)
    policies = by_kind(objects, "NetworkPolicy")
    [deny] = [p for p in policies if p["metadata"]["name"] == f"{RELEASE}-default-deny"]
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    for workload in workloads(objects):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert _selects(deny["spec"]["podSelector"], labels), workload["metadata"]["name"]
    nats = _nats_pods(rendering)
    postgres = _postgres_pods(objects)
    redis = _app("redis")
    # The flows of ARCHITECTURE.md (and the storage each service owns).
    flows = [
        ("ingest", nats, 4222),
        ("store", nats, 4222),
        ("replay", nats, 4222),
        ("gateway", nats, 4222),
        ("store", postgres, 5432),
        ("replay", postgres, 5432),
        ("migrate", postgres, 5432),
        ("replay", redis, 6379),
        ("gateway", redis, 6379),
        ("frontend", _app("gateway"), 8000),
    ]
    for source, destination, port in flows:
        assert _allows(_peers_allowed(policies, "egress", _app(source), port), destination), (source, port)
        if destination is not None:
            assert _allows(_peers_allowed(policies, "ingress", destination, port), _app(source)), (
                source,
                port,
            )
    # And not the others: the frontend never reaches NATS or Postgres, ingest never Postgres.
    forbidden = [
        ("frontend", nats, 4222),
        ("frontend", postgres, 5432),
        ("ingest", postgres, 5432),
        ("gateway", postgres, 5432),
        ("ingest", redis, 6379),
    ]
    for source, destination, port in forbidden:
        assert not _allows(_peers_allowed(policies, "egress", _app(source), port), destination), (
            source,
            port,
        )
    # Agents and collectors (pods labelled swarmscope.io/agent) reach the gateway's HTTP port.
    peers = _peers_allowed(policies, "ingress", _app("gateway"), 8000) or []
    assert any(p.get("podSelector", {}).get("matchLabels") == {"swarmscope.io/agent": "true"} for p in peers)
    # Prometheus reaches every service's metrics port; KEDA reaches the NATS monitoring port.
    for service, port in (("ingest", 8101), ("store", 8102), ("replay", 8103), ("gateway", 8100)):
        peers = _peers_allowed(policies, "ingress", _app(service), port) or []
        assert any(
            p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            == "monitoring"
            for p in peers
        ), service
    nats_policy = _peers_allowed(policies, "ingress", nats, 8222)
    if nats_policy is not None:
        assert any(
            p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "keda"
            for p in nats_policy
        )
    # Every workload has a policy of its own besides the default deny.
    for workload in workloads(objects):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        own = [
            p
            for p in policies
            if p is not deny
            and p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
            and _selects(p["spec"]["podSelector"], labels)
        ]
        assert own, f"{workload['metadata']['name']} has no NetworkPolicy of its own"


@pytest.mark.parametrize("rendering", [*FULL, "kustomize:dev"])
def test_secrets_referenced_exist_or_are_documented(rendering: str) -> None:
    objects = _objects(rendering)
    # container_envs resolves every reference and fails on an unknown one.
    envs = list(container_envs(objects))
    assert envs
    operations = (DEPLOY.parent / "docs" / "operations.md").read_text()
    for secret in (
        "swarmscope-gateway",
        "swarmscope-database",
        "swarmscope-backup-s3",
        "swarmscope-tls",
        "swarmscope-pg-app",
    ):
        assert secret in operations, f"docs/operations.md must say how {secret} is created"
    for cluster in by_kind(objects, "Cluster"):
        # The CloudNativePG application Secret is <cluster>-app.
        assert cluster["metadata"]["name"] + "-app" == "swarmscope-pg-app"
    for ingress in by_kind(objects, "Ingress"):
        for tls in ingress["spec"].get("tls", []):
            assert tls["secretName"] == "swarmscope-tls"


# The base names no public host: each overlay sets it, and SWARMSCOPE_ALLOWED_ORIGINS with it.
WITH_PUBLIC_HOST = [
    "kustomize:dev",
    "kustomize:prod",
    *(r for r in ALL if _is_helm(r) and ("ingress" in r or "httpRoute" in r)),
]


@pytest.mark.parametrize("rendering", WITH_PUBLIC_HOST)
def test_the_gateway_accepts_websockets_from_the_public_ui(rendering: str) -> None:
    # Behind the ingress and the frontend's nginx the gateway sees plain HTTP, so the browser's
    # Origin (the public host, https when TLS covers it) must be in its allowlist.
    objects = _objects(rendering)
    allowed = named(objects, "ConfigMap", "swarmscope-config")["data"]["SWARMSCOPE_ALLOWED_ORIGINS"].split(
        ","
    )
    for ingress in by_kind(objects, "Ingress"):
        tls_hosts = {host for tls in ingress["spec"].get("tls", []) for host in tls["hosts"]}
        for rule in ingress["spec"]["rules"]:
            scheme = "https" if rule["host"] in tls_hosts else "http"
            assert f"{scheme}://{rule['host']}" in allowed, (rule["host"], allowed)
    for route in by_kind(objects, "HTTPRoute"):
        for host in route["spec"]["hostnames"]:
            assert f"https://{host}" in allowed, (host, allowed)


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
    # Dev needs no operator: no custom resource at all, Postgres in a StatefulSet.
    assert not [o for o in dev if o["kind"] in API_VERSIONS]
    assert named(dev, "StatefulSet", "swarmscope-postgres")["spec"]["replicas"] == 1
    for obj in workloads(prod):
        for container in pod_spec(obj)["containers"]:
            assert not container["image"].endswith((":latest", ":dev")), container["image"]
    # Backups only in prod.
    assert by_kind(prod, "ScheduledBackup")
    assert not by_kind(dev, "ScheduledBackup")


def test_the_base_needs_no_operator_and_each_component_only_its_own() -> None:
    base = render_base_with(())
    assert not [o for o in base if o["kind"] in API_VERSIONS], "the base must apply on any cluster"
    owners = {
        "cnpg": {"Cluster"},
        "keda": {"ScaledObject"},
        "monitoring": {"ServiceMonitor", "PrometheusRule"},
        "gateway-api": {"HTTPRoute"},
        "ingress": set(),
    }
    for component, kinds in owners.items():
        custom = {o["kind"] for o in render_base_with((component,)) if o["kind"] in API_VERSIONS}
        assert custom == kinds, component


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
