"""Custom scalars."""

from __future__ import annotations

from datetime import datetime

import strawberry


def _parse(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be a string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("DateTime needs an offset, e.g. 2026-11-24T16:41:00+00:00")
    return parsed


DateTime = strawberry.scalar(
    name="DateTime",
    description="An ISO-8601 date-time with offset, e.g. 2026-11-24T16:41:00+00:00.",
    serialize=datetime.isoformat,
    parse_value=_parse,
)
