"""The README: its relative links resolve, and its examples print what it shows.

Blocks the test runs or compares are marked with an HTML comment just before them
(`<!-- README test: ... -->`, invisible once rendered): a shell block "run in order against
a fresh `wren serve`", the block "what the block above prints", a GraphQL query and "the
answer to the query above", and what `wren serve` prints on a first start. They run in the
README's order against one first start, as a reader copying them would.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.start.conftest import FirstStart

README = ROOT / "README.md"
MARKED = re.compile(
    r"<!-- README test: (?P<what>.+?) -->\n```(?P<lang>\w*)\n(?P<body>.*?)\n```", re.S
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# What the README's examples assume about the server they talk to.
README_PORT = "127.0.0.1:8000"
README_EMBEDDED_DIR = "/var/tmp/wren/embedded"  # noqa: S108 (the default, shown only)


@dataclass
class Marked:
    """A marked block: what its comment says, its language, its text."""

    what: str
    lang: str
    body: str


def marked() -> list[Marked]:
    """The README's marked blocks, in order."""
    text = README.read_text()
    return [Marked(m["what"], m["lang"], m["body"]) for m in MARKED.finditer(text)]


def _tracked() -> set[str] | None:
    """The files git tracks (what a clone has), or None outside a git checkout."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return None
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(listed.stdout.split("\0")) - {""}


def test_every_relative_link_resolves_to_a_file_of_the_repository() -> None:
    targets = [t for t in LINK.findall(README.read_text()) if "://" not in t]
    targets = [t.split("#", 1)[0] for t in targets if not t.startswith(("#", "mailto:"))]
    assert "contract/" in targets  # the pattern finds the links at all
    tracked = _tracked()
    missing = []
    for target in targets:
        path = (ROOT / target).resolve()
        name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else None
        # With git at hand, only what a clone has counts (a folder: something in it).
        untracked = (
            tracked is not None
            and name not in tracked
            and not any(file.startswith(f"{name}/") for file in tracked)
        )
        if name is None or not path.exists() or untracked:
            missing.append(target)
    assert missing == []


def test_the_marks_name_the_blocks_they_should() -> None:
    kinds = [(block.what, block.lang) for block in marked()]
    assert kinds.count(("run in order against a fresh `wren serve`", "sh")) == 2
    assert kinds.count(("what the block above prints", "json")) == 2
    assert ("the answer to the query above", "json") in kinds
    assert ("what `wren serve` prints on a first start", "text") in kinds


def _normalised(lines: list[str], first_start: FirstStart) -> list[str]:
    """A first start's lines as the README shows them: its paths, port and pid."""
    port = str(first_start.port)
    shown = []
    for line in lines:
        line = line.replace(str(first_start.embedded_dir), README_EMBEDDED_DIR)
        line = line.replace(f"127.0.0.1:{port}", README_PORT)
        shown.append(re.sub(r"\[\d+\]", "[4242]", line))
    return shown


def test_the_first_start_prints_what_the_readme_shows(first_start: FirstStart) -> None:
    (shown,) = [b for b in marked() if b.what == "what `wren serve` prints on a first start"]
    assert _normalised(first_start.started, first_start) == shown.body.splitlines()


def _run_shell(block: str, first_start: FirstStart, workdir: Path) -> str:
    script = block.replace(README_PORT, f"127.0.0.1:{first_start.port}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=workdir, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, ""), script
    return done.stdout


def test_the_examples_print_what_the_readme_shows(first_start: FirstStart, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("the README's examples need curl (see .ci/packages)")
    blocks = marked()
    checked = 0
    previous: str | None = None
    for block in blocks:
        if block.what == "run in order against a fresh `wren serve`":
            previous = _run_shell(block.body, first_start, tmp_path)
        elif block.lang == "graphql":
            response = httpx.post(first_start.url, json={"query": block.body})
            previous = json.dumps(response.json())
        elif block.what == "what the block above prints":
            assert previous is not None
            assert previous.splitlines() == block.body.splitlines()
            checked += 1
        elif block.what == "the answer to the query above":
            assert previous is not None
            assert json.loads(previous) == json.loads(block.body)
            checked += 1
    assert checked == 3
