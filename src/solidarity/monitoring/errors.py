"""Typed errors of the monitoring domain."""

from __future__ import annotations

from solidarity.errors import NotFoundError, ValidationFailed


class IndicatorInvalid(ValidationFailed):
    """An indicator definition names an unknown field, unit or disaggregation."""


class UnknownIndicator(NotFoundError):
    """No indicator has that code."""
