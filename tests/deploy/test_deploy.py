"""What an operations team deploys: the alerting rules (promtool), the dashboard and the
compose profile, checked against the metrics Wren exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from wren.observability.metrics import Metrics
from wren.settings import Settings

DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is needed (apt-get install prometheus)")
    return found


def exported() -> set[str]:
    """Every series name Wren's metrics can have (histograms' and counters' suffixes too)."""
    metrics = Metrics(Settings(_env_file=None, metrics_port=9100))  # type: ignore[call-arg]
    names = {"up"}
    for family in metrics.registry.collect():
        names.add(family.name)
        if family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "count", "sum")}
        elif family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def referenced(expression: str) -> set[str]:
    """Metric names in a PromQL expression (not functions, labels or keywords)."""
    without_labels = re.sub(r"\{[^}]*\}", "", expression)
    without_ranges = re.sub(r"\[[^]]*\]", "", without_labels)
    words = set(re.findall(r"(?<![\w:])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w:]|\s*\()", without_ranges))
    keywords = {"by", "sum", "max", "rate", "increase", "scalar", "ignoring", "group_left", "le",
                "histogram_quantile", "on", "without", "and", "or", "unless"}  # fmt: skip
    grouping = set(re.findall(r"by \(([^)]*)\)", without_ranges))
    labels = {label.strip() for group in grouping for label in group.split(",")}
    return {w for w in words - keywords - labels if "_" in w or w == "up"}


def test_the_rules_pass_promtool() -> None:
    tool = promtool()
    checked = subprocess.run([tool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [tool, "test", "rules", "alerts.test.yml"],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    tool = promtool()
    # The compose file mounts the rules at /etc/prometheus; here they sit beside it.
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    (tmp_path / "prometheus.yml").write_text(config.replace("/etc/prometheus/", ""))
    shutil.copy(RULES, tmp_path / "alerts.yml")
    checked = subprocess.run(
        [tool, "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    names = exported()
    rules = yaml.safe_load(RULES.read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "wren.json").read_text())
    targets = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    assert targets
    process = {"process_resident_memory_bytes", "process_cpu_seconds_total"}
    for expression in expressions + targets:
        unknown = referenced(expression.replace("$__rate_interval", "5m")) - names - process
        assert not unknown, (expression, unknown)
    # Every one of Wren's metrics is on the dashboard.
    shown = set().union(*(referenced(t.replace("$__rate_interval", "5m")) for t in targets))
    families = {
        f.name for f in Metrics(Settings(_env_file=None, metrics_port=9100)).registry.collect()
    }  # type: ignore[call-arg]
    own = {f for f in families if f.startswith(("wren_", "db_client_", "http_server_"))}
    missing = {f for f in own if not any(n == f or n.startswith(f"{f}_") for n in shown)}
    assert not missing, missing


def test_the_compose_profile_adds_prometheus() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["prometheus"]
    assert service["profiles"] == ["observability"]
    mounted = [volume.split(":")[0] for volume in service["volumes"]]
    for path in mounted:
        if path.startswith("./"):
            assert (ROOT / path).is_file(), path
    api = compose["services"]["api"]["environment"]
    scraped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [target] = scraped["scrape_configs"][0]["static_configs"][0]["targets"]
    assert target == f"api:{api['WREN_METRICS_PORT']}"
    assert api["WREN_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - inside the compose network
    # Not published: the metrics stay inside the compose network.
    assert all(api["WREN_METRICS_PORT"] not in port for port in compose["services"]["api"]["ports"])


def compose_command() -> list[str]:
    """`docker compose` (the plugin) or `docker-compose` (Debian's): no engine needed."""
    docker = shutil.which("docker")
    if (
        docker is not None
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is None:
        pytest.skip("docker compose is needed (apt-get install docker-compose)")
    return [standalone]


def test_docker_compose_accepts_the_observability_profile() -> None:
    command = compose_command()
    checked = subprocess.run(
        [*command, "--profile", "observability", "config", "--services"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "prometheus" in checked.stdout.split()
