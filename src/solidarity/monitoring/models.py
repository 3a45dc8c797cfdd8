"""Tables of the monitoring domain: indicator versions and snapshots of their values."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from solidarity.db.base import Base, JSONType, TimestampedMixin


class IndicatorVersion(TimestampedMixin, Base):
    """One version of an indicator definition (numerator and denominator as rules)."""

    __tablename__ = "monitoring_indicator"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_monitoring_indicator_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)


class IndicatorSnapshot(TimestampedMixin, Base):
    """The value of an indicator version for a period, with the data version it saw."""

    __tablename__ = "monitoring_snapshot"
    __table_args__ = (Index("ix_monitoring_snapshot_period_code", "period", "indicator_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[date] = mapped_column(Date)
    indicator_code: Mapped[str] = mapped_column(String(64))
    indicator_version: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))  # computed | not_computable
    reason: Mapped[str | None] = mapped_column(Text)
    disaggregation: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    data_version: Mapped[str] = mapped_column(String(64))
