"""The measured operations: their documents, variables and comparable answers."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

# name -> (document, variables); "$HANDLE" cycles user1..userN per request,
# "$DEEP" is the cursor of the 10,000th post of the timeline.
OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Timeline": ("Timeline", {"first": 20, "after": None}),
    "TimelineDeep": ("Timeline", {"first": 20, "after": "$DEEP"}),
    "Directory": ("Directory", {"first": 50}),
    "UserByHandle": ("UserByHandle", {"handle": "$HANDLE"}),
    "Profile": ("Profile", {"handle": "$HANDLE"}),
    "Leaderboard": ("Leaderboard", {"first": 50}),
    "LeaderboardCold": ("Leaderboard", {"first": 50}),
    "Feed": ("Feed", {"first": 20, "after": None}),
}
# Warm requests timed after each LeaderboardCold request.
WARM_AFTER_COLD = 10
# The peers implement only these; their cursors are not Wren's.
PEER_OPS = {"Timeline", "Directory", "UserByHandle"}
# Operations of the soak's mixed load.
SOAK_OPS = ["Timeline", "Directory", "UserByHandle", "Profile", "Leaderboard", "TimelineDeep"]
CURSOR_FIELDS = {"cursor", "startCursor", "endCursor"}

Payload = dict[str, Any]


def payload_for(op: str, ops_dir: Path, deep: str) -> Payload | None:
    """The request body of an operation, or None when the server has no document for it."""
    doc_name, variables = OPERATIONS[op]
    path = ops_dir / f"{doc_name}.graphql"
    if not path.exists():
        return None
    values = {k: deep if v == "$DEEP" else v for k, v in variables.items()}
    return {"query": path.read_text(), "variables": values, "operationName": doc_name}


def concrete(payload: Payload, i: int) -> Payload:
    """The payload with $HANDLE replaced by user<i>."""
    variables = {k: f"user{i}" if v == "$HANDLE" else v for k, v in payload["variables"].items()}
    return {**payload, "variables": variables}


def data_sha(data: Any) -> str:
    """A short hash of an answer's data, compared across servers."""
    # Compared without cursors and with ids decoded: each server encodes them its way.
    comparable = json.dumps(without_cursors(data), sort_keys=True).encode()
    return hashlib.sha256(comparable).hexdigest()[:12]


def without_cursors(data: Any) -> Any:
    """The data without cursors, ids decoded: each server encodes them its own way."""
    if isinstance(data, dict):
        return {
            k: decoded_id(v) if k == "id" else without_cursors(v)
            for k, v in data.items()
            if k not in CURSOR_FIELDS
        }
    if isinstance(data, list):
        return [without_cursors(v) for v in data]
    return data


def decoded_id(value: Any) -> Any:
    """A base64 global id as its text (`User:41`), padded or not; anything else as it is."""
    if not isinstance(value, str):
        return value
    # Either alphabet: Wren's ids are URL-safe base64, the floor's standard base64.
    standard = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return value
