"""Typed errors of the coherence domain."""

from __future__ import annotations

from solidarity.errors import ConflictError, NotFoundError, SolidarityError, ValidationFailed


class CoherenceError(SolidarityError):
    """A coherence diagnostic or plan request that cannot be served as asked."""


class UnknownArea(NotFoundError):
    """The area code names no area."""


class UnknownRecord(NotFoundError):
    """A coherence record (agency, body, indicator, action ...) does not exist."""


class DuplicateRecord(ConflictError):
    """A coherence record with that key already exists."""


class InvalidCoherenceInput(ValidationFailed):
    """A YAML file or request body of the coherence domain is not valid."""


class ReportDependencyMissing(CoherenceError):
    """The PDF or chart renderer is not installed."""

    status_code = 501
    title = "Not implemented"
    exit_code = 2
