"""The audit log of account events: one line each on the `wren.audit` logger.

A line names the event, the request id, the user (id and handle) where known and the
client's address; never a password, a token or a hash. Handles typed at log-in come from
the client: they are quoted (repr) and cut, so a line cannot be forged by what is typed.
"""

from __future__ import annotations

import logging

log = logging.getLogger("wren.audit")

_MAX_FIELD = 64


def _value(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(str(value)[:_MAX_FIELD])


def event(
    name: str, *, request_id: str | None, level: int = logging.INFO, **fields: object
) -> None:
    """Log one account event (fields that are None are left out)."""
    parts = [f"event={name}", f"request_id={request_id or '-'}"]
    parts += [f"{key}={_value(value)}" for key, value in fields.items() if value is not None]
    log.log(level, " ".join(parts))
