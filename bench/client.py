"""Sequential GraphQL requests over HTTP, timed by the client and by Server-Timing."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

from bench.operations import Payload, concrete

# (latency in s, the server's own ms from Server-Timing when it sends one)
Timed = list[tuple[float, float | None]]


def post(url: str, payload: Payload, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """POST a GraphQL request; (status, body)."""
    status, body, _ = post_timed(url, payload, headers)
    return status, body


def post_timed(
    url: str, payload: Payload, headers: dict[str, str] | None = None
) -> tuple[int, bytes, float | None]:
    """POST a GraphQL request; (status, body, the server's own ms from Server-Timing)."""
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), server_ms(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), server_ms(error.headers)


def server_ms(headers: Message) -> float | None:
    """The `dur` of a Server-Timing header (Wren sends `app;dur=<ms>`), if there is one."""
    match = re.search(r"dur=([0-9.]+)", headers.get("server-timing") or "")
    return float(match.group(1)) if match else None


def viewer_token(url: str) -> str | None:
    """A token from `logIn(handle, password) { token }` as user1, or None without one."""
    password = "wren-demo-password"  # noqa: S105 - wren.db.seed.DEMO_PASSWORD, the demo credential
    query = f'mutation {{ logIn(handle: "user1", password: "{password}") {{ token }} }}'
    _status, body = post(url, {"query": query})
    try:
        value: Any = ((json.loads(body).get("data") or {}).get("logIn") or {}).get("token")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def sequential(url: str, payload: Payload, n: int, headers: dict[str, str]) -> list[float]:
    """Latencies (s) of n sequential requests."""
    return [latency for latency, _ in sequential_timed(url, payload, n, headers)]


def sequential_timed(url: str, payload: Payload, n: int, headers: dict[str, str]) -> Timed:
    """(latency in s, server ms from Server-Timing) of n sequential requests."""
    out = []
    for i in range(1, n + 1):
        started = time.perf_counter()
        _, _, server = post_timed(url, concrete(payload, i), headers)
        out.append((time.perf_counter() - started, server))
    return out


def server_p50(timed: Timed) -> float | None:
    """Median server time (ms) of timed requests, when the server reports it."""
    values = [server for _, server in timed if server is not None]
    return percentile(values, 50) if values else None


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]
