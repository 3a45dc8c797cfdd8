"""Per-client request rate limits on the REST API (``/api/``, ``/oauth2/``) and DCI (``/dci/``).

Each caller has a token bucket: a machine client by its client id, a person by
their username, an anonymous caller by address. The limits are settings
(``SOLIDARITY_API_RATE_PER_MINUTE``/``_BURST``, ``SOLIDARITY_DCI_RATE_PER_MINUTE``/``_BURST``);
an empty bucket answers 429 with ``Retry-After`` and problem details (DCI: its error
structure, through the DCI route). Pages and health checks are not limited here.
"""

from __future__ import annotations

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from solidarity.config import Settings
from solidarity.governance.principal import Principal
from solidarity.governance.ratelimit import RateLimiter
from solidarity.web.deps import get_session, optional_principal

API_PREFIXES = ("/api/", "/oauth2/")
DCI_PREFIX = "/dci/"


class RequestLimits:
    """The API and DCI limiters of one application."""

    def __init__(self, settings: Settings) -> None:
        self.api = RateLimiter(settings.api_rate_per_minute, settings.api_burst)
        self.dci = RateLimiter(settings.dci_rate_per_minute, settings.dci_burst)

    def limiter_for(self, path: str) -> RateLimiter | None:
        """The limiter a path counts against (``None``: not limited)."""
        if path.startswith(DCI_PREFIX):
            return self.dci
        if path.startswith(API_PREFIXES):
            return self.api
        return None


def client_key(request: Request, principal: Principal | None) -> tuple[str, str]:
    """Whom a request is counted against: machine client, user, else address."""
    if principal is not None:
        return ("client" if principal.kind == "client" else "user", principal.username)
    return ("address", request.client.host if request.client else "unknown")


def enforce_rate_limit(request: Request, session: Session = Depends(get_session)) -> None:
    """Dependency (before authentication is enforced): take one request from the caller's bucket.

    Callers whose credentials fail are counted by address, so that a flood of bad
    tokens is throttled too.

    Raises:
        RateLimited: The caller sent more than its limit (429 with ``Retry-After``).
    """
    limits: RequestLimits | None = getattr(request.app.state, "request_limits", None)
    limiter = limits.limiter_for(request.url.path) if limits is not None else None
    if limiter is not None:
        principal = optional_principal(request, session)
        limiter.hit(*client_key(request, principal), what="requests from this client")
