"""Settings from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wren.settings import DEFAULT_JWT_SECRET, Settings


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


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="WREN_JWT_SECRET"):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(_env_file=None, environment="production", jwt_secret="short")  # type: ignore[call-arg]
    secret = "s" * 32
    settings = Settings(_env_file=None, environment="production", jwt_secret=secret)  # type: ignore[call-arg]
    assert settings.jwt_secret.get_secret_value() == secret
    assert secret not in repr(settings)
    default = Settings(_env_file=None)  # type: ignore[call-arg]
    assert default.jwt_secret.get_secret_value() == DEFAULT_JWT_SECRET


def test_a_blank_secret_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WREN_JWT_SECRET", "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.jwt_secret.get_secret_value() == DEFAULT_JWT_SECRET
    monkeypatch.setenv("WREN_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="WREN_JWT_SECRET"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_cache_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.cache_namespace, settings.cache_ttl, settings.cache_report) == (
        "wren",
        600,
        False,
    )
    monkeypatch.setenv("WREN_CACHE_NAMESPACE", "has space")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_production_hides_graphiql_introspection_and_suggestions() -> None:
    secret = "s" * 32
    development = Settings(_env_file=None)  # type: ignore[call-arg]
    assert development.graphiql_enabled
    assert development.introspection_enabled
    assert development.suggestions_enabled
    production = Settings(_env_file=None, environment="production", jwt_secret=secret)  # type: ignore[call-arg]
    assert not production.graphiql_enabled
    assert not production.introspection_enabled
    assert not production.suggestions_enabled
    enabled = Settings(  # type: ignore[call-arg]
        _env_file=None, environment="production", jwt_secret=secret, introspection=True
    )
    assert enabled.introspection_enabled
    assert not enabled.graphiql_enabled


def test_persisted_documents_follow_the_cache_namespace() -> None:
    assert Settings(_env_file=None, cache_namespace="acme").persisted_key_prefix == "acme:pq:"  # type: ignore[call-arg]
    explicit = Settings(_env_file=None, persisted_prefix="pq/")  # type: ignore[call-arg]
    assert explicit.persisted_key_prefix == "pq/"


def test_trusted_documents_need_a_real_redis() -> None:
    with pytest.raises(ValidationError, match="WREN_REDIS_URL"):
        Settings(_env_file=None, trusted_documents=True)  # type: ignore[call-arg]
    Settings(_env_file=None, trusted_documents=True, redis_url="redis://r:6379/0")  # type: ignore[call-arg]


def test_a_response_cache_shared_by_workers_needs_a_real_redis() -> None:
    with pytest.raises(ValidationError, match="WREN_RESPONSE_CACHE"):
        Settings(_env_file=None, response_cache=True, workers=2)  # type: ignore[call-arg]
    Settings(_env_file=None, response_cache=True)  # type: ignore[call-arg]
    Settings(_env_file=None, response_cache=True, workers=2, redis_url="redis://r:6379/0")  # type: ignore[call-arg]
    assert Settings(_env_file=None).response_cache is False  # type: ignore[call-arg]


def test_event_channels_follow_the_cache_namespace() -> None:
    assert Settings(_env_file=None, cache_namespace="acme").events_channel_prefix == "acme:events:"  # type: ignore[call-arg]
    explicit = Settings(_env_file=None, cache_namespace="acme", events_prefix="ev/")  # type: ignore[call-arg]
    assert explicit.events_channel_prefix == "ev/"


def test_websocket_limits_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in [
        ("MAX_SUBSCRIPTIONS", "0"),
        ("WS_INIT_TIMEOUT", "0"),
        ("WS_KEEPALIVE", "-1"),
    ]:
        monkeypatch.setenv(f"WREN_{name}", value)
        with pytest.raises(ValidationError):
            Settings(_env_file=None)  # type: ignore[call-arg]
        monkeypatch.delenv(f"WREN_{name}")


def test_redis_beyond_one_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WREN_REDIS_URL", raising=False)
    monkeypatch.setenv("WREN_REDIS_SENTINELS", "10.0.0.1:26379, sentinel-2:26380")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.sentinel_addresses == [("10.0.0.1", 26379), ("sentinel-2", 26380)]
    assert settings.redis_sentinel_master == "mymaster"
    assert settings.redis_configured
    assert Settings(_env_file=None, trusted_documents=True).trusted_documents  # type: ignore[call-arg]
    for wrong in ("sentinel", "host:port", "host:0", ":26379"):
        monkeypatch.setenv("WREN_REDIS_SENTINELS", wrong)
        with pytest.raises(ValidationError, match="host:port"):
            Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("WREN_REDIS_SENTINELS")
    monkeypatch.setenv("WREN_REDIS_CLUSTER", "true")
    with pytest.raises(ValidationError, match="one node of the cluster"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("WREN_REDIS_URL", "redis://10.0.0.2:7000")
    assert Settings(_env_file=None).redis_cluster  # type: ignore[call-arg]
    monkeypatch.setenv("WREN_REDIS_SENTINELS", "10.0.0.1:26379")
    with pytest.raises(ValidationError, match="exclude each other"):
        Settings(_env_file=None)  # type: ignore[call-arg]
