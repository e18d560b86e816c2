"""Signing keys, access tokens and refresh-token digests."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from wren.accounts import tokens
from wren.accounts.keys import SECRET_KID, Keyring, generate
from wren.errors import Unauthenticated
from wren.settings import Settings

SID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def keyring(*jwks: dict[str, object]) -> Keyring:
    settings = Settings(_env_file=None, jwt_keys=json.dumps({"keys": list(jwks)}))  # type: ignore[call-arg]
    return Keyring.from_settings(settings)


def test_the_secret_alone_is_one_hs256_key() -> None:
    ring = Keyring.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert ring.signer.kid == SECRET_KID
    assert ring.signer.algorithm == "HS256"
    assert ring.jwks() == {"keys": []}  # a secret is never published


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "HS256"])
def test_a_token_names_its_user_and_session_until_it_expires(algorithm: str) -> None:
    ring = keyring(generate("k1", algorithm))
    token = tokens.issue(ring, 42, SID, 900)
    assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": "k1", "typ": "JWT"}
    assert tokens.claims_of(ring, token) == tokens.Claims(42, SID)
    old = tokens.issue(ring, 42, SID, 900, now=datetime.now(UTC) - timedelta(seconds=901))
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.claims_of(ring, old)


def test_a_rotation_keeps_the_old_keys_tokens_valid() -> None:
    old_key, new_key = generate("2026-11", "EdDSA"), generate("2026-12", "ES256")
    before = keyring(old_key)
    token = tokens.issue(before, 7, SID, 900)
    after = keyring(new_key, old_key)
    assert after.signer.kid == "2026-12"
    assert tokens.claims_of(after, token) == tokens.Claims(7, SID)
    assert jwt.get_unverified_header(tokens.issue(after, 7, SID, 900))["kid"] == "2026-12"
    # Once the old key is dropped, its tokens are refused.
    with pytest.raises(Unauthenticated, match="invalid"):
        tokens.claims_of(keyring(new_key), token)


def test_a_verify_only_key_is_accepted_but_never_signs() -> None:
    current, coming = generate("current", "EdDSA"), generate("coming", "EdDSA", verify_only=True)
    ring = keyring(coming, current)
    assert ring.signer.kid == "current"
    coming_signs = keyring({k: v for k, v in coming.items() if k != "key_ops"})
    assert tokens.claims_of(ring, tokens.issue(coming_signs, 1, SID, 900)).user_id == 1


def test_a_directory_signs_with_its_last_file(tmp_path: Path) -> None:
    for name in ("2026-10", "2026-12", "2026-11"):
        (tmp_path / f"{name}.json").write_text(
            json.dumps({k: v for k, v in generate("x", "EdDSA").items() if k != "kid"})
        )
    settings = Settings(_env_file=None, jwt_keys_dir=tmp_path)  # type: ignore[call-arg]
    ring = Keyring.from_settings(settings)
    assert ring.signer.kid == "2026-12"
    assert sorted(ring.by_kid) == ["2026-10", "2026-11", "2026-12"]


def test_jwks_publishes_public_keys_only() -> None:
    private = generate("ed", "EdDSA")
    ring = keyring(private, generate("ec", "ES256"), generate("mac", "HS256"))
    published = ring.jwks()["keys"]
    assert [k["kid"] for k in published] == ["ed", "ec"]
    assert all("d" not in k and "k" not in k for k in published)
    assert published[0] == {
        "kty": "OKP", "crv": "Ed25519", "x": private["x"], "kid": "ed", "alg": "EdDSA",
        "use": "sig",
    }  # fmt: skip


def test_a_token_cannot_choose_its_algorithm() -> None:
    """An HS256 token made with an asymmetric key's public half as the secret is refused."""
    ring = keyring(generate("ed", "EdDSA"))
    public = base64.urlsafe_b64decode(ring.jwks()["keys"][0]["x"] + "=")  # the raw public key
    now = datetime.now(UTC)
    claims = {"sub": "1", "sid": str(SID), "iss": "wren", "iat": now, "exp": now + timedelta(60)}
    forged = jwt.encode(claims, public, algorithm="HS256", headers={"kid": "ed"})
    with pytest.raises(Unauthenticated, match="invalid"):
        tokens.claims_of(ring, forged)


@pytest.mark.parametrize(
    "change",
    [
        {"kid": "unknown"},
        {"sid": "not-a-uuid"},
        {"sid": None},
        {"sub": "alice"},
        {"sub": "0"},
        {"iss": "someone-else"},
    ],
)
def test_tokens_missing_or_bending_a_claim_are_refused(change: dict[str, str | None]) -> None:
    ring = keyring(generate("k", "HS256"))
    key = ring.signer
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": "1", "sid": str(SID), "iss": "wren", "iat": now, "exp": now + timedelta(60),
    }  # fmt: skip
    kid = change.pop("kid", "k")
    claims.update(change)
    claims = {k: v for k, v in claims.items() if v is not None}
    token = jwt.encode(claims, key.signing, algorithm="HS256", headers={"kid": kid})
    with pytest.raises(Unauthenticated, match="invalid"):
        tokens.claims_of(ring, token)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("[]", "non-empty"),
        ("not json", "not JSON"),
        ('[{"kty": "oct", "k": "c2hvcnQ", "kid": "a"}]', "32 bytes"),
        ('[{"kty": "RSA", "kid": "a"}]', "use oct"),
        ('[{"kty": "oct", "k": "' + "a" * 64 + '"}]', "kid"),
    ],
)
def test_unusable_keys_are_refused_at_start_up(keys: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(_env_file=None, jwt_keys=keys)  # type: ignore[call-arg]


def test_a_public_key_alone_cannot_sign() -> None:
    public = keyring(generate("ed", "EdDSA")).jwks()["keys"][0]
    with pytest.raises(ValueError, match="private"):
        keyring(public)


def test_refresh_tokens_are_random_and_stored_as_digests() -> None:
    first, second = tokens.new_refresh_token(), tokens.new_refresh_token()
    assert first != second
    assert len(first) >= 43
    assert tokens.refresh_digest(first) == tokens.refresh_digest(first)
    assert len(tokens.refresh_digest(first)) == 32
