"""Signing keys of access tokens and the secret of session cookies and pseudonyms.

Token keys are RSA key pairs kept as PEM files ``jwt-<kid>.pem`` in the key
directory (or one key given in ``SOLIDARITY_JWT_PRIVATE_KEY``). The newest key
signs; :meth:`KeyStore.rotate` adds a newer one and marks the old one retired
(``jwt-<kid>.retired`` holds when). A retired key stays in the JWKS until every
token it signed has expired, then it is no longer published.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from solidarity.config import get_settings

RSA_BITS = 2048


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _write_private(path: Path, data: bytes) -> None:
    # Created with owner-only permissions, never world-readable even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@dataclass(frozen=True)
class SigningKey:
    """One RSA key pair and its key id."""

    kid: str
    private_key: rsa.RSAPrivateKey
    retired_at: datetime | None = None

    def jwk(self) -> dict[str, Any]:
        """The public half as a JSON Web Key."""
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64(numbers.n),
            "e": _b64(numbers.e),
        }


class KeyStore:
    """Token signing keys and the server secret, created on first use."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        private_key_pem: str | None = None,
        secret: str | None = None,
        token_minutes: int | None = None,
    ) -> None:
        settings = get_settings()
        self.directory = directory or settings.key_dir
        self.private_key_pem = private_key_pem or settings.jwt_private_key
        self._secret = secret or settings.secret_key
        self.token_minutes = token_minutes or settings.token_minutes
        self._lock = threading.Lock()
        self._cache: tuple[tuple[str, ...], list[SigningKey]] | None = None

    # --- the server secret -------------------------------------------------

    def secret(self) -> bytes:
        """The secret signing session cookies (from settings, else a key-directory file)."""
        if self._secret:
            return self._secret.encode("utf-8")
        path = self.directory / "session.key"
        with self._lock:
            if not path.exists():
                self.directory.mkdir(parents=True, exist_ok=True)
                _write_private(path, secrets.token_hex(32).encode("ascii"))
            self._secret = path.read_text(encoding="ascii").strip()
        return self._secret.encode("utf-8")

    def sign(self, value: str, purpose: str) -> str:
        """An HMAC-SHA256 of ``value`` under a key derived for ``purpose``."""
        key = hmac.new(self.secret(), purpose.encode("utf-8"), hashlib.sha256).digest()
        return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def pseudonym_key(self) -> bytes:
        """The key of pseudonyms shown to readers without ``pii.names``."""
        return hmac.new(self.secret(), b"pseudonym", hashlib.sha256).digest()

    # --- token signing keys --------------------------------------------------

    def _from_env(self) -> list[SigningKey]:
        assert self.private_key_pem is not None
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("SOLIDARITY_JWT_PRIVATE_KEY must be an RSA private key")
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return [SigningKey(kid=hashlib.sha256(der).hexdigest()[:16], private_key=key)]

    def _load(self) -> list[SigningKey]:
        names = tuple(sorted(p.name for p in self.directory.glob("jwt-*")))
        if self._cache is not None and self._cache[0] == names:
            return self._cache[1]
        keys = []
        for pem in sorted(self.directory.glob("jwt-*.pem")):
            kid = pem.stem.removeprefix("jwt-")
            key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                continue
            marker = pem.with_suffix(".retired")
            retired = (
                datetime.fromisoformat(marker.read_text().strip()) if marker.exists() else None
            )
            keys.append(SigningKey(kid=kid, private_key=key, retired_at=retired))
        self._cache = (names, keys)
        return keys

    def _create(self) -> SigningKey:
        self.directory.mkdir(parents=True, exist_ok=True)
        kid = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_private(self.directory / f"jwt-{kid}.pem", pem)
        self._cache = None
        return SigningKey(kid=kid, private_key=key)

    def signing_key(self) -> SigningKey:
        """The key new tokens are signed with (created when there is none)."""
        if self.private_key_pem:
            return self._from_env()[0]
        with self._lock:
            current = [k for k in self._load() if k.retired_at is None]
            if current:
                return current[-1]
            return self._create()

    def published(self, now: datetime | None = None) -> list[SigningKey]:
        """Keys whose tokens may still be valid: current ones and recently retired ones."""
        if self.private_key_pem:
            return self._from_env()
        now = now or datetime.now(UTC)
        grace = timedelta(minutes=self.token_minutes + 1)
        with self._lock:
            keys = self._load()
        return [k for k in keys if k.retired_at is None or k.retired_at + grace > now]

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        """The public key ``kid`` if it is still published."""
        for key in self.published():
            if key.kid == kid:
                return key.private_key.public_key()
        return None

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JSON Web Key Set of the published keys."""
        return {"keys": [k.jwk() for k in self.published()]}

    def rotate(self, now: datetime | None = None) -> SigningKey:
        """Create a new signing key and retire the current ones.

        Raises:
            RuntimeError: The key comes from the environment; rotate it there.
        """
        if self.private_key_pem:
            raise RuntimeError(
                "the signing key comes from SOLIDARITY_JWT_PRIVATE_KEY: rotate it there"
            )
        now = now or datetime.now(UTC)
        with self._lock:
            for key in self._load():
                if key.retired_at is None:
                    marker = self.directory / f"jwt-{key.kid}.retired"
                    marker.write_text(now.isoformat())
            self._cache = None
            return self._create()
