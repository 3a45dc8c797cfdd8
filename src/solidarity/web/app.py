"""The application factory: one FastAPI app serving the API and the pages."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import Engine

import solidarity
from solidarity.db.engine import get_engine
from solidarity.errors import SolidarityError

PROBLEM = "application/problem+json"


def _operation_id(route: APIRoute) -> str:
    # Stable operation ids: the endpoint function's name.
    return route.name


def _problem(status: int, title: str, detail: str, request: Request, **extra: Any) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(request.url.path),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def create_app(engine: Engine | None = None) -> FastAPI:
    """Build the app bound to ``engine`` (default: the configured database)."""
    from solidarity.registry.router import router as registry_router

    app = FastAPI(
        title="Solidarity",
        version=solidarity.__version__,
        description="Integrated social protection information system.",
        generate_unique_id_function=_operation_id,
    )
    app.state.engine = engine or get_engine()

    @app.exception_handler(SolidarityError)
    async def _domain_error(request: Request, exc: SolidarityError) -> JSONResponse:
        return _problem(exc.status_code, exc.title, exc.detail, request, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _request_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return _problem(
            422, "Validation failed", "the request is not valid", request, errors=errors
        )

    app.include_router(registry_router)
    return app
