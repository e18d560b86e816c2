"""Fixtures of the integration tests."""

from __future__ import annotations

import pytest

from tests.integration import world


@pytest.fixture
async def small_world(database_url: str) -> None:
    """The hand-made world of tests/integration/world.py, in the database."""
    await world.build(database_url)
