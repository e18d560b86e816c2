"""WREN_DATABASE_URL: the driver it names and its query options, checked and typed for asyncpg.

SQLAlchemy hands a URL's query options to `asyncpg.connect` as they are, strings, and
converts only `port` and `prepared_statement_cache_size`: `?statement_cache_size=0` made
every connection fail with "'<' not supported between instances of 'str' and 'int'".
Here the options are taken out of the URL, each one Wren knows is converted to its type,
and anything else is refused when the settings are read, with the list of known options,
instead of failing on the first connection.

Behind a transaction pooler (WREN_DATABASE_POOLER=transaction) both statement caches are
off: asyncpg's (named statements it would keep per connection) and the one of
SQLAlchemy's asyncpg adapter (PreparedStatement objects it would reuse across
transactions). A URL asking for either cache there is refused: a server connection is
only ours for one transaction, so a statement prepared in one is gone in the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DRIVER = "postgresql+asyncpg"

# libpq's sslmode values, which asyncpg's `ssl` takes as strings.
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_SESSION_ATTRS = ("any", "primary", "standby", "read-write", "read-only", "prefer-standby")
# Caches that keep prepared statements beyond one transaction.
STATEMENT_CACHES = ("statement_cache_size", "prepared_statement_cache_size")


class EngineOptions(NamedTuple):
    """What create_async_engine takes: the URL without its query, and the driver's options."""

    url: URL
    connect_args: dict[str, Any]
    # Session parameters sent at connection start (application_name).
    server_settings: dict[str, str]


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise ValueError(text)
    return value


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(text)


def _one_of(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if text not in choices:
            raise ValueError(f"one of {', '.join(choices)}")
        return text

    return convert


def _text(text: str) -> str:
    if not text:
        raise ValueError("empty")
    return text


# Option -> (the asyncpg.connect or adapter argument it sets, conversion, what it takes).
_OPTIONS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "statement_cache_size": ("statement_cache_size", _count, "a count >= 0"),
    "prepared_statement_cache_size": ("prepared_statement_cache_size", _count, "a count >= 0"),
    "max_cached_statement_lifetime": ("max_cached_statement_lifetime", _seconds, "seconds"),
    "max_cacheable_statement_size": ("max_cacheable_statement_size", _count, "a count >= 0"),
    "command_timeout": ("command_timeout", _seconds, "seconds"),
    "ssl": ("ssl", _one_of(*_SSL_MODES), " | ".join(_SSL_MODES)),
    "sslmode": ("ssl", _one_of(*_SSL_MODES), " | ".join(_SSL_MODES)),
    "direct_tls": ("direct_tls", _flag, "true or false"),
    "target_session_attrs": (
        "target_session_attrs",
        _one_of(*_SESSION_ATTRS),
        " | ".join(_SESSION_ATTRS),
    ),
    "passfile": ("passfile", _text, "a path"),
    "krbsrvname": ("krbsrvname", _text, "a name"),
    "gsslib": ("gsslib", _one_of("gssapi", "sspi"), "gssapi | sspi"),
    # A session parameter, sent in asyncpg's server_settings.
    "application_name": ("application_name", _text, "a name"),
}
_SERVER_SETTINGS = ("application_name",)
# Options SQLAlchemy reads itself and leaves in the URL: a Unix socket directory
# (?host=/run/postgresql, as the embedded database's URL has), or several hosts.
_URL_LEVEL = ("host", "port")
# Options Wren sets from a setting of its own.
_OWN = {"timeout": "WREN_POOL_TIMEOUT"}


def known_options() -> list[str]:
    """The query options WREN_DATABASE_URL may carry."""
    return sorted((*_OPTIONS, *_URL_LEVEL))


def engine_options(database_url: str, *, transaction_pooler: bool) -> EngineOptions:
    """The URL's driver options typed for asyncpg; ValueError naming what is wrong."""
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError):  # a bad port is a ValueError
        # Not echoed: the URL may hold a password.
        raise ValueError(
            "WREN_DATABASE_URL is not a database URL (postgresql://user:password@host:5432/db)"
        ) from None
    if url.drivername != DRIVER:
        raise ValueError(
            f"WREN_DATABASE_URL must be a postgresql:// URL (Wren runs on asyncpg), "
            f"not {url.drivername}://"
        )
    connect_args: dict[str, Any] = {}
    for name, raw in url.query.items():
        if name in _URL_LEVEL:
            continue
        if name in _OWN:
            raise ValueError(f"WREN_DATABASE_URL: set {_OWN[name]} instead of the {name} option")
        if name not in _OPTIONS:
            raise ValueError(
                f"WREN_DATABASE_URL: unknown option {name!r}; "
                f"Wren knows {', '.join(known_options())}"
            )
        if not isinstance(raw, str):
            raise ValueError(f"WREN_DATABASE_URL: option {name!r} is given more than once")
        target, convert, takes = _OPTIONS[name]
        if target in connect_args:
            raise ValueError(f"WREN_DATABASE_URL: {name!r} repeats another option ({target})")
        try:
            connect_args[target] = convert(raw)
        except ValueError:
            raise ValueError(f"WREN_DATABASE_URL: option {name}={raw!r} is not {takes}") from None
    if transaction_pooler:
        for cache in STATEMENT_CACHES:
            if connect_args.get(cache, 0) != 0:
                raise ValueError(
                    f"WREN_DATABASE_URL: {cache} must be 0 behind a transaction pooler "
                    "(WREN_DATABASE_POOLER=transaction): prepared statements do not "
                    "outlive a transaction there"
                )
            connect_args[cache] = 0
    server_settings = {
        name: connect_args.pop(name) for name in _SERVER_SETTINGS if name in connect_args
    }
    driver_only = [name for name in url.query if name not in _URL_LEVEL]
    return EngineOptions(url.difference_update_query(driver_only), connect_args, server_settings)
