"""All queries of the coherence domain: bulk column reads for the diagnostics, and ORM lookups.

The diagnostics read only the columns they need, in bulk, into Polars; the
registry is read "as of" the end of a day with the registry's history semantics
(the current row when it was already valid, else the history row whose interval
contains the moment).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

import polars as pl
from sqlalchemy import Connection, and_, or_, select, union_all
from sqlalchemy.orm import Session

from solidarity.analytics.frames import read_frame
from solidarity.coherence.models import (
    ActionNote,
    AdminCost,
    AgencyProfile,
    Assessment,
    AssessmentScore,
    BodyMember,
    DataDefinition,
    DeclaredTarget,
    DeliveryFunction,
    FocalPerson,
    Indicator,
    IndicatorTarget,
    IndicatorValue,
    Meeting,
    ProgrammeRelation,
)
from solidarity.programs.models import (
    Enrolment,
    Entitlement,
    JourneyEvent,
    PaymentCycle,
    Programme,
    ProgrammeRule,
)
from solidarity.registry.bulk import end_of_day
from solidarity.registry.models import Area, Household, HouseholdHistory, Person, PersonHistory

Row = TypeVar("Row")

#: Person columns the population groups and the data consistency checks read.
PERSON_COLUMNS = (
    "household_id",
    "status",
    "sex",
    "birth_date",
    "relationship",
    "wg_seeing",
    "wg_hearing",
    "wg_walking",
    "wg_cognition",
    "wg_selfcare",
    "wg_communication",
)
HOUSEHOLD_COLUMNS = ("area_id", "status", "urban_rural", "consumption_per_capita")


def as_dates(frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """Cast date columns that came back as text (SQLite) or as datetimes to ``Date``."""
    casts = []
    for name in names:
        if name not in frame.columns:
            continue
        dtype = frame.schema[name]
        if dtype == pl.String:
            casts.append(pl.col(name).str.slice(0, 10).str.to_date())
        elif isinstance(dtype, pl.Datetime):
            casts.append(pl.col(name).dt.date())
    return frame.with_columns(casts) if casts else frame


def _state(current: Any, past: Any, key: str, columns: Sequence[str], as_of: date) -> Any:
    moment = end_of_day(as_of)
    cur = select(current.id.label(key), *[getattr(current, c) for c in columns]).where(
        current.valid_from < moment
    )
    old = select(getattr(past, key), *[getattr(past, c) for c in columns]).where(
        past.valid_from < moment, past.valid_to >= moment
    )
    return union_all(cur, old).subquery().select()


def _typed(frame: pl.DataFrame, model: Any) -> pl.DataFrame:
    """Give columns the type of their table column (SQLite returns booleans as integers)."""
    kinds = {
        "INTEGER": pl.Int64,
        "SMALLINT": pl.Int64,
        "FLOAT": pl.Float64,
        "BOOLEAN": pl.Boolean,
    }
    casts = []
    for name, dtype in frame.schema.items():
        if name not in model.__table__.columns:
            continue
        kind = str(model.__table__.columns[name].type).split("(")[0]
        if kind == "DATE":
            continue
        target = kinds.get(kind)
        if target is not None and dtype != target:
            casts.append(pl.col(name).cast(target))
    frame = frame.with_columns(casts) if casts else frame
    dates = [
        n
        for n in frame.columns
        if n in model.__table__.columns and str(model.__table__.columns[n].type) == "DATE"
    ]
    return as_dates(frame, dates)


def read_households(conn: Connection, as_of: date, columns: Sequence[str] = ()) -> pl.DataFrame:
    """Active households at the end of ``as_of``: area, urban/rural, consumption, ``columns``."""
    wanted = list(dict.fromkeys([*HOUSEHOLD_COLUMNS, *columns]))
    frame = read_frame(
        conn,
        _state(Household, HouseholdHistory, "household_id", wanted, as_of),
        schema={"consumption_per_capita": pl.Float64, "urban_rural": pl.String},
    )
    return _typed(frame.filter(pl.col("status") == "active").drop("status"), Household)


def read_persons(conn: Connection, as_of: date, columns: Sequence[str] = ()) -> pl.DataFrame:
    """Persons as of the end of ``as_of`` (every status), with the group columns and ``columns``."""
    wanted = list(dict.fromkeys([*PERSON_COLUMNS, *columns]))
    frame = read_frame(conn, _state(Person, PersonHistory, "person_id", wanted, as_of))
    return _typed(frame, Person)


def read_areas(conn: Connection) -> pl.DataFrame:
    """Every area: id, code, name, level and path."""
    return read_frame(
        conn,
        select(Area.id.label("area_id"), Area.code, Area.name, Area.level, Area.path),
    )


def read_programmes(conn: Connection) -> pl.DataFrame:
    """Every programme's design columns."""
    p = Programme
    return read_frame(
        conn,
        select(
            p.id.label("programme_id"),
            p.code.label("programme"),
            p.name,
            p.ministry,
            p.instrument,
            p.lifecycle_group,
            p.risk_covered,
            p.targeting_method,
            p.annual_budget,
            p.funding_source,
            p.status,
        ).order_by(p.code),
        schema={"annual_budget": pl.Float64},
    )


def read_enrolments(conn: Connection, as_of: date) -> pl.DataFrame:
    """Households enrolled in a programme on ``as_of`` (enrolled on or before, not yet exited)."""
    e = Enrolment
    query = select(e.programme_id, e.household_id).where(
        e.status.in_(("active", "exited")),
        or_(e.enrolled_on.is_(None), e.enrolled_on <= as_of),
        or_(e.exited_on.is_(None), e.exited_on > as_of),
        e.as_of <= as_of,
    )
    return read_frame(conn, query)


def read_rules(conn: Connection, as_of: date) -> pl.DataFrame:
    """Rule versions in force on ``as_of``, with their legal reference."""
    r = ProgrammeRule
    query = select(
        r.id.label("rule_id"),
        r.programme_id,
        r.kind,
        r.expression,
        r.valid_from,
        r.valid_to,
        r.legal_reference,
    ).where(r.valid_from <= as_of, or_(r.valid_to.is_(None), r.valid_to > as_of))
    return as_dates(read_frame(conn, query), ["valid_from", "valid_to"])


def read_spending(conn: Connection, as_of: date) -> pl.DataFrame:
    """Entitlements of the cycles that ended in the year up to ``as_of`` and were approved.

    ``spent`` is the paid amount in reconciled cycles and the entitled amount in
    approved cycles not yet reconciled; computed or draft cycles spend nothing yet.
    """
    c, t = PaymentCycle, Entitlement
    start = as_of - timedelta(days=365)
    query = (
        select(
            t.programme_id,
            t.household_id,
            t.amount,
            t.paid_amount,
            t.status,
            c.status.label("cycle_status"),
        )
        .join(c, c.id == t.cycle_id)
        .where(
            c.window_end > start,
            c.window_end <= as_of,
            c.status.in_(("approved", "payroll_generated", "reconciled")),
            t.reissue_of.is_(None),
        )
    )
    frame = read_frame(conn, query, schema={"amount": pl.Float64, "paid_amount": pl.Float64})
    return frame.select(
        "programme_id",
        "household_id",
        pl.when(pl.col("cycle_status") == "reconciled")
        .then(pl.when(pl.col("status") == "paid").then(pl.col("paid_amount")).otherwise(0.0))
        .otherwise(pl.col("amount"))
        .fill_null(0.0)
        .alias("spent"),
    )


def read_journey(conn: Connection, as_of: date) -> pl.DataFrame:
    """Journey events up to ``as_of``."""
    j = JourneyEvent
    query = select(j.programme_id, j.household_id, j.event, j.event_date, j.reason).where(
        j.event_date <= as_of
    )
    return as_dates(read_frame(conn, query, schema={"reason": pl.String}), ["event_date"])


def read_admin_costs(conn: Connection, year: int) -> pl.DataFrame:
    """Recorded administrative costs of ``year``."""
    a = AdminCost
    return read_frame(
        conn,
        select(a.programme_code.label("programme"), a.amount.label("admin_cost")).where(
            a.year == year
        ),
        schema={"admin_cost": pl.Float64},
    )


class CoherenceRepository:
    """ORM queries of the coherence tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Row) -> Row:
        """Add and flush ``row``."""
        self.session.add(row)
        self.session.flush()
        return row

    def delete(self, row: object) -> None:
        """Delete ``row`` and flush."""
        self.session.delete(row)
        self.session.flush()

    def all(self, model: type[Row], *order: Any) -> Sequence[Row]:
        """Every row of ``model``, in ``order``."""
        return self.session.scalars(select(model).order_by(*order)).all()

    def by_code(self, model: type[Row], code: str) -> Row | None:
        """The row of ``model`` whose ``code`` is ``code``."""
        return self.session.scalars(
            select(model).where(model.code == code)  # type: ignore[attr-defined]
        ).first()

    def get(self, model: type[Row], row_id: int) -> Row | None:
        """The row of ``model`` with primary key ``row_id``."""
        return self.session.get(model, row_id)

    def profile(self, agency_code: str) -> AgencyProfile | None:
        """The profile of an agency."""
        return self.session.scalars(
            select(AgencyProfile).where(AgencyProfile.agency_code == agency_code)
        ).first()

    def delivery_function(
        self, programme: str, function: str, agency_code: str
    ) -> DeliveryFunction | None:
        """One delivery function row."""
        f = DeliveryFunction
        return self.session.scalars(
            select(f).where(
                f.programme_code == programme, f.function == function, f.agency_code == agency_code
            )
        ).first()

    def member(self, body_id: int, agency_code: str) -> BodyMember | None:
        """An agency's seat on a body."""
        m = BodyMember
        return self.session.scalars(
            select(m).where(m.body_id == body_id, m.agency_code == agency_code)
        ).first()

    def members(self, body_id: int) -> Sequence[BodyMember]:
        """The members of a body."""
        return self.session.scalars(
            select(BodyMember).where(BodyMember.body_id == body_id).order_by(BodyMember.agency_code)
        ).all()

    def meetings(self, body_id: int) -> Sequence[Meeting]:
        """The meetings of a body, latest first."""
        return self.session.scalars(
            select(Meeting).where(Meeting.body_id == body_id).order_by(Meeting.held_on.desc())
        ).all()

    def focal_person(self, agency_code: str, name: str) -> FocalPerson | None:
        """A focal person of an agency by name."""
        f = FocalPerson
        return self.session.scalars(
            select(f).where(f.agency_code == agency_code, f.name == name)
        ).first()

    def definition(self, programme: str, concept: str) -> DataDefinition | None:
        """A programme's definition of a concept."""
        d = DataDefinition
        return self.session.scalars(
            select(d).where(d.programme_code == programme, d.concept == concept)
        ).first()

    def relation(self, kind: str, a: str, b: str) -> ProgrammeRelation | None:
        """A declared relation between two programmes (either order for mutual exclusion)."""
        r = ProgrammeRelation
        pairs = [and_(r.programme_a == a, r.programme_b == b)]
        if kind == "mutually_exclusive":
            pairs.append(and_(r.programme_a == b, r.programme_b == a))
        return self.session.scalars(select(r).where(r.kind == kind, or_(*pairs))).first()

    def targets(self, programme: str | None) -> Sequence[DeclaredTarget]:
        """Declared targets of a programme (or of the whole system when ``None``)."""
        t = DeclaredTarget
        where = t.programme_code.is_(None) if programme is None else t.programme_code == programme
        return self.session.scalars(select(t).where(where).order_by(t.id)).all()

    def admin_cost(self, programme: str, year: int) -> AdminCost | None:
        """The administrative cost of a programme in a year."""
        a = AdminCost
        return self.session.scalars(
            select(a).where(a.programme_code == programme, a.year == year)
        ).first()

    def indicator_targets(self, indicator_id: int) -> Sequence[IndicatorTarget]:
        """Targets of an indicator by year."""
        t = IndicatorTarget
        return self.session.scalars(
            select(t).where(t.indicator_id == indicator_id).order_by(t.year)
        ).all()

    def indicator_target(self, indicator_id: int, year: int) -> IndicatorTarget | None:
        """The target of an indicator for a year."""
        t = IndicatorTarget
        return self.session.scalars(
            select(t).where(t.indicator_id == indicator_id, t.year == year)
        ).first()

    def indicator_values(self, indicator_id: int) -> Sequence[IndicatorValue]:
        """Observed values of an indicator, oldest first."""
        v = IndicatorValue
        return self.session.scalars(
            select(v).where(v.indicator_id == indicator_id).order_by(v.observed_on, v.id)
        ).all()

    def indicators(self) -> Sequence[Indicator]:
        """Every indicator by code."""
        return self.all(Indicator, Indicator.code)

    def scores(self, assessment_id: int) -> Sequence[AssessmentScore]:
        """Scores of an assessment."""
        s = AssessmentScore
        return self.session.scalars(
            select(s).where(s.assessment_id == assessment_id).order_by(s.id)
        ).all()

    def latest_assessment(self) -> Assessment | None:
        """The newest assessment."""
        a = Assessment
        return self.session.scalars(select(a).order_by(a.as_of.desc(), a.id.desc())).first()

    def notes(self, action_id: int) -> Sequence[ActionNote]:
        """Progress notes of an action, oldest first."""
        n = ActionNote
        return self.session.scalars(
            select(n).where(n.action_id == action_id).order_by(n.noted_on, n.id)
        ).all()
