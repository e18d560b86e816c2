"""What `wren serve` says once it listens: the URL to open and, on demo data, how to log in."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from wren.db.seed import DEMO_PASSWORD
from wren.shutdown import GracefulServer

if TYPE_CHECKING:
    import socket

    import uvicorn

    from wren.settings import Settings

log = logging.getLogger("wren")


def welcome(settings: Settings, host: str, port: int) -> str:
    """The line to print: where to point a browser, and the demo log-in when there is one."""
    # A wildcard bind address is reached on the loopback interface.
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)  # noqa: S104
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    url = f"http://{shown}:{port}/graphql"
    line = f"GraphiQL: open {url} in a browser" if settings.graphiql_enabled else f"serving {url}"
    if settings.database_url is None:
        # The embedded database is seeded on its first start (wren.app).
        line += f"; log in as user1 with the password {DEMO_PASSWORD}"
    return line


class WelcomingServer(GracefulServer):
    """Wren's server (graceful on SIGTERM), which logs the welcome line once it listens."""

    def __init__(self, config: uvicorn.Config, settings: Settings) -> None:
        super().__init__(config)
        self.settings = settings

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then say where to go."""
        await super().startup(sockets)
        if self.started:
            log.info("%s", welcome(self.settings, self.config.host, self.config.port))
