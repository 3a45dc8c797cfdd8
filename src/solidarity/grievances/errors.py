"""Typed errors of grievance redress, cases and referrals."""

from __future__ import annotations

from solidarity.errors import ConflictError, PermissionDenied, ValidationFailed


class UnknownCategory(ValidationFailed):
    """A grievance names a category the deployment does not define."""


class TransitionRefused(ConflictError):
    """A step not allowed from the record's current status."""

    def __init__(self, what: str, current: str, step: str, allowed: list[str]) -> None:
        options = ", ".join(allowed) if allowed else "nothing (it is final)"
        super().__init__(
            f"{what} is {current}: it cannot be {step}; from {current} it can be {options}",
            current_status=current,
            step=step,
            allowed=allowed,
        )


class AssignmentRefused(PermissionDenied):
    """The assignee may not handle the record (outside scope, complained about)."""


class AreaNotServed(ValidationFailed):
    """A referral to a service that does not serve the person's area."""


class SharingRefused(PermissionDenied):
    """A referral would send fields no data sharing agreement covers, or lacks consent."""
