"""Signing in and out, the language switch, and the account page.

The sign-in page is open to anyone, like ``POST /api/v1/auth/login`` whose
service it calls (same rate limit, lockout and audit). It is a plain Starlette
route rather than an API route: it is not part of the API, and a browser must
be able to post the form before it holds a session or a CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from solidarity.config import get_settings
from solidarity.db.engine import session_factory
from solidarity.governance import roles
from solidarity.governance import service as governance
from solidarity.governance.errors import AuthenticationFailed, RateLimited
from solidarity.governance.principal import Principal
from solidarity.web.deps import (
    client_address,
    get_engine_from_app,
    get_keys,
    get_session,
    require,
    session_cookie_name,
)
from solidarity.web.i18n import LANGUAGE_COOKIE, LANGUAGES
from solidarity.web.pages.common import (
    SIGN_IN_PATH,
    home_path,
    locale_of,
    render,
    safe_next,
    templates,
)

router = APIRouter(include_in_schema=False)


def _sso_provider() -> str | None:
    """The single sign-on provider's name when one is configured (sign-in page link)."""
    from solidarity.governance.oidc import configured

    settings = get_settings()
    return settings.oidc_provider_name if configured(settings) else None


templates.env.globals["sso_provider"] = _sso_provider
SessionDep = Annotated[Session, Depends(get_session)]
Me = Annotated[Principal, Depends(require(roles.AUTHENTICATED))]


def _signed_in(request: Request) -> Principal | None:
    cookie = request.cookies.get(session_cookie_name())
    if not cookie:
        return None
    with session_factory(get_engine_from_app(request))() as session:
        found = governance.session_for_cookie(session, get_keys(request), cookie)
        if found is None:
            return None
        return governance.principal_for(session, found[1], method="session")


def _attempt(request: Request, username: str, password: str) -> tuple[str | None, str]:
    """Sign in; returns (cookie, where to go) or (None, the error message)."""
    locale = locale_of(request)
    settings = get_settings()
    address = client_address(request)
    try:
        request.app.state.login_limiter.hit(address or "-", username.lower())
    except RateLimited as exc:
        seconds = int(exc.headers.get("Retry-After", "60"))
        return None, locale.gettext(
            "Too many sign-in attempts. Try again in %(seconds)s seconds.", seconds=seconds
        )
    with session_factory(get_engine_from_app(request))() as session:
        try:
            signed = governance.login(
                session, get_keys(request), username, password, client_address=address
            )
        except AuthenticationFailed:
            session.commit()  # keep the failure count, the lockout and the audit entry
            return None, locale.gettext(
                "Sign-in failed: wrong username or password, or the account is locked or "
                "disabled. After %(attempts)s failed attempts an account is locked for "
                "%(minutes)s minutes.",
                attempts=settings.max_failed_logins,
                minutes=settings.lockout_minutes,
            )
        session.commit()
        return signed.cookie, home_path(signed.principal)


async def sign_in(request: Request) -> Response:
    """Show the sign-in form (GET) or check it (POST)."""
    target = request.query_params.get("next")
    if request.method == "GET":
        principal = await run_in_threadpool(_signed_in, request)
        if principal is not None:
            return RedirectResponse(safe_next(target, home_path(principal)), status_code=303)
        return render(request, "sign_in.html", None, next=safe_next(target, ""), error=None)
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = str(form.get("next", "")) or target
    if not username or not password:
        message = locale_of(request).gettext("Enter your username and password.")
        return render(
            request,
            "sign_in.html",
            None,
            status_code=422,
            next=safe_next(target, ""),
            error=message,
            username=username,
        )
    cookie, outcome = await run_in_threadpool(_attempt, request, username, password)
    if cookie is None:
        return render(
            request,
            "sign_in.html",
            None,
            status_code=401,
            next=safe_next(target, ""),
            error=outcome,
            username=username,
        )
    settings = get_settings()
    response = RedirectResponse(safe_next(target, outcome), status_code=303)
    response.set_cookie(
        session_cookie_name(),
        cookie,
        max_age=int(settings.session_hours * 3600),
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response


async def switch_language(request: Request) -> Response:
    """Remember the chosen language in a cookie and go back to the page."""
    language = request.query_params.get("lang", "")
    response = RedirectResponse(safe_next(request.query_params.get("next"), "/"), status_code=303)
    if language in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=365 * 24 * 3600,
            path="/",
            secure=get_settings().cookie_secure,
            httponly=True,
            samesite="lax",
        )
    return response


#: Open routes of the web application (outside the API's deny-by-default dependency).
PUBLIC_PAGE_ROUTES = [
    Route(SIGN_IN_PATH, sign_in, methods=["GET", "POST"], name="sign_in"),
    Route("/language", switch_language, methods=["GET"], name="switch_language"),
]


@router.post("/sign-out")
def sign_out(request: Request, session: SessionDep, principal: Me) -> Response:
    """End the session and go to the sign-in page."""
    auth_session = getattr(request.state, "auth_session", None)
    if auth_session is not None:
        governance.logout(session, auth_session, principal)
    response = Response(status_code=204, headers={"HX-Redirect": SIGN_IN_PATH})
    response.delete_cookie(
        session_cookie_name(), path="/", secure=get_settings().cookie_secure, httponly=True
    )
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, principal: Me) -> HTMLResponse:
    """Who is signed in: roles, areas and what each permission allows."""
    descriptions = roles.permissions()
    held = sorted(principal.permissions)
    return render(
        request,
        "account.html",
        principal,
        permissions=[(p, descriptions.get(p, "")) for p in held],
    )
