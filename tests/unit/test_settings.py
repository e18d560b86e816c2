"""Settings from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wren.settings import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WREN_DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url is None
    assert (settings.pool_size, settings.max_overflow, settings.pool_timeout) == (20, 0, 5.0)


def test_plain_postgres_urls_get_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WREN_DATABASE_URL", "postgresql://u@db:5432/wren")
    assert Settings(_env_file=None).database_url == "postgresql+asyncpg://u@db:5432/wren"  # type: ignore[call-arg]


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WREN_POOL_SIZE", "0")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
