"""Errors on pages: sign-in redirects and HTML instead of problem details.

The API answers errors with RFC 9457 problem details; a person in a browser
should get a page instead. This middleware leaves the API alone and, on page
paths only:

* an unauthenticated page request from a browser (``Accept: text/html``) is sent
  to the sign-in page and comes back afterwards; an htmx request is told to go
  there with ``HX-Redirect``;
* other problem details become an error page (full navigation) or a short alert
  fragment swapped into the page's message area (htmx requests).

Clients that do not ask for HTML (API clients, tests) still get the 401 problem.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from solidarity.web.pages.common import locale_of, render, sign_in_url
from solidarity.web.pages.messages import translate, translate_errors

#: Paths served by the API and the platform, never turned into pages.
NOT_PAGES = (
    "/api/",
    "/oauth2/",
    "/.well-known/",
    "/static/",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/healthz",
    "/readyz",
)


def is_page_path(path: str) -> bool:
    """Whether ``path`` is a page of the web application (not the API)."""
    return path != "/" and not path.startswith(NOT_PAGES)


class PageErrors:
    """Turns problem details on page paths into sign-in redirects and HTML errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        htmx = request.headers.get("hx-request") == "true"
        wants_html = htmx or "text/html" in request.headers.get("accept", "")
        if not wants_html:
            await self.app(scope, receive, send)
            return

        start: Message | None = None
        body = bytearray()

        async def intercept(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                content_type = headers.get(b"content-type", b"").decode()
                if message["status"] >= 400 and "problem+json" in content_type:
                    start = message
                    return
                await send(message)
                return
            if start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                await self._replace(request, start, bytes(body), htmx, send)

        await self.app(scope, receive, intercept)

    async def _replace(
        self, request: Request, start: Message, body: bytes, htmx: bool, send: Send
    ) -> None:
        status: int = start["status"]
        try:
            problem: dict[str, Any] = json.loads(body or b"{}")
        except ValueError:
            problem = {}
        kept = [
            (k, v)
            for k, v in start.get("headers", [])
            if k.lower() not in (b"content-type", b"content-length", b"www-authenticate")
        ]
        if status == 401:
            target = sign_in_url(request)
            if htmx:
                await _send(send, 200, [*kept, (b"hx-redirect", target.encode())], b"")
            else:
                await _send(send, 303, [*kept, (b"location", target.encode())], b"")
            return
        principal = getattr(request.state, "principal", None)
        locale = locale_of(request)
        response = render(
            request,
            "partials/alert.html" if htmx else "error.html",
            principal,
            status_code=status,
            status=status,
            title=problem.get("title", ""),
            detail=translate(str(problem.get("detail", "")), locale),
            errors=translate_errors(problem.get("errors") or [], locale),
        )
        headers = [*kept, (b"content-type", b"text/html; charset=utf-8")]
        if htmx:
            # Show it in the page's message area whatever the request's own target was.
            headers += [(b"hx-retarget", b"#messages"), (b"hx-reswap", b"innerHTML")]
        await _send(send, status, headers, bytes(response.body))


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
