"""The Kubernetes manifests of deploy/k8s agree with the app they deploy.

Parsed with PyYAML (no cluster here): the kinds a deployment needs, probes on routes the
app serves, ports that are the ones its settings listen on, ConfigMap keys that are
settings, and a grace period long enough for the shutdown those settings ask for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from wren.app import create_app
from wren.settings import Settings

K8S = Path(__file__).resolve().parent.parent.parent / "deploy" / "k8s"
KINDS = {
    "ConfigMap",
    "Secret",
    "Job",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
}
# What the lifespan may take to close the pool and Redis after the last request.
LIFESPAN_CLOSE = 5


def load() -> dict[str, dict[str, Any]]:
    """Every manifest of kustomization.yaml's resources, by kind."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {}
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((K8S / name).read_text()):
            assert document["kind"] not in manifests, f"two {document['kind']}s"
            manifests[document["kind"]] = document
    return manifests


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    return load()


@pytest.fixture(scope="module")
def container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [found] = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    spec: dict[str, Any] = found
    return spec


@pytest.fixture(scope="module")
def settings(manifests: dict[str, dict[str, Any]]) -> Settings:
    """The settings a pod runs with: the ConfigMap, and the Secret's values."""
    config = manifests["ConfigMap"]["data"]
    secret = manifests["Secret"]["stringData"]
    env = {k.removeprefix("WREN_").lower(): v for k, v in {**config, **secret}.items()}
    # The Secret's placeholder is empty on purpose (production refuses it).
    env["jwt_secret"] = "x" * 32
    return Settings(_env_file=None, **env)


def test_every_file_is_listed_and_every_kind_is_there(manifests: dict[str, Any]) -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(manifests) == KINDS


def test_configmap_and_secret_keys_are_settings(manifests: dict[str, Any]) -> None:
    keys = {**manifests["ConfigMap"]["data"], **manifests["Secret"]["stringData"]}
    for key in keys:
        assert key.startswith("WREN_")
        assert key.removeprefix("WREN_").lower() in Settings.model_fields, key
    assert {"WREN_DATABASE_URL", "WREN_REDIS_URL", "WREN_JWT_SECRET"} <= set(
        manifests["Secret"]["stringData"]
    )
    # Values of a ConfigMap are strings (a bare 8000 is refused by the API server).
    assert all(isinstance(v, str) for v in manifests["ConfigMap"]["data"].values())


def test_production_refuses_the_placeholder_secret(manifests: dict[str, Any]) -> None:
    env = {
        k.removeprefix("WREN_").lower(): v
        for k, v in {**manifests["ConfigMap"]["data"], **manifests["Secret"]["stringData"]}.items()
    }
    with pytest.raises(ValueError, match="WREN_JWT_SECRET"):
        Settings(_env_file=None, **env)


def test_the_pods_read_the_configmap_and_the_secret(
    manifests: dict[str, Any], container: dict[str, Any]
) -> None:
    sources = {next(iter(s)): next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert sources == {
        "configMapRef": manifests["ConfigMap"]["metadata"]["name"],
        "secretRef": manifests["Secret"]["metadata"]["name"],
    }
    job = manifests["Job"]["spec"]["template"]["spec"]["containers"][0]
    assert job["envFrom"] == container["envFrom"]
    assert job["command"] == ["wren", "migrate"]
    assert container["command"] == ["wren", "serve"]


def test_probes_ask_the_routes_the_app_serves_on_the_port_it_listens_on(
    container: dict[str, Any], settings: Settings
) -> None:
    paths = {getattr(route, "path", None) for route in create_app(settings).routes}
    [port] = container["ports"]
    assert port["containerPort"] == settings.port
    probes = {name: container[name]["httpGet"] for name in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in [*probes.values(), container["startupProbe"]["httpGet"]]:
        assert probe["path"] in paths
        assert probe["port"] in (port["name"], port["containerPort"])
    # /readyz answers within its own 0.8 s probe budget (wren.health): under the timeout.
    assert container["readinessProbe"]["timeoutSeconds"] >= 1
    assert settings.host == "0.0.0.0"  # noqa: S104 - a pod is reached on its own address


def test_the_grace_period_covers_the_drain_and_the_shutdown_timeout(
    manifests: dict[str, Any], container: dict[str, Any], settings: Settings
) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    needed = pre_stop + settings.shutdown_drain + settings.shutdown_timeout + LIFESPAN_CLOSE
    assert settings.shutdown_drain > 0
    assert pod["terminationGracePeriodSeconds"] >= needed
    # The drain outlasts the time the readiness probe takes to fail.
    readiness = container["readinessProbe"]
    assert settings.shutdown_drain >= readiness["periodSeconds"] * readiness["failureThreshold"]


def test_service_hpa_and_budget_select_the_deployments_pods(manifests: dict[str, Any]) -> None:
    deployment = manifests["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = manifests["Service"]["spec"]
    assert service["selector"].items() <= labels.items()
    [port] = service["ports"]
    assert port["targetPort"] == "http"
    pdb = manifests["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    # At the fewest pods the budget still lets one go, and a rollout never drops below.
    assert hpa["minReplicas"] - pdb["maxUnavailable"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_database_connections_of_every_pod_fit_in_the_budget(
    manifests: dict[str, Any], settings: Settings
) -> None:
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    per_pod = settings.workers * (settings.pool_size + settings.max_overflow)
    # PgBouncer's default max_client_conn.
    assert hpa["maxReplicas"] * per_pod <= 100
