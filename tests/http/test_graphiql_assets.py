"""GraphiQL's files: the pinned ones are those the manifest hashes, and Wren serves them all."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tomllib
from pathlib import Path
from urllib.parse import urljoin

import httpx

from tests.conftest import ROOT
from tests.http.conftest import serving
from wren.http.graphiql import ASSETS, CONTENT_SECURITY_POLICY, OWN, SCRIPTS, STYLES
from wren.settings import Settings

MANIFEST = json.loads((ASSETS / "manifest.json").read_text())


def _files() -> set[str]:
    return {path.relative_to(ASSETS).as_posix() for path in ASSETS.rglob("*") if path.is_file()}


def test_every_pinned_file_has_its_manifest_hash() -> None:
    for name, entry in MANIFEST.items():
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == entry["sha256"], name


def test_the_directory_holds_the_manifest_s_files_and_wren_s_own_only() -> None:
    assert _files() == {*MANIFEST, *OWN, "manifest.json"}
    # The page loads every fetched script and stylesheet; licenses ship beside them.
    served = {name for name in MANIFEST if not name.startswith("licenses/")}
    assert served | set(OWN) == {*SCRIPTS, *STYLES}
    assert {entry["license"] for entry in MANIFEST.values()} == {"MIT"}


def test_a_wheel_carries_every_file() -> None:
    """The package-data globs of pyproject.toml match each file (so a wheel has them all)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["wren"]
    for name in _files():
        path = f"graphiql/{name}"
        assert any(fnmatch.fnmatch(path, glob) for glob in globs), path


async def test_the_page_loads_only_files_wren_serves(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-cache"
    assert "<script>" not in page.text
    assert "<style" not in page.text
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assets = [link for link in links if not link.startswith("data:")]
    assert len(assets) == len(SCRIPTS) + len(STYLES)
    for link in assets:
        url = urljoin(str(page.url), link)
        assert url.startswith("http://wren.test/graphql/static/"), url
        response = await client.get(url)
        assert response.status_code == 200, url
        name = Path(link).name
        assert response.content == (ASSETS / name).read_bytes()
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        kind = "javascript" if name.endswith(".js") else "css"
        assert response.headers["content-type"] == f"text/{kind}; charset=utf-8"
        # The URL names the file's content: another content is another URL.
        digest = link.split("/")[-2]
        assert hashlib.sha256(response.content).hexdigest().startswith(digest)
        assert (await client.get(url.replace(digest, "0" * len(digest)))).status_code == 404


async def test_only_the_page_s_files_are_served(client: httpx.AsyncClient) -> None:
    digest = hashlib.sha256((ASSETS / "manifest.json").read_bytes()).hexdigest()[:16]
    for name in ("manifest.json", "licenses/react.LICENSE", "..%2Fhttp%2Fgraphiql.py"):
        response = await client.get(f"/graphql/static/{digest}/{name}")
        assert response.status_code == 404, name


async def test_no_files_without_graphiql(settings: Settings) -> None:
    async with serving(settings, graphiql=False) as (_, http):
        page = await http.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        name = SCRIPTS[-1]
        digest = hashlib.sha256((ASSETS / name).read_bytes()).hexdigest()[:16]
        assert (await http.get(f"/graphql/static/{digest}/{name}")).status_code == 404
