"""What every page shares: the template environment, the signed-in context, navigation.

Page routes declare their permission exactly as the API does
(``Depends(require("registry.read"))``), so the access-matrix test covers them;
they call the domains' services and render a template with :func:`render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

import solidarity
from solidarity.governance.principal import Principal
from solidarity.governance.roles import permissions
from solidarity.web.i18n import LANGUAGE_COOKIE, LANGUAGES, Locale, negotiate

WEB = Path(__file__).resolve().parent.parent
SIGN_IN_PATH = "/sign-in"
#: Coherence diagnostics are read with the coherence permission once roles define it.
COHERENCE_READ = "coherence.read" if "coherence.read" in permissions() else "programs.read"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(WEB / "templates"),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # New-style gettext: templates call _("text %(name)s", name=value); the request's
    # language is handed in with each render (see Locale.template_functions).
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


templates = Jinja2Templates(env=_environment())


def locale_of(request: Request) -> Locale:
    """The language of a request: its cookie, else its Accept-Language, else English."""
    cached = getattr(request.state, "locale", None)
    if isinstance(cached, Locale):
        return cached
    language = negotiate(
        request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
    )
    locale = Locale(language)
    request.state.locale = locale
    return locale


@dataclass(frozen=True)
class NavItem:
    """One entry of the main navigation, shown to holders of ``permission``."""

    href: str
    label: str
    permission: str


#: Labels are marked for translation here and translated at render time.
def _(message: str) -> str:
    return message


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("/registry", _("Registry"), "registry.read"),
    NavItem("/registry/change-requests", _("Change requests"), "registry.read"),
    NavItem("/imports", _("Imports"), "registry.import"),
    NavItem("/programmes", _("Programmes"), "programs.read"),
    NavItem("/linkage/review", _("Duplicates"), "linkage.review"),
    NavItem("/coherence", _("Coherence"), COHERENCE_READ),
    NavItem("/grievances", _("Grievances"), "grievances.read"),
    NavItem("/cases", _("Cases"), "cases.manage"),
    NavItem("/referrals", _("Referrals"), "referrals.manage"),
    NavItem("/monitoring", _("Monitoring"), "monitoring.read"),
    NavItem("/data-quality", _("Data quality"), "monitoring.read"),
    NavItem("/simulation", _("Simulation"), "simulation.run"),
    NavItem("/account", _("Account"), "authenticated"),
)


def navigation(principal: Principal) -> list[NavItem]:
    """The entries the account may open."""
    return [
        item
        for item in NAVIGATION
        if item.permission == "authenticated" or principal.has(item.permission)
    ]


def home_path(principal: Principal) -> str:
    """Where a signed-in account lands: its first page."""
    return navigation(principal)[0].href


def scope_labels(principal: Principal) -> list[tuple[str, str]]:
    """(role, area or "national") of each grant, for the header."""
    return sorted({(g.role, g.area_code or "national") for g in principal.grants})


def safe_next(target: str | None, fallback: str = "/") -> str:
    """A same-site path to go to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target


def sign_in_url(request: Request) -> str:
    """The sign-in page, coming back to this page afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{SIGN_IN_PATH}?next={quote(here, safe='/')}"


def remember_csrf(request: Request) -> None:
    """Keep the session's CSRF token while the unit of work is open.

    A dependency of every page router: error pages are rendered after the
    request's database session has closed, and still need the token.
    """
    auth_session = getattr(request.state, "auth_session", None)
    if auth_session is not None:
        request.state.csrf = str(auth_session.csrf_token)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, sent back by htmx as ``X-CSRF-Token``."""
    remembered = getattr(request.state, "csrf", None)
    if remembered is None:
        remember_csrf(request)
        remembered = getattr(request.state, "csrf", "")
    return str(remembered)


def base_context(request: Request, principal: Principal | None) -> dict[str, Any]:
    """What the layout needs: the account, its scope, the navigation, the language."""
    locale = locale_of(request)
    return {
        "user": principal,
        "scopes": scope_labels(principal) if principal else [],
        "nav": navigation(principal) if principal else [],
        "csrf": csrf_token(request),
        "locale": locale,
        "lang": locale.language,
        "languages": LANGUAGES,
        "current_path": request.url.path,
        "current_url": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "version": solidarity.__version__,
        **locale.template_functions(),
    }


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it then wants a fragment, not a page)."""
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    principal: Principal | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` with the layout's context and ``context``."""
    response: HTMLResponse = templates.TemplateResponse(
        request,
        template,
        {**base_context(request, principal), **context},
        status_code=status_code,
        headers=headers,
    )
    return response


def field_errors(errors: list[dict[str, Any]] | None) -> dict[str, list[str]]:
    """Validation errors grouped by field, for showing each under its input."""
    grouped: dict[str, list[str]] = {}
    for error in errors or []:
        name = str(error.get("field") or error.get("column") or "")
        grouped.setdefault(name, []).append(str(error.get("message", "")))
    return grouped


async def form_fields(request: Request) -> dict[str, str]:
    """The text fields of a posted form (read here so that page routes stay synchronous)."""
    form = await request.form()
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


def redirect(request: Request, target: str) -> Response:
    """Go to ``target``: a 303 for a form post, ``HX-Redirect`` for htmx.

    htmx follows a 303 inside its request and would swap the next page into
    the current one, so it is told to navigate instead.
    """
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return Response(status_code=303, headers={"Location": target})
