"""FastAPI dependencies shared by every router: the unit of work and who is acting.

Callers authenticate with the session cookie set by ``POST /api/v1/auth/login``
(changes must then carry the session's ``X-CSRF-Token``) or with an OAuth 2.0
bearer token from ``POST /oauth2/client/token``. Each route declares the
permission it needs with ``Depends(require("registry.read"))``; the principal it
gets is narrowed to the areas and programmes where that permission is held.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute

from solidarity.config import get_settings
from solidarity.db.engine import session_factory, unit_of_work
from solidarity.errors import SolidarityError
from solidarity.governance import audit
from solidarity.governance import service as governance
from solidarity.governance.errors import AuthenticationRequired, CsrfFailed, PermissionDenied
from solidarity.governance.keys import KeyStore
from solidarity.governance.principal import Principal
from solidarity.governance.roles import AUTHENTICATED

logger = logging.getLogger(__name__)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"


def session_cookie_name() -> str:
    """``__Host-`` cookies are bound to this host and HTTPS; plain HTTP cannot use them."""
    return "__Host-solidarity" if get_settings().cookie_secure else "solidarity_session"


def get_engine_from_app(request: Request) -> Engine:
    """The engine the application was built with."""
    engine: Engine = request.app.state.engine
    return engine


def get_keys(request: Request) -> KeyStore:
    """The application's signing keys and secret."""
    keys: KeyStore = request.app.state.keys
    return keys


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: commit on success, roll back on error."""
    session = session_factory(get_engine_from_app(request))()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def client_address(request: Request) -> str | None:
    """The peer address of the request."""
    return request.client.host if request.client else None


def public(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a route as open to anonymous callers (health, sign-in, token, JWKS)."""
    endpoint.public = True  # type: ignore[attr-defined]
    return endpoint


def is_public(endpoint: Any) -> bool:
    """Whether a route endpoint was marked with :func:`public`."""
    return bool(getattr(endpoint, "public", False))


def _authenticate(request: Request, session: Session) -> Principal | None:
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    keys = get_keys(request)
    address = client_address(request)
    principal: Principal | None = None
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationRequired("the Authorization header must be 'Bearer <token>'")
        principal = governance.principal_for_token(session, keys, token.strip(), address)
    else:
        cookie = request.cookies.get(session_cookie_name())
        found = governance.session_for_cookie(session, keys, cookie) if cookie else None
        if found is not None:
            auth_session, user = found
            if request.method in UNSAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent, auth_session.csrf_token):
                    request.state.refused_user = user.username  # for the audit entry
                    raise CsrfFailed(
                        f"the {CSRF_HEADER} header is missing or does not match the session"
                    )
            request.state.auth_session = auth_session
            principal = governance.principal_for(
                session, user, method="session", client_address=address
            )
    request.state.principal = principal
    return principal


def audit_refusal(request: Request, exc: SolidarityError) -> None:
    """Record a refused request (403, or 401 with credentials) in the audit trail.

    A request that presented a token or a session cookie and was refused is
    someone trying something: an expired, forged or foreign credential, a missing
    CSRF token, a permission or scope they lack. An anonymous request without
    credentials is only told to sign in, and not recorded.
    """
    presented = request.headers.get("authorization") or request.cookies.get(session_cookie_name())
    if exc.status_code not in (401, 403) or (exc.status_code == 401 and not presented):
        return
    if getattr(request.state, "refusal_audited", False):
        return  # already recorded where it was refused (sharing.refused)
    principal = getattr(request.state, "principal", None)
    try:
        with unit_of_work(get_engine_from_app(request)) as session:
            audit.record(
                session,
                actor=principal.username
                if isinstance(principal, Principal)
                else getattr(request.state, "refused_user", "anonymous"),
                action="request.refused",
                object_type="request",
                details={
                    "method": request.method,
                    "path": request.url.path,
                    "status": exc.status_code,
                    "reason": exc.detail[:300],
                    "credential": "bearer" if request.headers.get("authorization") else "cookie",
                },
                client_address=client_address(request),
            )
    except Exception:  # the refusal itself must still be answered
        logger.exception("could not record a refused request")


def enforce_authentication(request: Request, session: Session = Depends(get_session)) -> None:
    """Deny by default: every route not marked public needs a signed-in caller.

    Applied to the whole app, so a route whose permission is not wired yet is
    still closed to anonymous callers.
    """
    if is_public(request.scope.get("endpoint")):
        return
    if _authenticate(request, session) is None:
        raise AuthenticationRequired("sign in, or send a bearer access token")


def optional_principal(request: Request, session: Session) -> Principal | None:
    """The caller when signed in (session cookie or bearer token), else ``None``."""
    try:
        return _authenticate(request, session)
    except SolidarityError:
        return None


def current_principal(request: Request, session: Session = Depends(get_session)) -> Principal:
    """The authenticated caller.

    Raises:
        AuthenticationRequired: No valid session cookie or bearer token.
    """
    principal = _authenticate(request, session)
    if principal is None:
        raise AuthenticationRequired("sign in, or send a bearer access token")
    return principal


class require:
    """A dependency demanding ``permission``; it yields the principal narrowed to it."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    def __call__(
        self,
        request: Request,
        principal: Principal = Depends(current_principal),
        session: Session = Depends(get_session),
    ) -> Principal:
        if not principal.has(self.permission):
            raise PermissionDenied(f"this needs the permission {self.permission!r}")
        scoped = principal.scoped_to(self.permission)
        if principal.kind == "client" and self.permission != AUTHENTICATED:
            scoped = _under_agreement(request, session, scoped)
        return scoped

    def __repr__(self) -> str:
        return f"require({self.permission!r})"


def _under_agreement(request: Request, session: Session, principal: Principal) -> Principal:
    """A machine client's principal narrowed to its agency's agreements (DCI checks its own).

    The terms are left on ``request.state`` for the response filter; a refusal is
    audited in its own unit of work, since the request's is rolled back.
    """
    from solidarity.governance import audit, sharing

    path = request.url.path
    if path.startswith(sharing.DCI_PREFIX):
        return principal
    purpose = request.headers.get("x-purpose") or None
    try:
        narrowed, terms = sharing.narrow(
            session, principal, path=path, method=request.method, purpose=purpose
        )
    except sharing.AgreementRefused as exc:
        with session_factory(get_engine_from_app(request))() as own:
            audit.record_for(
                own,
                principal,
                "sharing.refused",
                "client",
                principal.username,
                {"method": request.method, "path": path, "reason": exc.detail},
                purpose=purpose,
            )
            own.commit()
        request.state.refusal_audited = True
        raise
    if terms is None:
        return narrowed
    if not hasattr(request.state, "sharing_scope"):
        audit.record_for(
            session,
            principal,
            "sharing.response",
            "client",
            principal.username,
            {"method": request.method, "path": path, "agreements": list(terms.agreements)},
            purpose=purpose,
        )
    request.state.sharing_scope = terms
    return narrowed


def route_permission(route: APIRoute) -> str | None:
    """The permission a route declares through :class:`require`, if any."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, require):
            return dependant.call.permission
        pending.extend(dependant.dependencies)
    return None


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, APIRoute]]:
    """Every API route with its full path, looking through included routers."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before routers were included lazily
        for route in routes:
            if isinstance(route, APIRoute):
                yield route.path, route
        return
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield context.path or route.path, route


def get_actor(principal: Principal = Depends(current_principal)) -> str:
    """Who is acting: the authenticated caller's username (``X-Actor`` is not trusted)."""
    return principal.username
