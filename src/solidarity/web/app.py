"""The application factory: one FastAPI app serving the API and the pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import solidarity
from solidarity.config import get_settings
from solidarity.db.engine import get_engine
from solidarity.errors import SolidarityError
from solidarity.governance.keys import KeyStore
from solidarity.governance.ratelimit import RateLimiter
from solidarity.observability.database import install as install_observability
from solidarity.web.admission import ConcurrencyLimit, limit_for_engine
from solidarity.web.api_docs import install as install_api_docs
from solidarity.web.concurrency import declare_preconditions
from solidarity.web.deps import (
    audit_refusal,
    enforce_authentication,
    get_engine_from_app,
    get_session,
    optional_principal,
    public,
    route_permission,
)
from solidarity.web.limits import RequestLimits, enforce_rate_limit
from solidarity.web.openapi import install_openapi
from solidarity.web.security import (
    BodySizeLimit,
    SecurityHeaders,
    problem_headers,
    redact_access_logs,
)

PROBLEM = "application/problem+json"
WEB = Path(__file__).parent
templates = Jinja2Templates(directory=WEB / "templates")


def _operation_id(route: APIRoute) -> str:
    # Stable operation ids: the endpoint function's name.
    return route.name


def _problem(
    status: int,
    title: str,
    detail: str,
    request: Request,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        **extra,  # first, so an extra member can never overwrite a standard one
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(request.url.path),
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class Liveness(BaseModel):
    """The answer of ``/healthz``."""

    status: str


class Readiness(BaseModel):
    """The answer of ``/readyz`` when the app can serve."""

    status: str
    revision: str | None


def _body_limit(path: str) -> int:
    settings = get_settings()
    if path.startswith("/api/v1/imports"):
        # Up to two data files and a mapping, each checked again against the upload limit.
        return 3 * settings.max_upload_bytes + 1024 * 1024
    return settings.max_request_bytes


def _declare_permissions(router: APIRouter) -> APIRouter:
    # The permission each route requires, shown in the OpenAPI document as x-permission.
    for route in router.routes:
        if isinstance(route, APIRoute):
            permission = route_permission(route)
            if permission is not None:
                route.openapi_extra = {**(route.openapi_extra or {}), "x-permission": permission}
    return declare_preconditions(router)


@asynccontextmanager
async def _chain_audit_trail(app: FastAPI) -> AsyncIterator[None]:
    """While serving, chain new audit entries every few seconds (decision 0005)."""
    from solidarity.governance.audit import Sequencer

    sequencer = Sequencer(app.state.engine, get_settings().audit_chain_seconds)
    sequencer.start()
    try:
        yield
    finally:
        await asyncio.to_thread(sequencer.stop)


def create_app(engine: Engine | None = None, keys: KeyStore | None = None) -> FastAPI:
    """Build the app bound to ``engine`` (default: the configured database).

    Every route not marked public needs a signed-in caller (deny by default);
    routes declare their permission with ``Depends(require(...))``.
    """
    from solidarity.coherence.router import router as coherence_router
    from solidarity.governance.router import router as governance_router
    from solidarity.grievances.router import router as grievances_router
    from solidarity.interop.router import app_message_key
    from solidarity.interop.router import router as interop_router
    from solidarity.jobs.router import router as jobs_router
    from solidarity.linkage.router import router as linkage_router
    from solidarity.monitoring.metrics import install_metrics
    from solidarity.monitoring.router import router as monitoring_router
    from solidarity.programs.router import router as programs_router
    from solidarity.registry.imports_router import router as imports_router
    from solidarity.registry.router import router as registry_router
    from solidarity.simulation.router import router as simulation_router
    from solidarity.web.pages import install_pages

    settings = get_settings()
    # Names and identifiers cannot be read or written without the field keys: fail now,
    # with the reason, rather than on the first request (decision 0003).
    from solidarity.governance.encryption import check_key_ring

    check_key_ring()
    app = FastAPI(
        lifespan=_chain_audit_trail,
        title="Solidarity",
        version=solidarity.__version__,
        description="Integrated social protection information system.",
        generate_unique_id_function=_operation_id,
        dependencies=[Depends(enforce_rate_limit), Depends(enforce_authentication)],
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app)
    app.state.engine = engine or get_engine()
    install_observability(app)
    app.state.keys = keys or KeyStore()
    app.state.published_keys = [lambda: app_message_key(app).jwks()]
    app.state.login_limiter = RateLimiter(settings.login_rate_per_minute, settings.login_burst)
    app.state.token_limiter = RateLimiter(settings.login_rate_per_minute, settings.login_burst)
    app.state.request_limits = RequestLimits(settings)
    app.add_middleware(BodySizeLimit, limit_for=_body_limit)
    app.add_middleware(SecurityHeaders, hsts=lambda: get_settings().hsts)
    from solidarity.governance.sharing import AgreementFilter

    app.add_middleware(AgreementFilter)  # machine clients get only what agreements allow
    app.add_middleware(
        ConcurrencyLimit,
        limit=limit_for_engine(app.state.engine, settings.max_concurrent_requests),
    )
    redact_access_logs()

    @app.exception_handler(SolidarityError)
    async def _domain_error(request: Request, exc: SolidarityError) -> JSONResponse:
        if exc.status_code in (401, 403):
            await run_in_threadpool(audit_refusal, request, exc)
        return _problem(
            exc.status_code, exc.title, exc.detail, request, problem_headers(exc), **exc.extra
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(
            exc.status_code, str(exc.detail), str(exc.detail), request, problem_headers(exc)
        )

    @app.exception_handler(RequestValidationError)
    async def _request_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return _problem(
            422, "Validation failed", "the request is not valid", request, errors=errors
        )

    app.include_router(_declare_permissions(governance_router))
    app.include_router(_declare_permissions(registry_router))
    app.include_router(_declare_permissions(imports_router))
    app.include_router(_declare_permissions(jobs_router))
    app.include_router(_declare_permissions(linkage_router))
    app.include_router(_declare_permissions(programs_router))
    app.include_router(_declare_permissions(coherence_router))
    app.include_router(_declare_permissions(interop_router))
    app.include_router(_declare_permissions(grievances_router))
    app.include_router(_declare_permissions(simulation_router))
    app.include_router(_declare_permissions(monitoring_router))
    from solidarity.governance.privacy_router import router as privacy_router

    app.include_router(_declare_permissions(privacy_router))
    install_metrics(app)
    # The web application's pages (each declares its permission like the API routes).
    install_pages(app)
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    install_openapi(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    @public
    def landing_page(request: Request, session: Session = Depends(get_session)) -> HTMLResponse:
        """What Solidarity is, what the registry holds in the visitor's areas, where to go next.

        The page is public; registry figures are shown only to a signed-in reader,
        counted within that reader's areas (an anonymous visitor learns no count).
        """
        from solidarity.registry import service as registry

        principal = optional_principal(request, session)
        counts = None
        if principal is not None and principal.has("registry.read"):
            counts = registry.counts(session, principal.scoped_to("registry.read").area_paths)
        return templates.TemplateResponse(
            request, "index.html", {"counts": counts, "version": solidarity.__version__}
        )

    @app.get("/healthz", tags=["operations"])
    @public
    def healthz() -> Liveness:
        """Liveness: the process answers."""
        return Liveness(status="ok")

    @app.get(
        "/readyz",
        tags=["operations"],
        response_model=None,
        responses={
            200: {"model": Readiness, "description": "Ready to serve"},
            503: {"description": "Database unreachable or not migrated"},
        },
    )
    @public
    def readyz(request: Request, engine: Engine = Depends(get_engine_from_app)) -> JSONResponse:
        """Readiness: the database answers and its schema is at the newest migration."""
        from solidarity.db import migrate

        try:
            current = migrate.current_revision(engine)
        except Exception as exc:
            return _problem(
                503, "Not ready", f"the database is unreachable: {type(exc).__name__}", request
            )
        head = migrate.head_revision(engine)
        if current != head:
            return _problem(
                503,
                "Not ready",
                "the database is not at the newest migration: run `solidarity db upgrade`",
                request,
                current_revision=current,
                head_revision=head,
            )
        return JSONResponse(Readiness(status="ok", revision=current).model_dump())

    return app
