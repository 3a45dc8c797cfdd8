"""Typed errors of the simulation domain."""

from __future__ import annotations

from solidarity.errors import NotFoundError, SolidarityError, ValidationFailed


class SimulationError(SolidarityError):
    """A simulation request that cannot be served as asked."""


class ScenarioInvalid(ValidationFailed):
    """A scenario names an unknown programme or parameter, or is malformed."""


class UnknownScenario(NotFoundError):
    """No stored scenario has that name (or version)."""


class InfeasibleTarget(ValidationFailed):
    """The solver's target cannot be reached anywhere in the parameter's range."""
