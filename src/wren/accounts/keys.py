"""The signing keys of access tokens: which key signs, which keys are accepted, and the
public half of the asymmetric ones (served as a JWK Set at /.well-known/jwks.json).

Keys come from one of (first one set wins):

- ``WREN_JWT_KEYS``: a JSON JWK Set (``{"keys": [...]}``) or a JSON array of private JWKs;
- ``WREN_JWT_KEYS_DIR``: a directory of ``*.json`` files, one private JWK each (its ``kid``
  defaults to the file's name without ``.json``); files are taken in name order;
- ``WREN_JWT_SECRET``: one HS256 key, kid ``wren-secret`` (the default setup).

Supported keys: ``oct`` (HS256, 32 bytes or more), ``OKP``/``Ed25519`` (EdDSA) and
``EC``/``P-256`` (ES256). The signing key is the first key of WREN_JWT_KEYS, or the last
file of the directory (name them by date), skipping keys whose ``key_ops`` lacks
``sign``: a key listed with ``"key_ops": ["verify"]`` is accepted but never signs, which
is how a new key is rolled out to every instance before any of them signs with it.
Every listed key is accepted, so a rotation logs nobody out (see the README).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jwt import PyJWK
from jwt.exceptions import PyJWTError

if TYPE_CHECKING:
    from wren.settings import Settings

SECRET_KID = "wren-secret"  # noqa: S105 - the id of the key, not the key
MIN_HMAC_BYTES = 32

# Key type (and curve) -> the one algorithm Wren uses it with.
_ALGORITHMS: dict[tuple[object, object], str] = {
    ("oct", None): "HS256",
    ("OKP", "Ed25519"): "EdDSA",
    ("EC", "P-256"): "ES256",
}


@dataclass(frozen=True, slots=True)
class Key:
    """One key: its id, algorithm, what signs and what verifies, and its public JWK."""

    kid: str
    algorithm: str
    signing: Any  # bytes for HS256, a private key object otherwise
    verifying: Any  # bytes for HS256, the public key object otherwise
    can_sign: bool
    public_jwk: dict[str, Any] | None  # None for HMAC keys: they are secret


class KeyringError(ValueError):
    """A key setting that cannot be used (the message says which and why)."""


def _key(jwk: Any, default_kid: str | None, where: str) -> Key:
    if not isinstance(jwk, dict):
        raise KeyringError(f"{where}: a key must be a JSON object (a JWK)")
    kid = jwk.get("kid", default_kid)
    if not isinstance(kid, str) or not kid:
        raise KeyringError(f"{where}: every key needs a `kid`")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    algorithm = _ALGORITHMS.get((kty, crv if kty != "oct" else None))
    if algorithm is None:
        raise KeyringError(f"{where}: key {kid!r}: use oct (HS256), OKP Ed25519 or EC P-256")
    if jwk.get("alg") not in (None, algorithm):
        raise KeyringError(f"{where}: key {kid!r} is a {algorithm} key, not {jwk['alg']}")
    try:
        parsed = PyJWK({**jwk, "kid": kid}, algorithm)
    except (PyJWTError, ValueError, TypeError, KeyError) as error:
        raise KeyringError(f"{where}: key {kid!r} does not parse: {error}") from None
    ops = jwk.get("key_ops")
    can_sign = ops is None or (isinstance(ops, list) and "sign" in ops)
    if algorithm == "HS256":
        secret: bytes = parsed.key
        if len(secret) < MIN_HMAC_BYTES:
            raise KeyringError(f"{where}: key {kid!r}: an HS256 key needs {MIN_HMAC_BYTES} bytes")
        return Key(kid, algorithm, secret, secret, can_sign, None)
    private = parsed.key
    if not hasattr(private, "public_key"):
        raise KeyringError(f"{where}: key {kid!r} is a public key: Wren needs the private one")
    public = private.public_key()
    exported = parsed.Algorithm.to_jwk(public, as_dict=True)
    public_jwk = {**exported, "kid": kid, "alg": algorithm, "use": "sig"}
    return Key(kid, algorithm, private, public, can_sign, public_jwk)


def _from_json(text: str) -> list[Key]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise KeyringError(f"WREN_JWT_KEYS is not JSON: {error}") from None
    if isinstance(data, dict) and "keys" in data:
        data = data["keys"]
    if not isinstance(data, list) or not data:
        raise KeyringError("WREN_JWT_KEYS: a JWK Set or a non-empty JSON array of JWKs")
    return [_key(jwk, None, "WREN_JWT_KEYS") for jwk in data]


def _from_dir(directory: Path) -> list[Key]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise KeyringError(f"WREN_JWT_KEYS_DIR: no *.json key in {directory}")
    keys = []
    for path in files:
        try:
            jwk = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise KeyringError(f"WREN_JWT_KEYS_DIR: {path.name}: {error}") from None
        keys.append(_key(jwk, path.stem, f"WREN_JWT_KEYS_DIR/{path.name}"))
    # The newest (last by name) signs: the order of preference is the reverse.
    return keys[::-1]


class Keyring:
    """The accepted keys by id, and the one that signs."""

    def __init__(self, keys: list[Key]) -> None:
        by_kid: dict[str, Key] = {}
        for key in keys:
            if key.kid in by_kid:
                raise KeyringError(f"two keys have the kid {key.kid!r}")
            by_kid[key.kid] = key
        signers = [key for key in keys if key.can_sign]
        if not signers:
            raise KeyringError("no key may sign: give one key without `key_ops`, or with `sign`")
        self.signer = signers[0]
        self.by_kid = by_kid
        self.algorithms = sorted({key.algorithm for key in keys})

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """The keys the settings name (see the module's docstring)."""
        if settings.jwt_keys is not None:
            return cls(_from_json(settings.jwt_keys.get_secret_value()))
        if settings.jwt_keys_dir is not None:
            return cls(_from_dir(settings.jwt_keys_dir))
        secret = settings.jwt_secret.get_secret_value().encode()
        return cls([Key(SECRET_KID, "HS256", secret, secret, True, None)])

    def jwks(self) -> dict[str, Any]:
        """The public keys, as a JWK Set (HMAC keys are never published)."""
        return {"keys": [k.public_jwk for k in self.by_kid.values() if k.public_jwk is not None]}


def generate(kid: str, algorithm: str, *, verify_only: bool = False) -> dict[str, Any]:
    """A new private key as a JWK (what `wren jwt-key` prints)."""
    import secrets

    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm

    jwk: dict[str, Any]
    if algorithm == "EdDSA":
        jwk = OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate(), as_dict=True)
    elif algorithm == "ES256":
        jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True)
    elif algorithm == "HS256":
        jwk = HMACAlgorithm.to_jwk(secrets.token_bytes(MIN_HMAC_BYTES), as_dict=True)
    else:
        raise KeyringError(f"unknown algorithm {algorithm!r}: EdDSA, ES256 or HS256")
    jwk = {**jwk, "kid": kid, "alg": algorithm}
    if verify_only:
        jwk["key_ops"] = ["verify"]
    _key(jwk, None, "a generated key")  # it parses as Wren will parse it
    return jwk
