"""All queries of the programmes domain, ORM lookups and bulk column reads alike."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Select,
    Table,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    null,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from solidarity.analytics.frames import read_frame, read_raw_frame
from solidarity.db.base import as_utc, refresh_statistics, utcnow
from solidarity.programs.models import (
    ComplianceRecord,
    Enrolment,
    EnrolmentRequest,
    Entitlement,
    JourneyEvent,
    PaymentCycle,
    Programme,
    ProgrammeRule,
    ReconciliationImport,
)
from solidarity.registry.intake.writer import allocate_ids, bulk_insert
from solidarity.registry.models import Area, Household, HouseholdHistory, Person, PersonHistory
from solidarity.registry.repository import in_scope
from solidarity.rules import CheckedRule, to_sql_grouped


@dataclass(frozen=True)
class EnrolmentCandidate:
    """What a database-side enrolment needs besides the rules."""

    as_of: date
    rule_version_id: int
    per_year: int
    #: The annual budget left under the cap (None: no cap).
    remaining: float | None
    #: The last waitlist rank already given.
    start_rank: int
    actor: str
    scope_paths: Sequence[str] | None


@dataclass(frozen=True)
class EnrolmentTotals:
    """A programme's enrolments in two numbers."""

    #: Sum of the per-payment benefit of the active enrolments.
    active_amount: float
    #: The highest waitlist rank given so far (0: none).
    last_rank: int


def read_areas(conn: Connection) -> pl.DataFrame:
    """Every area's id, code, name, level and materialised path."""
    return read_frame(
        conn, select(Area.id.label("area_id"), Area.code, Area.name, Area.level, Area.path)
    )


def insert_frame(session: Session, table: Any, frame: pl.DataFrame, *, with_ids: bool) -> pl.Series:
    """Bulk-insert ``frame`` into ``table`` (COPY / executemany); returns the ids used."""
    conn = session.connection()
    ids = pl.Series("id", [], dtype=pl.Int64)
    if with_ids:
        ids = allocate_ids(conn, table.__table__, frame.height)
        frame = frame.with_columns(ids.alias("id"))
    bulk_insert(conn, table.__table__, frame)
    return ids


def bulk_update(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Update many rows by ``id`` in one executemany (bumping ``version`` when present)."""
    if not rows:
        return
    table = model.__table__
    keys = [k for k in rows[0] if k != "id"]
    values: dict[str, Any] = {k: bindparam(f"b_{k}") for k in keys}
    values["updated_at"] = utcnow()
    if "version" in table.columns:
        values["version"] = table.c.version + 1
    statement = update(table).where(table.c.id == bindparam("b_id")).values(values)
    session.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])


class ProgrammeRepository:
    """ORM queries of programmes, rules, enrolments, cycles and payments."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- programmes and rules --------------------------------------------------------

    def add(self, row: Any) -> Any:
        """Add and flush ``row``."""
        self.session.add(row)
        self.session.flush()
        return row

    def programme_by_code(self, code: str) -> Programme | None:
        """The programme with ``code``."""
        return self.session.scalars(select(Programme).where(Programme.code == code)).first()

    def programmes(self) -> Sequence[Programme]:
        """Every programme, by code."""
        return self.session.scalars(select(Programme).order_by(Programme.code)).all()

    def rules(self, programme_id: int, kind: str | None = None) -> Sequence[ProgrammeRule]:
        """The rule versions of a programme (of one kind), oldest first."""
        query = select(ProgrammeRule).where(ProgrammeRule.programme_id == programme_id)
        if kind is not None:
            query = query.where(ProgrammeRule.kind == kind)
        return self.session.scalars(
            query.order_by(ProgrammeRule.kind, ProgrammeRule.valid_from)
        ).all()

    def rule(self, rule_id: int) -> ProgrammeRule | None:
        """One rule version."""
        return self.session.get(ProgrammeRule, rule_id)

    # --- enrolments ------------------------------------------------------------------

    def enrolment(self, programme_id: int, household_id: int) -> Enrolment | None:
        """The enrolment of a household in a programme, if any."""
        return self.session.scalars(
            select(Enrolment).where(
                Enrolment.programme_id == programme_id, Enrolment.household_id == household_id
            )
        ).first()

    def enrolment_frame(self, programme_id: int, status: str | None = None) -> pl.DataFrame:
        """Enrolments of a programme as a frame (id, household, status, amount, priority)."""
        query: Any = select(
            Enrolment.id.label("enrolment_id"),
            Enrolment.household_id,
            Enrolment.status,
            Enrolment.benefit_amount,
            Enrolment.priority,
            Enrolment.waitlist_rank,
        ).where(Enrolment.programme_id == programme_id)
        if status is not None:
            query = query.where(Enrolment.status == status)
        return read_raw_frame(
            self.session.connection(),
            query,
            {"benefit_amount": pl.Float64, "priority": pl.Float64, "waitlist_rank": pl.Int64},
        )

    def enrolment_totals(self, programme_id: int) -> EnrolmentTotals:
        """The benefit of the programme's active enrolments and its last waitlist rank."""
        amount, rank = self.session.execute(
            select(
                func.sum(Enrolment.benefit_amount).filter(Enrolment.status == "active"),
                func.max(Enrolment.waitlist_rank),
            ).where(Enrolment.programme_id == programme_id)
        ).one()
        return EnrolmentTotals(float(amount or 0.0), int(rank or 0))

    def _has_enrolments(self, programme_id: int) -> bool:
        query = select(Enrolment.id).where(Enrolment.programme_id == programme_id).limit(1)
        return self.session.scalar(query) is not None

    def registry_settled(self, moment: datetime) -> bool:
        """No household or person changed at or after ``moment``: the current
        registry tables are its state as of then."""
        for current, past in ((Household, HouseholdHistory), (Person, PersonHistory)):
            latest = self.session.scalar(select(func.max(current.valid_from)))
            ended = self.session.scalar(select(func.max(past.valid_to)))
            for when in (latest, ended):
                if when is not None and as_utc(when) >= moment:
                    return False
        return True

    def enrol_in_database(
        self,
        programme_id: int,
        rules: Mapping[str, CheckedRule],
        candidate: EnrolmentCandidate,
    ) -> dict[str, float]:
        """Evaluate and enrol in the database: no registry row leaves it.

        The rules (``eligible``, optional ``benefit`` and ``priority``) are compiled to
        one ``GROUP BY`` over the active members (:func:`to_sql_grouped`); the eligible
        active households go to a temporary table, and the new ones are inserted in
        priority order, a running sum of their annual cost against the budget left
        deciding who waits, as :func:`~solidarity.programs.eligibility.enrol_eligible`
        does in Polars.

        Returns:
            ``eligible``, ``already_enrolled``, ``enrolled``, ``waitlisted`` and
            ``annual_cost_enrolled``.
        """
        c = candidate
        conn = self.session.connection()
        results, members = to_sql_grouped(rules, as_of=c.as_of)
        household = Household.__table__
        benefit = (
            func.coalesce(cast(results["benefit"], Float), 0.0)
            if "benefit" in rules
            else literal(0.0)
        )
        evaluated = (
            select(
                household.c.id,
                case((benefit < 0, 0.0), else_=benefit),
                cast(results["priority"], Float) if "priority" in rules else null(),
                # A programme's first enrolment has no one enrolled already: no
                # lookup per household (a million of them) to learn it.
                exists()
                .where(
                    Enrolment.programme_id == programme_id, Enrolment.household_id == household.c.id
                )
                .correlate(household)
                if self._has_enrolments(programme_id)
                else false(),
            )
            .select_from(household.outerjoin(members, members.c.household_id == household.c.id))
            .where(household.c.status == "active", results["eligible"])
        )
        if c.scope_paths is not None:
            evaluated = evaluated.where(in_scope(household.c.area_id, c.scope_paths))
        candidates = Table(
            f"enrolment_candidates_{uuid.uuid4().hex[:12]}",
            MetaData(),
            Column("household_id", Integer),
            Column("benefit", Float),
            Column("priority", Float),
            Column("already", Boolean),
            prefixes=["TEMPORARY"],
        )
        candidates.create(conn)
        try:
            conn.execute(insert(candidates).from_select(list(candidates.c.keys()), evaluated))
            eligible, already = conn.execute(
                select(
                    func.count(), func.coalesce(func.sum(cast(candidates.c.already, Integer)), 0)
                )
            ).one()
            order = (candidates.c.priority.asc().nulls_last(), candidates.c.household_id)
            annual = candidates.c.benefit * c.per_year
            running = func.sum(annual).over(order_by=order, rows=(None, 0))
            fits = (running <= c.remaining) if c.remaining is not None else true()
            ranked = (
                select(
                    candidates.c.household_id,
                    candidates.c.benefit,
                    candidates.c.priority,
                    case((fits, "active"), else_="waitlisted").label("status"),
                )
                .where(not_(candidates.c.already))
                .subquery()
            )
            waiting_order = (ranked.c.priority.asc().nulls_last(), ranked.c.household_id)
            # Without a budget cap no one waits: no ranking (a second sort) to compute.
            rank = (
                func.row_number().over(partition_by=ranked.c.status, order_by=waiting_order)
                + c.start_rank
                if c.remaining is not None
                else cast(null(), Integer)
            )
            before = self.session.scalar(select(func.max(Enrolment.id))) or 0
            now = utcnow()
            rows = select(
                literal(programme_id),
                ranked.c.household_id,
                ranked.c.status,
                literal(c.rule_version_id),
                literal(c.as_of, Date),
                ranked.c.benefit,
                ranked.c.priority,
                case((ranked.c.status == "waitlisted", rank), else_=null()),
                case((ranked.c.status == "active", literal(c.as_of, Date)), else_=null()),
                literal(1),
                literal(c.actor),
                literal(c.actor),
                literal(now, DateTime(timezone=True)),
                literal(now, DateTime(timezone=True)),
            ).order_by(*waiting_order)
            columns = [
                "programme_id", "household_id", "status", "rule_version_id", "as_of",
                "benefit_amount", "priority", "waitlist_rank", "enrolled_on", "version",
                "created_by", "updated_by", "created_at", "updated_at",
            ]  # fmt: skip
            conn.execute(insert(Enrolment).from_select(columns, rows))
        finally:
            candidates.drop(conn)
        new = Enrolment.id > before
        active = Enrolment.status == "active"
        conn.execute(
            insert(JourneyEvent).from_select(
                ["programme_id", "household_id", "event", "event_date", "reason", "created_by"],
                select(
                    Enrolment.programme_id,
                    Enrolment.household_id,
                    case((active, "enrolled"), else_="waitlisted"),
                    Enrolment.as_of,
                    case((active, null()), else_="budget cap"),
                    literal(c.actor),
                )
                .where(Enrolment.programme_id == programme_id, new)
                .order_by(Enrolment.id),
            )
        )
        enrolled, waitlisted, cost = conn.execute(
            select(
                func.count().filter(active),
                func.count().filter(not_(active)),
                func.coalesce(func.sum(Enrolment.benefit_amount).filter(active), 0.0),
            ).where(Enrolment.programme_id == programme_id, new)
        ).one()
        return {
            "eligible": eligible,
            "already_enrolled": already,
            "enrolled": enrolled,
            "waitlisted": waitlisted,
            "annual_cost_enrolled": round(float(cost) * c.per_year, 2),
        }

    def waitlist(self, programme_id: int, limit: int) -> Sequence[Enrolment]:
        """Waitlisted enrolments in the order they would be admitted."""
        return self.session.scalars(
            select(Enrolment)
            .where(Enrolment.programme_id == programme_id, Enrolment.status == "waitlisted")
            .order_by(Enrolment.waitlist_rank)
            .limit(limit)
        ).all()

    def update_enrolments(self, rows: list[dict[str, Any]]) -> None:
        """Bulk update of enrolments by primary key (one executemany)."""
        bulk_update(self.session, Enrolment, rows)

    def request(self, request_id: int) -> EnrolmentRequest | None:
        """One enrolment/exit request."""
        return self.session.get(EnrolmentRequest, request_id)

    def requests(
        self,
        programme_id: int,
        status: str | None = None,
        batch: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> Sequence[EnrolmentRequest]:
        """Requests of a programme in id order, optionally by status and batch, one page."""
        query = select(EnrolmentRequest).where(EnrolmentRequest.programme_id == programme_id)
        if status is not None:
            query = query.where(EnrolmentRequest.status == status)
        if batch is not None:
            query = query.where(EnrolmentRequest.batch == batch)
        query = query.order_by(EnrolmentRequest.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return self.session.scalars(query).all()

    def pending_request(self, programme_id: int, household_id: int) -> EnrolmentRequest | None:
        """A pending request for a household, if one exists."""
        return self.session.scalars(
            select(EnrolmentRequest).where(
                EnrolmentRequest.programme_id == programme_id,
                EnrolmentRequest.household_id == household_id,
                EnrolmentRequest.status == "pending",
            )
        ).first()

    # --- cycles and payments ---------------------------------------------------------

    def cycle(self, cycle_id: int) -> PaymentCycle | None:
        """One payment cycle."""
        return self.session.get(PaymentCycle, cycle_id)

    def cycles(self, programme_id: int) -> Sequence[PaymentCycle]:
        """The cycles of a programme, by period."""
        return self.session.scalars(
            select(PaymentCycle)
            .where(PaymentCycle.programme_id == programme_id)
            .order_by(PaymentCycle.period)
        ).all()

    def cycle_by_period(self, programme_id: int, period: str) -> PaymentCycle | None:
        """The cycle of a programme for ``period``."""
        return self.session.scalars(
            select(PaymentCycle).where(
                PaymentCycle.programme_id == programme_id, PaymentCycle.period == period
            )
        ).first()

    def household_entitlements(
        self, cycle_ids: Sequence[int], household_id: int
    ) -> Sequence[Entitlement]:
        """One household's entitlements in the given cycles (by the cycle-household index)."""
        if not cycle_ids:
            return []
        return self.session.scalars(
            select(Entitlement)
            .where(Entitlement.cycle_id.in_(cycle_ids), Entitlement.household_id == household_id)
            .order_by(Entitlement.cycle_id.desc(), Entitlement.id.desc())
        ).all()

    def delete_entitlements(self, cycle_id: int) -> None:
        """Remove a cycle's entitlements (before approval, to recompute them)."""
        self.session.execute(delete(Entitlement).where(Entitlement.cycle_id == cycle_id))

    def payroll_entitlements(self, cycle_id: int) -> Select[int, int, float, str]:
        """A cycle's entitlements with the columns a payroll lists (unordered)."""
        return select(
            Entitlement.id.label("entitlement_id"),
            Entitlement.household_id,
            Entitlement.amount,
            Entitlement.payment_reference,
        ).where(Entitlement.cycle_id == cycle_id)

    def refresh_entitlement_statistics(self, rows_written: int) -> None:
        """Planner statistics of the entitlements after a large cycle (PostgreSQL)."""
        tables = [Entitlement.__table__]
        refresh_statistics(self.session.connection(), tables, rows_written)  # type: ignore[arg-type]

    def cycle_control_sum(self, cycle_id: int) -> tuple[int, int]:
        """A cycle's number of entitlements and their total in cents (a payroll's header).

        Amounts are stored rounded to the cent, so the database's rounding of
        each to whole cents is exact on every engine.
        """
        count, cents = self.session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(cast(func.round(Entitlement.amount * 100), BigInteger)), 0),
            ).where(Entitlement.cycle_id == cycle_id)
        ).one()
        return int(count), int(cents)

    def entitlements_by_reference(self, programme_id: int, references: list[str]) -> pl.DataFrame:
        """Entitlements of a programme with the given payment references."""
        frames = []
        conn = self.session.connection()
        for start in range(0, len(references), 5000):
            chunk = references[start : start + 5000]
            frames.append(
                read_frame(
                    conn,
                    select(
                        Entitlement.id.label("entitlement_id"),
                        Entitlement.cycle_id,
                        Entitlement.household_id,
                        Entitlement.amount,
                        Entitlement.payment_reference,
                        Entitlement.status,
                    ).where(
                        Entitlement.programme_id == programme_id,
                        Entitlement.payment_reference.in_(chunk),
                    ),
                    {"amount": pl.Float64},
                )
            )
        return pl.concat(frames) if frames else pl.DataFrame()

    def failed_not_reissued(self, programme_id: int, before_period: str) -> pl.DataFrame:
        """Failed entitlements of earlier cycles that no later entitlement re-issues."""
        reissued = select(Entitlement.reissue_of).where(Entitlement.reissue_of.is_not(None))
        return read_frame(
            self.session.connection(),
            select(
                Entitlement.id.label("reissue_of"),
                Entitlement.enrolment_id,
                Entitlement.household_id,
                Entitlement.amount,
            )
            .join(PaymentCycle, PaymentCycle.id == Entitlement.cycle_id)
            .where(
                Entitlement.programme_id == programme_id,
                Entitlement.status == "failed",
                PaymentCycle.period < before_period,
                Entitlement.id.not_in(reissued),
            ),
            {"amount": pl.Float64},
        )

    def update_entitlements(self, rows: list[dict[str, Any]]) -> None:
        """Bulk update of entitlements by primary key."""
        bulk_update(self.session, Entitlement, rows)

    def set_cycle_entitlement_status(self, cycle_id: int, status: str) -> None:
        """Move every entitlement of a cycle to ``status``."""
        self.session.execute(
            update(Entitlement).where(Entitlement.cycle_id == cycle_id).values(status=status)
        )

    def unmet_conditions(self, programme_id: int, period: str) -> pl.DataFrame:
        """Conditions not met per household in a period (``household_id``, ``unmet``)."""
        return read_frame(
            self.session.connection(),
            select(ComplianceRecord.household_id, func.count().label("unmet"))
            .where(
                ComplianceRecord.programme_id == programme_id,
                ComplianceRecord.period == period,
                ComplianceRecord.met.is_(False),
            )
            .group_by(ComplianceRecord.household_id),
        )

    def reconciliation(self, import_id: int) -> ReconciliationImport | None:
        """One reconciliation import."""
        return self.session.get(ReconciliationImport, import_id)

    def reconciliation_by_hash(self, cycle_id: int, sha256: str) -> ReconciliationImport | None:
        """The import of the same file for the cycle, if it was imported before."""
        return self.session.scalars(
            select(ReconciliationImport).where(
                ReconciliationImport.cycle_id == cycle_id,
                ReconciliationImport.file_sha256 == sha256,
            )
        ).first()

    def entitlement(self, entitlement_id: int) -> Entitlement | None:
        """One entitlement."""
        return self.session.get(Entitlement, entitlement_id)

    def reissued(self, entitlement_id: int) -> bool:
        """Whether a later entitlement re-issues ``entitlement_id``."""
        found = self.session.scalar(
            select(Entitlement.id).where(Entitlement.reissue_of == entitlement_id).limit(1)
        )
        return found is not None

    def journey(self, programme_id: int, household_id: int) -> Sequence[JourneyEvent]:
        """The journey events of a household in a programme, in order."""
        return self.session.scalars(
            select(JourneyEvent)
            .where(
                JourneyEvent.programme_id == programme_id,
                JourneyEvent.household_id == household_id,
            )
            .order_by(JourneyEvent.event_date, JourneyEvent.id)
        ).all()


class ProgrammeErasureRepository:
    """Reconciliation imports that may hold an erased person's data."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def reconciliations_mentioning(self, needles: Sequence[str]) -> Sequence[ReconciliationImport]:
        """Imports whose discrepancies or matched rows contain one of ``needles``."""
        from sqlalchemy import or_

        from solidarity.registry.scrub import contains_any

        return self.session.scalars(
            select(ReconciliationImport)
            .where(
                or_(
                    contains_any(ReconciliationImport.discrepancies, needles),
                    contains_any(ReconciliationImport.matched_rows, needles),
                )
            )
            .order_by(ReconciliationImport.id)
        ).all()
