"""Typed errors of the linkage domain."""

from __future__ import annotations

from typing import Any

from solidarity.errors import ConflictError, SolidarityError, ValidationFailed


class LinkageError(SolidarityError):
    """Something about linkage a steward can act on."""


class LinkageInputRefused(ValidationFailed):
    """An input list or mapping was refused before any heavy work started."""


class BlockingRuleRefused(LinkageError):
    """A blocking rule would generate more candidate pairs than the configured limit."""

    status_code = 422
    title = "Blocking rule refused"
    exit_code = 3

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, **extra)


class NoModelError(LinkageError):
    """No fitted linkage model exists yet for this kind of work."""

    status_code = 409
    title = "No linkage model"
    exit_code = 5


class MergeConflict(ConflictError):
    """A merge or unmerge cannot be applied to the records as they are now."""


class MissingExtraError(LinkageError):
    """An optional dependency is not installed; the message names the extra to install."""

    status_code = 501
    title = "Optional component not installed"
    exit_code = 8
