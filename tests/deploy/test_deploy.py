"""What an operations team deploys: the alerting rules (promtool), the dashboard and the
compose profile, checked against the metrics Wren exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics import MetricWrapperBase

from tests.conftest import ROOT, require
from wren.observability.metrics import Metrics
from wren.settings import Settings

DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"


def promtool() -> str:
    """promtool (Debian's prometheus package): a skip here, a failure in CI."""
    return require("promtool", "prometheus")


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


def label_names() -> dict[str, set[str]]:
    """Every metric of Wren's by its exposed name (counters with `_total`), and its labels."""
    metrics = Metrics(Settings(_env_file=None, metrics_port=9100))  # type: ignore[call-arg]
    found: dict[str, set[str]] = {}
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            suffix = "_total" if metric._type == "counter" else ""
            found[metric._name + suffix] = set(metric._labelnames)
    return found


# Labels every series has once scraped (and a histogram's bucket bound).
SCRAPE_LABELS = {"job", "instance", "le"}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside rows too."""
    found = []
    pending = list(dashboard["panels"])
    while pending:
        panel = pending.pop()
        found.append(panel)
        pending.extend(panel.get("panels", []))
    return found


def expressions() -> list[str]:
    """The alerting rules' and the dashboard's PromQL, Grafana's variables replaced."""
    rules = yaml.safe_load(RULES.read_text())
    alerts = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "wren.json").read_text())
    targets = [target["expr"] for panel in panels(dashboard) for target in panel.get("targets", [])]
    assert alerts
    assert targets
    return [e.replace("$__rate_interval", "5m") for e in alerts + targets]


def used_labels(expression: str) -> set[str]:
    """Label names an expression matches on or aggregates by."""
    matchers = re.findall(r"\{([^}]*)\}", expression)
    matched = {name for group in matchers for name in re.findall(r"([a-zA-Z_]\w*)\s*[=!]~?", group)}
    grouped = re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expression)
    return matched | {label.strip() for group in grouped for label in group.split(",") if label}


def test_rules_and_dashboard_use_only_labels_their_metrics_have() -> None:
    labels = label_names()
    for expression in expressions():
        own = {
            name
            for name in referenced(expression)
            for metric in labels
            if name == metric or name.removeprefix(metric) in ("_bucket", "_count", "_sum")
        }
        available = SCRAPE_LABELS.union(
            *(labels.get(n) or labels[re.sub(r"_(bucket|count|sum)$", "", n)] for n in own)
        )
        unknown = used_labels(expression) - available
        assert not unknown, (expression, unknown)


def test_rules_and_dashboard_parse_as_promql(tmp_path: Path) -> None:
    """promtool parses every expression (the dashboard's as recording rules)."""
    tool = promtool()
    rules = [{"record": f"wren:check{i}", "expr": e} for i, e in enumerate(expressions())]
    checked_file = tmp_path / "expressions.yml"
    checked_file.write_text(yaml.safe_dump({"groups": [{"name": "all", "rules": rules}]}))
    checked = subprocess.run(
        [tool, "check", "rules", str(checked_file)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def readme_metrics() -> dict[str, tuple[str, set[str]]]:
    """The README's metric table: name -> (type, label names)."""
    section = (ROOT / "README.md").read_text().split("### Metrics", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        row = re.match(r"\| `([a-z_]+)` \|\s*([a-z]*)\s*\|([^|]*)\|", line)
        if row:
            # Label names are the backquoted words outside parentheses (values inside).
            outside = re.sub(r"\([^)]*\)", "", row.group(3))
            rows[row.group(1)] = (row.group(2), set(re.findall(r"`([a-z_]+)`", outside)))
    return rows


def test_the_readme_lists_every_metric_with_its_labels() -> None:
    documented = readme_metrics()
    metrics = Metrics(Settings(_env_file=None, metrics_port=9100))  # type: ignore[call-arg]
    kinds = {
        m._name + ("_total" if m._type == "counter" else ""): m._type
        for m in vars(metrics).values()
        if isinstance(m, MetricWrapperBase)
    }
    exported_labels = label_names()
    assert set(documented) == set(exported_labels)
    for name, (kind, labels) in documented.items():
        assert kind == kinds[name], name
        assert labels == exported_labels[name], name


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
    process = {"process_resident_memory_bytes", "process_cpu_seconds_total"}
    for expression in expressions():
        unknown = referenced(expression) - names - process
        assert not unknown, (expression, unknown)
    # Every one of Wren's metrics is on the dashboard.
    dashboard = json.loads((DEPLOY / "grafana" / "wren.json").read_text())
    targets = [target["expr"] for panel in panels(dashboard) for target in panel.get("targets", [])]
    shown = set().union(*(referenced(t.replace("$__rate_interval", "5m")) for t in targets))
    own = {f for f in label_names() if f.startswith(("wren_", "db_client_", "http_server_"))}
    missing = {
        f
        for f in own
        if not any(n == f or n.startswith(f"{f.removesuffix('_total')}_") for n in shown)
    }
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
    return [require("docker-compose")]


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
