"""All queries of the monitoring domain."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Connection, column, func, inspect, or_, select, table
from sqlalchemy.orm import Session

from solidarity.analytics.frames import read_frame
from solidarity.monitoring.models import IndicatorSnapshot, IndicatorVersion
from solidarity.programs.models import Enrolment, Entitlement, PaymentCycle, Programme
from solidarity.registry.bulk import end_of_day
from solidarity.registry.models import Area, Identifier, Person


def enrolled_households(conn: Connection, as_of: date) -> pl.DataFrame:
    """``household_id``, ``programmes``: active enrolments on ``as_of``."""
    query = (
        select(Enrolment.household_id, func.count().label("programmes"))
        .where(
            Enrolment.status.in_(("active", "exited")),
            Enrolment.enrolled_on <= as_of,
            or_(Enrolment.exited_on.is_(None), Enrolment.exited_on > as_of),
        )
        .group_by(Enrolment.household_id)
    )
    return read_frame(conn, query, {"household_id": pl.Int64, "programmes": pl.Int64})


def payments_received(conn: Connection, after: date, until: date) -> pl.DataFrame:
    """``household_id``, ``transfers``: amounts paid in ``(after, until]``."""
    query = (
        select(Entitlement.household_id, func.sum(Entitlement.paid_amount).label("transfers"))
        .where(
            Entitlement.status == "paid", Entitlement.paid_on > after, Entitlement.paid_on <= until
        )
        .group_by(Entitlement.household_id)
    )
    return read_frame(conn, query, {"household_id": pl.Int64, "transfers": pl.Float64})


def payments(conn: Connection, after: date, until: date) -> pl.DataFrame:
    """Entitlements of cycles whose window ended in ``(after, until]``."""
    query = (
        select(
            Entitlement.id.label("entitlement_id"),
            Entitlement.household_id,
            Programme.code.label("programme"),
            Entitlement.amount,
            Entitlement.paid_amount,
            Entitlement.status,
            Entitlement.paid_on,
            PaymentCycle.window_start,
            PaymentCycle.window_end,
            PaymentCycle.status.label("cycle_status"),
        )
        .join(PaymentCycle, PaymentCycle.id == Entitlement.cycle_id)
        .join(Programme, Programme.id == PaymentCycle.programme_id)
        .where(PaymentCycle.window_end > after, PaymentCycle.window_end <= until)
    )
    frame = read_frame(
        conn, query, {"amount": pl.Float64, "paid_amount": pl.Float64, "household_id": pl.Int64}
    )
    return frame.with_columns(
        pl.col(c).cast(pl.String).str.slice(0, 10).str.to_date()
        for c in ("paid_on", "window_start", "window_end")
        if frame.schema[c] != pl.Date
    )


def shared_identifiers(conn: Connection) -> pl.DataFrame:
    """``person_id`` of active persons sharing an identifier (type and value) with another."""
    ids = read_frame(
        conn,
        select(Identifier.person_id, Identifier.id_type, Identifier.value)
        .join(Person, Person.id == Identifier.person_id)
        .where(or_(Person.status.is_(None), Person.status == "active")),
        {"person_id": pl.Int64},
    )
    return (
        ids.filter(pl.col("person_id").n_unique().over("id_type", "value") > 1)
        .select("person_id")
        .unique()
    )


def grievances(
    conn: Connection, after: date, until: date, scope: Sequence[str] | None
) -> pl.DataFrame | None:
    """Grievances received in ``(after, until]``; ``None`` when the table does not exist."""
    if not inspect(conn).has_table("grievance"):
        return None
    g = table(
        "grievance",
        column("id"),
        column("area_id"),
        column("category_code"),
        column("status"),
        column("received_at"),
        column("resolved_at"),
        column("resolve_due"),
    )
    query = select(
        g.c.id.label("grievance_id"),
        g.c.area_id,
        g.c.category_code.label("category"),
        g.c.status,
        g.c.received_at,
        g.c.resolved_at,
        g.c.resolve_due,
    ).where(g.c.received_at >= end_of_day(after), g.c.received_at < end_of_day(until))
    frame = read_frame(conn, query)
    if scope is not None:
        areas = read_frame(conn, select(Area.id.label("area_id"), Area.path))
        inside = areas.filter(pl.any_horizontal(pl.col("path").str.starts_with(p) for p in scope))
        frame = frame.join(inside.select("area_id"), on="area_id", how="semi")

    def moment(name: str) -> pl.Expr:
        col = pl.col(name)
        if frame.schema[name] == pl.String:
            return col.str.slice(0, 19).str.to_datetime(strict=False)
        return col.cast(pl.Datetime("us"))

    return frame.with_columns(
        moment("received_at").alias("_r"),
        moment("resolved_at").alias("_s"),
        moment("resolve_due").alias("_d"),
    ).select(
        "grievance_id",
        "area_id",
        "category",
        "status",
        pl.col("_r").dt.date().alias("received_on"),
        pl.col("_s").is_not_null().alias("resolved"),
        ((pl.col("_s") - pl.col("_r")).dt.total_seconds() / 86400).alias("resolution_days"),
        (pl.col("_s") <= pl.col("_d")).fill_null(False).alias("within_standard"),
    )


def data_version(session: Session) -> str:
    """A key that changes whenever registry, enrolment or payment records change."""
    from solidarity.simulation.repository import SimulationRepository

    parts: list[Any] = [SimulationRepository(session).snapshot()]
    for model, col in (
        (Enrolment, Enrolment.updated_at),
        (Entitlement, Entitlement.updated_at),
    ):
        parts.extend(session.execute(select(func.count(), func.max(col)).select_from(model)).one())
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


class MonitoringRepository:
    """Indicator versions and snapshots."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> Any:
        """Add a row and flush."""
        self.session.add(row)
        self.session.flush()
        return row

    def latest(self, code: str) -> IndicatorVersion | None:
        """The newest version of an indicator."""
        return self.session.scalars(
            select(IndicatorVersion)
            .where(IndicatorVersion.code == code)
            .order_by(IndicatorVersion.version.desc())
            .limit(1)
        ).first()

    def version(self, code: str, version: int) -> IndicatorVersion | None:
        """One version of an indicator."""
        return self.session.scalars(
            select(IndicatorVersion).where(
                IndicatorVersion.code == code, IndicatorVersion.version == version
            )
        ).first()

    def current(self) -> list[IndicatorVersion]:
        """The newest version of every indicator, by code."""
        rows = self.session.scalars(
            select(IndicatorVersion).order_by(IndicatorVersion.code, IndicatorVersion.version)
        ).all()
        newest: dict[str, IndicatorVersion] = {}
        for row in rows:
            newest[row.code] = row
        return list(newest.values())

    def snapshots(
        self, period: str | None = None, code: str | None = None
    ) -> Sequence[IndicatorSnapshot]:
        """Stored snapshot values, oldest first."""
        query = select(IndicatorSnapshot).order_by(
            IndicatorSnapshot.indicator_code, IndicatorSnapshot.as_of, IndicatorSnapshot.id
        )
        if period is not None:
            query = query.where(IndicatorSnapshot.period == period)
        if code is not None:
            query = query.where(IndicatorSnapshot.indicator_code == code)
        return self.session.scalars(query).all()

    def snapshot(self, snapshot_id: int) -> IndicatorSnapshot | None:
        """One stored snapshot value."""
        return self.session.get(IndicatorSnapshot, snapshot_id)


def window_start(as_of: date) -> date:
    """The first day of the 12 months up to ``as_of``."""
    return as_of - timedelta(days=365)


def record_sources(conn: Connection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(household_id, source)`` and ``(person_id, source)`` of current records."""
    from solidarity.registry.models import Household

    households = read_frame(
        conn, select(Household.id.label("household_id"), Household.source), {"source": pl.String}
    )
    persons = read_frame(
        conn, select(Person.id.label("person_id"), Person.source), {"source": pl.String}
    )
    return households, persons


def job_durations(conn: Connection) -> pl.DataFrame:
    """``kind``, ``status``, ``count``, ``seconds`` of finished background jobs."""
    from solidarity.jobs.models import Job

    frame = read_frame(
        conn,
        select(Job.kind, Job.status, Job.started_at, Job.finished_at).where(
            Job.started_at.is_not(None), Job.finished_at.is_not(None)
        ),
    )
    if frame.height == 0:
        return pl.DataFrame(
            schema={
                "kind": pl.String,
                "status": pl.String,
                "count": pl.UInt32,
                "seconds": pl.Float64,
            }
        )

    def moment(name: str) -> pl.Expr:
        col = pl.col(name)
        if frame.schema[name] == pl.String:
            return col.str.slice(0, 26).str.to_datetime(strict=False)
        return col.cast(pl.Datetime("us"))

    return (
        frame.with_columns(
            ((moment("finished_at") - moment("started_at")).dt.total_microseconds() / 1e6).alias(
                "s"
            )
        )
        .group_by("kind", "status")
        .agg(pl.len().alias("count"), pl.col("s").sum().alias("seconds"))
        .sort("kind", "status")
    )


#: Journey stages read into the journey unit, with the field of their first date.
JOURNEY_STAGES = {
    "applied": "applied_on",
    "assessed": "assessed_on",
    "eligibility_decided": "decided_on",
    "enrolled": "enrolled_on",
    "first_paid": "first_paid_on",
    "waitlisted": "waitlisted_on",
    "exited": "exited_on",
}


def journeys(conn: Connection, after: date, until: date) -> pl.DataFrame:
    """One row per (household, programme) with an event in ``(after, until]``.

    Each stage's field is the date of its first event up to ``until``.
    """
    from solidarity.programs.models import JourneyEvent

    events = read_frame(
        conn,
        select(
            JourneyEvent.household_id,
            Programme.code.label("programme"),
            JourneyEvent.event,
            JourneyEvent.event_date,
        )
        .join(Programme, Programme.id == JourneyEvent.programme_id)
        .where(JourneyEvent.event_date <= until),
        {"household_id": pl.Int64, "programme": pl.String, "event": pl.String},
    )
    if events.schema["event_date"] != pl.Date:
        events = events.with_columns(
            pl.col("event_date").cast(pl.String).str.slice(0, 10).str.to_date()
        )
    recent = events.filter(pl.col("event_date") > after).select("household_id", "programme")
    return (
        events.join(recent.unique(), on=["household_id", "programme"], how="semi")
        .group_by("household_id", "programme")
        .agg(
            pl.col("event_date").filter(pl.col("event") == event).min().alias(field)
            for event, field in JOURNEY_STAGES.items()
        )
        .sort("household_id", "programme")
    )
