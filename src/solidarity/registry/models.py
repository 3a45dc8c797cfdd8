"""Tables of the social registry.

Households and persons keep their current state in ``household`` and ``person``;
every earlier state is copied to ``household_history`` / ``person_history`` with
the interval it was valid and the change request that ended it. A read "as of" a
moment takes the current row when it was already valid then, else the history row
whose interval contains it. The area column sits on every large table so they
can later be distributed or partitioned by area (see docs/data-model.md).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from solidarity.db.base import Base, JSONType, TimestampedMixin, VersionedMixin, utcnow
from solidarity.db.encrypted import EncryptedJSON, EncryptedText


def _name_index_default(context: Any) -> str:
    """The blind index of the names of a row being inserted (Core or ORM)."""
    from solidarity.governance.encryption import key_ring

    params = context.get_current_parameters()
    return key_ring().name_index(
        params.get("given_name"), params.get("family_name"), params.get("other_names")
    )


def _identifier_index_default(context: Any) -> str | None:
    """The blind index of the value of an identifier being inserted (Core or ORM)."""
    from solidarity.governance.encryption import key_ring

    return key_ring().identifier_index(context.get_current_parameters().get("value"))


class AreaLevel(Base):
    """One level of the administrative hierarchy (0 is the top), e.g. region."""

    __tablename__ = "area_level"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64))


class Area(TimestampedMixin, Base):
    """An administrative area with a stable code and a materialised path of codes."""

    __tablename__ = "area"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), index=True)
    # "/R01/R01-D02/" so that a subtree is one indexed prefix search.
    path: Mapped[str] = mapped_column(String(1024), index=True)


class HouseholdFields:
    """Columns shared by the current household row and its history."""

    area_id: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    address: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    urban_rural: Mapped[str | None] = mapped_column(String(8))
    roof: Mapped[str | None] = mapped_column(String(32))
    wall: Mapped[str | None] = mapped_column(String(32))
    floor: Mapped[str | None] = mapped_column(String(32))
    water_source: Mapped[str | None] = mapped_column(String(32))
    sanitation: Mapped[str | None] = mapped_column(String(32))
    cooking_fuel: Mapped[str | None] = mapped_column(String(32))
    electricity: Mapped[bool | None] = mapped_column(Boolean)
    land_hectares: Mapped[float | None] = mapped_column(Float)
    livestock_cattle: Mapped[int | None] = mapped_column(Integer)
    livestock_small: Mapped[int | None] = mapped_column(Integer)
    livestock_poultry: Mapped[int | None] = mapped_column(Integer)
    asset_radio: Mapped[bool | None] = mapped_column(Boolean)
    asset_television: Mapped[bool | None] = mapped_column(Boolean)
    asset_refrigerator: Mapped[bool | None] = mapped_column(Boolean)
    asset_bicycle: Mapped[bool | None] = mapped_column(Boolean)
    asset_motorcycle: Mapped[bool | None] = mapped_column(Boolean)
    asset_mobile_phone: Mapped[bool | None] = mapped_column(Boolean)
    consumption_per_capita: Mapped[float | None] = mapped_column(Float)
    registration_date: Mapped[date | None] = mapped_column(Date)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    valid_from: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    change_request_id: Mapped[int | None] = mapped_column(Integer)
    changed_by: Mapped[str] = mapped_column(String(128), default="system")


class Household(HouseholdFields, VersionedMixin, TimestampedMixin, Base):
    """The current state of a household."""

    __tablename__ = "household"
    __mapper_args__ = {"version_id_col": VersionedMixin.version}  # type: ignore[dict-item]

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str | None] = mapped_column(String(64))
    source_key: Mapped[str | None] = mapped_column(String(128))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            UniqueConstraint("source", "source_key", name="uq_household_source_key"),
            Index("ix_household_area_status", "area_id", "status"),
            # A search by area pages household ids from the index alone (0013).
            Index("ix_household_area_and_id", "area_id", "id"),
        )


class HouseholdHistory(HouseholdFields, Base):
    """An earlier state of a household, valid in [valid_from, valid_to)."""

    __tablename__ = "household_history"

    history_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    household_id: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer)
    valid_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PersonFields:
    """Columns shared by the current person row and its history."""

    household_id: Mapped[int] = mapped_column(Integer, index=True)
    area_id: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    removal_reason: Mapped[str | None] = mapped_column(String(32))
    # Names and phone are encrypted at rest (decision 0003); ``name_index`` holds the
    # keyed hashes of their normalised tokens, for exact search by name.
    given_name: Mapped[str] = mapped_column(EncryptedText("given_name"))
    family_name: Mapped[str] = mapped_column(EncryptedText("family_name"))
    other_names: Mapped[str | None] = mapped_column(EncryptedText("other_names"))
    name_index: Mapped[str | None] = mapped_column(Text, default=_name_index_default)
    sex: Mapped[str] = mapped_column(String(8))
    birth_date: Mapped[date] = mapped_column(Date)
    birth_date_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    relationship: Mapped[str] = mapped_column(String(32))
    marital_status: Mapped[str | None] = mapped_column(String(32))
    wg_seeing: Mapped[int | None] = mapped_column(SmallInteger)
    wg_hearing: Mapped[int | None] = mapped_column(SmallInteger)
    wg_walking: Mapped[int | None] = mapped_column(SmallInteger)
    wg_cognition: Mapped[int | None] = mapped_column(SmallInteger)
    wg_selfcare: Mapped[int | None] = mapped_column(SmallInteger)
    wg_communication: Mapped[int | None] = mapped_column(SmallInteger)
    education_level: Mapped[str | None] = mapped_column(String(32))
    school_enrolled: Mapped[bool | None] = mapped_column(Boolean)
    main_activity: Mapped[str | None] = mapped_column(String(32))
    occupation: Mapped[str | None] = mapped_column(String(200))
    income: Mapped[float | None] = mapped_column(Float)
    pregnant: Mapped[bool | None] = mapped_column(Boolean)
    chronic_illness: Mapped[bool | None] = mapped_column(Boolean)
    phone: Mapped[str | None] = mapped_column(EncryptedText("phone"))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    valid_from: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    change_request_id: Mapped[int | None] = mapped_column(Integer)
    changed_by: Mapped[str] = mapped_column(String(128), default="system")


class Person(PersonFields, VersionedMixin, TimestampedMixin, Base):
    """The current state of a person; removed or deceased persons keep their row."""

    __tablename__ = "person"
    __mapper_args__ = {"version_id_col": VersionedMixin.version}  # type: ignore[dict-item]

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str | None] = mapped_column(String(64))
    source_key: Mapped[str | None] = mapped_column(String(128))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            UniqueConstraint("source", "source_key", name="uq_person_source_key"),
            # "Has an active member born between ..." and household rules over the
            # members' age and income answered from the index (0013, 0016).
            Index("ix_person_member_age_income", "household_id", "status", "birth_date", "income"),
        )


#: The name tokens of active persons (PostgreSQL only: migration 0014 creates it and
#: the triggers on ``person`` that keep it; decision 0006). Outside the models'
#: metadata, since SQLite has no such table.
person_name_token = Table(
    "person_name_token",
    MetaData(),
    Column("token", BigInteger, primary_key=True),
    Column("household_id", Integer, primary_key=True),
    Column("person_id", Integer, primary_key=True),
    Column("area_id", Integer, primary_key=True),
)


def name_token_key(token: str) -> int:
    """The stored key of a name token's blind index: its 16 hex digits as a signed
    64-bit integer (what ``('x' || token)::bit(64)::bigint`` gives in PostgreSQL)."""
    value = int(token[:16].ljust(16, "0"), 16)
    return value - (1 << 64) if value >= 1 << 63 else value


class PersonHistory(PersonFields, Base):
    """An earlier state of a person, valid in [valid_from, valid_to)."""

    __tablename__ = "person_history"

    history_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer)
    valid_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Identifier(TimestampedMixin, Base):
    """An identifier of a person; ended identifiers keep their row with ``valid_to`` set."""

    __tablename__ = "identifier"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No foreign key: identifiers are written only with their person and persons are
    # never deleted; a per-row RI trigger would double bulk-load time (decision 0001).
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    id_type: Mapped[str] = mapped_column(String(32))
    # Encrypted at rest; ``value_index`` is its keyed hash (decision 0003).
    value: Mapped[str] = mapped_column(EncryptedText("identifier_value"))
    value_index: Mapped[str | None] = mapped_column(String(64), default=_identifier_index_default)
    issuer: Mapped[str | None] = mapped_column(String(128))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    valid_from: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # (type, value) is unique among active identifiers only, through the blind index.
        Index(
            "uq_identifier_active_type_value_index",
            "id_type",
            "value_index",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )


class ChangeRequest(VersionedMixin, TimestampedMixin, Base):
    """A proposed change to the registry; approved by someone other than the requester."""

    __tablename__ = "change_request"
    __mapper_args__ = {"version_id_col": VersionedMixin.version}  # type: ignore[dict-item]

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    household_id: Mapped[int | None] = mapped_column(Integer, index=True)
    person_id: Mapped[int | None] = mapped_column(Integer)
    area_id: Mapped[int | None] = mapped_column(Integer, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(
        EncryptedJSON("change_request_payload"), default=dict
    )
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(128))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    effective_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    validation_errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    result: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("change_request_result"))


class ImportRun(TimestampedMixin, Base):
    """One bulk intake of household and person files, with its outcome and report."""

    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    files: Mapped[list[str]] = mapped_column(JSONType)
    mode: Mapped[str] = mapped_column(String(16))  # all_or_nothing | accept_valid
    status: Mapped[str] = mapped_column(String(16), default="running")
    households_in_file: Mapped[int] = mapped_column(Integer, default=0)
    persons_in_file: Mapped[int] = mapped_column(Integer, default=0)
    households_imported: Mapped[int] = mapped_column(Integer, default=0)
    persons_imported: Mapped[int] = mapped_column(Integer, default=0)
    households_skipped: Mapped[int] = mapped_column(Integer, default=0)
    households_rejected: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


@event.listens_for(Person, "before_update")
@event.listens_for(PersonHistory, "before_update")
def _reindex_names(_mapper: Any, _connection: Any, target: Person | PersonHistory) -> None:
    from solidarity.governance.encryption import key_ring

    target.name_index = key_ring().name_index(
        target.given_name, target.family_name, target.other_names
    )


@event.listens_for(Identifier, "before_update")
def _reindex_identifier(_mapper: Any, _connection: Any, target: Identifier) -> None:
    from solidarity.governance.encryption import key_ring

    target.value_index = key_ring().identifier_index(target.value) or ""
