"""Password hashes, tokens and the Authorization header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from wren import auth
from wren.errors import Unauthenticated
from wren.settings import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, jwt_ttl=3600)  # type: ignore[call-arg]


async def test_passwords_hash_and_verify() -> None:
    hashed = await auth.hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert await auth.verify_password(hashed, "correct horse")
    assert not await auth.verify_password(hashed, "correct horse ")
    assert not await auth.verify_password("not a hash", "correct horse")
    assert not auth.needs_rehash(hashed)
    assert auth.needs_rehash("not a hash")


def test_a_token_names_its_user_until_it_expires(settings: Settings) -> None:
    token = auth.issue_token(settings, 42)
    assert auth.user_id_of(settings, token) == 42
    old = auth.issue_token(settings, 42, now=datetime.now(UTC) - timedelta(seconds=3601))
    with pytest.raises(Unauthenticated, match="expired"):
        auth.user_id_of(settings, old)


def test_a_token_signed_with_another_secret_is_refused(settings: Settings) -> None:
    other = Settings(_env_file=None, jwt_secret="x" * 40)  # type: ignore[call-arg]
    with pytest.raises(Unauthenticated, match="invalid"):
        auth.user_id_of(settings, auth.issue_token(other, 1))


def test_only_hs256_is_accepted() -> None:
    settings = Settings(_env_file=None, jwt_secret="k" * 64)  # type: ignore[call-arg]
    now = datetime.now(UTC)
    claims = {"sub": "1", "iss": "wren", "iat": now, "exp": now + timedelta(minutes=5)}
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS512")
    with pytest.raises(Unauthenticated):
        auth.user_id_of(settings, token)


@pytest.mark.parametrize(
    ("header", "viewer", "error"),
    [
        (None, None, False),
        ("", None, False),
        ("Bearer", None, True),
        ("Token abc", None, True),
        ("Bearer not-a-jwt", None, True),
    ],
)
def test_authenticate(
    settings: Settings, header: str | None, viewer: int | None, error: bool
) -> None:
    result = auth.authenticate(settings, header)
    assert result.viewer_id == viewer
    assert (result.error is not None) == error


def test_authenticate_reads_the_bearer_token(settings: Settings) -> None:
    token = auth.issue_token(settings, 7)
    assert auth.authenticate(settings, f"bearer  {token} ").viewer_id == 7
