"""Tables of the simulation domain: stored scenario versions and cached results."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from solidarity.db.base import Base, JSONType, TimestampedMixin


class SimulationScenario(TimestampedMixin, Base):
    """One saved version of a named reform scenario.

    ``base_rules`` records the rule version ids (by programme and kind) in force on
    the baseline date when the version was saved, so a result says what it started from.
    """

    __tablename__ = "simulation_scenario"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_simulation_scenario_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    baseline_date: Mapped[date] = mapped_column(Date)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    base_rules: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class SimulationResult(TimestampedMixin, Base):
    """A run's result, cached by (scenario version, as-of date, registry snapshot)."""

    __tablename__ = "simulation_result"
    __table_args__ = (
        UniqueConstraint("scenario_id", "as_of", "snapshot", name="uq_simulation_result_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("simulation_scenario.id"), index=True)
    as_of: Mapped[date] = mapped_column(Date)
    snapshot: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSONType)
