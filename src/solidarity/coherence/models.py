"""Tables of the coherence domain.

The institutional landscape (agency profiles, delivery functions, coordination
bodies, memoranda between agencies, focal persons), what programmes declare about
themselves and each other (data dictionaries, mutual exclusion and hand-over,
declared targets, administrative costs), and the plan built on the diagnosis
(results framework, scorecard assessments, actions). Agencies themselves are the
governance domain's ``agency`` rows, referred to by code; so are data sharing
agreements between the registry and an agency.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from solidarity.db.base import Base, JSONType, TimestampedMixin, VersionedMixin


class AgencyProfile(TimestampedMixin, Base):
    """What an agency is for: its kind, its mandate, the names programmes use for it."""

    __tablename__ = "coherence_agency_profile"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="ministry")
    mandate: Mapped[str] = mapped_column(Text, default="")
    # Programme.ministry is free text: the names under which programmes cite this agency.
    aliases: Mapped[list[str]] = mapped_column(JSONType, default=list)


class DeliveryFunction(TimestampedMixin, Base):
    """One delivery-chain function an agency performs for a programme."""

    __tablename__ = "coherence_delivery_function"
    __table_args__ = (
        UniqueConstraint("programme_code", "function", "agency_code", name="uq_delivery_function"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_code: Mapped[str] = mapped_column(String(32), index=True)
    function: Mapped[str] = mapped_column(String(32))
    agency_code: Mapped[str] = mapped_column(String(64))


class CoordinationBody(TimestampedMixin, Base):
    """An inter-ministerial committee or technical working group."""

    __tablename__ = "coherence_body"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="committee")
    mandate: Mapped[str] = mapped_column(Text, default="")


class BodyMember(TimestampedMixin, Base):
    """An agency sitting on a coordination body, with its role there."""

    __tablename__ = "coherence_body_member"
    __table_args__ = (UniqueConstraint("body_id", "agency_code", name="uq_body_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    body_id: Mapped[int] = mapped_column(ForeignKey("coherence_body.id"), index=True)
    agency_code: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32), default="member")


class Meeting(TimestampedMixin, Base):
    """A meeting of a coordination body: who came and what was decided."""

    __tablename__ = "coherence_meeting"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    body_id: Mapped[int] = mapped_column(ForeignKey("coherence_body.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    attendees: Mapped[list[str]] = mapped_column(JSONType, default=list)
    decisions: Mapped[str] = mapped_column(Text, default="")
    minutes_reference: Mapped[str] = mapped_column(String(500), default="")


class Memorandum(TimestampedMixin, Base):
    """A memorandum of understanding or data sharing agreement between agencies."""

    __tablename__ = "coherence_memorandum"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="mou")  # mou | data_sharing
    parties: Mapped[list[str]] = mapped_column(JSONType)
    scope: Mapped[str] = mapped_column(Text, default="")
    signed_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)


class FocalPerson(TimestampedMixin, Base):
    """An agency's named contact for coordination."""

    __tablename__ = "coherence_focal_person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_code: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DataDefinition(TimestampedMixin, Base):
    """How one programme defines a concept (household, child, disability, income ...)."""

    __tablename__ = "coherence_data_definition"
    __table_args__ = (UniqueConstraint("programme_code", "concept", name="uq_data_definition"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_code: Mapped[str] = mapped_column(String(32))
    concept: Mapped[str] = mapped_column(String(64))
    definition: Mapped[str] = mapped_column(Text)


class ProgrammeRelation(TimestampedMixin, Base):
    """A declared relation of two programmes: mutually exclusive, or one hands over to the other."""

    __tablename__ = "coherence_programme_relation"
    __table_args__ = (
        UniqueConstraint("kind", "programme_a", "programme_b", name="uq_programme_relation"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # mutually_exclusive | hand_over
    programme_a: Mapped[str] = mapped_column(String(32))
    programme_b: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    legal_reference: Mapped[str] = mapped_column(String(500), default="")


class DeclaredTarget(TimestampedMixin, Base):
    """A declared target population: of a programme, or (no programme) of the whole system."""

    __tablename__ = "coherence_declared_target"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_code: Mapped[str | None] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # rule | poorest_share
    expression: Mapped[str | None] = mapped_column(Text)
    share: Mapped[float | None] = mapped_column(Float)


class AdminCost(TimestampedMixin, Base):
    """A programme's recorded administrative cost for a year."""

    __tablename__ = "coherence_admin_cost"
    __table_args__ = (UniqueConstraint("programme_code", "year", name="uq_admin_cost"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    programme_code: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    amount: Mapped[float] = mapped_column(Float)


class Indicator(TimestampedMixin, Base):
    """A shared indicator of the results framework."""

    __tablename__ = "coherence_indicator"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[str] = mapped_column(Text, default="")
    # A metric key of the computed figures (e.g. ``coverage.system``); empty when entered.
    formula: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32), default="")
    responsible_agency: Mapped[str] = mapped_column(String(64), default="")
    baseline_value: Mapped[float | None] = mapped_column(Float)
    baseline_year: Mapped[int | None] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(16), default="increase")


class IndicatorTarget(TimestampedMixin, Base):
    """The value an indicator should reach in a year."""

    __tablename__ = "coherence_indicator_target"
    __table_args__ = (UniqueConstraint("indicator_id", "year", name="uq_indicator_target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("coherence_indicator.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)


class IndicatorValue(TimestampedMixin, Base):
    """An observed value of an indicator, computed from the data or entered."""

    __tablename__ = "coherence_indicator_value"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("coherence_indicator.id"), index=True)
    observed_on: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="entered")  # computed | entered
    note: Mapped[str] = mapped_column(Text, default="")


class Assessment(TimestampedMixin, Base):
    """One coherence scorecard: scores per dimension as of a date."""

    __tablename__ = "coherence_assessment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    as_of: Mapped[date] = mapped_column(Date)
    area_code: Mapped[str | None] = mapped_column(String(64))
    assessor: Mapped[str] = mapped_column(String(128))


class AssessmentScore(TimestampedMixin, Base):
    """A dimension's score (1-4), the computed suggestion and evidence, and the assessor's note."""

    __tablename__ = "coherence_assessment_score"
    __table_args__ = (UniqueConstraint("assessment_id", "dimension", name="uq_assessment_score"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("coherence_assessment.id"), index=True)
    dimension: Mapped[str] = mapped_column(String(32))
    score: Mapped[int] = mapped_column(Integer)
    suggested_score: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    comment: Mapped[str] = mapped_column(Text, default="")


class Action(VersionedMixin, TimestampedMixin, Base):
    """An action of the coherence action plan, linked to the finding that motivated it."""

    __tablename__ = "coherence_action"
    __mapper_args__ = {"version_id_col": VersionedMixin.version}  # type: ignore[dict-item]

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    finding: Mapped[str] = mapped_column(String(200), default="")
    dimension: Mapped[str] = mapped_column(String(32), default="")
    agency_code: Mapped[str] = mapped_column(String(64), default="")
    responsible_person: Mapped[str] = mapped_column(String(200), default="")
    start_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="planned")


class ActionNote(TimestampedMixin, Base):
    """A dated progress note on an action."""

    __tablename__ = "coherence_action_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("coherence_action.id"), index=True)
    noted_on: Mapped[date] = mapped_column(Date)
    progress: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text)
