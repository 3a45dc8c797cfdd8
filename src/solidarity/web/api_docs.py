"""The API reference pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``) from local files.

FastAPI's own pages load their scripts from a CDN; a ministry's server may have
no internet, so the scripts shipped in the ``fastapi-offline`` package are
served from ``/api-docs/static`` instead.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from solidarity.web.deps import public

STATIC = Path(fastapi_offline.__file__).parent / "static"
PREFIX = "/api-docs/static"


def install(app: FastAPI) -> None:
    """Serve the API reference pages and their scripts (public, like the schema)."""
    app.mount(PREFIX, StaticFiles(directory=STATIC), name="api-docs-static")
    schema = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    @public
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=schema,
            title=f"{app.title} API",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    @public
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=schema,
            title=f"{app.title} API",
            redoc_js_url=f"{PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{PREFIX}/favicon.png",
            with_google_fonts=False,
        )
