"""GraphiQL from Wren's own origin: the page, its pinned scripts and styles, their headers.

The files live in `wren/graphiql/`: GraphiQL, React and the explorer plugin as published on
npm (`scripts/refresh-graphiql` fetches them and records their hashes in `manifest.json`),
and Wren's own bootstrap script and stylesheet. The page loads nothing from anywhere else,
so GraphiQL works offline, and its Content-Security-Policy lets a browser run nothing else.
Each file's URL carries its own hash, so a browser may keep it for a year: a new version is
a new URL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from wren.http import responses

if TYPE_CHECKING:
    from starlette.requests import Request

ASSETS = Path(__file__).resolve().parent.parent / "graphiql"
STATIC_PATH = "/graphql/static"

# In load order: the libraries put React, ReactDOM, GraphiQL and GraphiQLPluginExplorer on
# `window`, the bootstrap uses them.
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
    "wren-graphiql.js",
)
STYLES = ("graphiql.min.css", "plugin-explorer.css", "wren-graphiql.css")
# Wren's own files beside the fetched ones (which manifest.json lists).
OWN = ("wren-graphiql.js", "wren-graphiql.css")

# The one inline style GraphiQL needs: the <style> element its dialogs (settings, short
# keys) add to lock the page's scrolling, the same text whenever the page has no scrollbar
# to make room for (wren-graphiql.css sees to that). The browser test opens a dialog.
_DIALOG_STYLE = "'sha256-Y/huXlwoYkVyQlxwSVcCi1RCDGDCSVBzDt0hYP9qlTc='"

# GraphiQL's fonts and icons are data: URLs inside its stylesheet; everything else, the
# GraphQL requests and the subscriptions' WebSocket included, is this origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        f"style-src 'self' {_DIALOG_STYLE}",
        "connect-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
_PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
_ASSET_HEADERS = {
    "cache-control": "public, max-age=31536000, immutable",
    "x-content-type-options": "nosniff",
}
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    """One served file, read once per process."""

    name: str
    body: bytes
    digest: str

    @property
    def media_type(self) -> str:
        """Its Content-Type, from its extension."""
        return _MEDIA_TYPES[Path(self.name).suffix]

    @property
    def href(self) -> str:
        """Its URL relative to the page at /graphql (so a path prefix in front still works)."""
        return f"{STATIC_PATH.lstrip('/')}/{self.digest}/{self.name}"


@cache
def assets() -> dict[str, Asset]:
    """Every file the page loads, by name (read on first use, not when an app is built)."""
    found = {}
    for name in (*SCRIPTS, *STYLES):
        body = (ASSETS / name).read_bytes()
        found[name] = Asset(name, body, hashlib.sha256(body).hexdigest()[:16])
    return found


@cache
def page_html() -> str:
    """The GraphiQL page: links to the served files only, no inline script or style."""
    files = assets()
    styles = "".join(f'    <link rel="stylesheet" href="{files[name].href}">\n' for name in STYLES)
    scripts = "".join(f'    <script src="{files[name].href}" defer></script>\n' for name in SCRIPTS)
    return (
        "<!doctype html>\n"
        '<html lang="en">\n'
        "  <head>\n"
        '    <meta charset="utf-8">\n'
        '    <meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "    <title>Wren GraphiQL</title>\n"
        # No favicon request (it would 404): an empty icon.
        '    <link rel="icon" href="data:,">\n'
        f"{styles}{scripts}"
        "  </head>\n"
        "  <body>\n"
        '    <div id="graphiql">Loading GraphiQL...</div>\n'
        "  </body>\n"
        "</html>\n"
    )


def page() -> responses.Response:
    """The page's response, with its Content-Security-Policy."""
    headers = {"content-type": "text/html; charset=utf-8", **_PAGE_HEADERS}
    return responses.Response(page_html().encode(), 200, headers)


async def asset(request: Request) -> Response:
    """One of the page's files, when the URL's hash is that file's (else 404)."""
    found = assets().get(request.path_params["name"])
    if found is None or found.digest != request.path_params["digest"]:
        return PlainTextResponse("Not found.", 404)
    return Response(found.body, media_type=found.media_type, headers=_ASSET_HEADERS)


def assets_route() -> Route:
    """The route serving the page's files (GET and HEAD)."""
    return Route(f"{STATIC_PATH}/{{digest}}/{{name}}", asset, methods=["GET"])
