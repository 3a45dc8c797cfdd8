"""Tables of the programmes domain.

A programme owns dated rule versions (eligibility, benefit, priority), enrolments
of households, payment cycles with their entitlements, reconciliation imports from
the payment provider, compliance records for conditional transfers, maker-checker
requests, and journey events (enrolled, first paid, exited) read by coherence work.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from solidarity.db.base import Base, JSONType, TimestampedMixin, VersionedMixin


class Programme(VersionedMixin, TimestampedMixin, Base):
    """A social protection programme as designed by its ministry or agency."""

    __tablename__ = "programme"
    __mapper_args__ = {"version_id_col": VersionedMixin.version}  # type: ignore[dict-item]

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    ministry: Mapped[str] = mapped_column(String(200), default="")
    instrument: Mapped[str] = mapped_column(String(32))
    lifecycle_group: Mapped[str] = mapped_column(String(32), default="all")
    risk_covered: Mapped[str] = mapped_column(String(200), default="")
    targeting_method: Mapped[str] = mapped_column(String(32))
    conditionality: Mapped[str] = mapped_column(String(200), default="none")
    benefit_frequency: Mapped[str] = mapped_column(String(16), default="monthly")
    currency: Mapped[str] = mapped_column(String(3), default="XOF")
    annual_budget: Mapped[float | None] = mapped_column(Float)
    budget_cap: Mapped[float | None] = mapped_column(Float)
    funding_source: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")


class ProgrammeRule(TimestampedMixin, Base):
    """One dated version of a programme's eligibility, benefit or priority rule."""

    __tablename__ = "programme_rule"
    __table_args__ = (
        UniqueConstraint("programme_id", "kind", "valid_from", name="uq_programme_rule_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # eligibility | benefit | priority
    level: Mapped[str] = mapped_column(String(16), default="household")
    expression: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    legal_reference: Mapped[str] = mapped_column(String(500), default="")
    test_cases: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)


class Enrolment(VersionedMixin, TimestampedMixin, Base):
    """A household in a programme: active, waitlisted or exited; once per programme.

    The explanation of a bulk enrolment is stored lazily: the rule version and the
    evaluation date are kept, and the explanation is recomputed on demand from the
    registry state of that date (see docs/programmes.md).
    """

    __tablename__ = "enrolment"
    __mapper_args__ = {"version_id_col": VersionedMixin.version}  # type: ignore[dict-item]
    __table_args__ = (
        UniqueConstraint("programme_id", "household_id", name="uq_enrolment_household"),
        Index("ix_enrolment_programme_status", "programme_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    household_id: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(16))  # active | waitlisted | exited
    rule_version_id: Mapped[int | None] = mapped_column(Integer)
    as_of: Mapped[date] = mapped_column(Date)
    benefit_amount: Mapped[float] = mapped_column(Float, default=0.0)
    priority: Mapped[float | None] = mapped_column(Float)
    waitlist_rank: Mapped[int | None] = mapped_column(Integer)
    enrolled_on: Mapped[date | None] = mapped_column(Date)
    exited_on: Mapped[date | None] = mapped_column(Date)
    exit_reason: Mapped[str | None] = mapped_column(Text)
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class EnrolmentRequest(TimestampedMixin, Base):
    """A proposed enrolment or exit, applied only when another user approves it."""

    __tablename__ = "enrolment_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    household_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # enrol | exit
    origin: Mapped[str] = mapped_column(String(16), default="manual")  # manual | recertification
    batch: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by: Mapped[str] = mapped_column(String(128))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    as_of: Mapped[date] = mapped_column(Date)


class PaymentCycle(VersionedMixin, TimestampedMixin, Base):
    """One payment period of a programme, from entitlements to reconciliation."""

    __tablename__ = "payment_cycle"
    __mapper_args__ = {"version_id_col": VersionedMixin.version}  # type: ignore[dict-item]
    __table_args__ = (UniqueConstraint("programme_id", "period", name="uq_payment_cycle_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    period: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(24), default="draft")
    rule_version_id: Mapped[int | None] = mapped_column(Integer)
    entitlement_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[float] = mapped_column(Float, default=0.0)
    computed_by: Mapped[str | None] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payroll_generated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Entitlement(TimestampedMixin, Base):
    """What one enrolled household is owed in one cycle, and what became of the payment."""

    __tablename__ = "entitlement"
    __table_args__ = (
        UniqueConstraint("payment_reference", name="uq_entitlement_payment_reference"),
        Index("ix_entitlement_cycle_household", "cycle_id", "household_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("payment_cycle.id"))
    programme_id: Mapped[int] = mapped_column(Integer, index=True)
    enrolment_id: Mapped[int] = mapped_column(Integer)
    household_id: Mapped[int] = mapped_column(Integer)
    amount: Mapped[float] = mapped_column(Float)
    unmet_conditions: Mapped[int] = mapped_column(Integer, default=0)
    payment_reference: Mapped[str] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(16), default="computed")
    reissue_of: Mapped[int | None] = mapped_column(Integer, index=True)
    paid_amount: Mapped[float | None] = mapped_column(Float)
    paid_on: Mapped[date | None] = mapped_column(Date)
    failure_reason: Mapped[str | None] = mapped_column(Text)


class ComplianceRecord(TimestampedMixin, Base):
    """Whether a household (or one member) met a condition of a programme in a period."""

    __tablename__ = "compliance_record"
    __table_args__ = (Index("ix_compliance_programme_period", "programme_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    household_id: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int | None] = mapped_column(Integer)
    condition: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(16))
    met: Mapped[bool] = mapped_column(Boolean)


class ReconciliationImport(TimestampedMixin, Base):
    """A provider's payment report for a cycle: matched, checked, then accepted or not."""

    __tablename__ = "reconciliation_import"
    __table_args__ = (
        UniqueConstraint("cycle_id", "file_sha256", name="uq_reconciliation_import_file"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("payment_cycle.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | accepted
    rows: Mapped[int] = mapped_column(Integer, default=0)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    discrepancies: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    matched_rows: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    accepted_by: Mapped[str | None] = mapped_column(String(128))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JourneyEvent(Base):
    """A step of a household's journey through a programme (enrolled, first_paid, exited)."""

    __tablename__ = "journey_event"
    __table_args__ = (
        Index("ix_journey_event_programme_household", "programme_id", "household_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(Integer)
    household_id: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int | None] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    event_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128), default="system")
