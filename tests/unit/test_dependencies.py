"""Dependencies: every import is declared, and the locks pin versions pyproject allows."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
DEV = [Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]]
FIRST_PARTY = {"wren", "tests", "bench", "deploy"}
# Packages whose private parts Wren uses: an upgrade past the bound needs those uses checked.
#   strawberry-graphql: Schema._schema, Schema._get_middleware_manager, SchemaExtensionsRunner
#   graphql-core: graphql.execution.values (get_variable_values, get_argument_values)
#   sqlalchemy: SQLCompiler._bind_processors and positiontup, sqlalchemy.util.greenlet_spawn
#   uvicorn: the worker class of uvicorn.supervisors.multiprocess; the httptools protocol
#     and its response cycle (wren.http.protocol)
INTERNALS_USED = {"strawberry-graphql", "graphql-core", "sqlalchemy", "uvicorn"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def _owners(module: str, candidates: list[str]) -> list[str]:
    """The distributions that ship `module`: of a namespace package shared by several
    (opentelemetry: api, sdk, exporters), the ones holding its longest matching subpackage."""
    if len(candidates) < 2:
        return candidates
    parts = module.split(".")
    for depth in range(len(parts), 1, -1):
        prefix = "/".join(parts[:depth])
        shipping = [
            dist
            for dist in candidates
            if any(
                str(file).startswith(f"{prefix}/") or str(file) == f"{prefix}.py"
                for file in distribution(dist).files or ()
            )
        ]
        if shipping:
            return shipping
    return candidates


def imported_distributions(*folders: str) -> dict[str, set[str]]:
    """Distribution -> the files that import it, over the Python files under folders."""
    owners = packages_distributions()
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            if any(part.startswith(".") for part in path.relative_to(ROOT).parts):
                continue  # installed tools (bench/.deps), caches: not the project's code
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    # `from opentelemetry import trace`: the name may be a subpackage.
                    modules = [f"{node.module}.{alias.name}" for alias in node.names]
                else:
                    continue
                for module in modules:
                    top = module.partition(".")[0]
                    if top in sys.stdlib_module_names or top in FIRST_PARTY | {"__future__"}:
                        continue
                    for dist in _owners(module, owners.get(top, [f"<no distribution has {top}>"])):
                        name = canonicalize_name(dist)
                        found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


def locked(path: str) -> dict[str, Version]:
    """name -> pinned version of a lock file."""
    text = (ROOT / path).read_text()
    return {canonicalize_name(n): Version(v) for n, v in PIN.findall(text)}


def test_src_imports_only_runtime_dependencies() -> None:
    undeclared = {
        dist: sorted(files)
        for dist, files in imported_distributions("src").items()
        if dist not in names(RUNTIME)
    }
    assert undeclared == {}


def test_tests_bench_and_deploy_import_only_declared_dependencies() -> None:
    declared = names(RUNTIME) | names(DEV)
    undeclared = {
        dist: sorted(files)
        for dist, files in imported_distributions("tests", "bench", "deploy").items()
        if dist not in declared
    }
    assert undeclared == {}


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [("requirements/runtime.txt", RUNTIME), ("requirements/dev.txt", RUNTIME + DEV)],
)
def test_lock_pins_every_dependency_within_its_bounds(
    lock: str, requirements: list[Requirement]
) -> None:
    pins = locked(lock)
    outside = {
        str(r): str(pins.get(canonicalize_name(r.name), "not locked"))
        for r in requirements
        if canonicalize_name(r.name) not in pins
        or not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    }
    assert outside == {}


def test_runtime_lock_has_the_versions_the_tests_ran() -> None:
    runtime, dev = locked("requirements/runtime.txt"), locked("requirements/dev.txt")
    assert runtime
    assert {name: dev.get(name) for name in runtime} == runtime


def test_packages_used_through_internals_have_upper_bounds() -> None:
    bounded = {
        canonicalize_name(r.name)
        for r in RUNTIME
        if any(spec.operator in ("<", "<=", "==", "~=") for spec in r.specifier)
    }
    assert INTERNALS_USED - bounded == set()
