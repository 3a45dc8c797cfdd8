"""All queries of the simulation domain."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from solidarity.analytics.frames import read_frame
from solidarity.programs.models import Programme, ProgrammeRule
from solidarity.registry.models import Area, Household, HouseholdHistory, Person, PersonHistory
from solidarity.simulation.models import SimulationResult, SimulationScenario


class SimulationRepository:
    """Scenario versions, cached results and the registry's snapshot key."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def latest(self, name: str) -> SimulationScenario | None:
        """The newest version of a scenario."""
        return self.session.scalars(
            select(SimulationScenario)
            .where(SimulationScenario.name == name)
            .order_by(SimulationScenario.version.desc())
            .limit(1)
        ).first()

    def version(self, name: str, version: int) -> SimulationScenario | None:
        """One version of a scenario."""
        return self.session.scalars(
            select(SimulationScenario).where(
                SimulationScenario.name == name, SimulationScenario.version == version
            )
        ).first()

    def scenarios(self) -> Sequence[SimulationScenario]:
        """Every stored version, by name then version."""
        return self.session.scalars(
            select(SimulationScenario).order_by(SimulationScenario.name, SimulationScenario.version)
        ).all()

    def add(self, row: Any) -> Any:
        """Add a row and flush."""
        self.session.add(row)
        self.session.flush()
        return row

    def cached(self, scenario_id: int, as_of: date, snapshot: str) -> SimulationResult | None:
        """A cached result of that scenario version on that registry snapshot."""
        return self.session.scalars(
            select(SimulationResult).where(
                SimulationResult.scenario_id == scenario_id,
                SimulationResult.as_of == as_of,
                SimulationResult.snapshot == snapshot,
            )
        ).first()

    def snapshot(self) -> str:
        """A key that changes whenever registry records, programmes or rule versions change."""
        parts: list[Any] = []
        for model, column in (
            (Household, Household.valid_from),
            (HouseholdHistory, HouseholdHistory.valid_to),
            (Person, Person.valid_from),
            (PersonHistory, PersonHistory.valid_to),
            (ProgrammeRule, ProgrammeRule.updated_at),
            (Programme, Programme.updated_at),
        ):
            row = self.session.execute(select(func.count(), func.max(column)).select_from(model))
            parts.extend(row.one())
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]

    def areas(self) -> pl.DataFrame:
        """Every area: ``area_id``, ``code``, ``path``."""
        return read_frame(
            self.session.connection(),
            select(Area.id.label("area_id"), Area.code, Area.path),
        )
