"""Apply the Alembic migrations that ship inside the package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    """An Alembic config for the packaged migrations, pointed at `database_url`."""
    config = Config()
    config.set_main_option("script_location", "wren:migrations")
    # Alembic's config is an INI file: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    """Upgrade the database to `revision` (blocking; run it off the event loop)."""
    command.upgrade(alembic_config(database_url), revision)
