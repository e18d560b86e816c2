"""WREN_DATABASE_URL's query options: typed for asyncpg, or refused when the settings are read."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from wren.db.url import engine_options, known_options
from wren.settings import Pooler, Settings

BASE = "postgresql+asyncpg://u@db:5432/wren"


def settings(url: str, pooler: str = "none") -> Settings:
    return Settings(_env_file=None, database_url=url, database_pooler=pooler)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("statement_cache_size=0", {"statement_cache_size": 0}),
        ("prepared_statement_cache_size=500", {"prepared_statement_cache_size": 500}),
        ("max_cacheable_statement_size=4096", {"max_cacheable_statement_size": 4096}),
        ("max_cached_statement_lifetime=60", {"max_cached_statement_lifetime": 60.0}),
        ("command_timeout=2.5", {"command_timeout": 2.5}),
        ("ssl=require", {"ssl": "require"}),
        ("sslmode=verify-full", {"ssl": "verify-full"}),
        ("direct_tls=true", {"direct_tls": True}),
        ("target_session_attrs=read-write", {"target_session_attrs": "read-write"}),
        ("passfile=/etc/wren/pgpass", {"passfile": "/etc/wren/pgpass"}),
    ],
)
def test_options_become_typed_driver_arguments(query: str, expected: dict[str, Any]) -> None:
    options = engine_options(f"{BASE}?{query}", transaction_pooler=False)
    assert options.connect_args == expected
    assert all(type(options.connect_args[k]) is type(v) for k, v in expected.items())
    # The driver gets them as arguments; the URL keeps none of them.
    assert options.url.query == {}
    assert options.url.render_as_string(hide_password=False) == BASE


def test_application_name_is_a_session_parameter() -> None:
    options = engine_options(f"{BASE}?application_name=wren-eu", transaction_pooler=False)
    assert options.connect_args == {}
    assert options.server_settings == {"application_name": "wren-eu"}


def test_a_socket_directory_stays_in_the_url() -> None:
    url = "postgresql+asyncpg://postgres:@/postgres?host=/var/run/postgresql"
    options = engine_options(url, transaction_pooler=False)
    assert options.url.query == {"host": "/var/run/postgresql"}
    assert options.connect_args == {}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sslrootcert=/ca.pem", "unknown option 'sslrootcert'"),
        ("statement_cache_size=none", "statement_cache_size='none' is not a count >= 0"),
        ("statement_cache_size=-1", "is not a count >= 0"),
        ("command_timeout=nan", "command_timeout='nan' is not seconds"),
        ("ssl=maybe", "ssl='maybe' is not disable | allow"),
        ("direct_tls=perhaps", "is not true or false"),
        ("command_timeout=1&command_timeout=2", "given more than once"),
        ("ssl=require&sslmode=disable", "'sslmode' repeats another option (ssl)"),
        ("timeout=3", "set WREN_POOL_TIMEOUT instead"),
    ],
)
def test_unknown_or_malformed_options_are_refused_at_start_up(query: str, message: str) -> None:
    with pytest.raises(ValidationError, match="WREN_DATABASE_URL") as refused:
        settings(f"{BASE}?{query}")
    assert message in str(refused.value)


def test_the_refusal_lists_what_is_known() -> None:
    with pytest.raises(ValidationError) as refused:
        settings(f"{BASE}?pool=9")
    assert ", ".join(known_options()) in str(refused.value)
    assert "statement_cache_size" in known_options()


@pytest.mark.parametrize("url", ["nonsense", "postgresql://u:s3cret@db:port/wren"])
def test_a_url_that_does_not_parse_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ValidationError, match="is not a database URL") as refused:
        settings(url)
    assert "s3cret" not in str(refused.value).split("input_value")[0]


def test_another_driver_is_refused() -> None:
    with pytest.raises(ValidationError, match="Wren runs on asyncpg"):
        settings("postgresql+psycopg://u@db/wren")


def test_a_transaction_pooler_turns_both_statement_caches_off() -> None:
    options = engine_options(BASE, transaction_pooler=True)
    assert options.connect_args == {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
    explicit = engine_options(f"{BASE}?statement_cache_size=0", transaction_pooler=True)
    assert explicit.connect_args == options.connect_args
    assert settings(BASE, "transaction").database_pooler is Pooler.TRANSACTION


@pytest.mark.parametrize("cache", ["statement_cache_size", "prepared_statement_cache_size"])
def test_a_statement_cache_behind_a_transaction_pooler_is_refused(cache: str) -> None:
    with pytest.raises(ValidationError, match=f"{cache} must be 0 behind a transaction pooler"):
        settings(f"{BASE}?{cache}=100", "transaction")
    # The same URL is fine without a pooler: the caches are PostgreSQL sessions' own.
    assert settings(f"{BASE}?{cache}=100").database_url == f"{BASE}?{cache}=100"


def test_an_unknown_pooler_is_refused() -> None:
    with pytest.raises(ValidationError, match="'none', 'session' or 'transaction'"):
        settings(BASE, "statement")
