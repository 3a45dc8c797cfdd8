"""Typed errors of governance; the web layer maps them to problem details."""

from __future__ import annotations

from typing import Any

from solidarity.errors import PermissionDenied, SolidarityError

__all__ = [
    "AuthenticationFailed",
    "AuthenticationRequired",
    "CsrfFailed",
    "InvalidToken",
    "OAuthError",
    "PermissionDenied",
    "RateLimited",
]


class AuthenticationRequired(SolidarityError):
    """No valid credentials came with the request."""

    status_code = 401
    title = "Unauthorized"
    exit_code = 7
    headers: dict[str, str] = {"WWW-Authenticate": 'Bearer realm="solidarity"'}


class AuthenticationFailed(AuthenticationRequired):
    """A sign-in with a wrong password, an unknown, disabled or locked account.

    The message never says which, so that it does not reveal which accounts exist.
    """

    def __init__(
        self,
        detail: str = "sign-in failed: wrong username or password, or the "
        "account is locked or disabled",
    ) -> None:
        super().__init__(detail)


class InvalidToken(AuthenticationRequired):
    """A bearer token that is expired, wrongly signed or malformed."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {
            "WWW-Authenticate": f'Bearer realm="solidarity", error="invalid_token", '
            f'error_description="{detail}"'
        }


class CsrfFailed(PermissionDenied):
    """A cookie-authenticated change without the session's ``X-CSRF-Token``."""


class RateLimited(SolidarityError):
    """Too many attempts from this address for this account; retry later."""

    status_code = 429
    title = "Too many requests"
    exit_code = 7

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class OAuthError(SolidarityError):
    """An OAuth 2.0 token request refused; ``error`` is the RFC 6749 code."""

    title = "Token request refused"
    exit_code = 7

    def __init__(self, error: str, detail: str, status_code: int = 400, **extra: Any) -> None:
        super().__init__(detail, error=error, **extra)
        self.status_code = status_code
        self.headers = (
            {"WWW-Authenticate": 'Basic realm="solidarity"'} if status_code == 401 else {}
        )
