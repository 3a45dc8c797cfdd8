"""Single sign-on through an OpenID Connect provider, against a small provider run in-test."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from solidarity.config import get_settings
from solidarity.db.engine import session_factory
from solidarity.governance.repository import AuditFilter, AuditRepository

ISSUER = "https://idp.test"
CLIENT_ID = "solidarity-web"
EMAIL = "kato@example.org"


@dataclass
class Idp:
    """A tiny OpenID provider: discovery, JWKS, and a token endpoint checking PKCE."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: How the next ID token is spoiled: "", "signature", "expired", "audience", "nonce".
    spoil: str = ""
    email: str = EMAIL

    def app(self) -> FastAPI:
        idp = FastAPI()

        @idp.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, str]:
            return {
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
            }

        @idp.get("/jwks")
        def jwks() -> dict[str, Any]:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return {"keys": [{**jwk, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}

        @idp.post("/token")
        def token(
            grant_type: str = Form(),
            code: str = Form(),
            code_verifier: str = Form(),
            client_id: str = Form(),
            client_secret: str = Form(),
        ) -> dict[str, str]:
            issued = self.codes.pop(code, None)
            if (
                issued is None
                or client_secret != "idp-secret"
                or grant_type != "authorization_code"
            ):
                raise HTTPException(400, "invalid_grant")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest())
            if challenge.rstrip(b"=").decode() != issued["challenge"]:
                raise HTTPException(400, "PKCE verifier does not match")
            return {"id_token": self.id_token(issued["nonce"], client_id), "token_type": "Bearer"}

        return idp

    def id_token(self, nonce: str, audience: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": "user-123",
            "aud": "someone-else" if self.spoil == "audience" else audience,
            "iat": now - 3600 if self.spoil == "expired" else now,
            "exp": now - 1800 if self.spoil == "expired" else now + 300,
            "nonce": "replayed" if self.spoil == "nonce" else nonce,
            "email": self.email,
            "email_verified": True,
        }
        signer = self.key
        if self.spoil == "signature":
            signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": "idp-1"})

    def authorize(self, location: str) -> tuple[str, str]:
        """What the provider does when the browser arrives: returns (code, state)."""
        query = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
        assert query["code_challenge_method"] == "S256" and query["client_id"] == CLIENT_ID
        assert query["response_type"] == "code" and "openid" in query["scope"]
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": query["nonce"], "challenge": query["code_challenge"]}
        return code, query["state"]


@pytest.fixture
def idp(api: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Idp:
    monkeypatch.setenv("SOLIDARITY_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("SOLIDARITY_OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SOLIDARITY_OIDC_CLIENT_SECRET", "idp-secret")
    get_settings.cache_clear()
    provider = Idp()
    api.state.oidc_http = TestClient(provider.app(), base_url=ISSUER)
    return provider


def _sign_in(anonymous: TestClient, idp: Idp) -> Any:
    started = anonymous.get("/api/v1/auth/oidc/login", follow_redirects=False)
    assert started.status_code == 302, started.text
    location = started.headers["location"]
    assert location.startswith(f"{ISSUER}/authorize?")
    code, state = idp.authorize(location)
    return anonymous.get(
        "/api/v1/auth/oidc/callback", params={"code": code, "state": state}, follow_redirects=False
    )


def test_sign_in_through_the_provider_opens_a_local_session(
    idp: Idp, anonymous: TestClient, make_account: Callable[..., str], engine: Engine
) -> None:
    make_account(EMAIL, "registration_officer")
    page = anonymous.get("/sign-in")
    assert page.status_code == 200 and 'href="/api/v1/auth/oidc/login"' in page.text
    done = _sign_in(anonymous, idp)
    assert done.status_code == 303 and done.headers["location"] == "/"
    me = anonymous.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["username"] == EMAIL
    assert me.json()["roles"] == ["registration_officer"]  # roles stay local
    with session_factory(engine)() as session:
        rows, _ = AuditRepository(session).search(AuditFilter(action="auth.login"), 5, 0)
    assert rows[0].actor == EMAIL and rows[0].details == {"method": "oidc", "issuer": ISSUER}


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ("signature", "signature is not valid"),
        ("expired", "has expired"),
        ("audience", "issued for another client"),
        ("nonce", "nonce does not match"),
    ],
)
def test_a_token_that_cannot_be_trusted_is_refused(
    idp: Idp,
    anonymous: TestClient,
    make_account: Callable[..., str],
    engine: Engine,
    spoil: str,
    reason: str,
) -> None:
    make_account(EMAIL, "registration_officer")
    idp.spoil = spoil
    refused = _sign_in(anonymous, idp)
    assert refused.status_code == 401 and reason in refused.json()["detail"]
    assert anonymous.get("/api/v1/auth/me").status_code == 401
    with session_factory(engine)() as session:
        rows, _ = AuditRepository(session).search(AuditFilter(action="auth.login_failed"), 5, 0)
    assert reason in rows[0].details["reason"] and rows[0].details["method"] == "oidc"


def test_no_local_account_a_forged_state_or_no_configuration_is_refused(
    idp: Idp, anonymous: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    unknown = _sign_in(anonymous, idp)
    assert unknown.status_code == 401 and "no active local account" in unknown.json()["detail"]
    started = anonymous.get("/api/v1/auth/oidc/login", follow_redirects=False)
    code, _state = idp.authorize(started.headers["location"])
    forged = anonymous.get("/api/v1/auth/oidc/callback", params={"code": code, "state": "forged"})
    assert forged.status_code == 401 and "state" in forged.json()["detail"]
    monkeypatch.delenv("SOLIDARITY_OIDC_ISSUER")
    get_settings.cache_clear()
    assert anonymous.get("/api/v1/auth/oidc/login", follow_redirects=False).status_code == 404
    assert "oidc" not in anonymous.get("/sign-in").text
