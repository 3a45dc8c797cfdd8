"""A database that cannot be reached is a 503 the caller can retry, never a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

from solidarity.observability.middleware import RequestIdMiddleware

log = logging.getLogger("solidarity.database")


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    body = {
        "type": "about:blank",
        "title": "Service unavailable",
        "status": 503,
        "detail": "the database could not be reached; nothing was changed, retry shortly",
        "instance": str(request.url.path),
    }
    return JSONResponse(
        body, status_code=503, media_type="application/problem+json", headers={"Retry-After": "5"}
    )


async def _on_operational(request: Request, exc: Exception) -> JSONResponse:
    # Lost connections, a server restarting, SQLite busy past its timeout: the
    # transaction was rolled back, so the caller may simply retry.
    return _unavailable(request, exc)


def install(app: FastAPI) -> None:
    """Add request ids, access logs and the 503 answer for lost database connections."""
    app.add_middleware(RequestIdMiddleware)
    app.add_exception_handler(OperationalError, _on_operational)
    app.add_exception_handler(InterfaceError, _on_operational)
