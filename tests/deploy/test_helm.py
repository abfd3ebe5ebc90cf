"""The Helm chart: it renders what the kustomize base renders (so the two cannot drift), pins its
images to its appVersion, runs the migration as a hook at the right moment, wires an enabled NATS
subchart by the official chart's names, and refuses values that cannot work."""

from __future__ import annotations

import base64
import json
import subprocess
import tomllib
from typing import Any

import pytest
import yaml
from swarmscope_deploy_support import (
    CHART,
    DEPLOY,
    RELEASE,
    ROOT,
    SERVICES,
    by_kind,
    deploy_tools,
    named,
    pod_spec,
    render_base_with,
    render_chart,
    renderable_chart,
)

Obj = dict[str, Any]

CHART_META = yaml.safe_load((CHART / "Chart.yaml").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())

# What makes a container: compared whole between the chart and the base.
CONTAINER_FIELDS = (
    "name",
    "image",
    "imagePullPolicy",
    "args",
    "env",
    "envFrom",
    "ports",
    "startupProbe",
    "livenessProbe",
    "readinessProbe",
    "lifecycle",
    "resources",
    "securityContext",
    "volumeMounts",
)
POD_FIELDS = (
    "serviceAccountName",
    "automountServiceAccountToken",
    "terminationGracePeriodSeconds",
    "securityContext",
    "volumes",
    "topologySpreadConstraints",
)


def _workload_view(obj: Obj) -> Obj:
    spec = pod_spec(obj)
    return {
        "replicas": obj["spec"].get("replicas"),
        "strategy": obj["spec"].get("strategy"),
        "selector": obj["spec"]["selector"],
        "pod": {field: spec.get(field) for field in POD_FIELDS},
        "containers": [{f: c.get(f) for f in CONTAINER_FIELDS} for c in spec["containers"]],
    }


def _service_view(obj: Obj) -> Obj:
    return {
        "type": obj["spec"].get("type", "ClusterIP"),
        "selector": obj["spec"]["selector"],
        "ports": obj["spec"]["ports"],
    }


def test_chart_and_kustomize_render_the_same_deployments_services_and_settings() -> None:
    chart, base = render_chart(), render_base_with(())
    for kind, view in (("Deployment", _workload_view), ("Service", _service_view)):
        in_chart = {o["metadata"]["name"]: view(o) for o in by_kind(chart, kind)}
        in_base = {o["metadata"]["name"]: view(o) for o in by_kind(base, kind)}
        assert sorted(in_chart) == sorted(in_base), kind
        for name in in_base:
            assert in_chart[name] == in_base[name], (
                f"{kind} {name} differs between the chart and deploy/k8s/base"
            )
    # The environment the containers share, and the migration's container.
    assert (
        named(chart, "ConfigMap", "swarmscope-config")["data"]
        == named(base, "ConfigMap", "swarmscope-config")["data"]
    )
    job_chart, job_base = named(chart, "Job", "swarmscope-migrate"), named(base, "Job", "swarmscope-migrate")
    [migrate_chart], [migrate_base] = pod_spec(job_chart)["containers"], pod_spec(job_base)["containers"]
    for field in ("image", "args", "resources", "securityContext", "volumeMounts"):
        assert migrate_chart.get(field) == migrate_base.get(field), field
    db = next(e for e in migrate_chart["env"] if e["name"] == "SWARMSCOPE_DATABASE_URL")
    assert db in migrate_base["env"]
    # The same autoscaler and disruption budgets.
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert {o["metadata"]["name"]: o["spec"] for o in by_kind(chart, kind)} == {
            o["metadata"]["name"]: o["spec"] for o in by_kind(base, kind)
        }, kind


def test_the_comparison_catches_a_drift() -> None:
    drifted = render_chart({"ingest": {"resources": {"limits": {"cpu": "2", "memory": "512Mi"}}}})
    base = render_base_with(())
    assert _workload_view(named(drifted, "Deployment", "swarmscope-ingest")) != _workload_view(
        named(base, "Deployment", "swarmscope-ingest")
    )


def test_with_every_operator_part_the_chart_matches_the_components() -> None:
    chart = render_chart(
        {
            "postgres": {"cnpg": {"enabled": True}},
            "ingest": {"keda": {"enabled": True}},
            "store": {"keda": {"enabled": True}},
            "replay": {"keda": {"enabled": True}},
            "monitoring": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
        }
    )
    kustomized = render_base_with(("cnpg", "keda", "monitoring"))
    for kind in ("ScaledObject", "ServiceMonitor", "PrometheusRule"):
        assert {o["metadata"]["name"]: o["spec"] for o in by_kind(chart, kind)} == {
            o["metadata"]["name"]: o["spec"] for o in by_kind(kustomized, kind)
        }, kind
    cluster_chart, cluster_base = (
        named(chart, "Cluster", "swarmscope-pg"),
        named(kustomized, "Cluster", "swarmscope-pg"),
    )
    assert cluster_chart["spec"] == cluster_base["spec"]
    for name in ("swarmscope-store", "swarmscope-replay"):
        [c_chart] = pod_spec(named(chart, "Deployment", name))["containers"]
        [c_base] = pod_spec(named(kustomized, "Deployment", name))["containers"]
        db = next(e for e in c_chart["env"] if e["name"] == "SWARMSCOPE_DATABASE_URL")
        assert db in c_base["env"], name


def test_images_default_to_the_app_version_and_never_latest() -> None:
    version = CHART_META["appVersion"]
    versions = {
        tomllib.loads((ROOT / "services" / s / "pyproject.toml").read_text())["project"]["version"]
        for s in SERVICES
    }
    assert versions == {version}, "the chart's appVersion is the services' release"
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "base" / "kustomization.yaml").read_text())
    assert {image["newTag"] for image in kustomization["images"]} == {version}
    images = {
        c["image"]
        for o in render_chart()
        if o["kind"] in ("Deployment", "Job")
        for c in pod_spec(o)["containers"]
    }
    assert {i for i in images if i.startswith("swarmscope/")} == {
        f"swarmscope/{s}:{version}" for s in (*SERVICES, "frontend")
    }
    pinned = render_chart({"image": {"registry": "registry.example.com/", "tag": "1.2.3"}})
    assert (
        named(pinned, "Deployment", "swarmscope-store")["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example.com/swarmscope/store:1.2.3"
    )
    with pytest.raises(AssertionError, match="image/tag"):
        render_chart({"image": {"tag": "latest"}})


def _hook(obj: Obj) -> str:
    return str(obj["metadata"].get("annotations", {}).get("helm.sh/hook", ""))


def _env(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env", [])}


def test_the_migration_runs_before_the_services_of_an_install_or_upgrade() -> None:
    objects = render_chart()
    job = named(objects, "Job", "swarmscope-migrate")
    assert _hook(job) == "pre-install,pre-upgrade"
    spec = pod_spec(job)
    # A pre-install hook runs before the release's ServiceAccount and ConfigMap exist.
    assert "serviceAccountName" not in spec
    assert spec["automountServiceAccountToken"] is False
    [container] = spec["containers"]
    assert container["args"] == ["migrate"]
    assert "envFrom" not in container
    [store] = pod_spec(named(objects, "Deployment", "swarmscope-store"))["containers"]
    assert _env(store)["SWARMSCOPE_STORE_MIGRATE_ON_START"]["value"] == "false"


def test_a_database_url_value_becomes_a_secret_and_a_copy_for_the_migration() -> None:
    url = "postgresql://swarmscope:pw@db.example.com:5432/swarmscope"
    objects = render_chart({"postgres": {"external": {"url": url}}})
    secrets = {s["metadata"]["name"]: s for s in by_kind(objects, "Secret")}
    assert base64.b64decode(secrets["swarmscope-database"]["data"]["uri"]).decode() == url
    assert not _hook(secrets["swarmscope-database"])
    copy = secrets["swarmscope-migrate-database"]
    assert base64.b64decode(copy["data"]["uri"]).decode() == url
    assert _hook(copy) == "pre-install,pre-upgrade"
    annotations = copy["metadata"]["annotations"]
    # Created before the Job (lower weight), deleted once the migration succeeded.
    assert int(annotations["helm.sh/hook-weight"]) < 0
    assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"]
    job = named(objects, "Job", "swarmscope-migrate")
    [container] = pod_spec(job)["containers"]
    ref = _env(container)["SWARMSCOPE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "swarmscope-migrate-database", "key": "uri"}
    for name in ("swarmscope-store", "swarmscope-replay"):
        [c] = pod_spec(named(objects, "Deployment", name))["containers"]
        assert _env(c)["SWARMSCOPE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "swarmscope-database",
            "key": "uri",
        }
    existing = render_chart(
        {"postgres": {"external": {"existingSecret": "my-db", "existingSecretKey": "url"}}}
    )
    assert not by_kind(existing, "Secret") or all(
        s["metadata"]["name"] != "swarmscope-database" for s in by_kind(existing, "Secret")
    )
    [c] = pod_spec(named(existing, "Job", "swarmscope-migrate"))["containers"]
    assert _env(c)["SWARMSCOPE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "my-db", "key": "url"}


def test_with_cloudnativepg_the_first_migration_follows_the_install() -> None:
    objects = render_chart({"postgres": {"cnpg": {"enabled": True}}})
    # The Cluster is part of the release: it exists only after install, so does the database.
    assert _hook(named(objects, "Job", "swarmscope-migrate")) == "post-install,pre-upgrade"
    [store] = pod_spec(named(objects, "Deployment", "swarmscope-store"))["containers"]
    # The store migrates on start (under the migration's advisory lock), so its pods become
    # ready without a post-install hook, which `helm install --wait` runs only once they are.
    assert _env(store)["SWARMSCOPE_STORE_MIGRATE_ON_START"]["value"] == "true"
    for name in ("swarmscope-store", "swarmscope-replay"):
        [c] = pod_spec(named(objects, "Deployment", name))["containers"]
        assert _env(c)["SWARMSCOPE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "swarmscope-pg-app",
            "key": "uri",
        }
    single = render_chart({"postgres": {"cnpg": {"enabled": True, "instances": 1, "synchronousStandbys": 0}}})
    assert "synchronous" not in named(single, "Cluster", "swarmscope-pg")["spec"]["postgresql"]


def test_an_enabled_nats_subchart_is_addressed_by_the_official_charts_names() -> None:
    # nats-io/k8s helm/charts/nats: fullname <release>-nats (the release name when it contains
    # "nats"), the Service of that name, <fullname>-headless, pods labelled name/instance/component.
    objects = render_chart(
        {"nats": {"enabled": True}, "ingest": {"keda": {"enabled": True}}, "networkPolicy": {"enabled": True}}
    )
    config = named(objects, "ConfigMap", "swarmscope-config")["data"]
    assert config["SWARMSCOPE_NATS_URL"] == "nats://swarmscope-nats:4222"
    [scaled] = by_kind(objects, "ScaledObject")
    assert scaled["spec"]["triggers"][0]["metadata"]["natsServerMonitoringEndpoint"] == (
        "swarmscope-nats-headless.swarmscope.svc.cluster.local:8222"
    )
    policy = named(objects, "NetworkPolicy", "swarmscope-nats")
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "nats",
        "app.kubernetes.io/component": "nats",
        "app.kubernetes.io/instance": RELEASE,
    }
    external = render_chart({"nats": {"external": {"url": "nats://nats.messaging:4222"}}})
    assert (
        named(external, "ConfigMap", "swarmscope-config")["data"]["SWARMSCOPE_NATS_URL"]
        == "nats://nats.messaging:4222"
    )


def test_the_nats_subchart_values_are_deploy_nats_values() -> None:
    standalone = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
    bundled = {k: v for k, v in VALUES["nats"].items() if k not in ("enabled", "external")}
    # The one difference: a PodMonitor needs prometheus-operator, which batteries-included must not.
    standalone["promExporter"]["podMonitor"] = {"enabled": False}
    assert bundled == standalone


def test_the_gateway_secret_is_generated_once_and_can_be_brought() -> None:
    objects = render_chart({"gateway": {"auth": {"apiKeys": ["key-one-0123456789", "key-two-0123456789"]}}})
    secret = named(objects, "Secret", "swarmscope-gateway")
    assert base64.b64decode(secret["data"]["api-keys"]).decode() == "key-one-0123456789,key-two-0123456789"
    assert len(base64.b64decode(secret["data"]["token-secret"])) >= 32
    brought = render_chart({"gateway": {"auth": {"existingSecret": "my-gateway"}}})
    assert not [s for s in by_kind(brought, "Secret") if s["metadata"]["name"] == "swarmscope-gateway"]
    [gateway] = pod_spec(named(brought, "Deployment", "swarmscope-gateway"))["containers"]
    assert _env(gateway)["SWARMSCOPE_API_KEYS"]["valueFrom"]["secretKeyRef"]["name"] == "my-gateway"


def test_the_alert_rules_and_the_dashboard_are_the_repository_files() -> None:
    objects = render_chart(
        {"monitoring": {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}}
    )
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    assert named(objects, "PrometheusRule", "swarmscope")["spec"]["groups"] == alerts["groups"]
    dashboard = named(objects, "ConfigMap", "swarmscope-dashboard")
    assert json.loads(dashboard["data"]["swarmscope.json"]) == json.loads(
        (DEPLOY / "grafana" / "swarmscope.json").read_text()
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"postgres": {"external": {"url": "postgresql://a@b/c", "existingSecret": "x"}}}, "not both"),
        ({"postgres": {"external": {"url": "mysql://a@b/c"}}}, "postgres/external/url"),
        (
            {"postgres": {"cnpg": {"enabled": True}, "external": {"url": "postgresql://a@b/c"}}},
            "CloudNativePG",
        ),
        ({"postgres": {"cnpg": {"enabled": True, "instances": 1}}}, "below instances"),
        (
            {"postgres": {"cnpg": {"enabled": True, "scheduledBackup": {"enabled": True}}}},
            "needs postgres.cnpg.backup",
        ),
        ({"httpRoute": {"enabled": True}}, "parentRefs"),
        ({"ingest": {"keda": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}}, "must not exceed"),
        ({"nats": {"external": {"url": ""}}}, "nats/external/url"),
        ({"config": {"streamReplicas": 0}}, "streamReplicas"),
        ({"gateway": {"replicas": "two"}}, "replicas"),
        ({"unknownKey": True}, "unknownKey"),
    ],
)
def test_values_that_cannot_work_fail_with_a_clear_error(values: Obj, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        render_chart(values)


def test_the_chart_packages_with_its_linked_files() -> None:
    # files/alerts.yml and files/swarmscope.json are links into deploy/: the packaged chart holds copies.
    out = subprocess.run(
        [str(deploy_tools().helm), "package", str(renderable_chart()), "-d", str(renderable_chart().parent)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "swarmscope-0.1.0.tgz" in out
    for name in ("alerts.yml", "swarmscope.json"):
        link = CHART / "files" / name
        assert link.is_symlink(), name
        assert link.resolve().is_relative_to(DEPLOY)


def test_the_gateway_metrics_port_is_scraped_and_can_be_folded_into_the_api_port() -> None:
    separate = render_chart(
        {"monitoring": {"serviceMonitor": {"enabled": True}}, "networkPolicy": {"enabled": True}}
    )
    [gateway] = pod_spec(named(separate, "Deployment", "swarmscope-gateway"))["containers"]
    assert _env(gateway)["SWARMSCOPE_GATEWAY_METRICS_PORT"]["value"] == "8100"
    assert {"name": "metrics", "containerPort": 8100} in gateway["ports"]
    monitor = named(separate, "ServiceMonitor", "swarmscope")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http", "metrics"]
    folded = render_chart(
        {
            "gateway": {"metricsPort": 0},
            "monitoring": {"serviceMonitor": {"enabled": True}},
            "networkPolicy": {"enabled": True},
        }
    )
    [gateway] = pod_spec(named(folded, "Deployment", "swarmscope-gateway"))["containers"]
    assert "SWARMSCOPE_GATEWAY_METRICS_PORT" not in _env(gateway)
    assert [p["name"] for p in named(folded, "Service", "swarmscope-gateway")["spec"]["ports"]] == [
        "http",
        "otlp-http",
    ]
    [endpoint] = named(folded, "ServiceMonitor", "swarmscope")["spec"]["endpoints"]
    assert not [r for r in endpoint["relabelings"] if r.get("action") == "drop"]
    policy = named(folded, "NetworkPolicy", "swarmscope-gateway")
    [api] = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == 8000]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in api[
        "from"
    ]
