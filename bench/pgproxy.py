"""A counting TCP proxy in front of PostgreSQL: how many round trips a server makes.

Every client round trip in the PostgreSQL protocol ends with one message the server must
answer before the client can go on: `Sync` (extended protocol, what asyncpg uses) or
`Query` (simple protocol). Counting those from the client side counts round trips,
whatever the driver sends in between (Parse, Bind, Describe, Execute). Parse messages are
counted too: a Parse of a named statement is a prepared-statement cache miss.

Only used while the benchmark counts statements (a few sequential requests): a Python
proxy would be the bottleneck under load, so load runs go to PostgreSQL directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104


@dataclass
class Counts:
    """Client messages seen, by protocol type byte."""

    messages: Counter[str] = field(default_factory=Counter)
    queries: list[str] = field(default_factory=list)
    connections: int = 0

    @property
    def round_trips(self) -> int:
        """Messages that wait for the server: Sync and simple Query."""
        return self.messages["S"] + self.messages["Q"]


class CountingProxy:
    """Listens on 127.0.0.1:<port> and forwards to PostgreSQL, counting client messages."""

    def __init__(self, upstream: tuple[str, int], port: int = 0) -> None:
        self.upstream = upstream
        self.port = port
        self.counts = Counts()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> CountingProxy:
        """Serve in a background thread; returns once listening."""
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def reset(self) -> Counts:
        """The counts so far; start counting afresh."""
        with self._lock:
            counts, self.counts = self.counts, Counts()
        return counts

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        with self._lock:
            self.counts.connections += 1
        back = asyncio.ensure_future(self._pipe(up_reader, writer))
        try:
            await self._startup(reader, up_writer)
            await self._messages(reader, up_writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            up_writer.close()
            back.cancel()
            with contextlib.suppress(Exception):
                writer.close()

    async def _startup(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        # Untyped messages until the StartupMessage; SSL/GSS requests get answered 'N'
        # by the server (local trust connections), then the client sends the startup.
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            rest = await reader.readexactly(length - 8)
            up.write(head + rest)
            await up.drain()
            if code not in (_SSL_REQUEST, _GSS_REQUEST):
                return

    async def _messages(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readexactly(5)
            kind = chr(head[0])
            (length,) = struct.unpack("!i", head[1:])
            body = await reader.readexactly(length - 4)
            with self._lock:
                self.counts.messages[kind] += 1
                if kind == "Q":
                    self.counts.queries.append(body[:-1].decode(errors="replace")[:120])
                elif kind == "P":
                    _name, _, rest = body.partition(b"\0")
                    self.counts.queries.append(
                        "PREPARE " + rest.partition(b"\0")[0].decode(errors="replace")[:112]
                    )
            up.write(head + body)
            await up.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()
