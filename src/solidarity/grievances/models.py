"""Tables of grievance redress, case management and referrals."""

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
)
from sqlalchemy.orm import Mapped, mapped_column

from solidarity.db.base import Base, JSONType, TimestampedMixin, VersionedMixin, utcnow
from solidarity.db.encrypted import EncryptedJSON, EncryptedText

VERSIONED: Any = {"version_id_col": VersionedMixin.version}


class GrievanceCategory(VersionedMixin, TimestampedMixin, Base):
    """A category of grievance configured for the deployment, with its service standard."""

    __tablename__ = "grievance_category"
    __mapper_args__ = VERSIONED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    days_to_acknowledge: Mapped[int] = mapped_column(Integer)
    days_to_resolve: Mapped[int] = mapped_column(Integer)
    # Administrative levels in escalation order, e.g. ["district", "region", "national"].
    escalation_path: Mapped[list[str]] = mapped_column(JSONType)
    agency_code: Mapped[str | None] = mapped_column(String(64))


class Grievance(VersionedMixin, TimestampedMixin, Base):
    """A complaint or an appeal, from intake to closure."""

    __tablename__ = "grievance"
    __mapper_args__ = VERSIONED
    __table_args__ = (Index("ix_grievance_status_area", "status", "area_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), default="complaint")  # complaint | appeal
    category_code: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default="received")
    area_id: Mapped[int] = mapped_column(Integer, index=True)
    household_id: Mapped[int | None] = mapped_column(Integer, index=True)
    person_id: Mapped[int | None] = mapped_column(Integer)
    programme_code: Mapped[str | None] = mapped_column(String(64))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    withhold_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    # Encrypted at rest (decision 0003).
    complainant_name: Mapped[str | None] = mapped_column(EncryptedText("complainant_name"))
    complainant_contact: Mapped[str | None] = mapped_column(EncryptedText("complainant_contact"))
    description: Mapped[str] = mapped_column(Text)
    subject_staff: Mapped[str | None] = mapped_column(String(128))
    assigned_to: Mapped[str | None] = mapped_column(String(128))
    escalation_level: Mapped[str] = mapped_column(String(32))
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    acknowledge_due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolve_due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    within_standard: Mapped[bool | None] = mapped_column(Boolean)
    resolution: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class RedressEvent(Base):
    """One step of a grievance, case or referral: who did what, when."""

    __tablename__ = "redress_event"
    __table_args__ = (Index("ix_redress_event_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(16))  # grievance | case | referral
    subject_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(48))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Case(VersionedMixin, TimestampedMixin, Base):
    """Case management for a household (or one person) with several vulnerabilities."""

    __tablename__ = "case_file"
    __mapper_args__ = VERSIONED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    household_id: Mapped[int] = mapped_column(Integer, index=True)
    person_id: Mapped[int | None] = mapped_column(Integer)
    area_id: Mapped[int] = mapped_column(Integer, index=True)
    agency_code: Mapped[str | None] = mapped_column(String(64))
    case_worker: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    vulnerabilities: Mapped[list[str]] = mapped_column(JSONType, default=list)
    assessment: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    priority: Mapped[str] = mapped_column(String(8), default="low")
    review_date: Mapped[date | None] = mapped_column(Date)
    closure_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CasePlanItem(VersionedMixin, TimestampedMixin, Base):
    """A goal, service or referral of a case plan, with its due date."""

    __tablename__ = "case_plan_item"
    __mapper_args__ = VERSIONED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # goal | service | referral
    description: Mapped[str] = mapped_column(Text)
    service_code: Mapped[str | None] = mapped_column(String(64))
    referral_id: Mapped[int | None] = mapped_column(Integer)
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | dropped
    outcome: Mapped[str | None] = mapped_column(Text)


class CaseNote(TimestampedMixin, Base):
    """A visit or a note on a case."""

    __tablename__ = "case_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # visit | note
    on: Mapped[date] = mapped_column(Date)
    author: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)


class SocialService(VersionedMixin, TimestampedMixin, Base):
    """A service of the catalogue offered by an agency of any sector."""

    __tablename__ = "social_service"
    __mapper_args__ = VERSIONED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(32), index=True)
    agency_code: Mapped[str] = mapped_column(String(64), index=True)
    area_codes: Mapped[list[str]] = mapped_column(JSONType)  # subtrees served
    capacity: Mapped[int | None] = mapped_column(Integer)
    eligibility: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    purpose: Mapped[str] = mapped_column(String(200), default="referral")
    requires_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    days_to_respond: Mapped[int] = mapped_column(Integer, default=14)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Referral(VersionedMixin, TimestampedMixin, Base):
    """A household (or person) sent to a service of another agency, and what came of it."""

    __tablename__ = "referral"
    __mapper_args__ = VERSIONED
    __table_args__ = (Index("ix_referral_service_household", "service_code", "household_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_code: Mapped[str] = mapped_column(String(64))
    sector: Mapped[str] = mapped_column(String(32))
    household_id: Mapped[int] = mapped_column(Integer, index=True)
    person_id: Mapped[int | None] = mapped_column(Integer)
    area_id: Mapped[int] = mapped_column(Integer, index=True)
    from_agency: Mapped[str | None] = mapped_column(String(64))
    to_agency: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="sent")
    reason: Mapped[str | None] = mapped_column(Text)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    shared_fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    shared_record: Mapped[dict[str, Any]] = mapped_column(
        EncryptedJSON("referral_shared_record"), default=dict
    )
    consent_id: Mapped[int | None] = mapped_column(Integer)
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    grievance_id: Mapped[int | None] = mapped_column(Integer)
    programme_code: Mapped[str | None] = mapped_column(String(64))
    counter_of: Mapped[int | None] = mapped_column(Integer)
    respond_by: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    served_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
