"""The root of Solidarity's typed errors.

Each domain raises subclasses; the web layer maps them once to RFC 9457 problem
details and the CLI maps them to a message and an exit code.
"""

from __future__ import annotations

from typing import Any


class SolidarityError(Exception):
    """An error a user can act on: it says what is wrong in plain language."""

    status_code = 400
    title = "Bad request"
    exit_code = 1

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFoundError(SolidarityError):
    """A referenced record does not exist (or is outside the caller's scope)."""

    status_code = 404
    title = "Not found"
    exit_code = 4


class ConflictError(SolidarityError):
    """The request contradicts the stored state (a duplicate, a wrong status)."""

    status_code = 409
    title = "Conflict"
    exit_code = 5


class StaleVersionError(SolidarityError):
    """The record changed since the caller read it (optimistic locking)."""

    status_code = 412
    title = "Precondition failed"
    exit_code = 6


class VersionRequiredError(SolidarityError):
    """An update arrived without the version the caller read."""

    status_code = 428
    title = "Precondition required"
    exit_code = 6


class ValidationFailed(SolidarityError):
    """Input failed validation; ``errors`` lists each row, field and reason."""

    status_code = 422
    title = "Validation failed"
    exit_code = 3

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors or [])
        self.errors = errors or []


class PermissionDenied(SolidarityError):
    """The actor may not do this (maker-checker, role)."""

    status_code = 403
    title = "Forbidden"
    exit_code = 7
