"""Sign-in, machine-client tokens, accounts and the audit trail over HTTP."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.governance import agreements, roles
from solidarity.governance import service as governance
from solidarity.governance.errors import AuthenticationFailed, OAuthError
from solidarity.governance.keys import KeyStore
from solidarity.governance.principal import Principal
from solidarity.governance.repository import AuditFilter
from solidarity.governance.schemas import (
    ActiveIn,
    AgencyIn,
    AgencyOut,
    AgreementIn,
    AgreementOut,
    AuditPage,
    ClientCreated,
    ClientIn,
    ConsentIn,
    ConsentOut,
    GrantIn,
    GrantOut,
    LoginIn,
    PasswordResetIn,
    SessionOut,
    TokenOut,
    UserIn,
    UserOut,
)
from solidarity.registry.history import as_moment
from solidarity.web.deps import (
    client_address,
    get_keys,
    get_session,
    public,
    require,
    session_cookie_name,
)

router = APIRouter(tags=["governance"])

SessionDep = Annotated[Session, Depends(get_session)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
Me = Annotated[Principal, Depends(require(roles.AUTHENTICATED))]
Admin = Annotated[Principal, Depends(require("users.manage"))]
Auditor = Annotated[Principal, Depends(require("audit.read"))]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _session_out(
    session: Session, principal: Principal, csrf: str | None, expires: datetime | None
) -> SessionOut:
    from solidarity.governance.repository import UserRepository

    user = UserRepository(session).by_username(principal.username)
    grants = governance.grants_out(session, user) if user else []
    return SessionOut(
        username=principal.username,
        display_name=principal.display_name,
        kind=principal.kind,
        roles=sorted(principal.roles),
        permissions=sorted(principal.permissions),
        grants=grants,
        csrf_token=csrf,
        expires_at=expires,
    )


@router.post(
    "/api/v1/auth/login",
    response_model=SessionOut,
    tags=["auth"],
    responses={
        401: {"description": "Wrong username or password, or the account is locked"},
        429: {"description": "Too many attempts (see Retry-After)"},
    },
)
@public
def login(
    request: Request, response: Response, body: LoginIn, session: SessionDep, keys: KeysDep
) -> SessionOut:
    """Sign in: sets the session cookie and returns the CSRF token for changes."""
    address = client_address(request)
    request.app.state.login_limiter.hit(address or "-", body.username.lower())
    try:
        signed = governance.login(
            session, keys, body.username, body.password, client_address=address
        )
    except AuthenticationFailed:
        session.commit()  # keep the failure count, the lockout and the audit entry
        raise
    settings = get_settings()
    response.set_cookie(
        session_cookie_name(),
        signed.cookie,
        max_age=int(settings.session_hours * 3600),
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    response.headers.update(NO_STORE)
    return _session_out(session, signed.principal, signed.csrf_token, signed.expires_at)


@router.post("/api/v1/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def logout(request: Request, session: SessionDep, principal: Me) -> Response:
    """Sign out: ends the session and clears the cookie."""
    auth_session = getattr(request.state, "auth_session", None)
    if auth_session is not None:
        governance.logout(session, auth_session, principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        session_cookie_name(), path="/", secure=get_settings().cookie_secure, httponly=True
    )
    return response


@router.get("/api/v1/auth/me", response_model=SessionOut, tags=["auth"])
def get_me(request: Request, session: SessionDep, principal: Me) -> SessionOut:
    """The signed-in account: roles, permissions, scopes, and the session's CSRF token."""
    auth_session = getattr(request.state, "auth_session", None)
    return _session_out(
        session,
        principal,
        auth_session.csrf_token if auth_session else None,
        auth_session.expires_at if auth_session else None,
    )


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


@router.post(
    "/oauth2/client/token",
    response_model=TokenOut,
    tags=["auth"],
    responses={
        400: {"description": "unsupported_grant_type, invalid_request or invalid_scope"},
        401: {"description": "invalid_client"},
        429: {"description": "Too many attempts (see Retry-After)"},
    },
)
@public
def issue_client_token(
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    """OAuth 2.0 client credentials grant: a short-lived RS256 access token."""
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
    basic = _basic_credentials(request)
    if basic is not None:
        client_id, client_secret = basic
    if not client_id or not client_secret:
        raise OAuthError("invalid_request", "client_id and client_secret are required")
    address = client_address(request)
    request.app.state.token_limiter.hit(address or "-", client_id)
    try:
        token, expires_in, scopes = governance.issue_client_token(
            session,
            keys,
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
            client_address=address,
        )
    except OAuthError:
        session.commit()  # keep the failure count and the audit entry
        raise
    body = TokenOut(access_token=token, expires_in=expires_in, scope=" ".join(scopes))
    return JSONResponse(body.model_dump(), headers=NO_STORE)


@router.get("/.well-known/jwks.json", tags=["auth"])
@public
def jwks(request: Request, keys: KeysDep) -> dict[str, Any]:
    """Public keys (JWKS, RFC 7517): those verifying our tokens and signatures (``use: sig``)
    and those partners encrypt messages to (``use: enc``, published by other domains
    through ``app.state.published_keys``)."""
    published = keys.jwks()
    for provider in getattr(request.app.state, "published_keys", ()):
        published["keys"] = [*published["keys"], *provider()]
    return published


# --- accounts --------------------------------------------------------------------------


@router.get("/api/v1/users", response_model=list[UserOut], tags=["users"])
def list_users(
    session: SessionDep,
    _admin: Admin,
    kind: Annotated[str | None, Query(pattern="^(person|client)$")] = None,
) -> list[UserOut]:
    """List accounts (people and machine clients) with their grants."""
    return governance.list_users(session, kind)


@router.post(
    "/api/v1/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
)
def create_user(session: SessionDep, admin: Admin, body: UserIn) -> UserOut:
    """Create an account with its grants."""
    user = governance.create_user(
        session,
        username=body.username,
        display_name=body.display_name,
        password=body.password,
        grants=body.grants,
        actor=admin.username,
        client_address=admin.client_address,
    )
    return governance.user_out(session, user)


@router.get("/api/v1/users/{username}", response_model=UserOut, tags=["users"])
def get_user(session: SessionDep, _admin: Admin, username: str) -> UserOut:
    """Read an account and its grants."""
    return governance.user_out(session, governance.require_user(session, username))


@router.post(
    "/api/v1/users/{username}/grants",
    response_model=GrantOut,
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
)
def grant_role(session: SessionDep, admin: Admin, username: str, body: GrantIn) -> GrantOut:
    """Give an account a role over an area subtree (national without an area)."""
    grant = governance.grant_role(
        session, username, body, actor=admin.username, client_address=admin.client_address
    )
    return GrantOut.model_validate(grant)


@router.delete(
    "/api/v1/users/{username}/grants/{grant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
)
def revoke_grant(
    session: SessionDep, admin: Admin, username: str, grant_id: Annotated[int, Path(ge=1)]
) -> Response:
    """Take a grant away."""
    governance.revoke_grant(
        session, username, grant_id, actor=admin.username, client_address=admin.client_address
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/v1/users/{username}/password", status_code=status.HTTP_204_NO_CONTENT, tags=["users"]
)
def reset_password(
    session: SessionDep, admin: Admin, username: str, body: PasswordResetIn
) -> Response:
    """Set a new password for an account: unlocks it and ends its sessions."""
    governance.reset_password(
        session, username, body.password, actor=admin.username, client_address=admin.client_address
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/v1/users/{username}/active", response_model=UserOut, tags=["users"])
def set_user_active(session: SessionDep, admin: Admin, username: str, body: ActiveIn) -> UserOut:
    """Enable or disable an account."""
    user = governance.set_active(
        session, username, body.active, actor=admin.username, client_address=admin.client_address
    )
    return governance.user_out(session, user)


@router.post(
    "/api/v1/clients",
    response_model=ClientCreated,
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
)
def create_client(session: SessionDep, admin: Admin, body: ClientIn) -> JSONResponse:
    """Register a machine client; its secret is in this answer only."""
    user, secret = governance.create_client(
        session,
        client_id=body.client_id,
        display_name=body.display_name,
        agency_code=body.agency_code,
        grants=body.grants,
        actor=admin.username,
        client_address=admin.client_address,
    )
    created = ClientCreated(
        client_id=user.username, client_secret=secret, grants=governance.grants_out(session, user)
    )
    return JSONResponse(created.model_dump(), status_code=201, headers=NO_STORE)


# --- audit -----------------------------------------------------------------------------


@router.get("/api/v1/audit", response_model=AuditPage, tags=["audit"])
def list_audit_entries(
    session: SessionDep,
    _auditor: Auditor,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: Annotated[str | None, Query(description="Date or ISO datetime (inclusive)")] = None,
    until: Annotated[str | None, Query(description="Date (end of day) or ISO datetime")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditPage:
    """Search the audit trail, newest first."""
    criteria = AuditFilter(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=governance.start_of(since),
        until=as_moment(until) if until else None,
    )
    return governance.search_audit(session, criteria, limit, offset)


# --- agencies, agreements, consent -----------------------------------------------------


@router.get("/api/v1/agencies", response_model=list[AgencyOut], tags=["agreements"])
def list_agencies(session: SessionDep, _admin: Admin) -> list[AgencyOut]:
    """List agencies the registry shares data with."""
    return agreements.list_agencies(session)


@router.post(
    "/api/v1/agencies",
    response_model=AgencyOut,
    status_code=status.HTTP_201_CREATED,
    tags=["agreements"],
)
def create_agency(session: SessionDep, admin: Admin, body: AgencyIn) -> AgencyOut:
    """Register an agency."""
    return agreements.create_agency(session, body, actor=admin.username)


@router.get("/api/v1/agreements", response_model=list[AgreementOut], tags=["agreements"])
def list_agreements(
    session: SessionDep, _auditor: Auditor, agency: str | None = None
) -> list[AgreementOut]:
    """List data sharing agreements, optionally of one agency."""
    return agreements.list_agreements(session, agency)


@router.post(
    "/api/v1/agreements",
    response_model=AgreementOut,
    status_code=status.HTTP_201_CREATED,
    tags=["agreements"],
)
def create_agreement(session: SessionDep, admin: Admin, body: AgreementIn) -> AgreementOut:
    """Record a data sharing agreement."""
    return agreements.create_agreement(session, body, actor=admin.username)


Writer = Annotated[Principal, Depends(require("registry.write"))]
Reader = Annotated[Principal, Depends(require("registry.read"))]


@router.get(
    "/api/v1/persons/{person_id}/consents", response_model=list[ConsentOut], tags=["consent"]
)
def list_consents(
    session: SessionDep, principal: Reader, person_id: Annotated[int, Path(ge=1)]
) -> list[ConsentOut]:
    """List a person's consent records, newest first."""
    return agreements.list_consents(session, principal, person_id)


@router.post(
    "/api/v1/consents",
    response_model=ConsentOut,
    status_code=status.HTTP_201_CREATED,
    tags=["consent"],
)
def record_consent(session: SessionDep, principal: Writer, body: ConsentIn) -> ConsentOut:
    """Record a person's consent to a purpose."""
    return agreements.record_consent(session, principal, body)


@router.post("/api/v1/consents/{consent_id}/withdraw", response_model=ConsentOut, tags=["consent"])
def withdraw_consent(
    session: SessionDep, principal: Writer, consent_id: Annotated[int, Path(ge=1)]
) -> ConsentOut:
    """Record that a person withdrew a consent."""
    return agreements.withdraw_consent(session, principal, consent_id)


# --- single sign-on (OpenID Connect, optional) ------------------------------------------


def _oidc_http(request: Request) -> Any:
    # One client per application (tests put an in-process provider here).
    if getattr(request.app.state, "oidc_http", None) is None:
        import httpx

        request.app.state.oidc_http = httpx.Client(timeout=10.0)
    return request.app.state.oidc_http


@router.get(
    "/api/v1/auth/oidc/login",
    tags=["auth"],
    status_code=status.HTTP_302_FOUND,
    responses={404: {"description": "Single sign-on is not configured"}},
)
@public
def oidc_login(request: Request, keys: KeysDep) -> Response:
    """Start single sign-on: redirect to the provider (authorisation code flow with PKCE)."""
    from fastapi.responses import RedirectResponse

    from solidarity.governance import oidc

    settings = get_settings()
    idp = oidc.provider(_oidc_http(request), settings)
    redirect_uri = settings.oidc_redirect_uri or str(request.url_for("oidc_callback"))
    url, cookie = oidc.start(keys, idp, redirect_uri)
    response = RedirectResponse(url, status_code=status.HTTP_302_FOUND, headers=NO_STORE)
    response.set_cookie(
        oidc.STATE_COOKIE,
        cookie,
        max_age=oidc.STATE_SECONDS,
        path="/api/v1/auth/oidc",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back
    )
    return response


@router.get(
    "/api/v1/auth/oidc/callback",
    tags=["auth"],
    name="oidc_callback",
    status_code=status.HTTP_303_SEE_OTHER,
    responses={401: {"description": "The sign-in was refused (problem details say why)"}},
)
@public
def oidc_callback(
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    """Finish single sign-on: verify the provider's ID token, open a session, go home."""
    from fastapi.responses import RedirectResponse

    from solidarity.governance import oidc

    settings = get_settings()
    if not oidc.configured(settings):
        from solidarity.errors import NotFoundError

        raise NotFoundError("single sign-on is not configured")
    try:
        signed = oidc.finish(
            session,
            keys,
            _oidc_http(request),
            code=code,
            state=state,
            error=error,
            cookie=request.cookies.get(oidc.STATE_COOKIE),
            client_address=client_address(request),
        )
    except oidc.SingleSignOnFailed:
        session.commit()  # keep the audit entry of the refusal
        raise
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER, headers=NO_STORE)
    response.delete_cookie(oidc.STATE_COOKIE, path="/api/v1/auth/oidc")
    response.set_cookie(
        session_cookie_name(),
        signed.cookie,
        max_age=int(settings.session_hours * 3600),
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response
