"""Optional single sign-on through an OpenID Connect provider (authorisation code + PKCE).

Configured, never required: without ``SOLIDARITY_OIDC_ISSUER`` and a client id the
routes answer 404 and local passwords are the only way in. The browser is sent to
the provider with a random ``state``, ``nonce`` and PKCE verifier kept in a signed,
short-lived cookie; the provider sends it back with a code, which is exchanged for
an ID token. The token is accepted only if it is signed by a key of the provider's
JWKS, issued by the configured issuer for our client id, current, and carries our
nonce. The account is the local one whose username equals the configured claim
(``email`` by default, or ``sub``); roles and grants stay local. Every refusal is
written to the audit trail with its reason.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from sqlalchemy.orm import Session

from solidarity.config import Settings, get_settings
from solidarity.db.base import utcnow
from solidarity.errors import NotFoundError, SolidarityError
from solidarity.governance import audit
from solidarity.governance.keys import KeyStore
from solidarity.governance.repository import UserRepository
from solidarity.governance.service import SignIn, open_session

STATE_COOKIE = "solidarity_oidc"
STATE_SECONDS = 600
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]


class SingleSignOnFailed(SolidarityError):
    """The provider's answer could not be trusted, or no local account matches."""

    status_code = 401
    title = "Single sign-on failed"
    exit_code = 7


@dataclass(frozen=True)
class Provider:
    """Where the provider's endpoints are."""

    issuer: str
    client_id: str
    client_secret: str | None
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def configured(settings: Settings | None = None) -> bool:
    """Whether single sign-on is set up."""
    settings = settings or get_settings()
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def provider(http: httpx.Client, settings: Settings | None = None) -> Provider:
    """The provider's endpoints, from the settings or its discovery document.

    Raises:
        NotFoundError: Single sign-on is not configured.
        SingleSignOnFailed: The discovery document cannot be read or is incomplete.
    """
    settings = settings or get_settings()
    if not configured(settings):
        raise NotFoundError("single sign-on is not configured")
    assert settings.oidc_issuer is not None and settings.oidc_client_id is not None
    issuer = settings.oidc_issuer.rstrip("/")
    found: dict[str, Any] = {
        "authorization_endpoint": settings.oidc_authorization_endpoint,
        "token_endpoint": settings.oidc_token_endpoint,
        "jwks_uri": settings.oidc_jwks_uri,
    }
    if not all(found.values()):
        url = settings.oidc_discovery_url or f"{issuer}/.well-known/openid-configuration"
        try:
            answer = http.get(url)
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SingleSignOnFailed(
                f"the provider's discovery document is unreadable: {exc}"
            ) from None
        found = {k: v or document.get(k) for k, v in found.items()}
        missing = [k for k, v in found.items() if not v]
        if missing:
            raise SingleSignOnFailed(f"the discovery document lacks {', '.join(missing)}")
    return Provider(
        issuer=issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        authorization_endpoint=str(found["authorization_endpoint"]),
        token_endpoint=str(found["token_endpoint"]),
        jwks_uri=str(found["jwks_uri"]),
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def start(keys: KeyStore, idp: Provider, redirect_uri: str) -> tuple[str, str]:
    """The provider URL to send the browser to, and the signed state cookie to set."""
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    challenge = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
    query = {
        "response_type": "code",
        "client_id": idp.client_id,
        "redirect_uri": redirect_uri,
        "scope": get_settings().oidc_scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    body = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "redirect_uri": redirect_uri,
        "at": int(time.time()),
    }
    raw = _b64(json.dumps(body, separators=(",", ":")).encode())
    cookie = f"{raw}.{keys.sign(raw, 'oidc-state')}"
    return f"{idp.authorization_endpoint}?{urlencode(query)}", cookie


def _read_state(keys: KeyStore, cookie: str | None, state: str | None) -> dict[str, Any]:
    raw, _, signature = (cookie or "").partition(".")
    if not raw or not secrets.compare_digest(signature, keys.sign(raw, "oidc-state")):
        raise SingleSignOnFailed("the sign-in was not started here (state cookie missing)")
    body: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    if time.time() - int(body.get("at", 0)) > STATE_SECONDS:
        raise SingleSignOnFailed("the sign-in took too long; start again")
    if not state or not secrets.compare_digest(state, str(body.get("state", ""))):
        raise SingleSignOnFailed("the state sent back by the provider does not match")
    return body


def _id_token(http: httpx.Client, idp: Provider, code: str, started: dict[str, Any]) -> str:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": started["redirect_uri"],
        "client_id": idp.client_id,
        "code_verifier": started["verifier"],
    }
    if idp.client_secret:
        form["client_secret"] = idp.client_secret
    try:
        answer = http.post(idp.token_endpoint, data=form)
        tokens = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SingleSignOnFailed(f"the provider's token endpoint failed: {exc}") from None
    if answer.status_code != 200 or "id_token" not in tokens:
        error = tokens.get("error", answer.status_code) if isinstance(tokens, dict) else "?"
        raise SingleSignOnFailed(f"the provider refused the code: {error}")
    return str(tokens["id_token"])


def verify_id_token(http: httpx.Client, idp: Provider, token: str, nonce: str) -> dict[str, Any]:
    """The claims of an ID token signed by the provider's JWKS for us, current, with our nonce.

    Raises:
        SingleSignOnFailed: Naming what is wrong (signature, issuer, audience, expiry, nonce).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise SingleSignOnFailed(f"the ID token is malformed: {exc}") from None
    if header.get("alg") not in ALGORITHMS:
        raise SingleSignOnFailed(f"the ID token algorithm {header.get('alg')!r} is not accepted")
    try:
        jwks = jwt.PyJWKSet.from_dict(http.get(idp.jwks_uri).json())
    except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
        raise SingleSignOnFailed(f"the provider's JWKS is unreadable: {exc}") from None
    keys = [k for k in jwks.keys if header.get("kid") in (None, k.key_id)]
    if not keys:
        raise SingleSignOnFailed("the ID token is signed with a key the provider does not publish")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            keys[0].key,
            algorithms=ALGORITHMS,
            audience=idp.client_id,
            issuer=idp.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=30,
        )
    except jwt.InvalidSignatureError:
        raise SingleSignOnFailed("the ID token signature is not valid") from None
    except jwt.ExpiredSignatureError:
        raise SingleSignOnFailed("the ID token has expired") from None
    except jwt.InvalidAudienceError:
        raise SingleSignOnFailed("the ID token was issued for another client") from None
    except jwt.InvalidIssuerError:
        raise SingleSignOnFailed("the ID token was issued by another provider") from None
    except jwt.PyJWTError as exc:
        raise SingleSignOnFailed(f"the ID token is not valid: {exc}") from None
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise SingleSignOnFailed("the ID token nonce does not match (replayed token?)")
    return claims


def finish(
    session: Session,
    keys: KeyStore,
    http: httpx.Client,
    *,
    code: str | None,
    state: str | None,
    cookie: str | None,
    error: str | None = None,
    client_address: str | None = None,
) -> SignIn:
    """Complete a sign-in: check state, exchange the code, verify the token, find the account.

    A refusal is audited (``auth.login_failed`` with the reason); the caller must
    commit even then.

    Raises:
        SingleSignOnFailed: Why the sign-in was refused.
    """
    settings = get_settings()
    claim_value: str | None = None
    try:
        if error:
            raise SingleSignOnFailed(f"the provider refused the sign-in: {error}")
        started = _read_state(keys, cookie, state)
        if not code:
            raise SingleSignOnFailed("the provider sent back no code")
        idp = provider(http, settings)
        claims = verify_id_token(http, idp, _id_token(http, idp, code, started), started["nonce"])
        claim = settings.oidc_match_claim
        claim_value = str(claims.get(claim) or "") or None
        if claim_value is None:
            raise SingleSignOnFailed(f"the ID token carries no {claim!r} claim")
        if claim == "email" and claims.get("email_verified") is False:
            raise SingleSignOnFailed("the provider has not verified this e-mail address")
        user = UserRepository(session).by_username(claim_value)
        if user is None or user.kind != "person" or not user.active:
            raise SingleSignOnFailed(
                "no active local account matches this sign-in; ask an administrator"
            )
    except SingleSignOnFailed as exc:
        audit.record(
            session,
            actor=(claim_value or "oidc")[:128],
            action="auth.login_failed",
            object_type="user",
            object_id=claim_value,
            details={"method": "oidc", "reason": exc.detail},
            client_address=client_address,
        )
        raise
    return open_session(
        session,
        keys,
        user,
        client_address=client_address,
        now=utcnow(),
        details={"method": "oidc", "issuer": idp.issuer},
    )
