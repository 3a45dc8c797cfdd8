"""Access tokens of machine clients: short-lived RS256 JWTs with the key id in the header."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from solidarity.governance.errors import InvalidToken
from solidarity.governance.keys import KeyStore

AUDIENCE = "solidarity-api"


def issue_access_token(
    keys: KeyStore,
    *,
    subject: str,
    scopes: list[str],
    issuer: str,
    minutes: int,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """A signed token for ``subject`` carrying ``scopes``, and when it expires."""
    now = now or datetime.now(UTC)
    expires = now + timedelta(minutes=minutes)
    key = keys.signing_key()
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": secrets.token_hex(16),
        "scope": " ".join(scopes),
    }
    token = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
    return token, expires


def decode_access_token(keys: KeyStore, token: str, *, issuer: str) -> dict[str, Any]:
    """The verified claims of ``token``.

    Raises:
        InvalidToken: The token is malformed, signed by an unknown key or wrongly,
            expired, not yet valid, or for another issuer or audience.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("the access token is malformed") from None
    if header.get("alg") != "RS256":
        raise InvalidToken("the access token is not signed with RS256")
    kid = header.get("kid")
    public_key = keys.public_key(kid) if isinstance(kid, str) else None
    if public_key is None:
        raise InvalidToken("the access token is signed by an unknown key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the access token has expired") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("the access token signature is not valid") from None
    except jwt.PyJWTError:
        raise InvalidToken("the access token is not valid") from None
    return claims
